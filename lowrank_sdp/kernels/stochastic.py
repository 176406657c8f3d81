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
count of plain Adam). Here it is one pass: each block of rows (with its moments and gradient) is
copied to a flat scratch laid out column-major, and one loop over the block's rows does the whole
step with each row's r numbers in registers (a constant trip count and constant offsets, so the
loop vectorizes across rows; measured 1.3x faster than a loop over the scratch per operation),
and the block is written back. The first moment is kept column-major (r, n) by the optimizer, so
its copies are contiguous. A factor stored row-major (n, r) is transposed block by block
(``adam_rows_step*``); one stored column-major (Y^T contiguous, as bnn's layers keep it) is
copied contiguously (``adam_cols_step*``, the same arithmetic bit for bit). The ``*_outer``
kernels take the gradient as outer products gw ⊗ xi and never build G. :func:`sampled_signs`
gives the binary weights sign(Y xi) of a column-major factor in one pass; every Adam kernel can
also write them for the stepped factor (arguments ``xn``, ``signs``) from the block in scratch,
so the next forward pass need not read the factor again.
"""

import math

import numpy as np
from numba import njit

from lowrank_sdp.kernels import FASTMATH

# Rows per block: the scratch ((3 r + 2) x BLOCK numbers) stays in L1 for the ranks bnn uses.
# The kernels loop over block numbers and take start = block * BLOCK, and copy with explicit
# loops: with `for start in range(0, n, BLOCK)` (or slice assignments) LLVM could not prove the
# indices start + j non-negative, kept Numba's wrap-around of negative indices on every access
# and vectorized nothing (measured 2.5-4x slower on a 512 x 784 factor of rank 5).
BLOCK = 256


@njit(cache=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _adam_block(buf, beta1, beta2, bias2_sqrt, eps, step, tiny, columns):
    """The step of the BLOCK rows held in the scratch `buf`, in place: buf[(o + k) * BLOCK + j]
    is entry k of row j of the factor (o = 0), of the first moment (o = r) and of the Euclidean
    gradient (o = 2 r; overwritten), and buf[3 r * BLOCK + j] the second moment, with r =
    len(columns). One loop over the rows, each row's r numbers in registers: the trip count
    and every offset are constants, so LLVM proves the accesses disjoint and vectorizes the
    loop across rows (the caller pads a partial block with harmless rows)."""
    r = len(columns)
    dt = buf.dtype
    one = dt.type(1.0)
    zero = dt.type(0.0)
    c1 = one - beta1
    c2 = one - beta2
    for j in range(BLOCK):
        a = zero  # <g, y>
        b = zero  # <m, y>
        for k in range(r):
            y = buf[k * BLOCK + j]
            a += buf[(2 * r + k) * BLOCK + j] * y
            b += buf[(r + k) * BLOCK + j] * y
        c = zero  # |P_y g|^2
        b2 = zero  # <m', y> of the new first moment
        for k in range(r):
            y = buf[k * BLOCK + j]
            gk = buf[(2 * r + k) * BLOCK + j] - a * y
            c += gk * gk
            mk = (buf[(r + k) * BLOCK + j] - b * y) * beta1 + c1 * gk
            buf[(r + k) * BLOCK + j] = mk
            b2 += mk * y
        v = buf[3 * r * BLOCK + j] * beta2 + c2 * c
        buf[3 * r * BLOCK + j] = v
        ai = one / (math.sqrt(v) / bias2_sqrt + eps)  # 1 / Adam's denominator
        nn = zero
        for k in range(r):
            # y + step (d - <d, y> y), with d = m ai and <d, y> = ai <m, y>
            y = buf[k * BLOCK + j]
            uk = y + step * ai * (buf[(r + k) * BLOCK + j] - b2 * y)
            buf[(2 * r + k) * BLOCK + j] = uk
            nn += uk * uk
        norm = math.sqrt(nn)
        s = one / max(norm, tiny) if norm > 0 else zero
        if s > 0:  # a row that would vanish keeps y
            for k in range(r):
                buf[k * BLOCK + j] = buf[(2 * r + k) * BLOCK + j] * s


@njit(cache=True)
def _adam_scratch(r, dt):
    """The scratch of one block of rows for :func:`_adam_block`: rows y, m, g (r each), v and
    the signs, BLOCK numbers each, flat, of dtype dt."""
    return np.zeros((3 * r + 2) * BLOCK, dt)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _pad(buf, w, columns):
    """Fill rows w..BLOCK of the scratch with harmless rows (y = e_0, m = g = 0, v = 1), which
    the block steps and nobody reads back."""
    r = len(columns)
    dt = buf.dtype
    for k in range(3 * r + 1):
        for j in range(w, BLOCK):
            buf[k * BLOCK + j] = dt.type(1.0) if k == 0 or k == 3 * r else dt.type(0.0)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _load_moments(MT, V, start, w, buf, columns):
    """The first moment MT (r, n) (contiguous copies) and the second moment V (n,) of rows
    start..start+w into the scratch."""
    r = len(columns)
    for k in range(r):
        for j in range(w):
            buf[(r + k) * BLOCK + j] = MT[k, start + j]
    for j in range(w):
        buf[3 * r * BLOCK + j] = V[start + j]


@njit(cache=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _store_moments(MT, V, start, w, buf, columns):
    """The moments of rows start..start+w back from the scratch."""
    r = len(columns)
    for k in range(r):
        for j in range(w):
            MT[k, start + j] = buf[(r + k) * BLOCK + j]
    for j in range(w):
        V[start + j] = buf[3 * r * BLOCK + j]


@njit(cache=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _outer_block(GW, XI, start, w, buf, columns):
    """Gradient rows of the scratch = rows start..start+w of GW^T XI: sum_s GW[s, j] XI[s, k]."""
    r = len(columns)
    for k in range(r):
        x = XI[0, k]
        for j in range(w):
            buf[(2 * r + k) * BLOCK + j] = GW[0, start + j] * x
    for s in range(1, GW.shape[0]):
        for k in range(r):
            x = XI[s, k]
            for j in range(w):
                buf[(2 * r + k) * BLOCK + j] += GW[s, start + j] * x


@njit(cache=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _load_rows(Y, start, w, buf, o, columns):
    """Scratch rows o..o+r = rows start..start+w of a row-major Y (n, r), transposed (r =
    len(columns), a constant of the compiled kernel, as in `adam_rows_step`)."""
    for j in range(w):
        for k in range(len(columns)):
            buf[(o + k) * BLOCK + j] = Y[start + j, k]


@njit(cache=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _store_rows(Y, start, w, buf, columns):
    """Rows start..start+w of a row-major Y (n, r) = the factor rows of the scratch."""
    for j in range(w):
        for k in range(len(columns)):
            Y[start + j, k] = buf[k * BLOCK + j]


@njit(cache=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _load_cols(YT, start, w, buf, o, columns):
    """Scratch rows o..o+r = columns start..start+w of a column-major YT (r, n): contiguous."""
    for k in range(len(columns)):
        for j in range(w):
            buf[(o + k) * BLOCK + j] = YT[k, start + j]


@njit(cache=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _store_cols(YT, start, w, buf, columns):
    """Columns start..start+w of a column-major YT (r, n) = the factor rows of the scratch."""
    for k in range(len(columns)):
        for j in range(w):
            YT[k, start + j] = buf[k * BLOCK + j]


@njit(cache=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _signs_block(buf, xn, signs, start, w, columns):
    """signs[start + j] = sign(<y_j, xn>) (±1, sign(0) = +1) for the stepped rows of the
    scratch: the arithmetic of :func:`sampled_signs` (the same products summed in the same
    order), so the same signs."""
    r = len(columns)
    dt = buf.dtype
    one = dt.type(1.0)
    o = (3 * r + 1) * BLOCK
    for j in range(BLOCK):
        acc = buf[j] * xn[0]
        for k in range(1, r):
            acc += buf[k * BLOCK + j] * xn[k]
        buf[o + j] = one if acc >= 0 else -one
    for j in range(w):
        signs[start + j] = buf[o + j]


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def adam_rows_step(Y, G, MT, V, beta1, beta2, bias2_sqrt, eps, step, tiny, columns, xn=None,
                   signs=None):
    """One Riemannian Adam step in place on Y (n, r), the first moment MT (r, n) (stored
    transposed: contiguous copies) and V (n,) from the Euclidean gradient G (n, r), unchanged.
    `bias2_sqrt` = sqrt(1 - beta2^t), `step` = -lr / (1 - beta1^t), `tiny` the smallest normal
    number of Y's dtype (the floor of a row norm, as in the tensor retraction). Scalars are
    taken in Y's dtype, so float32 arrays are updated in float32. `columns` is a tuple of r ints
    (any values, e.g. ``(0,) * r``): its length is part of the type, so each r compiles (and
    caches) its own kernel with loops of constant length r, which measured 2x faster than a
    run-time r. With `xn` (r,) and `signs` (n,) given, the same pass also writes the binary
    weights of the stepped factor for the sample xn, signs = sign(Y xn) as
    :func:`sampled_signs` gives them (the next forward pass's weights, without a second pass
    over Y)."""
    n = Y.shape[0]
    buf = _adam_scratch(len(columns), Y.dtype)
    for block in range((n + BLOCK - 1) // BLOCK):
        start = block * BLOCK  # see BLOCK
        w = min(BLOCK, n - start)
        if w < BLOCK:
            _pad(buf, w, columns)
        _load_rows(Y, start, w, buf, 0, columns)
        _load_rows(G, start, w, buf, 2 * len(columns), columns)
        _load_moments(MT, V, start, w, buf, columns)
        _adam_block(buf, beta1, beta2, bias2_sqrt, eps, step, tiny, columns)
        _store_rows(Y, start, w, buf, columns)
        _store_moments(MT, V, start, w, buf, columns)
        if signs is not None:
            _signs_block(buf, xn, signs, start, w, columns)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def adam_rows_step_outer(Y, GW, XI, MT, V, beta1, beta2, bias2_sqrt, eps, step, tiny, columns,
                         xn=None, signs=None):
    """:func:`adam_rows_step` for a Euclidean gradient given as a sum of s outer products,
    G = GW XI^T with GW (s, n) and XI (s, r) (row i of G is sum_j GW[j, i] XI[j]): the gradient
    of sampled weights w_j = Y XI[j] under the straight-through estimator, which the kernel
    never builds (it reads n s numbers instead of n r)."""
    n = Y.shape[0]
    buf = _adam_scratch(len(columns), Y.dtype)
    for block in range((n + BLOCK - 1) // BLOCK):
        start = block * BLOCK  # see BLOCK
        w = min(BLOCK, n - start)
        if w < BLOCK:
            _pad(buf, w, columns)
        _load_rows(Y, start, w, buf, 0, columns)
        _outer_block(GW, XI, start, w, buf, columns)
        _load_moments(MT, V, start, w, buf, columns)
        _adam_block(buf, beta1, beta2, bias2_sqrt, eps, step, tiny, columns)
        _store_rows(Y, start, w, buf, columns)
        _store_moments(MT, V, start, w, buf, columns)
        if signs is not None:
            _signs_block(buf, xn, signs, start, w, columns)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def adam_cols_step(YT, GT, MT, V, beta1, beta2, bias2_sqrt, eps, step, tiny, columns, xn=None,
                   signs=None):
    """:func:`adam_rows_step` on a factor stored column-major: YT (r, n) is Y transposed, GT
    (r, n) the gradient transposed (unchanged). Every copy between the arrays and the block's
    scratch is contiguous (no transpose); the arithmetic, and so every result, is that of
    adam_rows_step bit for bit."""
    n = YT.shape[1]
    buf = _adam_scratch(len(columns), YT.dtype)
    for block in range((n + BLOCK - 1) // BLOCK):
        start = block * BLOCK  # see BLOCK
        w = min(BLOCK, n - start)
        if w < BLOCK:
            _pad(buf, w, columns)
        _load_cols(YT, start, w, buf, 0, columns)
        _load_cols(GT, start, w, buf, 2 * len(columns), columns)
        _load_moments(MT, V, start, w, buf, columns)
        _adam_block(buf, beta1, beta2, bias2_sqrt, eps, step, tiny, columns)
        _store_cols(YT, start, w, buf, columns)
        _store_moments(MT, V, start, w, buf, columns)
        if signs is not None:
            _signs_block(buf, xn, signs, start, w, columns)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def adam_cols_step_outer(YT, GW, XI, MT, V, beta1, beta2, bias2_sqrt, eps, step, tiny, columns,
                         xn=None, signs=None):
    """:func:`adam_rows_step_outer` on a factor stored column-major (YT (r, n), as in
    :func:`adam_cols_step`); the same results bit for bit."""
    n = YT.shape[1]
    buf = _adam_scratch(len(columns), YT.dtype)
    for block in range((n + BLOCK - 1) // BLOCK):
        start = block * BLOCK  # see BLOCK
        w = min(BLOCK, n - start)
        if w < BLOCK:
            _pad(buf, w, columns)
        _load_cols(YT, start, w, buf, 0, columns)
        _outer_block(GW, XI, start, w, buf, columns)
        _load_moments(MT, V, start, w, buf, columns)
        _adam_block(buf, beta1, beta2, bias2_sqrt, eps, step, tiny, columns)
        _store_cols(YT, start, w, buf, columns)
        _store_moments(MT, V, start, w, buf, columns)
        if signs is not None:
            _signs_block(buf, xn, signs, start, w, columns)


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
