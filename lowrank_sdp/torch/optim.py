"""Stochastic Riemannian optimizers on the oblique manifold, with torch.optim conventions.

They follow torch.optim (param groups, per-parameter state updated in place, ``step(closure)``
returning the loss, ``state_dict``, learning-rate schedulers). A param group with
``"riemannian": True`` holds factors (see :func:`is_factor`); for those the step is

    rgrad = P_Y(grad)                      tangent projection, row by row: g - <g, y> y
    d     = momentum / Adam direction built from rgrad (the buffers are moved to the current
            tangent space by the same projection: vector transport by projection)
    Y    <- R_Y(-lr P_Y(d))                retraction: rows normalised to unit length

with the maps of :mod:`lowrank_sdp.torch.manifold` (rows along the last axis). A factor with one
column (shape ``(..., 1)``) stands for the relaxation's box [-1, 1] rather than the sphere S^0 =
{±1}, on which no step could move: its tangent projection is the identity and its retraction clips
to [-1, 1] (projected SGD/Adam; BinaryConnect's latent weights). Every other group takes the
plain SGD / Adam step of torch.optim (same hyperparameters, same semantics).

A step with a NaN or infinite loss (from the closure) or gradient is refused: it raises
:class:`NonFiniteError` and leaves parameters and optimizer state untouched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from lowrank_sdp.torch import manifold
from lowrank_sdp.validation import check_choice, invalid

__all__ = ["NonFiniteError", "RiemannianAdam", "RiemannianSGD", "is_factor"]


class NonFiniteError(FloatingPointError):
    """A step was refused because the loss or a gradient is NaN or infinite."""


def is_factor(p: torch.Tensor) -> bool:
    """True when `p` is a point that a ``"riemannian": True`` group accepts: a floating tensor
    with at least 2 dimensions whose rows (last axis) have unit norm (``(..., r)``, r >= 2), or
    whose entries lie in [-1, 1] (``(..., 1)``, the box)."""
    if not isinstance(p, torch.Tensor) or not p.is_floating_point() or p.dim() < 2:
        return False
    if p.numel() == 0:
        return False
    if p.shape[-1] == 1:
        tol = 1e-4 if p.dtype in (torch.float32, torch.float64) else 1e-2
        with torch.no_grad():
            return bool(p.abs().max() <= 1 + tol)
    return manifold.is_point(p)


# The geometry of one factor: the oblique manifold, or the box for one column.
def _project(p: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return v if p.shape[-1] == 1 else manifold.project(p, v)


def _project_(p: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return v if p.shape[-1] == 1 else manifold.project_(p, v)


def _retract_(p: torch.Tensor, d: torch.Tensor, t: float) -> torch.Tensor:
    if p.shape[-1] == 1:
        return p.add_(d, alpha=t).clamp_(-1.0, 1.0)
    return manifold.retract_(p, d, t)


class _Riemannian(torch.optim.Optimizer):
    """Shared validation and the refusal of non-finite steps."""

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        name = type(self).__name__
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        lr = group["lr"]
        lr = float(lr) if isinstance(lr, torch.Tensor) and lr.numel() == 1 else lr
        if isinstance(lr, bool) or not isinstance(lr, (float, int)) or not lr >= 0:
            raise invalid("lr", name, "a non-negative number", group["lr"])
        if group["riemannian"]:
            for p in group["params"]:
                if not is_factor(p):
                    shape = tuple(p.shape)
                    raise invalid(
                        "params", name,
                        "factors (rows of unit norm along the last axis, or entries in [-1, 1] "
                        "for shape (..., 1)) in a group with riemannian=True",
                        f"<a tensor of shape {shape} that is not a factor>")
            if group.get("weight_decay", 0):
                raise invalid("weight_decay", name, "0 in a group with riemannian=True",
                              group["weight_decay"])

    def _check_finite(self, loss: Any) -> None:
        if loss is not None:
            value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
            if not math.isfinite(value):
                raise NonFiniteError(
                    f"loss is {value}; step refused, parameters and optimizer state unchanged")
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        if grads:
            # A NaN or inf anywhere makes the sum non-finite: one read pass, no temporaries.
            finite = torch.stack([g.sum() for g in grads]).isfinite().all()
            if not bool(finite):
                raise NonFiniteError(
                    "a gradient is NaN or infinite; step refused, parameters and optimizer "
                    "state unchanged")

    def _gradients(self) -> Iterator[tuple[dict[str, Any], torch.Tensor, torch.Tensor]]:
        """(group, p, g) for every parameter with a gradient: g = grad + weight decay · p, and
        on factor groups its tangent projection (the Riemannian gradient)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if group["weight_decay"]:
                    g = g.add(p, alpha=group["weight_decay"])
                if group["riemannian"]:
                    g = _project(p, g)
                yield group, p, g

    def _loss(self, closure: Callable[[], Any] | None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._check_finite(loss)
        return loss


class RiemannianSGD(_Riemannian):
    """SGD (momentum, dampening, Nesterov, weight decay as torch.optim.SGD) with a Riemannian
    step on groups flagged ``"riemannian": True``."""

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-2,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        riemannian: bool = False,
    ) -> None:
        if not 0.0 <= momentum < 1.0:
            raise invalid("momentum", "RiemannianSGD", "a number in [0, 1)", momentum)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise invalid("nesterov", "RiemannianSGD",
                          "False unless momentum > 0 and dampening = 0", nesterov)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, riemannian=riemannian)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = self._loss(closure)
        for group, p, d in self._gradients():
            riem, lr, mom = group["riemannian"], group["lr"], group["momentum"]
            if mom:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = d.clone()
                else:
                    if riem:
                        _project_(p, buf)  # transport to the current point
                    buf.mul_(mom).add_(d, alpha=1 - group["dampening"])
                d = d.add(buf, alpha=mom) if group["nesterov"] else buf
            if riem:
                _retract_(p, d, -lr)
            else:
                p.add_(d, alpha=-lr)
        return loss


