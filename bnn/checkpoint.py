"""Checkpoint and resume: model, optimizer, scheduler and every random state.

A run resumed from a checkpoint continues exactly as the unbroken run would have: the binary
layers' samples depend only on their ``seed``/``draws`` buffers (in the model's state), and the
global generators (torch CPU and CUDA, NumPy's legacy global state, Python's ``random``) that data
shuffling or dropout may use are saved and restored too. A ``torch.Generator`` of your own goes
in ``extra`` (``gen.get_state()``).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

FORMAT = "bnn-checkpoint-1"


@dataclass(frozen=True)
class Checkpoint:
    """What :func:`load_checkpoint` read besides the states it restored."""

    path: Path
    step: int
    epoch: int
    extra: dict[str, Any] = field(default_factory=dict)


def _unwrap(model: nn.Module) -> nn.Module:
    # DistributedDataParallel / DataParallel keep the real model in .module
    return model.module if isinstance(model, (nn.parallel.DistributedDataParallel,
                                              nn.DataParallel)) else model


def random_state() -> dict[str, Any]:
    """The global random states (torch CPU and CUDA, NumPy, Python) as plain tensors and tuples."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (saved as is)
    state = {
        "torch": torch.get_rng_state(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
                  float(cached)),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_random_state(state: dict[str, Any]) -> None:
    """Restore what :func:`random_state` returned."""
    torch.set_rng_state(state["torch"].cpu())
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))  # noqa: NPY002
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    *,
    step: int = 0,
    epoch: int = 0,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write model, optimizer, scheduler, random states, `step`, `epoch` and `extra` to `path`
    (atomically: a temporary file renamed into place). Returns the path."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "model": _unwrap(model).state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "random": random_state(),
        "step": int(step),
        "epoch": int(epoch),
        "extra": dict(extra or {}),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    map_location: str | torch.device | None = None,
    restore_random: bool = True,
) -> Checkpoint:
    """Restore what :func:`save_checkpoint` wrote into `model` (and `optimizer`, `scheduler`
    when given) and, by default, the global random states. Loads with ``weights_only=True``."""
    path = Path(path)
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a bnn checkpoint (format {FORMAT!r})")
    _unwrap(model).load_state_dict(payload["model"])
    if optimizer is not None:
        if payload["optimizer"] is None:
            raise ValueError(f"{path} holds no optimizer state")
        optimizer.load_state_dict(payload["optimizer"])
    if scheduler is not None:
        if payload["scheduler"] is None:
            raise ValueError(f"{path} holds no scheduler state")
        scheduler.load_state_dict(payload["scheduler"])
    if restore_random:
        set_random_state(payload["random"])
    return Checkpoint(path, payload["step"], payload["epoch"], payload["extra"])
