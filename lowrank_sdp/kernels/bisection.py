"""Kernels for the bisection set {Y : unit rows, 1^T Y = 0} (see `lowrank_sdp.bisection`).

The retraction (a Newton shift of the rows, alternating projections as the fallback), the
tangent projection with its multipliers, and whole runs of Riemannian gradient ascent
(Barzilai-Borwein steps, Armijo backtracking) in one call: the Python loop this replaces spent
most of its time in per-call overhead on r x r pieces.
"""

import numpy as np
from numba import njit

from lowrank_sdp.kernels import FASTMATH
from lowrank_sdp.kernels.linalg import csr_matmat

EPS = np.finfo(np.float64).eps
ARMIJO = 1e-4


@njit(cache=True, fastmath=FASTMATH)
def _cholesky(H):
    """H overwritten in its lower triangle by its Cholesky factor; False when a pivot is not
    positive (H not numerically definite)."""
    r = H.shape[0]
    for j in range(r):
        s = H[j, j]
        for k in range(j):
            s -= H[j, k] * H[j, k]
        if not s > 0.0:
            return False
        d = np.sqrt(s)
        H[j, j] = d
        for i in range(j + 1, r):
            s = H[i, j]
            for k in range(j):
                s -= H[i, k] * H[j, k]
            H[i, j] = s / d
    return True


@njit(cache=True, fastmath=FASTMATH)
def _cholesky_solve(L, F, x):
    """x = (L L^T)^{-1} F for the lower-triangular factor L of `_cholesky`."""
    r = L.shape[0]
    for i in range(r):
        s = F[i]
        for k in range(i):
            s -= L[i, k] * x[k]
        x[i] = s / L[i, i]
    for i in range(r - 1, -1, -1):
        s = x[i]
        for k in range(i + 1, r):
            s -= L[k, i] * x[k]
        x[i] = s / L[i, i]


@njit(cache=True, fastmath=FASTMATH)
def _shifted_rows(Z, b, out, norms, F):
    """out = rows of Z - 1 b^T normalised, norms = their norms before, F = 1^T out; False at a
    zero row."""
    n, r = Z.shape
    for k in range(r):
        F[k] = 0.0
    for i in range(n):
        s = 0.0
        for k in range(r):
            v = Z[i, k] - b[k]
            out[i, k] = v
            s += v * v
        if not s > 0.0:
            return False
        nrm = np.sqrt(s)
        norms[i] = nrm
        inv = 1.0 / nrm
        for k in range(r):
            u = out[i, k] * inv
            out[i, k] = u
            F[k] += u
    return True


@njit(cache=True, fastmath=FASTMATH)
def retract(Z, out, target, newton_steps):
    """out = rows of Z - 1 b^T normalised, with b in R^r from Newton's method on
    F(b) = sum_i (z_i - b) / |z_i - b| until |F| <= target (F = 1^T out). The Jacobian
    -H, H = sum_i (I - u_i u_i^T) / |z_i - b|, is factored at the first step and kept while
    |F| falls tenfold a step (a chord step; b = O(t^2) after a tangent step t, so one
    factorisation usually serves). Where Newton fails (a zero row, an indefinite H, no
    convergence in `newton_steps`), alternating projections from Z (column means out, rows
    normalised; at most 100 sweeps). Returns the number of steps taken, -1 for the fallback.
    `lowrank_sdp.bisection.retract`'s method."""
    n, r = Z.shape
    b = np.zeros(r)
    for i in range(n):
        for k in range(r):
            b[k] += Z[i, k]
    for k in range(r):
        b[k] /= n
    norms = np.empty(n)
    F = np.empty(r)
    x = np.empty(r)
    W = np.empty((n, r))
    L = np.empty((r, r))
    factored = False
    last = np.inf
    for step in range(newton_steps):
        if not _shifted_rows(Z, b, out, norms, F):
            break
        f2 = 0.0
        for k in range(r):
            f2 += F[k] * F[k]
        fn = np.sqrt(f2)
        if fn <= target:
            return step
        if not factored or fn > 0.1 * last:
            total = 0.0
            for i in range(n):
                w = 1.0 / np.sqrt(norms[i])
                total += w * w
                for k in range(r):
                    W[i, k] = out[i, k] * w
            L[:, :] = -(W.T @ W)
            for j in range(r):
                L[j, j] += total
            if not _cholesky(L):
                break
            factored = True
        last = fn
        _cholesky_solve(L, F, x)
        for k in range(r):
            b[k] += x[k]
    for i in range(n):
        for k in range(r):
            out[i, k] = Z[i, k]
    mean = np.empty(r)
    for _ in range(100):
        for k in range(r):
            mean[k] = 0.0
        for i in range(n):
            for k in range(r):
                mean[k] += out[i, k]
        for k in range(r):
            mean[k] /= n
        if not _shifted_rows(out, mean, out, norms, F):  # in place (each entry read, then written)
            break
        f2 = 0.0
        for k in range(r):
            f2 += F[k] * F[k]
        if np.sqrt(f2) <= target:
            break
    return -1


