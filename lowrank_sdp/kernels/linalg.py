"""Kernels for the oblique manifold (unit rows) and sparse products."""

import numpy as np
from numba import njit

from lowrank_sdp.kernels import FASTMATH


@njit(cache=True, fastmath=FASTMATH)
def csr_matmat(indptr, indices, data, Y, out):
    """out = A @ Y for A in CSR form (indptr, indices, data) and dense row-major Y.

    Each row is summed in a local accumulator and stored once: with `out` itself as the
    accumulator the compiler cannot rule out that it aliases Y, and the inner loop reloads and
    stores out[i] for every entry. Same sums in the same order (bit-identical results)."""
    n, r = out.shape
    acc = np.empty(r, dtype=out.dtype)
    for i in range(n):
        for k in range(r):
            acc[k] = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            a = data[p]
            for k in range(r):
                acc[k] += a * Y[j, k]
        for k in range(r):
            out[i, k] = acc[k]
    return out


@njit(cache=True, fastmath=FASTMATH)
def csr_matmat_inner(indptr, indices, data, Y, out):
    """out = A @ Y as `csr_matmat`, and return <A Y, Y> summed in float64 whatever Y's dtype (a
    float32 Y's objective would otherwise round at 6e-8 relative: as large as the decreases a
    line search near an optimum compares). The row of Y is read once for both."""
    n, r = out.shape
    acc = np.empty(r, dtype=out.dtype)
    total = 0.0
    for i in range(n):
        for k in range(r):
            acc[k] = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            a = data[p]
            for k in range(r):
                acc[k] += a * Y[j, k]
        row = 0.0
        for k in range(r):
            out[i, k] = acc[k]
            row += np.float64(acc[k]) * np.float64(Y[i, k])
        total += row
    return total


@njit(cache=True, fastmath=FASTMATH)
def inverse_row_norms(Y):
    """1 / ||Y_i|| in float64 for every row (0 for a zero row)."""
    n, r = Y.shape
    out = np.empty(n)
    for i in range(n):
        s = 0.0
        for k in range(r):
            v = np.float64(Y[i, k])
            s += v * v
        out[i] = 1.0 / np.sqrt(s) if s > 0.0 else 0.0
    return out


@njit(cache=True, fastmath=FASTMATH)
def csr_normalized_gradient(indptr, indices, data, Y, scale, grad):
    """f and the Riemannian gradient at the point X with rows X_i = scale_i Y_i (unit rows for
    scale = `inverse_row_norms(Y)`), for f(X) = <C, X X^T> with C in CSR form.

    Y may be float32 (storage) while every operation runs in float64: G X_i = sum_j C_ij X_j is
    accumulated in float64, lambda_i = <G X_i, X_i>, grad_i = 2 (G X_i - lambda_i X_i), stored in
    grad's dtype. A float32 product would round G X_i at 6e-8 relative, and G X_i - lambda_i X_i
    cancels to |grad_i| ~ 1e-3 |G X_i| near an optimum: a 1e-2-relative gradient (ER n = 3e4).
    Returns (f, ||grad||^2)."""
    n, r = Y.shape
    acc = np.empty(r)
    f = 0.0
    norm2 = 0.0
    for i in range(n):
        for k in range(r):
            acc[k] = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            a = data[p] * scale[j]
            for k in range(r):
                acc[k] += a * np.float64(Y[j, k])
        si = scale[i]
        lam = 0.0
        for k in range(r):
            lam += acc[k] * (si * np.float64(Y[i, k]))
        f += lam
        for k in range(r):
            g = 2.0 * (acc[k] - lam * (si * np.float64(Y[i, k])))
            grad[i, k] = g
            norm2 += g * g
    return f, norm2


@njit(cache=True, fastmath=FASTMATH)
def normalize_rows(Y):
    """Scale every row of Y to unit norm in place; return the number of zero rows (left as they are)."""
    n, r = Y.shape
    zeros = 0
    for i in range(n):
        s = 0.0
        for k in range(r):
            s += Y[i, k] * Y[i, k]
        if s > 0.0:
            inv = 1.0 / np.sqrt(s)
            for k in range(r):
                Y[i, k] *= inv
        else:
            zeros += 1
    return zeros


@njit(cache=True, fastmath=FASTMATH)
def retract(Y, V, t, out):
    """out = rows of (Y + t V) scaled to unit norm: the oblique manifold's retraction.

    A row that would vanish (only possible for t |V_i| = |Y_i|, never for tangent V) keeps Y_i.
    """
    n, r = Y.shape
    for i in range(n):
        s = 0.0
        for k in range(r):
            v = Y[i, k] + t * V[i, k]
            out[i, k] = v
            s += v * v
        if s > 0.0:
            inv = 1.0 / np.sqrt(s)
            for k in range(r):
                out[i, k] *= inv
        else:
            for k in range(r):
                out[i, k] = Y[i, k]
    return out


