"""What makes VISPA learn: a one-epoch ablation on Fashion-MNIST (MLP 784-512-512-10).

Each run trains one epoch (batch 100, cosine learning-rate decay, Adam 1e-3 on BatchNorm) from the
same seed and reports validation accuracy of the deployed network in two eval modes: ``mean``
(sign of mu, BatchNorm statistics recalibrated on 2,000 training images for those weights) and
``harden`` (best of 8 sampled networks and the mean one, each recalibrated, chosen on half of the
validation set and scored on the other half). STE/BinaryConnect (Adam 1e-2, latent weights clipped
to [-1, 1]) is the baseline on the same architecture and budget.

    nice python benchmarks/bnn_vispa_ablation.py --stage all     # results/bnn_vispa_ablation.json
    nice python benchmarks/bnn_vispa_ablation.py --docs-only     # rewrite the docs table only
"""

from __future__ import annotations

import argparse
import copy
import fcntl
import json
import math
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

import bnn
from bnn.data import load_dataset

try:
    from benchmarks._report import REPO, machine_info, machine_line, write_section
except ImportError:  # run as a script from benchmarks/
    from _report import REPO, machine_info, machine_line, write_section

RESULTS = REPO / "benchmarks" / "results" / "bnn_vispa_ablation.json"


@dataclass(frozen=True)
class Config:
    label: str
    method: str = "vispa"  # "vispa" | "ste"
    rank: int = 4
    init_mu: float = 0.5
    init_z: float | None = None
    noise: float = 1.0
    lr: float = 1e-2
    samples: int = 1
    optimizer: str = "adam"  # "adam" | "sgd" (momentum 0.9)
    adaptivity: str = "coordinate"  # RiemannianAdam's second moment: "coordinate" | "row"
    noise_schedule: str = "constant"  # "constant" | "cosine" (s decays with the learning rate)
    activations: str = "real"
    epochs: int = 1
    seed: int = 0


@dataclass
class Outcome:
    config: Config
    val_mean: float
    val_mean_raw: float
    val_harden: float
    test_deployed: float  # test accuracy of the deployed network (harden; STE: sign, recal.)
    sign_flips: float  # fraction of mean signs that changed during training
    mean_abs_mu: float
    seconds: float
    history: list = field(default_factory=list)


def build(cfg: Config, data) -> nn.Sequential:
    from bnn.models import build_model

    if cfg.method == "ste":
        return build_model("mlp", "ste", data.input_shape, data.num_classes, cfg.activations)
    return build_model("mlp", "vispa", data.input_shape, data.num_classes, cfg.activations,
                       rank=cfg.rank, init_mu=cfg.init_mu, init_z=cfg.init_z, noise=cfg.noise,
                       samples=cfg.samples)


def signs(model: nn.Module) -> torch.Tensor:
    out = []
    for m in model.modules():
        if isinstance(m, bnn.BinaryLayer):
            out.append((m.mu >= 0).flatten())
        elif getattr(m, "binary", False):
            out.append((m.weight >= 0).flatten())
    return torch.cat(out)


def make_optimizer(cfg: Config, model: nn.Module):
    if cfg.method == "ste":
        latent = [m.weight for m in model.modules() if getattr(m, "binary", False)]
        ids = {id(p) for p in latent}
        rest = [p for p in model.parameters() if id(p) not in ids]
        return bnn.RiemannianAdam([{"params": latent, "lr": cfg.lr, "riemannian": False},
                                   {"params": rest, "lr": 1e-3}]), latent
    groups = bnn.param_groups(model, lr=1e-3, factor_lr=cfg.lr)
    if cfg.optimizer == "sgd":
        return bnn.RiemannianSGD(groups, momentum=0.9), []
    return bnn.RiemannianAdam(groups, adaptivity=cfg.adaptivity), []


def accuracy(model, x, y, batch=1000) -> float:
    with torch.no_grad():
        hits = sum(int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
                   for i in range(0, len(y), batch))
    return hits / len(y)


def batches(x, y, size):
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(y), size)]


