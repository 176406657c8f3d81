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


def project(Y: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Orthogonal projection of V onto the tangent space at Y: rows with <V_i, Y_i> = 0."""
    return linalg.project_tangent(Y, np.ascontiguousarray(V, dtype=np.float64), np.empty_like(Y))


def retract(Y: np.ndarray, V: np.ndarray, t: float = 1.0) -> np.ndarray:
    """Retraction R_Y(tV): rows of Y + tV scaled back to unit norm."""
    return linalg.retract(Y, np.ascontiguousarray(V, dtype=np.float64), float(t), np.empty_like(Y))


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
