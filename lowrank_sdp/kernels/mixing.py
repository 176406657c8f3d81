"""The mixing method: exact minimisation of <C, Y Y^T> over one unit row at a time."""

import numpy as np
from numba import njit

from lowrank_sdp.kernels import FASTMATH


@njit(cache=True, fastmath=FASTMATH)
def mixing_sweep(indptr, indices, data, Y, g):
    """One Gauss-Seidel sweep over the rows of Y for min <C, Y Y^T>, in place.

    (indptr, indices, data) is C in CSR form *without its diagonal* (the diagonal only adds the
    constant trace term because diag(Y Y^T) = 1). Row i becomes -g/|g| with g = sum_j C_ij Y_j: the
    exact minimiser over row i. A row with g = 0 (an isolated vertex) stays where it is.
    `g` is a work vector of length r. Returns (decrease of <C, Y Y^T>, ||grad||^2) where the squared
    Riemannian gradient norm is accumulated row by row as the sweep meets each row.
    """
    n, r = Y.shape
    decrease = 0.0
    grad2 = 0.0
    for i in range(n):
        for k in range(r):
            g[k] = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            a = data[p]
            for k in range(r):
                g[k] += a * Y[j, k]
        gg = 0.0
        gy = 0.0
        for k in range(r):
            gg += g[k] * g[k]
            gy += g[k] * Y[i, k]
        # Riemannian gradient row 2 (g - <g, y> y) has squared norm 4 (|g|^2 - <g, y>^2).
        grad2 += 4.0 * max(gg - gy * gy, 0.0)
        if gg > 0.0:
            norm = np.sqrt(gg)
            decrease += 2.0 * (norm + gy)
            inv = -1.0 / norm
            for k in range(r):
                Y[i, k] = g[k] * inv
    return decrease, grad2
