"""The mixing method: minimisation of <C, Y Y^T> over one unit row at a time, over-relaxed."""

import numpy as np
from numba import njit

from lowrank_sdp.kernels import FASTMATH


@njit(cache=True, fastmath=FASTMATH)
def mixing_sweep(indptr, indices, data, Y, g, omega):
    """One Gauss-Seidel sweep over the rows of Y for min <C, Y Y^T>, in place, over-relaxed by
    `omega` in (0, 2).

    (indptr, indices, data) is C in CSR form *without its diagonal* (the diagonal only adds the
    constant trace term because diag(Y Y^T) = 1). With g = sum_j C_ij Y_j, the exact minimiser of
    row i is u = -g/|g|, at an angle theta from the row y. omega = 1 moves y to u (the mixing
    method); otherwise y becomes y + omega (u - y) scaled to unit length (successive
    over-relaxation, then back to the sphere; no trigonometry). Its angle phi from y lies in
    (0, 2 theta) for omega in (0, 2) (phi = omega theta + O(theta^3), and the line through y and
    u meets the circle only there), so the row ends closer to u than theta and its term 2 <g, y>
    drops, by 2 |g| (<u, y_new> - cos theta). A row with g = 0 (an isolated vertex) stays where
    it is. `g` is a work vector of length r. Returns (decrease of <C, Y Y^T>, ||grad||^2) where
    the squared Riemannian gradient norm is accumulated row by row as the sweep meets each row.
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
        if gg <= 0.0:
            continue
        norm = np.sqrt(gg)
        inv = -1.0 / norm
        if omega == 1.0:
            decrease += 2.0 * (norm + gy)
            for k in range(r):
                Y[i, k] = g[k] * inv
            continue
        # Over-relaxed: y + omega (u - y), back on the sphere.
        c = gy * inv  # cos theta = <y, u>
        pp = 0.0
        for k in range(r):
            g[k] = (1.0 - omega) * Y[i, k] + omega * g[k] * inv
            pp += g[k] * g[k]
        if pp <= 1e-24:  # omega = 1/2 and u = -y: no direction; take the minimiser
            decrease += 2.0 * (norm + gy)
            for k in range(r):
                Y[i, k] = -Y[i, k]
            continue
        scale = 1.0 / np.sqrt(pp)
        for k in range(r):
            Y[i, k] = g[k] * scale
        # <u, y_new> = ((1 - omega) cos theta + omega) / |p|
        decrease += 2.0 * norm * (((1.0 - omega) * c + omega) * scale - c)
    return decrease, grad2
