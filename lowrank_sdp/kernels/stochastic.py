"""Fused kernels of the stochastic Riemannian optimizers (:mod:`lowrank_sdp.torch.optim`).

One Riemannian Adam step on a factor (rows on unit spheres, one second moment per row) is, per
row y with gradient g, first moment m and second moment v:

    g <- g - <g, y> y                              (Riemannian gradient)
    m <- beta1 (m - <m, y> y) + (1 - beta1) g      (transport by projection, then the average)
    v <- beta2 v + (1 - beta2) |g|^2
    d <- m / (sqrt(v) / sqrt(1 - beta2^t) + eps),  d <- d - <d, y> y
    y <- (y + step d) / |y + step d|               (a row that would vanish keeps y)

As tensor operations this is some twenty passes over arrays whose rows hold a few numbers, where
every per-row reduction and broadcast runs a loop of length r (measured 5x slower than the same
count of plain Adam). Here it is one pass: each block of rows is copied to column-major scratch,
so that every operation is a loop over the rows of the block (SIMD), and written back.
"""

import math

import numpy as np
from numba import njit

from lowrank_sdp.kernels import FASTMATH

# Rows per block: the scratch (5 arrays of r x BLOCK) stays in L1 for the ranks bnn uses.
BLOCK = 256


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def adam_rows_step(Y, G, M, V, beta1, beta2, bias2_sqrt, eps, step, tiny, columns):
    """One Riemannian Adam step in place on Y (n, r), M (n, r) and V (n, 1) from the Euclidean
    gradient G (n, r), unchanged. `bias2_sqrt` = sqrt(1 - beta2^t), `step` = -lr / (1 - beta1^t),
    `tiny` the smallest normal number of Y's dtype (the floor of a row norm, as in the tensor
    retraction). Scalars are taken in Y's dtype, so float32 arrays are updated in float32.
    `columns` is a tuple of r ints (any values, e.g. ``(0,) * r``): its length is part of the
    type, so each r compiles (and caches) its own kernel with loops of constant length r,
    which measured 2x faster than a run-time r."""
    n = Y.shape[0]
    r = len(columns)
    dt = Y.dtype
    y = np.empty((r, BLOCK), dt)
    u = np.empty((r, BLOCK), dt)
    m = np.empty((r, BLOCK), dt)
    a = np.empty(BLOCK, dt)
    b = np.empty(BLOCK, dt)
    c = np.empty(BLOCK, dt)
    one = dt.type(1.0)
    c1 = one - beta1
    c2 = one - beta2
    for start in range(0, n, BLOCK):
        w = min(BLOCK, n - start)
        for j in range(w):
            for k in range(r):
                y[k, j] = Y[start + j, k]
                u[k, j] = G[start + j, k]
                m[k, j] = M[start + j, k]
        a[:w] = 0
        b[:w] = 0
        for k in range(r):
            for j in range(w):
                a[j] += u[k, j] * y[k, j]  # <g, y>
                b[j] += m[k, j] * y[k, j]  # <m, y>
        c[:w] = 0
        for k in range(r):
            for j in range(w):
                gk = u[k, j] - a[j] * y[k, j]
                c[j] += gk * gk
                m[k, j] = (m[k, j] - b[j] * y[k, j]) * beta1 + c1 * gk
        b[:w] = 0
        for j in range(w):
            v = V[start + j, 0] * beta2 + c2 * c[j]
            V[start + j, 0] = v
            a[j] = one / (math.sqrt(v) / bias2_sqrt + eps)  # 1 / Adam's denominator
        for k in range(r):
            for j in range(w):
                b[j] += m[k, j] * y[k, j]
        c[:w] = 0
        for k in range(r):
            for j in range(w):
                # y + step (d - <d, y> y), with d = m a and <d, y> = a <m, y>
                u[k, j] = y[k, j] + step * a[j] * (m[k, j] - b[j] * y[k, j])
                c[j] += u[k, j] * u[k, j]
        for j in range(w):
            norm = math.sqrt(c[j])
            c[j] = one / max(norm, tiny) if norm > 0 else 0
        for k in range(r):
            for j in range(w):
                if c[j] > 0:
                    y[k, j] = u[k, j] * c[j]
        for j in range(w):
            for k in range(r):
                Y[start + j, k] = y[k, j]
                M[start + j, k] = m[k, j]
