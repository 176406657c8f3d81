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
so that every operation is a loop over the rows of the block (SIMD), and written back. The first
moment is kept column-major (r, n) by the optimizer, so its copies are contiguous. A factor
stored row-major (n, r) is transposed block by block (``adam_rows_step*``); one stored
column-major (Y^T contiguous, as bnn's layers keep it) is copied contiguously
(``adam_cols_step*``, the same arithmetic bit for bit). The ``*_outer`` kernels take the gradient
as outer products gw ⊗ xi and never build G. :func:`sampled_signs` gives the binary weights
sign(Y xi) of a column-major factor in one pass.
"""

import math

import numpy as np
from numba import njit

from lowrank_sdp.kernels import FASTMATH

# Rows per block: the scratch (5 arrays of r x BLOCK) stays in L1 for the ranks bnn uses. The
# kernels loop over block numbers and take start = block * BLOCK, and copy with explicit loops:
# with `for start in range(0, n, BLOCK)` (or slice assignments) LLVM could not prove the indices
# start + j non-negative, kept Numba's wrap-around of negative indices on every access and
# vectorized nothing (measured 2.5-4x slower on a 512 x 784 factor of rank 5).
BLOCK = 256


@njit(cache=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _adam_block(MT, V, start, w, y, u, m, a, b, c, beta1, beta2, bias2_sqrt, eps, step, tiny,
                columns):
    """The step of rows start..start+w: y (r, BLOCK) holds them column-major and is overwritten
    with the stepped rows (the caller writes them back), u their Euclidean gradient
    (overwritten); m is scratch for the first moment, read from and written back to MT (r, n)
    by contiguous copies. The arithmetic runs on scratch only (which cannot alias the
    arguments, so that every loop vectorizes)."""
    r = len(columns)
    dt = y.dtype
    one = dt.type(1.0)
    c1 = one - beta1
    c2 = one - beta2
    for k in range(r):
        for j in range(w):
            m[k, j] = MT[k, start + j]
    for j in range(w):
        a[j] = 0
    for j in range(w):
        b[j] = 0
    for k in range(r):
        for j in range(w):
            a[j] += u[k, j] * y[k, j]  # <g, y>
            b[j] += m[k, j] * y[k, j]  # <m, y>
    for j in range(w):
        c[j] = 0
    for k in range(r):
        for j in range(w):
            gk = u[k, j] - a[j] * y[k, j]
            c[j] += gk * gk
            m[k, j] = (m[k, j] - b[j] * y[k, j]) * beta1 + c1 * gk
    for j in range(w):
        b[j] = 0
    for j in range(w):
        v = V[start + j] * beta2 + c2 * c[j]
        V[start + j] = v
        a[j] = one / (math.sqrt(v) / bias2_sqrt + eps)  # 1 / Adam's denominator
    for k in range(r):
        for j in range(w):
            b[j] += m[k, j] * y[k, j]
    for j in range(w):
        c[j] = 0
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
    for k in range(r):
        for j in range(w):
            MT[k, start + j] = m[k, j]


@njit(cache=True)
def _adam_scratch(r, dt):
    """The scratch arrays of one block of rows for :func:`_adam_block`: y, u, m (r, BLOCK) and
    a, b, c (BLOCK,), of dtype dt."""
    return (np.empty((r, BLOCK), dt), np.empty((r, BLOCK), dt), np.empty((r, BLOCK), dt),
            np.empty(BLOCK, dt), np.empty(BLOCK, dt), np.empty(BLOCK, dt))


@njit(cache=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _outer_block(GW, XI, start, w, u):
    """u[:, :w] = rows start..start+w of GW^T XI, column-major (k, j): sum_s GW[s, j] XI[s, k]."""
    r = u.shape[0]
    for k in range(r):
        x = XI[0, k]
        for j in range(w):
            u[k, j] = GW[0, start + j] * x
    for s in range(1, GW.shape[0]):
        for k in range(r):
            x = XI[s, k]
            for j in range(w):
                u[k, j] += GW[s, start + j] * x


@njit(cache=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _load_rows(Y, start, w, y, columns):
    """y[:, :w] = rows start..start+w of a row-major Y (n, r), transposed to column-major (r =
    len(columns), a constant of the compiled kernel, as in `adam_rows_step`)."""
    for j in range(w):
        for k in range(len(columns)):
            y[k, j] = Y[start + j, k]


@njit(cache=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _store_rows(Y, start, w, y, columns):
    """Rows start..start+w of a row-major Y (n, r) = y[:, :w] transposed back."""
    for j in range(w):
        for k in range(len(columns)):
            Y[start + j, k] = y[k, j]


@njit(cache=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _load_cols(YT, start, w, y, columns):
    """y[:, :w] = columns start..start+w of a column-major YT (r, n): contiguous copies."""
    for k in range(len(columns)):
        for j in range(w):
            y[k, j] = YT[k, start + j]


@njit(cache=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _store_cols(YT, start, w, y, columns):
    """Columns start..start+w of a column-major YT (r, n) = y[:, :w]."""
    for k in range(len(columns)):
        for j in range(w):
            YT[k, start + j] = y[k, j]


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def adam_rows_step(Y, G, MT, V, beta1, beta2, bias2_sqrt, eps, step, tiny, columns):
    """One Riemannian Adam step in place on Y (n, r), the first moment MT (r, n) (stored
    transposed: the kernel reads it row by row, no scratch copy) and V (n,) from the Euclidean
    gradient G (n, r), unchanged. `bias2_sqrt` = sqrt(1 - beta2^t), `step` = -lr / (1 - beta1^t),
    `tiny` the smallest normal number of Y's dtype (the floor of a row norm, as in the tensor
    retraction). Scalars are taken in Y's dtype, so float32 arrays are updated in float32.
    `columns` is a tuple of r ints (any values, e.g. ``(0,) * r``): its length is part of the
    type, so each r compiles (and caches) its own kernel with loops of constant length r,
    which measured 2x faster than a run-time r."""
    n = Y.shape[0]
    r = len(columns)
    y, u, m, a, b, c = _adam_scratch(r, Y.dtype)
    for block in range((n + BLOCK - 1) // BLOCK):
        start = block * BLOCK  # see BLOCK
        w = min(BLOCK, n - start)
        _load_rows(Y, start, w, y, columns)
        _load_rows(G, start, w, u, columns)
        _adam_block(MT, V, start, w, y, u, m, a, b, c, beta1, beta2, bias2_sqrt, eps, step, tiny,
                    columns)
        _store_rows(Y, start, w, y, columns)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def adam_rows_step_outer(Y, GW, XI, MT, V, beta1, beta2, bias2_sqrt, eps, step, tiny, columns):
    """:func:`adam_rows_step` for a Euclidean gradient given as a sum of s outer products,
    G = GW XI^T with GW (s, n) and XI (s, r) (row i of G is sum_j GW[j, i] XI[j]): the gradient
    of sampled weights w_j = Y XI[j] under the straight-through estimator, which the kernel
    never builds (it reads n s numbers instead of n r)."""
    n = Y.shape[0]
    r = len(columns)
    y, u, m, a, b, c = _adam_scratch(r, Y.dtype)
    for block in range((n + BLOCK - 1) // BLOCK):
        start = block * BLOCK  # see BLOCK
        w = min(BLOCK, n - start)
        _load_rows(Y, start, w, y, columns)
        _outer_block(GW, XI, start, w, u)
        _adam_block(MT, V, start, w, y, u, m, a, b, c, beta1, beta2, bias2_sqrt, eps, step, tiny,
                    columns)
        _store_rows(Y, start, w, y, columns)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def adam_cols_step(YT, GT, MT, V, beta1, beta2, bias2_sqrt, eps, step, tiny, columns):
    """:func:`adam_rows_step` on a factor stored column-major: YT (r, n) is Y transposed, GT
    (r, n) the gradient transposed (unchanged). Every copy between the arrays and the block's
    scratch is contiguous (no transpose); the arithmetic, and so every result, is that of
    adam_rows_step bit for bit."""
    n = YT.shape[1]
    r = len(columns)
    y, u, m, a, b, c = _adam_scratch(r, YT.dtype)
    for block in range((n + BLOCK - 1) // BLOCK):
        start = block * BLOCK  # see BLOCK
        w = min(BLOCK, n - start)
        _load_cols(YT, start, w, y, columns)
        _load_cols(GT, start, w, u, columns)
        _adam_block(MT, V, start, w, y, u, m, a, b, c, beta1, beta2, bias2_sqrt, eps, step, tiny,
                    columns)
        _store_cols(YT, start, w, y, columns)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def adam_cols_step_outer(YT, GW, XI, MT, V, beta1, beta2, bias2_sqrt, eps, step, tiny, columns):
    """:func:`adam_rows_step_outer` on a factor stored column-major (YT (r, n), as in
    :func:`adam_cols_step`); the same results bit for bit."""
    n = YT.shape[1]
    r = len(columns)
    y, u, m, a, b, c = _adam_scratch(r, YT.dtype)
    for block in range((n + BLOCK - 1) // BLOCK):
        start = block * BLOCK  # see BLOCK
        w = min(BLOCK, n - start)
        _load_cols(YT, start, w, y, columns)
        _outer_block(GW, XI, start, w, u)
        _adam_block(MT, V, start, w, y, u, m, a, b, c, beta1, beta2, bias2_sqrt, eps, step, tiny,
                    columns)
        _store_cols(YT, start, w, y, columns)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def sampled_signs(YT, xi, out, columns):
    """out[j] = sign(sum_k xi[k] YT[k, j]) as ±1 (sign(0) = +1, NaN gives -1) for a factor
    stored column-major, YT (r, n): the binary weights sign(Y xi) of one sample xi (r,), in one
    pass that never stores Y xi (out (n,), of YT's dtype). `columns` as in
    :func:`adam_rows_step`."""
    n = YT.shape[1]
    r = len(columns)
    one = YT.dtype.type(1.0)
    for j in range(n):
        acc = YT[0, j] * xi[0]
        for k in range(1, r):
            acc += YT[k, j] * xi[k]
        out[j] = one if acc >= 0 else -one
