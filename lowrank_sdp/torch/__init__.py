"""The oblique manifold and the stochastic Riemannian optimizers on torch tensors.

Needs PyTorch (the ``torch`` extra: ``pip install lowrank_sdp[torch]``); ``import lowrank_sdp``
does not import this subpackage, so the numpy core runs without torch.

- :mod:`lowrank_sdp.torch.manifold`: the oblique manifold in the rows convention (``project``,
  ``retract``, ``normalize_rows``, ...), the same maps as :mod:`lowrank_sdp.manifold`, on tensors
  of shape ``(n, r)`` (or ``(..., r)``: every row along the last axis is a point of a sphere).
- :mod:`lowrank_sdp.torch.optim`: :class:`RiemannianSGD` and :class:`RiemannianAdam`, torch.optim
  optimizers that take a Riemannian step on param groups flagged ``"riemannian": True``.
"""

try:
    import torch as _torch  # noqa: F401  (only to fail early, with the extra to install)
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without torch
    raise ImportError(
        "lowrank_sdp.torch needs PyTorch, which is not installed: pip install lowrank_sdp[torch] "
        "(for a CPU-only build, install torch first from https://download.pytorch.org/whl/cpu)"
    ) from exc

from lowrank_sdp.torch import manifold
from lowrank_sdp.torch.optim import (
    NonFiniteError,
    RiemannianAdam,
    RiemannianSGD,
    add_outer_grad,
    is_factor,
    outer_grad,
    prefetch_signs,
    sampled_signs,
    zeros_columns,
)

__all__ = ["NonFiniteError", "RiemannianAdam", "RiemannianSGD", "add_outer_grad", "is_factor",
           "manifold", "outer_grad", "prefetch_signs", "sampled_signs",
           "zeros_columns"]
