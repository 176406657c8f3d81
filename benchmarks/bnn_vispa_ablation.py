"""What makes VISPA learn: a one-epoch ablation on Fashion-MNIST (MLP 784-512-512-10).

Each run trains one epoch (batch 100, cosine learning-rate decay, Adam 1e-3 on BatchNorm) from the
same seed and reports validation accuracy of the deployed network in two eval modes: ``mean``
(sign of mu, BatchNorm statistics recalibrated on 2,000 training images for those weights) and
``harden`` (best of 8 sampled networks and the mean one, each recalibrated, chosen on half of the
validation set and scored on the other half). STE/BinaryConnect (Adam 1e-2, latent weights clipped
to [-1, 1]) is the baseline on the same architecture and budget.

    nice python benchmarks/bnn_vispa_ablation.py --stage all      # results/bnn_vispa_ablation.json
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field

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
    activations: str = "real"
    epochs: int = 1
    seed: int = 0


@dataclass
class Outcome:
    config: Config
    val_mean: float
    val_mean_raw: float
    val_harden: float
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
    return bnn.RiemannianAdam(groups), []


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
            for g, b in zip(opt.param_groups, base):
                g["lr"] = b * 0.5 * (1 + math.cos(math.pi * step / total))
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
    raw = accuracy(model, data.x_val, data.y_val)
    calib = batches(data.x_train[:2000], data.y_train[:2000], 100)
    half = len(data.y_val) // 2
    sel, held = (data.x_val[:half], data.y_val[:half]), (data.x_val[half:], data.y_val[half:])
    if cfg.method == "ste":
        mean = bnn.recalibrate_bn(copy.deepcopy(model), calib)
        val_mean = accuracy(mean.eval(), data.x_val, data.y_val)
        val_harden = val_mean
    else:
        mean = bnn.recalibrate_bn(bnn.set_mode(copy.deepcopy(model), "mean"), calib)
        val_mean = accuracy(mean.eval(), data.x_val, data.y_val)
        hard = bnn.harden(model, calib, [sel], k=8, seed=cfg.seed)
        val_harden = accuracy(hard.model, *held)
    return Outcome(cfg, val_mean, raw, val_harden, flips, mean_abs_mu, seconds, history)


STAGES = {
    "baseline": [Config("ste", method="ste"),
                 Config("naive: init_z=0.01", init_z=0.01)],
    "init": [Config(f"init_z={z}", init_z=z) for z in (0.3, 0.7, 0.95)]
    + [Config(f"init_mu={a}", init_mu=a) for a in (1.0, 0.5, 0.1)],
    "noise": [Config(f"init_mu=0.1, s={s}", init_mu=0.1, noise=s) for s in (0.1, 0.3, 0.03)],
    "knobs": [Config("K=0 (BinaryConnect)", rank=0, init_mu=0.1),
              Config("s=0.1, lr=3e-2", init_mu=0.1, noise=0.1, lr=3e-2),
              Config("s=0.1, lr=3e-3", init_mu=0.1, noise=0.1, lr=3e-3),
              Config("s=0.1, S=4", init_mu=0.1, noise=0.1, samples=4),
              Config("s=0.1, K=16", init_mu=0.1, noise=0.1, rank=16),
              Config("s=0.1, K=1", init_mu=0.1, noise=0.1, rank=1)],
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="all")
    parser.add_argument("--config", action="append", default=[],
                        help='extra run as JSON, e.g. {"label": "x", "noise": 0.3}')
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load_dataset("fashion-mnist", train_limit=args.train_limit)
    configs = [c for s, cs in STAGES.items() if args.stage in ("all", s) for c in cs]
    configs += [Config(**json.loads(c)) for c in args.config]
    done = json.loads(RESULTS.read_text())["runs"] if RESULTS.exists() else []
    for cfg in configs:
        out = run(cfg, data)
        row = asdict(out)
        print(json.dumps({k: v for k, v in row.items() if k != "history"}), flush=True)
        done = [r for r in done if r["config"] != row["config"]] + [row]
        RESULTS.write_text(json.dumps({"machine": machine_info(("torch", "numpy")),
                                       "runs": done}, indent=1))
    if not args.no_docs:
        write_docs(json.loads(RESULTS.read_text()))


def write_docs(results: dict) -> None:
    lines = ["| run | method | K | init | noise s | lr | S | mean (raw BN) | mean | harden "
             "| signs flipped | mean abs mu | s/epoch |", "|" + "---|" * 13]
    for r in results["runs"]:
        c = r["config"]
        init = f"init_z={c['init_z']}" if c["init_z"] is not None else f"init_mu={c['init_mu']}"
        lines.append(
            f"| {c['label']} | {c['method']} | {c['rank']} | {init} | {c['noise']} | {c['lr']} "
            f"| {c['samples']} | {r['val_mean_raw']:.4f} | {r['val_mean']:.4f} "
            f"| {r['val_harden']:.4f} | {r['sign_flips']:.3f} | {r['mean_abs_mu']:.3f} "
            f"| {r['seconds']:.1f} |")
    md = ("Validation accuracy after one epoch on Fashion-MNIST, MLP 784-512-512-10, "
          "written by `benchmarks/bnn_vispa_ablation.py`. " + machine_line(results["machine"])
          + "\n\n" + "\n".join(lines))
    write_section("bnn.md", "bnn-ablation", md)


if __name__ == "__main__":
    main()
