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

A factor's gradient may also be given as outer products, without building it:
:func:`add_outer_grad` adds gw ⊗ xi (row i: gw_i xi), the straight-through gradient of sampled
weights sign(Y xi). Both optimizers step on the sum of ``p.grad`` and these terms; their
``zero_grad`` clears them (``nn.Module.zero_grad`` does not). RiemannianAdam's kernel reads gw
and xi directly (``adam_rows_step_outer``); every other path builds the sum first.

The binary weights of the next forward pass may be computed by the step itself:
:func:`prefetch_signs` asks the next step of factor p to write sign(p xi) of the stepped factor
in the same pass of the kernel (RiemannianAdam's kernel path only; elsewhere the request is
dropped), and :func:`sampled_signs` (p, xi) then returns them instead of reading p again, as
long as p has not changed since (its version counter) and xi is the one asked for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import torch

from lowrank_sdp.kernels.stochastic import (
    adam_cols_step,
    adam_cols_step_outer,
    adam_rows_step,
    adam_rows_step_outer,
)
from lowrank_sdp.kernels.stochastic import sampled_signs as sampled_signs_kernel
from lowrank_sdp.torch import manifold
from lowrank_sdp.validation import check_choice, invalid

__all__ = ["NonFiniteError", "RiemannianAdam", "RiemannianSGD", "add_outer_grad", "is_factor",
           "outer_grad", "prefetch_signs", "sampled_signs", "zeros_columns"]

_OUTER = "_outer_grad"  # the attribute of a parameter holding its outer-product gradient terms
_WANT = "_prefetch_signs"  # the xi whose signs the next step of a factor is asked to compute
_SIGNS = "_prefetched_signs"  # (xi, signs, p._version) computed by the last step


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


_FUSED_DTYPES = (torch.float32, torch.float64)


def _fusable(p: torch.Tensor, group: dict[str, Any]) -> bool:
    # What adam_rows_step takes: a sphere factor (r >= 2) with one second moment per row, on
    # the CPU in a dtype numba compiles for. Contiguity is checked per step (grads may vary).
    return (group["riemannian"] and group["adaptivity"] == "row" and p.shape[-1] >= 2
            and p.device.type == "cpu" and p.dtype in _FUSED_DTYPES)


def _rows(t: torch.Tensor) -> Any:
    """The (n, r) numpy view of a contiguous CPU tensor (shares memory)."""
    return t.detach().view(-1, t.shape[-1]).numpy()


def _columns(t: torch.Tensor) -> Any:
    """The (r, n) numpy view of a tensor of shape (..., r) stored column by column (shares
    memory), or None when it is not stored so."""
    c = t.detach().movedim(-1, 0)
    return c.reshape(t.shape[-1], -1).numpy() if c.is_contiguous() else None


def zeros_columns(shape: tuple[int, ...] | torch.Size, **kwargs: Any) -> torch.Tensor:
    """Zeros of `shape` ``(..., r)`` stored column by column: the tensor is ``(r, ...)``
    contiguous with its first axis moved last, so each column ``[..., k]`` is contiguous. The
    layout in which the fused kernels read a factor (or its first moment) without a transpose,
    and in which :func:`sampled_signs` reads it; `kwargs` as for ``torch.zeros`` (dtype, device,
    requires_grad)."""
    shape = tuple(shape)
    return torch.zeros((shape[-1], *shape[:-1]), **kwargs).movedim(0, -1)


def _zeros_columns(p: torch.Tensor) -> torch.Tensor:
    """Zeros of p's shape, stored column by column (the layout the fused kernels read)."""
    return zeros_columns(p.shape, dtype=p.dtype, device=p.device)