def run(cfg: Config, data) -> Outcome:
    torch.manual_seed(cfg.seed)
    model = build(cfg, data)
    opt, clip = make_optimizer(cfg, model)
    base = [g["lr"] for g in opt.param_groups]
    start_signs = signs(model)
    n, bs = len(data.y_train), 100
    total = cfg.epochs * math.ceil(n / bs)
    gen = torch.Generator().manual_seed(cfg.seed)
    t0, step = time.perf_counter(), 0
    history = []
    for _ in range(cfg.epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            decay = 0.5 * (1 + math.cos(math.pi * step / total))
            for g, b in zip(opt.param_groups, base):
                g["lr"] = b * decay
            if cfg.noise_schedule == "cosine":
                for layer in bnn.binary_layers(model):
                    layer.noise = cfg.noise * decay
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
            loss.backward()
            opt.step()
            with torch.no_grad():
                for p in clip:
                    p.clamp_(-1, 1)
            step += 1
            if step % 100 == 0:
                history.append((step, float(loss)))
    seconds = time.perf_counter() - t0
    flips = float((signs(model) != start_signs).float().mean())
    mus = [m.mu.abs().mean() for m in model.modules() if isinstance(m, bnn.BinaryLayer)]
    mean_abs_mu = float(torch.stack(mus).mean().detach()) if mus else float("nan")
    model.eval()
    calib = batches(data.x_train[:2000], data.y_train[:2000], 100)
    half = len(data.y_val) // 2
    sel, held = (data.x_val[:half], data.y_val[:half]), (data.x_val[half:], data.y_val[half:])
    raw = accuracy(model, *held)
    if cfg.method == "ste":
        deployed = bnn.recalibrate_bn(copy.deepcopy(model), calib)
        val_mean = val_harden = accuracy(deployed, *held)
    else:
        mean = bnn.recalibrate_bn(bnn.set_mode(copy.deepcopy(model), "mean"), calib)
        val_mean = accuracy(mean.eval(), *held)
        deployed = bnn.harden(model, calib, [sel], k=8, seed=cfg.seed).model
        val_harden = accuracy(deployed, *held)
    test = accuracy(deployed, data.x_test, data.y_test)
    return Outcome(cfg, val_mean, raw, val_harden, test, flips, mean_abs_mu, seconds,
                   history)


ROW = {"init_mu": 0.1, "adaptivity": "row"}  # with the layers' init and RiemannianAdam's default

STAGES = {
    # the straightforward reading against the baseline
    "baseline": [Config("ste", method="ste"),
                 Config("naive: init_z=0.01", init_z=0.01)],
    # initialisation of Z (and so of mu), with s = 1
    "init": [Config("init_mu=1.0", init_mu=1.0), Config("init_z=0.3", init_z=0.3),
             Config("init_z=0.95", init_z=0.95), Config("init_mu=0.1", init_mu=0.1)],
    # the scale s of the sampling noise, coordinate-wise Adam
    "noise": [Config("coordinate Adam, s=0.03, seed 0", init_mu=0.1, noise=0.03)]
    + [Config(f"init_mu=0.1, s={s}", init_mu=0.1, noise=s) for s in (0.1, 0.01, 0.3)],
    # Adam's second moment per row, and s again
    "row": [Config(f"row Adam, s={s}, seed {seed}", **ROW, noise=s, seed=seed)
            for s in (0.3, 0.1, 0.03, 0.01, 0.003) for seed in ((0, 1, 2) if s < 0.1 else (0,))]
    + [Config("row Adam, s=0 (no sampling)", **ROW, noise=0.0)],
    # learning rate, samples per step, rank, annealed noise
    "knobs": [Config("row Adam, s=0.03, lr=3e-2", **ROW, noise=0.03, lr=3e-2),
              Config("row Adam, s=0.03, S=4", **ROW, noise=0.03, samples=4),
              Config("row Adam, s=0.03, K=16", **ROW, noise=0.03, rank=16)]
    + [Config(f"row Adam, s={s} cosine-annealed", **ROW, noise=s, noise_schedule="cosine")
       for s in (0.1, 0.3)],
    # seeds of the baselines and of the coordinate-wise default first measured
    "seeds": [Config("K=0 (BinaryConnect)", rank=0, init_mu=0.1)]
    + [c for seed in (1, 2) for c in (
        Config(f"coordinate Adam, s=0.03, seed {seed}", init_mu=0.1, noise=0.03, seed=seed),
        Config(f"ste, seed {seed}", method="ste", seed=seed),
        Config(f"K=0 (BinaryConnect), seed {seed}", rank=0, init_mu=0.1, seed=seed))],
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="all")
    parser.add_argument("--config", action="append", default=[],
                        help='extra run as JSON, e.g. {"label": "x", "noise": 0.3}')
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--docs-only", action="store_true")
    args = parser.parse_args(argv)
    if args.docs_only:
        write_docs(json.loads(RESULTS.read_text()))
        return
    torch.set_num_threads(args.threads)
    data = load_dataset("fashion-mnist", train_limit=args.train_limit)
    configs = [c for s, cs in STAGES.items() if args.stage in ("all", s) for c in cs]
    configs += [Config(**json.loads(c)) for c in args.config]
    for cfg in configs:
        out = run(cfg, data)
        row = asdict(out)
        print(json.dumps({k: v for k, v in row.items() if k != "history"}), flush=True)
        with open(Path(tempfile.gettempdir()) / "bnn_vispa_ablation.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # several stages may run side by side
            done = json.loads(RESULTS.read_text())["runs"] if RESULTS.exists() else []
            done = [r for r in done if r["config"] != row["config"]] + [row]
            RESULTS.write_text(json.dumps({"machine": machine_info(("torch", "numpy")),
                                           "runs": done}, indent=1))
    if not args.no_docs:
        write_docs(json.loads(RESULTS.read_text()))


def write_docs(results: dict) -> None:
    head = ("| run | method | K | init | noise s | lr | S | Adam v | mean, raw BN | mean | harden "
            "| test (deployed) | signs flipped | mean abs mu | s/epoch |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    runs = [r for r in results["runs"] if "test_deployed" in r]  # older rows lack it
    for r in sorted(runs, key=lambda r: (r["config"]["method"] != "ste", r["config"]["label"])):
        c = r["config"]
        if c["method"] == "ste":
            init, noise, rank, samples, adapt = "Glorot", "-", "-", "-", "-"
        else:
            init = (f"init_z={c['init_z']}" if c["init_z"] is not None
                    else f"init_mu={c['init_mu']}")
            noise, rank, samples = c["noise"], c["rank"], c["samples"]
            adapt = c.get("adaptivity", "coordinate")
        mu = "-" if r["mean_abs_mu"] != r["mean_abs_mu"] else f"{r['mean_abs_mu']:.3f}"
        lines.append(
            f"| {c['label']} | {c['method']} | {rank} | {init} | {noise} | {c['lr']} "
            f"| {samples} | {adapt} | {r['val_mean_raw']:.4f} | {r['val_mean']:.4f} "
            f"| {r['val_harden']:.4f} | {r['test_deployed']:.4f} | {r['sign_flips']:.3f} "
            f"| {mu} | {r['seconds']:.0f} |")
    md = ("One epoch on Fashion-MNIST, MLP 784-512-512-10 with ReLU (W1A32), batch 100, cosine "
          "decay, Adam 1e-3 on BatchNorm; written by `benchmarks/bnn_vispa_ablation.py`. "
          "Accuracies on the held-out half of the validation split (5,000 images) except "
          "`test (deployed)`, the official test set (10,000) for the deployed network "
          "(`harden`; STE: sign of the latent weights); BatchNorm recalibrated on 2,000 "
          "training images for each binary network (`mean, raw BN` keeps the training "
          "statistics). `s/epoch` is wall time on a shared, loaded machine: noisy. "
          + machine_line(results["machine"]) + "\n\n" + "\n".join(lines))
    md += "\n\n" + seed_summary([r for r in results["runs"] if "test_deployed" in r])
    write_section("bnn.md", "bnn-ablation", md)


def seed_summary(runs: list[dict]) -> str:
    """Mean (min-max) over seeds of each configuration run with more than one seed."""
    families: dict[tuple, list[dict]] = {}
    for r in runs:
        c = {"adaptivity": "coordinate"} | {k: v for k, v in r["config"].items()
                                            if k not in ("label", "seed")}
        if c["method"] == "ste":
            c = {"method": "ste", "lr": c["lr"]}
        families.setdefault(tuple(sorted(c.items())), []).append(r)
    lines = ["| configuration | seeds | held-out val, deployed | test, deployed |",
             "|---|---|---|---|"]
    for rows in families.values():
        if len(rows) < 2:
            continue
        rows = sorted(rows, key=lambda r: r["config"]["seed"])
        c = rows[0]["config"]
        if c["method"] == "ste":
            name = "STE (latent weights, Adam, clipping)"
        elif c["rank"] == 0:
            name = f"VISPA K=0 (BinaryConnect), init_mu={c['init_mu']}, lr={c['lr']}"
        else:
            name = (f"VISPA K={c['rank']}, init_mu={c['init_mu']}, s={c['noise']}, "
                    f"lr={c['lr']}, Adam {c.get('adaptivity', 'coordinate')}")

        def stat(key, rows=rows):
            v = [r[key] for r in rows]
            return f"{sum(v) / len(v):.4f} ({min(v):.4f}-{max(v):.4f})"

        seeds = ", ".join(str(r["config"]["seed"]) for r in rows)
        lines.append(f"| {name} | {seeds} | {stat('val_harden')} | {stat('test_deployed')} |")
    return ("Over seeds (mean, min-max), the deployed network of each configuration run with "
            "several seeds:\n\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
