"""Kernels for the oblique manifold (unit rows) and sparse products."""

import numpy as np
from numba import njit

from lowrank_sdp.kernels import FASTMATH


@njit(cache=True, fastmath=FASTMATH)
def csr_matmat(indptr, indices, data, Y, out):
    """out = A @ Y for A in CSR form (indptr, indices, data) and dense row-major Y."""
    n, r = out.shape
    for i in range(n):
        for k in range(r):
            out[i, k] = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            a = data[p]
            for k in range(r):
                out[i, k] += a * Y[j, k]
    return out


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
    `order` (oldest first), all flattened; H_0 = <s, y> / <y, y> of the newest pair. One pass per
    dot and per update, no temporaries (the numpy version allocates one per pair and loop)."""
    N = grad.shape[0]
    m = order.shape[0]
    alphas = np.empty(m)
    for i in range(N):
        out[i] = -grad[i]
    for t in range(m - 1, -1, -1):
        k = order[t]
        a = 0.0
        for i in range(N):
            a += S[k, i] * out[i]
        a *= rho[k]
        alphas[t] = a
        for i in range(N):
            out[i] -= a * Yd[k, i]
    if m:
        k = order[m - 1]
        sy = 0.0
        yy = 0.0
        for i in range(N):
            sy += S[k, i] * Yd[k, i]
            yy += Yd[k, i] * Yd[k, i]
        h = sy / yy
        for i in range(N):
            out[i] *= h
    for t in range(m):
        k = order[t]
        b = 0.0
        for i in range(N):
            b += Yd[k, i] * out[i]
        b = alphas[t] - rho[k] * b
        for i in range(N):
            out[i] += b * S[k, i]
    return out
