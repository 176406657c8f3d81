"""Numba kernels for Max-Cut rounding: cut values, hyperplane cuts, 1-flip and tabu local search.

Graphs come as the three arrays of a symmetric CSR adjacency with a zero diagonal
(indptr, indices, data); labels are int8 arrays with entries in {-1, +1}.
The cut of labels x is sum_{i<j} w_ij [x_i != x_j] = x^T L x / 4, and flipping vertex i
changes it by gain_i = x_i * sum_j w_ij x_j.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def cut_value(indptr, indices, data, x):
    """Cut value sum_{i<j} w_ij [x_i != x_j] of the labels x (each edge stored twice in CSR)."""
    total = 0.0
    for i in range(x.shape[0]):
        xi = x[i]
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if j > i and x[j] != xi:
                total += data[k]
    return total


@njit(cache=True)
def hyperplane_cut_values(indptr, indices, data, Z):
    """Cut values of the T labelings sign(Z[:, t]) (sign(0) = +1) for Z of shape (n, T).

    Z = Y @ R holds the products of the rows of Y with T random directions. The signs are
    packed to bytes first so the edge loop streams 8x less memory.
    """
    n, T = Z.shape
    S = np.empty((n, T), dtype=np.uint8)
    for i in range(n):
        for t in range(T):
            S[i, t] = 1 if Z[i, t] < 0.0 else 0
    out = np.zeros(T)
    for i in range(n):
        si = S[i]
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if j > i:
                w = data[k]
                sj = S[j]
                for t in range(T):
                    out[t] += w * (si[t] ^ sj[t])
    return out


@njit(cache=True)
def flip_gains(indptr, indices, data, x):
    """gain_i = x_i * sum_j w_ij x_j: the change in the cut when vertex i alone is flipped."""
    n = x.shape[0]
    gains = np.empty(n)
    for i in range(n):
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            s += data[k] * x[indices[k]]
        gains[i] = x[i] * s
    return gains


@njit(cache=True)
def _flip(indptr, indices, data, x, gains, i):
    # Flipping i negates its own gain and moves each neighbour's gain by -2 w_ij x_i x_j
    # (x_i before the flip), so one move costs O(deg i).
    xi = x[i]
    for k in range(indptr[i], indptr[i + 1]):
        j = indices[k]
        gains[j] -= 2.0 * data[k] * xi * x[j]
    gains[i] = -gains[i]
    x[i] = -xi


@njit(cache=True)
def one_flip_search(indptr, indices, data, x, tol):
    """1-flip local search: sweep the vertices, flipping any whose gain exceeds `tol`,
    until a sweep flips nothing. Returns (labels, total gain); `x` is not modified.
    """
    x = x.copy()
    gains = flip_gains(indptr, indices, data, x)
    total = 0.0
    improved = True
    while improved:
        improved = False
        for i in range(x.shape[0]):
            if gains[i] > tol:
                total += gains[i]
                _flip(indptr, indices, data, x, gains, i)
                improved = True
    return x, total


@njit(cache=True)
def tabu_search(indptr, indices, data, x, iterations, tenures, tol, target):
    """Tabu search from x: `iterations` moves, each flipping the best non-tabu vertex (even
    when its gain is negative), which then stays tabu for the next tenures[t % len] moves; a
    tabu vertex may still move when that gives a new best cut (aspiration).

    Stops early once the gain reaches `target` (pass the distance to an upper bound on the
    cut, or inf). Returns (best labels seen, their gain over x); `x` is not modified.
    A 1-flip search should run first: tabu search is for escaping its local optima.
    """
    n = x.shape[0]
    cur = x.copy()
    best = x.copy()
    gains = flip_gains(indptr, indices, data, cur)
    tabu_until = np.zeros(n, dtype=np.int64)
    value = 0.0
    best_value = 0.0
    n_ten = tenures.shape[0]
    for t in range(iterations):
        pick = -1
        pick_gain = -np.inf
        for i in range(n):
            g = gains[i]
            if indptr[i] == indptr[i + 1]:
                continue  # isolated: flipping it changes nothing and would only waste moves
            if g > pick_gain and (tabu_until[i] <= t or value + g > best_value + tol):
                pick = i
                pick_gain = g
        if pick < 0:
            break
        _flip(indptr, indices, data, cur, gains, pick)
        value += pick_gain
        tabu_until[pick] = t + 1 + tenures[t % n_ten]
        if value > best_value + tol:
            best_value = value
            best[:] = cur
            if best_value >= target - tol:
                break
    return best, best_value
