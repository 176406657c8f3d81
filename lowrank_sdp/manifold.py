"""The oblique manifold in the rows convention: Y in R^{n x r} with every row of unit norm.

X = Y Y^T then has diag(X) = 1 and X PSD, so every point is feasible for the SDP.
"""

from __future__ import annotations

import numpy as np

from lowrank_sdp.kernels import linalg


def random_point(n: int, r: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random point (each row uniform on the unit sphere S^{r-1})."""
    Y = rng.standard_normal((n, r))
    while linalg.normalize_rows(Y):  # a zero Gaussian row has probability zero; redraw if it happens
        Y = rng.standard_normal((n, r))
    return Y


def _f64(V: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(V, dtype=np.float64)  # a no-op for the solvers' own arrays


def project(Y: np.ndarray, V: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Orthogonal projection of V onto the tangent space at Y: rows with <V_i, Y_i> = 0.

    `out` (may be V itself) receives the result; a new array when None.
    """
    return linalg.project_tangent(Y, _f64(V), np.empty_like(Y) if out is None else out)


def retract(Y: np.ndarray, V: np.ndarray, t: float = 1.0, out: np.ndarray | None = None) -> np.ndarray:
    """Retraction R_Y(tV): rows of Y + tV scaled back to unit norm (into `out` when given)."""
    return linalg.retract(Y, _f64(V), float(t), np.empty_like(Y) if out is None else out)


def transport(Y_new: np.ndarray, V: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Vector transport of a tangent vector V to the tangent space at Y_new (by projection)."""
    return project(Y_new, V, out)


def riemannian_gradient(Y: np.ndarray, GY: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(grad, multipliers, ||grad||_F^2) of f(Y) = F(Y Y^T) from GY = grad F(X) @ Y.

    grad = 2 (G Y - Diag(lambda) Y) is the Euclidean gradient 2 G Y projected onto the tangent
    space, and lambda_i = <(G Y)_i, Y_i> are the multipliers of diag(X) = 1.
    """
    grad = np.empty_like(Y)
    lam = np.empty(Y.shape[0])
    _, norm2 = linalg.riemannian_gradient(_f64(GY), Y, grad, lam)
    return grad, lam, float(norm2)


def transported_inner_products(grad: np.ndarray, grad_new: np.ndarray,
                               Y_new: np.ndarray) -> tuple[float, float]:
    """(<grad, grad_new>, ||transport(Y_new, grad)||^2) in one pass (for Barzilai-Borwein steps)."""
    a, b = linalg.bb_inner_products(grad, grad_new, Y_new)
    return float(a), float(b)


def inner(U: np.ndarray, V: np.ndarray) -> float:
    """The metric inherited from R^{n x r}: <U, V> = trace(U^T V)."""
    return float(np.vdot(U, V))


def normalize_rows(Y: np.ndarray) -> np.ndarray:
    """A copy of Y with unit rows; raises ValueError naming the first zero row."""
    Y = np.array(Y, dtype=np.float64, order="C", copy=True)
    norms = np.linalg.norm(Y, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(f"row {zero[0]} of Y is zero and cannot be normalised")
    Y /= norms[:, None]
    return Y


def pad_columns(Y: np.ndarray, r: int) -> np.ndarray:
    """Y with zero columns appended up to r columns (the same X = Y Y^T)."""
    n, r0 = Y.shape
    out = np.zeros((n, r))
    out[:, :r0] = Y
    return out