@njit(cache=True, fastmath=FASTMATH)
def riemannian_gradient(GY, Y, grad, lam):
    """Fused multipliers and Riemannian gradient for f(Y) = F(Y Y^T).

    lam_i = <(G Y)_i, Y_i>,  grad = 2 (G Y - Diag(lam) Y)  (the Euclidean gradient 2 G Y projected
    onto the tangent space of unit rows). Returns (sum(lam), ||grad||_F^2).
    """
    n, r = Y.shape
    total = 0.0
    norm2 = 0.0
    for i in range(n):
        d = 0.0
        for k in range(r):
            d += GY[i, k] * Y[i, k]
        lam[i] = d
        total += d
        for k in range(r):
            g = 2.0 * (GY[i, k] - d * Y[i, k])
            grad[i, k] = g
            norm2 += g * g
    return total, norm2


@njit(cache=True, fastmath=FASTMATH)
def project_tangent(Y, V, out):
    """out = V - Diag(<V_i, Y_i>) Y: orthogonal projection onto the tangent space at Y (unit rows)."""
    n, r = Y.shape
    for i in range(n):
        d = 0.0
        for k in range(r):
            d += V[i, k] * Y[i, k]
        for k in range(r):
            out[i, k] = V[i, k] - d * Y[i, k]
    return out


@njit(cache=True, fastmath=FASTMATH)
def bb_inner_products(grad, grad_new, Y_new):
    """(<grad, grad_new>, ||P_new grad||^2) for the Barzilai-Borwein step, in one pass.

    P_new is the tangent projection at Y_new (vector transport by projection). With s = -t grad and
    y = grad_new - P_new grad: <s, y> = -t (a - b) and <y, y> = |grad_new|^2 - 2a + b, because
    grad_new is tangent at Y_new so <P_new grad, grad_new> = <grad, grad_new> = a.
    """
    n, r = grad.shape
    a = 0.0
    b = 0.0
    for i in range(n):
        gy = 0.0
        gg = 0.0
        for k in range(r):
            a += grad[i, k] * grad_new[i, k]
            gy += grad[i, k] * Y_new[i, k]
            gg += grad[i, k] * grad[i, k]
        b += gg - gy * gy
    return a, b


@njit(cache=True, fastmath=FASTMATH)
def lbfgs_direction(grad, S, Yd, rho, order, out):
    """out = -H grad by the L-BFGS two-loop recursion over the pairs (S[k], Yd[k], rho[k]) for k in
    `order` (oldest first), all flattened; H_0 = <s, y> / <y, y> of the newest pair.

    The loop is memory-bound (2 m vectors of n r floats are read twice), so each pass over `out`
    does the update of one pair and the dot product of the next: 2 m + 1 passes instead of 4 m + 1,
    no temporaries. Nocedal & Wright, Alg. 7.4, in this order of operations."""
    N = grad.shape[0]
    m = order.shape[0]
    if m == 0:
        for i in range(N):
            out[i] = -grad[i]
        return out
    alphas = np.empty(m)
    # Pass 1: out = -grad, <s, out> of the newest pair, and its <s, y>, <y, y> for H_0.
    k = order[m - 1]
    a = 0.0
    sy = 0.0
    yy = 0.0
    for i in range(N):
        q = -grad[i]
        out[i] = q
        a += S[k, i] * q
        sy += S[k, i] * Yd[k, i]
        yy += Yd[k, i] * Yd[k, i]
    h = sy / yy
    # First loop, newest to oldest: out -= alpha_t y_t, fused with <s_{t-1}, out>.
    for t in range(m - 1, 0, -1):
        k = order[t]
        alpha = rho[k] * a
        alphas[t] = alpha
        kn = order[t - 1]
        a = 0.0
        for i in range(N):
            q = out[i] - alpha * Yd[k, i]
            out[i] = q
            a += S[kn, i] * q
    # The oldest pair's update, the scaling by H_0 and <y_0, out> of the second loop, in one pass.
    k = order[0]
    alpha = rho[k] * a
    alphas[0] = alpha
    b = 0.0
    for i in range(N):
        q = (out[i] - alpha * Yd[k, i]) * h
        out[i] = q
        b += Yd[k, i] * q
    # Second loop, oldest to newest: out += (alpha_t - beta_t) s_t, fused with <y_{t+1}, out>.
    for t in range(m - 1):
        k = order[t]
        c = alphas[t] - rho[k] * b
        kn = order[t + 1]
        b = 0.0
        for i in range(N):
            q = out[i] + c * S[k, i]
            out[i] = q
            b += Yd[kn, i] * q
    k = order[m - 1]
    c = alphas[m - 1] - rho[k] * b
    for i in range(N):
        out[i] += c * S[k, i]
    return out