@njit(cache=True, fastmath=FASTMATH)
def tangent(Y, G, V, lam):
    """V = G - Diag(a) Y - 1 b^T, tangent at Y (<y_i, v_i> = 0, 1^T V = 0), lam = a:
    a_i = <y_i, g_i - b> and (n I - Y^T Y) b = G^T 1 - Y^T d, d_i = <y_i, g_i>, b the
    least-squares solution (by Cholesky where n I - Y^T Y is well conditioned, else by its
    eigenvalues, those below r eps times the largest dropped as numpy's lstsq does). Returns
    ||V||_F. `lowrank_sdp.bisection.tangent`'s method."""
    n, r = Y.shape
    d = np.empty(n)
    rhs = np.zeros(r)
    for i in range(n):
        s = 0.0
        for k in range(r):
            s += Y[i, k] * G[i, k]
        d[i] = s
        for j in range(r):
            rhs[j] += G[i, j] - Y[i, j] * s
    lhs = -(Y.T @ Y)
    for j in range(r):
        lhs[j, j] += n
    L = lhs.copy()
    b = np.zeros(r)
    ok = _cholesky(L)
    if ok:
        # Well conditioned: the smallest pivot squared bounds lambda_min from above, and
        # lambda_min >= (min pivot)^2 / r-ish; ask for a margin far above rounding.
        small = np.inf
        for j in range(r):
            small = min(small, L[j, j] * L[j, j])
        ok = small > 1e-8 * n
    if ok:
        _cholesky_solve(L, rhs, b)
    else:
        w, Q = np.linalg.eigh(lhs)
        top = 0.0
        for k in range(r):
            top = max(top, abs(w[k]))
        cut = r * EPS * top
        c = np.zeros(r)
        for k in range(r):
            if abs(w[k]) > cut:
                s = 0.0
                for j in range(r):
                    s += Q[j, k] * rhs[j]
                c[k] = s / w[k]
        for j in range(r):
            s = 0.0
            for k in range(r):
                s += Q[j, k] * c[k]
            b[j] = s
    norm2 = 0.0
    for i in range(n):
        s = 0.0
        for k in range(r):
            s += Y[i, k] * b[k]
        a = d[i] - s
        lam[i] = a
        for k in range(r):
            v = G[i, k] - a * Y[i, k] - b[k]
            V[i, k] = v
            norm2 += v * v
    return np.sqrt(norm2)


@njit(cache=True, fastmath=FASTMATH)
def ascend(indptr, indices, data, Y, CY, V, lam, f, step, scale, grad_tol, max_steps, target,
           newton_steps, recent, count):
    """Up to `max_steps` steps of Riemannian gradient ascent of <C, Y Y^T> on the bisection set
    (C in CSR form): from Y with CY = C Y, f = <C, Y Y^T>, V and lam = `tangent`(Y, CY) and the
    trial step, nonmonotone Armijo backtracking from t = step (halved down to 1e-14 / scale)
    along V against the smallest of the last len(recent) values (Grippo-Lampariello-Lucidi;
    `recent` is a ring written at count % len(recent), count the steps so far), then the
    Barzilai-Borwein step <s, s> / <s, dV> (clipped to [1e-8, 1e8] / scale; 2 t when
    <s, dV> <= 0). Y, CY, V, lam and recent are updated in place. Returns (f, step, count, code):
    code 0 when ||V|| <= grad_tol, 1 after max_steps, 2 when no step ascends (stationary at
    this accuracy)."""
    n, r = Y.shape
    Yn = np.empty_like(Y)
    CYn = np.empty_like(Y)
    Vn = np.empty_like(Y)
    Zt = np.empty_like(Y)
    lamn = np.empty_like(lam)
    it = 0
    code = 1
    while True:
        g2 = 0.0
        for i in range(n):
            for k in range(r):
                g2 += V[i, k] * V[i, k]
        gnorm = np.sqrt(g2)
        if gnorm <= grad_tol:
            code = 0
            break
        if it >= max_steps:
            code = 1
            break
        reference = recent[0]
        for j in range(1, recent.shape[0]):
            reference = min(reference, recent[j])
        t = step
        accepted = False
        fn = f
        while True:
            for i in range(n):
                for k in range(r):
                    Zt[i, k] = Y[i, k] + t * V[i, k]
            retract(Zt, Yn, target, newton_steps)
            csr_matmat(indptr, indices, data, Yn, CYn)
            fn = 0.0
            for i in range(n):
                for k in range(r):
                    fn += CYn[i, k] * Yn[i, k]
            accepted = fn >= reference + ARMIJO * t * g2
            if accepted or t < 1e-14 / scale:
                break
            t *= 0.5
        if not accepted:
            code = 2
            break
        tangent(Yn, CYn, Vn, lamn)
        sy = 0.0
        ss = 0.0
        for i in range(n):
            for k in range(r):
                s = Yn[i, k] - Y[i, k]
                sy += s * (V[i, k] - Vn[i, k])
                ss += s * s
        step = ss / sy if sy > 0 else 2.0 * t
        step = min(max(step, 1e-8 / scale), 1e8 / scale)
        Y[:, :] = Yn
        CY[:, :] = CYn
        V[:, :] = Vn
        lam[:] = lamn
        f = fn
        it += 1
        count += 1
        recent[count % recent.shape[0]] = f
    return f, step, count, code