class RiemannianAdam(_Riemannian):
    """Adam (torch.optim.Adam semantics, L2 weight decay) with a Riemannian step on groups
    flagged ``"riemannian": True``: the moments are built from the Riemannian gradient, the
    first moment is transported by projection, and the step is projected and retracted.

    ``adaptivity`` (a group option) sets the second moment of a factor: ``"row"`` (default) keeps
    one per row, the squared norm of the row's Riemannian gradient (the Riemannian Adam of
    Bécigneul & Ganea, 2019, on each sphere: invariant to rotations of the row), so the steps of
    each coordinate stay in proportion to its share of the row's gradient; ``"coordinate"`` keeps
    one per entry (each column gets its own scale, which blows tiny gradients of a column up to
    full-size steps: measured worse for bnn, see docs/bnn.md). One-column factors have one entry
    per row: both are Adam."""

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        riemannian: bool = False,
        adaptivity: str = "row",
    ) -> None:
        check_choice(adaptivity, ("row", "coordinate"), "adaptivity", "RiemannianAdam")
        for i, b in enumerate(betas):
            if not 0.0 <= b < 1.0:
                raise invalid(f"betas[{i}]", "RiemannianAdam", "a number in [0, 1)", b)
        if not eps >= 0:
            raise invalid("eps", "RiemannianAdam", "a non-negative number", eps)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        riemannian=riemannian, adaptivity=adaptivity)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = self._loss(closure)
        for group, p, g in self._gradients():
            riem, lr = group["riemannian"], group["lr"]
            beta1, beta2 = group["betas"]
            state = self.state[p]
            rows = riem and group["adaptivity"] == "row"
            if not state:
                state["step"] = torch.zeros((), dtype=torch.float32)
                state["exp_avg"] = torch.zeros_like(p)
                state["exp_avg_sq"] = (torch.zeros_like(p[..., :1]) if rows
                                       else torch.zeros_like(p))
            state["step"] += 1
            t = float(state["step"])
            m, v = state["exp_avg"], state["exp_avg_sq"]
            if riem:
                _project_(p, m)  # transport to the current point
            m.mul_(beta1).add_(g, alpha=1 - beta1)
            if rows:
                v.mul_(beta2).add_(manifold.row_inner(g, g), alpha=1 - beta2)
            else:
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            d = v.sqrt().div_(math.sqrt(1 - beta2**t)).add_(group["eps"])
            d = m / d if rows else torch.div(m, d, out=d)
            step = -lr / (1 - beta1**t)
            if riem:
                _retract_(p, _project_(p, d), step)
            else:
                p.add_(d, alpha=step)
        return loss