def sampled_signs(p: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
    """The ±1 signs of the sampled weights p xi (row i: sign(<p_i, xi>), sign(0) = +1), shape
    ``p.shape[:-1]``, of p's dtype, without gradient: the binary weights sign(Y xi) of one
    sample xi ``(r,)`` of factor `p` ``(..., r)``. A CPU float32/float64 factor stored column by
    column (:func:`zeros_columns`) is read in one pass of
    :func:`lowrank_sdp.kernels.stochastic.sampled_signs` (Y xi is never stored); any other goes
    through ``torch.matmul``."""
    if xi.shape != p.shape[-1:]:
        raise invalid("xi", "sampled_signs", f"a tensor of shape ({p.shape[-1]},)",
                      tuple(xi.shape))
    ready = p.__dict__.pop(_SIGNS, None)  # handed out once (the caller owns the tensor)
    if ready is not None and ready[2] == p._version and torch.equal(ready[0], _xi(p, xi)):
        return ready[1]
    cols = _columns(p) if p.device.type == "cpu" and p.dtype in _FUSED_DTYPES else None
    if cols is None:
        w = torch.matmul(p.detach(), xi.to(p.dtype))
        return (w >= 0).to(p.dtype).mul_(2).sub_(1)
    out = torch.empty(p.shape[:-1], dtype=p.dtype)
    sampled_signs_kernel(cols, _xi(p, xi).numpy(), out.view(-1).numpy(), (0,) * p.shape[-1])
    return out


def _xi(p: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
    return xi.detach().to(device="cpu", dtype=p.dtype).contiguous()


def prefetch_signs(p: torch.Tensor, xi: torch.Tensor) -> None:
    """Ask the next optimizer step of factor `p` (shape ``(..., r)``) to compute the binary
    weights sign(p xi) of the stepped factor for the sample `xi` ``(r,)``, in the same pass
    that steps it; ``sampled_signs(p, xi)`` then returns them (once) without reading p again.
    Only :class:`RiemannianAdam`'s kernel path computes them (a CPU float32/float64 factor);
    any other step drops the request, and a change of p after the step (one that bumps its
    version counter: every in-place torch operation, ``load_state_dict``; not a write through
    ``.data`` or a numpy view) makes :func:`sampled_signs` compute them afresh. The signs are
    those :func:`sampled_signs` computes (the same arithmetic)."""
    if xi.shape != p.shape[-1:]:
        raise invalid("xi", "prefetch_signs", f"a tensor of shape ({p.shape[-1]},)",
                      tuple(xi.shape))
    p.__dict__[_WANT] = xi.detach().clone()


def add_outer_grad(p: torch.Tensor, gw: torch.Tensor, xi: torch.Tensor) -> None:
    """Add the Euclidean gradient gw ⊗ xi to factor `p` (shape ``(..., r)``) without building
    it: row i of the term is gw_i xi, `gw` of shape ``p.shape[:-1]``, `xi` of shape ``(r,)``.
    Terms accumulate (several samples, several backward passes) until the optimizer's
    ``zero_grad``; :func:`outer_grad` builds their sum."""
    if gw.shape != p.shape[:-1] or xi.shape != p.shape[-1:]:
        raise invalid("gw, xi", "add_outer_grad", f"shapes {tuple(p.shape[:-1])} and "
                      f"({p.shape[-1]},)", f"{tuple(gw.shape)} and {tuple(xi.shape)}")
    terms = p.__dict__.setdefault(_OUTER, [])
    terms.append((gw.detach(), xi.detach().to(p.dtype)))


def outer_grad(p: torch.Tensor) -> torch.Tensor | None:
    """The sum of the outer-product gradient terms of `p` (:func:`add_outer_grad`), built; None
    when there are none."""
    terms = p.__dict__.get(_OUTER)
    if not terms:
        return None
    g = terms[0][0].unsqueeze(-1) * terms[0][1]
    for gw, xi in terms[1:]:
        g.addcmul_(gw.unsqueeze(-1), xi)
    return g


def _grad(p: torch.Tensor) -> torch.Tensor | None:
    """p.grad plus its outer-product terms (None when neither is there)."""
    outer = outer_grad(p)
    if outer is None:
        return p.grad
    return outer if p.grad is None else outer.add_(p.grad)


class _Riemannian(torch.optim.Optimizer):
    """Shared validation, outer-product gradients and the refusal of non-finite steps."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        super().zero_grad(set_to_none=set_to_none)
        for group in self.param_groups:
            for p in group["params"]:
                p.__dict__.pop(_OUTER, None)

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

    def _take_sign_requests(self) -> None:
        """Forget the signs computed by the last step (the factors are about to change) and
        take the requests of :func:`prefetch_signs` for this one (RiemannianAdam's kernel path
        fulfils them, every other path drops them)."""
        self._sign_requests = {}
        for group in self.param_groups:
            for p in group["params"]:
                p.__dict__.pop(_SIGNS, None)
                want = p.__dict__.pop(_WANT, None)
                if want is not None:
                    self._sign_requests[p] = want

    def _check_finite(self, loss: Any) -> None:
        if loss is not None:
            value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
            if not math.isfinite(value):
                raise NonFiniteError(
                    f"loss is {value}; step refused, parameters and optimizer state unchanged")
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        grads += [t for g in self.param_groups for p in g["params"]
                  for term in p.__dict__.get(_OUTER, ()) for t in term]
        if grads:
            # A NaN or inf anywhere makes the sum non-finite: one read pass, no temporaries.
            finite = torch.stack([g.sum() for g in grads]).isfinite().all()
            if not bool(finite):
                raise NonFiniteError(
                    "a gradient is NaN or infinite; step refused, parameters and optimizer "
                    "state unchanged")

    def _gradients(
        self, fused: Callable[[dict[str, Any], torch.Tensor], bool] | None = None,
    ) -> Iterator[tuple[dict[str, Any], torch.Tensor, torch.Tensor]]:
        """(group, p, g) for every parameter with a gradient: g = grad + weight decay · p, and
        on factor groups its tangent projection (the Riemannian gradient); a parameter for
        which ``fused(group, p)`` returns True has taken its whole step there and is skipped."""
        for group in self.param_groups:
            for p in group["params"]:
                if (p.grad is None and not p.__dict__.get(_OUTER)) or (
                        fused is not None and fused(group, p)):
                    continue
                g = _grad(p)
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
        self._take_sign_requests()
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
    per row: both are Adam.

    ``fused`` (a group option) chooses how a factor's ``"row"`` step is computed: one pass of
    :func:`lowrank_sdp.kernels.stochastic.adam_rows_step` over the factor, its gradient and the
    moments (CPU tensors of float32/float64; the factor stored row-major, i.e. contiguous, or
    column by column as :func:`zeros_columns` makes it, the faster: ``adam_cols_step``, the same
    numbers; a gradient in the other layout is copied), or tensor operations (any device; some
    twenty passes, each a loop of length r per row: 4-5x slower on the CPU). ``None`` (default)
    takes the kernel wherever it applies; ``True`` requires it (a factor it cannot take is a
    ValueError); ``False`` never uses it. Both compute the same update (tests compare them)."""

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        riemannian: bool = False,
        adaptivity: str = "row",
        fused: bool | None = None,
    ) -> None:
        check_choice(adaptivity, ("row", "coordinate"), "adaptivity", "RiemannianAdam")
        for i, b in enumerate(betas):
            if not 0.0 <= b < 1.0:
                raise invalid(f"betas[{i}]", "RiemannianAdam", "a number in [0, 1)", b)
        if not eps >= 0:
            raise invalid("eps", "RiemannianAdam", "a non-negative number", eps)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        riemannian=riemannian, adaptivity=adaptivity, fused=fused)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        fused = group["fused"]
        if fused is not None and not isinstance(fused, bool):
            raise invalid("fused", "RiemannianAdam", "None, True or False", fused)
        if fused:
            for p in group["params"]:
                if not _fusable(p, group):
                    raise invalid(
                        "fused", "RiemannianAdam",
                        "None or False unless every parameter of the group is a CPU float32 or "
                        "float64 factor with r >= 2 columns in a group with riemannian=True and "
                        "adaptivity='row'",
                        f"True for a {p.device.type} {p.dtype} tensor of shape {tuple(p.shape)}")

    def _state(self, p: torch.Tensor, rows: bool, columns: bool = False) -> dict[str, Any]:
        state = self.state[p]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32)
            state["exp_avg"] = (_zeros_columns(p) if columns else
                                torch.zeros_like(p, memory_format=torch.contiguous_format))
            state["exp_avg_sq"] = (torch.zeros_like(p[..., :1], memory_format=torch.contiguous_format)
                                   if rows else torch.zeros_like(p))
        return state

    def _fused_step(self, group: dict[str, Any], p: torch.Tensor) -> bool:
        """The whole step of factor `p` by the kernel, where it applies (see ``fused``)."""
        if group["fused"] is False or not _fusable(p, group) or group["weight_decay"]:
            return False
        # The gradient: p.grad, or outer-product terms read as they are (not both: built then).
        terms, g = p.__dict__.get(_OUTER), p.grad
        if terms and g is not None:
            g, terms = _grad(p), None
        state = self._state(p, rows=True, columns=True)
        if _columns(state["exp_avg"]) is None:  # e.g. a state saved before the column layout
            state["exp_avg"] = _zeros_columns(p).copy_(state["exp_avg"])
        m, v = state["exp_avg"], state["exp_avg_sq"]
        # The factor stored row-major (contiguous) or column-major (zeros_columns' layout); a
        # built gradient is read in the same layout (copied to it if it is not).
        view = _rows if p.is_contiguous() else _columns
        y = view(p) if v.is_contiguous() else None
        if y is None:
            if group["fused"]:
                raise invalid("fused", "RiemannianAdam",
                              "None or False for parameters stored neither row- nor "
                              "column-major, or a non-contiguous state", True)
            return False
        if not terms:
            if view is _rows:
                g = g.contiguous()
            elif _columns(g) is None:
                g = _zeros_columns(p).copy_(g)
            grad = view(g)
        state["step"] += 1
        t = float(state["step"])
        beta1, beta2 = group["betas"]
        scalar = np.float32 if p.dtype == torch.float32 else np.float64
        args = (_columns(m), v.detach().view(-1).numpy(), scalar(beta1), scalar(beta2),
                scalar(math.sqrt(1 - beta2**t)), scalar(group["eps"]),
                scalar(-group["lr"] / (1 - beta1**t)), scalar(torch.finfo(p.dtype).tiny),
                (0,) * p.shape[-1])
        want = getattr(self, "_sign_requests", {}).pop(p, None)
        signs = None
        if want is not None:
            signs = torch.empty(p.shape[:-1], dtype=p.dtype)
            args = (*args, _xi(p, want).numpy(), signs.view(-1).numpy())
        if terms:
            gw = torch.stack([w.reshape(-1) for w, _ in terms]) if len(terms) > 1 \
                else terms[0][0].reshape(1, -1)
            xi = torch.stack([x for _, x in terms])
            gw, xi = gw.contiguous().numpy(), xi.numpy()
            (adam_rows_step_outer if view is _rows else adam_cols_step_outer)(y, gw, xi, *args)
        else:
            (adam_rows_step if view is _rows else adam_cols_step)(y, grad, *args)
        if signs is not None:
            p.__dict__[_SIGNS] = (_xi(p, want), signs, p._version)
        return True

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = self._loss(closure)
        for group, p, g in self._gradients(fused=self._fused_step):
            riem, lr = group["riemannian"], group["lr"]
            beta1, beta2 = group["betas"]
            rows = riem and group["adaptivity"] == "row"
            state = self._state(p, rows)
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
