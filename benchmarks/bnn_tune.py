"""Validation sweeps behind the bnn.train defaults that issue 14 changed (Fashion-MNIST, MLP).

    .venv/bin/python benchmarks/bnn_tune.py bayesbinn   # lr x momentum x temperature
    .venv/bin/python benchmarks/bnn_tune.py sgd         # lr of the paper recipe's SGD schedule

``bayesbinn``: MLP W1A32, 8,000 training images, 5,000 validation images, 2 epochs, batch 100,
seed 0. ``sgd``: VISPA ``recipe="paper"`` K=4 and STE with ``ste_optimizer="sgd"``, MLP W1A32,
10,000 training images, 5,000 validation images, 3 epochs (1 warm-up), batch 256, seed 0. Each
line: the settings, the validation accuracy of sign(mean) per epoch, the deployed network's
validation and test accuracy. The default is the best deployed validation accuracy.
One thread per run; the machine is named in benchmarks/results/bnn_tune.txt.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SWEEPS = {
    "bayesbinn": {
        "data": {"train_limit": 8000, "val_size": 5000},
        "base": {"method": "bayesbinn", "epochs": 2, "batch_size": 100},
        "grid": ([{"lr": lr} for lr in (1e-3, 1e-2, 1e-1, 0.3, 1.0)]
                 + [{"lr": 1e-1, "bayesbinn_beta": 0.9}]
                 + [{"lr": lr, "bayesbinn_beta": 0.0} for lr in (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)]
                 + [{"lr": 1e-2, "bayesbinn_beta": 0.99, "bayesbinn_temperature": 1.0}]),
    },
    "sgd": {
        "data": {"train_limit": 10000, "val_size": 5000},
        "base": {"epochs": 3, "warmup_epochs": 1},
        "grid": ([{"method": "vispa", "rank": 4, "recipe": "paper", "lr": lr}
                  for lr in (0.03, 0.1, 0.3, 1.0, 3.0)]
                 + [{"method": "ste", "ste_optimizer": "sgd", "lr": lr}
                    for lr in (0.1, 0.3, 1.0, 3.0)]),
    },
}


def main(argv: list[str] | None = None) -> int:
    import torch

    from bnn.data import load_dataset
    from bnn.train import TrainConfig, train

    name = (argv if argv is not None else sys.argv[1:])[0]
    sweep = SWEEPS[name]
    torch.set_num_threads(1)
    data = load_dataset("fashion-mnist", **sweep["data"])
    for over in sweep["grid"]:
        cfg = TrainConfig(dataset="fashion-mnist", model="mlp", seed=0, verbose=False,
                          progress=False, **{**sweep["base"], **over})
        t0 = time.perf_counter()
        r = train(cfg, data=data)
        print(over, "val(sign) per epoch", [round(h["val_accuracy"], 4) for h in r.history],
              f"deployed val {r.val_accuracy:.4f} test {r.test_accuracy:.4f} "
              f"{time.perf_counter() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
