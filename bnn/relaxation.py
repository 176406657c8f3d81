"""The bridge to lowrank_sdp: binary least squares, whose expected loss is a linear SDP objective.

For one linear layer with weights w ∈ R^d (out_features = 1), data A ∈ R^{m×d}, targets b ∈ R^m,
and w = Y ξ Gaussian (E[w] = μ, Cov(w) = Z Zᵀ),

    E ‖A w − b‖² / m = (‖A μ − b‖² + ‖A Z‖_F²) / m = ⟨Q, X⟩,
    Q = [[bᵀb, −bᵀA], [−Aᵀb, AᵀA]] / m,     X = [e_0; Y] [e_0; Y]ᵀ,

and diag(X) = 1 because the rows of Y are unit vectors. So minimizing the expected loss over the
layer's factor is the SDP  min ⟨Q, X⟩ s.t. diag(X) = 1, X ⪰ 0  (rotations fix the anchor row to e_0
without loss of generality), which ``lowrank_sdp.solve(Q)`` solves with a certificate, and at
w ∈ {±1}^d, X = (1, w)(1, w)ᵀ, ⟨Q, X⟩ is the binary loss: the SDP value lower-bounds it.
"""

from __future__ import annotations

import numpy as np
import torch

from bnn.layers import BinaryLinear
from lowrank_sdp.manifold import normalize_rows
from lowrank_sdp.validation import check_int, invalid


def least_squares_q(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Q of shape (d + 1, d + 1) with ⟨Q, (1, w)(1, w)ᵀ⟩ = ‖A w − b‖² / m for every w ∈ R^d."""
    A = np.asarray(A, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if A.ndim != 2 or A.shape[0] != b.shape[0] or A.shape[0] == 0 or A.shape[1] == 0:
        raise invalid("A", "least_squares_q", "a non-empty (m, d) array with m = len(b)",
                      f"<shape {A.shape} with len(b) = {b.shape[0]}>")
    M = np.hstack([b[:, None], -A])  # M (1, w) = b − A w
    return M.T @ M / A.shape[0]


def _rows(layer: BinaryLinear) -> torch.Tensor:
    if not isinstance(layer, BinaryLinear) or layer.out_features != 1:
        raise invalid("layer", "relaxation", "a BinaryLinear with out_features=1",
                      f"<{type(layer).__name__}>")
    return layer.factor[0]


def lifted(layer: BinaryLinear) -> torch.Tensor:
    """X = [e_0; Y][e_0; Y]ᵀ of a BinaryLinear with one output: shape (d + 1, d + 1)."""
    Y = _rows(layer)
    e0 = torch.zeros(1, Y.shape[1], dtype=Y.dtype, device=Y.device)
    e0[0, 0] = 1
    full = torch.cat([e0, Y])
    return full @ full.T


def expected_loss(layer: BinaryLinear, A: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """E ‖A w − b‖² / m over the layer's relaxed weights w = μ + s Z g, exactly (differentiable
    in the factor); with the layer's ``noise`` s = 1 this is ⟨Q, X⟩."""
    Y = _rows(layer)
    A = torch.as_tensor(A, dtype=Y.dtype, device=Y.device)
    b = torch.as_tensor(b, dtype=Y.dtype, device=Y.device).reshape(-1)
    r = A @ Y[:, 0] - b
    AZ = A @ Y[:, 1:]
    return (r @ r + layer.noise**2 * (AZ * AZ).sum()) / A.shape[0]


def anchor(Y: np.ndarray) -> np.ndarray:
    """Rotate the rows of an SDP factor Y (n × r, unit rows) so that row 0 becomes e_0.

    X = Y Yᵀ is unchanged (a Householder reflection acts on the right).
    """
    Y = np.array(Y, dtype=np.float64)
    if Y.ndim != 2 or Y.shape[0] < 1:
        raise invalid("Y", "anchor", "an (n, r) array", f"<shape {Y.shape}>")
    e0 = np.zeros(Y.shape[1])
    e0[0] = 1.0
    u = Y[0] - e0
    if np.linalg.norm(u) > 1e-15:
        Y = Y - 2.0 * np.outer(Y @ u, u) / (u @ u)
    return Y


def factor_from_sdp(Y: np.ndarray, rank: int) -> torch.Tensor:
    """The factor rows (d, rank + 1) of a BinaryLinear(d, 1) for the SDP solution Y ((d+1) × r):
    anchored (row 0 → e_0), then padded with zero columns or reduced by an SVD rotation."""
    rank = check_int(rank, "rank", "factor_from_sdp", 0)
    Ya = anchor(Y)
    rows = Ya[1:]
    if rows.shape[1] > rank + 1:
        # keep mu, rotate the Z block onto its leading singular directions, drop the rest
        _, _, vt = np.linalg.svd(rows[:, 1:], full_matrices=False)
        z = rows[:, 1:] @ vt.T[:, :rank]
        rows = np.hstack([rows[:, :1], z])
        rows = normalize_rows(rows)
    elif rows.shape[1] < rank + 1:
        rows = np.hstack([rows, np.zeros((rows.shape[0], rank + 1 - rows.shape[1]))])
    return torch.from_numpy(rows)


def hyperplane_round(Y: np.ndarray, rounds: int = 1, seed: int = 0) -> np.ndarray:
    """Binary weights from random hyperplanes: w_i = sign(⟨y_i, r⟩) sign(⟨y_0, r⟩).

    `Y` is the full (d + 1) × r factor whose row 0 is the anchor (``anchor`` it, or stack e_0 on a
    layer's rows). Returns `rounds` × d entries ±1. In expectation over r,
    E[(1, w)(1, w)ᵀ] = (2/π) arcsin(X) (Goemans–Williamson), so E‖A w − b‖²/m = ⟨Q, (2/π) arcsin X⟩.
    """
    rounds = check_int(rounds, "rounds", "hyperplane_round", 1)
    Y = np.asarray(Y, dtype=np.float64)
    r = np.random.default_rng(seed).standard_normal((Y.shape[1], rounds))
    s = np.where(Y @ r >= 0, 1.0, -1.0)
    return (s[1:] * s[0]).T
