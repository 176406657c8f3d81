"""The oblique manifold in the rows convention, on torch tensors.

A point is a tensor ``Y`` of shape ``(n, r)`` whose rows have unit norm (X = Y Y^T has a unit
diagonal). Every function also takes a batch ``(..., r)``: each row along the last axis is a point
of its own sphere S^{r-1}. The maps are those of :mod:`lowrank_sdp.manifold` (the numpy/Numba
core), with the same names, argument order and results:

    project(Y, V)       V - Diag(<V_i, Y_i>) Y         (tangent projection, row by row)
    retract(Y, V, t)    rows of Y + t V scaled to unit norm (a row that would vanish keeps Y_i)
    normalize_rows(Y)   a copy with unit rows; a zero row is a ValueError
    inner(U, V)         trace(U^T V), the metric inherited from R^{n x r}

plus in-place variants (``project_``, ``retract_``) for optimizers, ``row_inner`` (the per-row
inner products, shape ``(..., 1)``), ``random_point`` and ``is_point``. The functions are plain
tensor arithmetic: they keep dtype and device and are differentiable; none of them syncs with the
device except ``normalize_rows`` (its zero-row check) and ``is_point``.
"""

from __future__ import annotations

import torch

from lowrank_sdp.validation import invalid

__all__ = [
    "inner",
    "is_point",
    "normalize_rows",
    "project",
    "project_",
    "random_point",
    "retract",
    "retract_",
    "row_inner",
]


def _check_pair(Y: torch.Tensor, V: torch.Tensor, func: str) -> None:
    if Y.dim() < 1 or V.shape != Y.shape:
        raise invalid("V", func, f"a tensor of the shape of Y, {tuple(Y.shape)}",
                      f"<a tensor of shape {tuple(V.shape)}>")


def row_inner(U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """<U_i, V_i> for every row (last axis), shape ``(..., 1)`` so that it broadcasts on rows."""
    return torch.einsum("...k,...k->...", U, V).unsqueeze(-1)


def project(Y: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """Orthogonal projection of V onto the tangent space at Y: rows with <V_i, Y_i> = 0."""
    _check_pair(Y, V, "project")
    return torch.addcmul(V, row_inner(V, Y), Y, value=-1)


def project_(Y: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """:func:`project` in place on `V`; returns `V`."""
    _check_pair(Y, V, "project_")
    return V.addcmul_(row_inner(V, Y), Y, value=-1)


def _unit_rows(W: torch.Tensor, fallback: torch.Tensor) -> torch.Tensor:
    norms = row_inner(W, W).sqrt_()
    # A row of Y + tV vanishes only for a non-tangent V with t|V_i| = |Y_i|: keep Y_i there, as
    # the numpy kernel does (a zero row is no point of the manifold).
    return torch.where(norms > 0, W / norms.clamp_min(torch.finfo(W.dtype).tiny), fallback)


def retract(Y: torch.Tensor, V: torch.Tensor, t: float = 1.0) -> torch.Tensor:
    """Retraction R_Y(tV): the rows of Y + tV scaled back to unit norm."""
    _check_pair(Y, V, "retract")
    return _unit_rows(torch.add(Y, V, alpha=t), Y)


def retract_(Y: torch.Tensor, V: torch.Tensor, t: float = 1.0) -> torch.Tensor:
    """:func:`retract` in place on `Y`; returns `Y` (no temporary of Y's size)."""
    _check_pair(Y, V, "retract_")
    Y.add_(V, alpha=t)
    norms = row_inner(Y, Y).sqrt_()
    vanished = (norms == 0).to(Y.dtype)
    Y.div_(norms.clamp_min_(torch.finfo(Y.dtype).tiny))
    # A vanished row is 0 here and Y_i was -t V_i: put it back (as retract keeps Y_i).
    return Y.addcmul_(vanished, V, value=-t)


def inner(U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """The metric inherited from R^{n x r}: <U, V> = trace(U^T V), a 0-dim tensor."""
    _check_pair(U, V, "inner")
    return torch.vdot(U.reshape(-1), V.reshape(-1))


def normalize_rows(Y: torch.Tensor) -> torch.Tensor:
    """A copy of Y with unit rows; raises ValueError naming the first zero row."""
    if not isinstance(Y, torch.Tensor) or not Y.is_floating_point() or Y.dim() < 1:
        raise invalid("Y", "normalize_rows", "a floating tensor of shape (..., r)",
                      f"<{type(Y).__name__}>")
    norms = row_inner(Y, Y).sqrt_()
    zero = (norms[..., 0] == 0).nonzero()
    if zero.numel():
        raise ValueError(f"row {tuple(zero[0].tolist())} of Y is zero and cannot be normalised")
    return Y / norms


def random_point(
    n: int,
    r: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A uniformly random point of shape ``(n, r)`` (each row uniform on S^{r-1})."""
    for name, value in (("n", n), ("r", r)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise invalid(name, "random_point", "a positive int", value)
    Y = torch.randn(n, r, generator=generator, dtype=dtype, device=device)
    while bool((row_inner(Y, Y) == 0).any()):  # probability zero; redraw if it happens
        Y = torch.randn(n, r, generator=generator, dtype=dtype, device=device)
    return Y / row_inner(Y, Y).sqrt_()


def is_point(Y: torch.Tensor, atol: float | None = None) -> bool:
    """True when `Y` is a floating tensor of shape ``(..., r)`` whose rows have unit norm to
    within `atol` (default: 1e-4 for float32/float64 rounding after many steps, 1e-2 for half
    precision)."""
    if not isinstance(Y, torch.Tensor) or not Y.is_floating_point() or Y.dim() < 1:
        return False
    if Y.numel() == 0:
        return False
    if atol is None:
        atol = 1e-4 if Y.dtype in (torch.float32, torch.float64) else 1e-2
    with torch.no_grad():
        return bool((row_inner(Y, Y).sqrt_() - 1).abs().max() <= atol)
