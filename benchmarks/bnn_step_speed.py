"""Time per training step of VISPA against STE on the MLP 784-512-512-10 (Fashion-MNIST shapes).

    .venv/bin/python benchmarks/bnn_step_speed.py [--threads 1] [--steps 60] [--batch 100] [--doc]
        [--epochs 1 --rounds 2]

Every method's step (forward, backward, optimizer step) is timed in the same process, the
methods interleaved in blocks of steps (the first of each block not counted: it pays for the caches
the previous method filled) so that a change in the machine's load hits all of them;
the report gives medians per phase and the ratio to STE, with the load average before and after.
Random inputs: the timing does not depend on the data. ``--doc`` writes the table into
docs/bnn.md (section bnn-step-speed). ``--epochs E`` (with ``--rounds R``) also times whole
training epochs of `bnn.train` on Fashion-MNIST (MLP, the methods at bnn.train's defaults), the
methods one after another in R rounds of E epochs each (section bnn-epoch-speed with ``--doc``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _variants():
    """(label, TrainConfig overrides, optimizer variant): "fused=False" is the tensor-operation
    Riemannian step (the code path before the kernel); "plain Adam" steps the same K=4 factor
    with torch.optim.Adam (no projection, no retraction): the cost of merely updating 5x the
    parameters of STE, a floor for any Adam-type step on the factor (not a training method)."""
    return [
        ("STE (Adam)", {"method": "ste"}, None),
        ("VISPA K=0", {"method": "vispa", "rank": 0}, None),
        ("VISPA K=4", {"method": "vispa", "rank": 4}, None),
        ("VISPA K=4, fused=False", {"method": "vispa", "rank": 4}, "unfused"),
        ("K=4 factor, plain Adam", {"method": "vispa", "rank": 4}, "plain"),
        ("VISPA K=4 paper (SGD)", {"method": "vispa", "rank": 4, "recipe": "paper"}, None),
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--block", type=int, default=11,
                   help="consecutive steps of a method per round (the first not counted unless 1)")
    p.add_argument("--json", type=str, default=None, help="also write the numbers here")
    p.add_argument("--doc", action="store_true", help="write the table into docs/bnn.md")
    p.add_argument("--epochs", type=int, default=0,
                   help="also time E training epochs per method and round (0: no)")
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch
    import torch.nn.functional as F

    from bnn.models import build_model
    from bnn.train import TrainConfig, make_optimizer

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load_before = os.getloadavg()
    runs = []
    for label, over, variant in _variants():
        cfg = TrainConfig(dataset="fashion-mnist", model="mlp", **over)
        opts = {"recipe": cfg.recipe} if cfg.paper else {}
        model = build_model("mlp", cfg.method, (1, 28, 28), 10, rank=cfg.rank, **opts)
        if variant == "plain":
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        else:
            opt = make_optimizer(model, cfg, 50_000)
            for g in opt.param_groups:
                if variant == "unfused":
                    g["fused"] = False
        runs.append({"label": label, "model": model, "opt": opt,
                     "times": {"forward": [], "backward": [], "step": [], "total": []}})
    x = torch.randn(args.batch, 1, 28, 28)
    y = torch.randint(0, 10, (args.batch,))
    rounds = -(-args.steps // args.block)
    for i in range(rounds + 1):
        for r, j in ((r, j) for r in runs for j in range(args.block)):
            # Interleaved in blocks: `block` steps of each method per round, the first of each
            # block not counted (it pays for the caches the previous method filled: one step per
            # method per round made STE's steps 1.6x slower than in a training run).
            model, opt = r["model"], r["opt"]
            model.train()
            t0 = time.perf_counter()
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            t1 = time.perf_counter()
            loss.backward()
            t2 = time.perf_counter()
            opt.step()
            t3 = time.perf_counter()
            if i >= 1 and (j >= 1 or args.block == 1):  # round 0 warms up (Numba, allocator)
                for k, v in (("forward", t1 - t0), ("backward", t2 - t1), ("step", t3 - t2),
                             ("total", t3 - t0)):
                    r["times"][k].append(v)
    load_after = os.getloadavg()
    ste = statistics.median(runs[0]["times"]["total"])
    out = {"threads": args.threads, "batch": args.batch, "steps": args.steps, "block": args.block,
           "load_before": load_before, "load_after": load_after, "torch": torch.__version__,
           "methods": {}}
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch}, "
          f"{len(runs[0]['times']['total'])} steps each, interleaved in blocks of {args.block}; "
          f"load average before "
          f"{load_before[0]:.2f}, after {load_after[0]:.2f} (shared machine)")
    print(f"{'method':24s} {'forward':>9s} {'backward':>9s} {'step':>9s} {'total':>9s} "
          f"{'x STE':>6s}   (medians, ms)")
    for r in runs:
        med = {k: statistics.median(v) * 1e3 for k, v in r["times"].items()}
        ratio = med["total"] / (ste * 1e3)
        out["methods"][r["label"]] = {**med, "ratio_to_ste": ratio}
        print(f"{r['label']:24s} {med['forward']:9.2f} {med['backward']:9.2f} "
              f"{med['step']:9.2f} {med['total']:9.2f} {ratio:6.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    if args.doc:
        from benchmarks._report import machine_info, machine_line, write_section

        lines = [
            f"{machine_line(machine_info(('numpy', 'torch', 'numba')))} {args.threads} "
            f"thread(s), batch {args.batch}, MLP 784-512-512-10, "
            f"{len(runs[0]['times']['total'])} steps of each method, interleaved in blocks of "
            f"{args.block} (the first step of a block not counted); medians in ms; load average "
            f"{load_before[0]:.2f} before, "
            f"{load_after[0]:.2f} after (a shared machine).",
            "",
            "| method | forward | backward | optimizer step | total | × STE |",
            "|---|---|---|---|---|---|",
            *(f"| {k} | {v['forward']:.2f} | {v['backward']:.2f} | {v['step']:.2f} | "
              f"{v['total']:.2f} | {v['ratio_to_ste']:.2f} |" for k, v in out["methods"].items()),
        ]
        write_section("bnn.md", "bnn-step-speed", "\n".join(lines))
    if args.epochs:
        _epochs(args)
    return 0


def _epochs(args) -> None:
    """Seconds per training epoch (bnn.train's own timing: training passes only) of STE and
    VISPA K=0, K=4, paper K=4 on Fashion-MNIST, median over rounds."""
    from bnn.data import load_dataset
    from bnn.train import TrainConfig, train

    methods = [("STE (Adam)", {"method": "ste"}), ("VISPA K=0", {"method": "vispa", "rank": 0}),
               ("VISPA K=4", {"method": "vispa", "rank": 4}),
               ("VISPA K=4 paper (SGD)", {"method": "vispa", "rank": 4, "recipe": "paper"})]
    data = load_dataset("fashion-mnist")
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {label: [] for label, _ in methods}
    for _ in range(args.rounds):
        for label, over in methods:
            cfg = TrainConfig(dataset="fashion-mnist", model="mlp", epochs=args.epochs,
                              **over)
            times[label].append(train(cfg, data=data).seconds_per_epoch)
    load_after = os.getloadavg()
    ste = statistics.median(times["STE (Adam)"])
    print(f"seconds per epoch, {args.rounds} rounds of {args.epochs} epoch(s); load average "
          f"before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    for label, t in times.items():
        print(f"{label:24s} {statistics.median(t):7.2f} s  {statistics.median(t) / ste:5.2f}x  "
              f"(rounds: {', '.join(f'{v:.2f}' for v in t)})")
    if args.doc:
        from benchmarks._report import machine_info, machine_line, write_section

        lines = [
            f"{machine_line(machine_info(('numpy', 'torch', 'numba')))} {args.threads} "
            f"thread(s); `python -m bnn.train --dataset fashion-mnist --model mlp` at its "
            f"defaults for each method, {args.rounds} rounds of {args.epochs} epoch(s), the "
            f"methods one after another in each round; seconds per epoch of training passes "
            f"(bnn.train's own timing, evaluation excluded), median over rounds; load average "
            f"{load_before[0]:.2f} before, {load_after[0]:.2f} after (a shared machine).",
            "",
            "| method | s/epoch | × STE | rounds |",
            "|---|---|---|---|",
            *(f"| {label} | {statistics.median(t):.2f} | {statistics.median(t) / ste:.2f} | "
              f"{', '.join(f'{v:.2f}' for v in t)} |" for label, t in times.items()),
        ]
        write_section("bnn.md", "bnn-epoch-speed", "\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
