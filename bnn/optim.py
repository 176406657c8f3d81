"""The optimizers of bnn: the core's Riemannian optimizers and the param groups of a model.

:class:`RiemannianSGD`, :class:`RiemannianAdam`, :func:`is_factor` and :class:`NonFiniteError`
are those of :mod:`lowrank_sdp.torch` (the oblique manifold of the core, on torch tensors); bnn
only knows which parameters of a model are factors (:func:`param_groups`).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from bnn.layers import BinaryLayer
from lowrank_sdp.torch import NonFiniteError, RiemannianAdam, RiemannianSGD, is_factor

__all__ = ["NonFiniteError", "RiemannianAdam", "RiemannianSGD", "is_factor", "param_groups"]


def param_groups(
    model: nn.Module,
    lr: float,
    factor_lr: float | None = None,
    weight_decay: float = 0.0,
    **factor_options: Any,
) -> list[dict[str, Any]]:
    """Split `model`'s parameters: the factors of its binary layers in a group with
    ``"riemannian": True`` and learning rate `factor_lr` (default `lr`), everything else
    (biases, BatchNorm, full-precision layers) in an ordinary group with `weight_decay`.
    Extra keywords go to the factor group only (e.g. ``momentum=0.9``). Empty groups are left out.
    """
    factor_ids = {id(m.factor) for m in model.modules() if isinstance(m, BinaryLayer)}
    params = [p for p in model.parameters() if p.requires_grad]
    factors = [p for p in params if id(p) in factor_ids]
    others = [p for p in params if id(p) not in factor_ids]
    groups = []
    if factors:
        groups.append({"params": factors, "riemannian": True,
                       "lr": lr if factor_lr is None else factor_lr, **factor_options})
    if others:
        groups.append({"params": others, "riemannian": False, "lr": lr,
                       "weight_decay": weight_decay})
    return groups
