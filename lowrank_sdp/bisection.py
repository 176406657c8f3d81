"""The SDP  max <C, X>  s.t.  diag(X) = 1,  <J, X> = 0,  X PSD  (J = 1 1^T), solved exactly on
the factor: Max-Bisection, and SDPLIB's graph equipartitions (gpp*), which are of this form.

No X > 0 is feasible (X PSD and 1^T X 1 = 0 force X 1 = 0), so the multiplier of <J, X> = 0 has
no finite optimum and an augmented Lagrangian crawls. Here Y lives on {unit rows} x {columns
orthogonal to 1}, and the certificate is the dual bound of the equivalent constraints
diag(X) = 1, X 1 = 0 (implied by the original ones, so the bound is one of the original SDP):
for any lambda and every feasible X, <C, X> = sum(lambda) + <P (C - Diag(lambda)) P, X> with
P = I - J / n, hence

    OPT <= sum(lambda) + n max(lambda_max(P (C - Diag(lambda)) P), 0).

The multipliers of X 1 = 0 are the projection P itself (the y -> infinity limit of <J, X> = 0's).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from lowrank_sdp import certificate as cert_module
from lowrank_sdp.kernels import bisection as kernels
from lowrank_sdp.result import Certificate, Result, Status

__all__ = ["solve_bisection_sdp"]

EPS = np.finfo(np.float64).eps
DENSE_PROJECTED = 2000
"""Up to this n the projected slack P S P is formed densely (its proofs are the dense ones)."""
MAX_ITERATIONS = 50_000
"""Iteration cap of the bisection solve when max_iterations is None."""
NEWTON_STEPS = 8
"""Newton steps of the retraction's shift before it falls back to alternating projections."""
CHECK_EVERY = 500
"""The certificate is also checked every this many iterations (not only at small gradients)."""
GAP_AIM = 0.1
"""After a failed check the gradient tolerance aims at this fraction of the gap that certifies."""
GRAD_TOL_START = 1e-4
"""The first check is at this gradient norm (times the scale of C): the certified gpp runs
ended at 1e-5..1e-6, and a check at 1e-3 never certified one."""
WINDOW = 10
"""Nonmonotone line search: a step must beat the smallest of the last WINDOW values."""
CHUNK = 100
"""Ascent steps per kernel call between checks of the time limit."""
FEASIBLE_SUM = 1e-12
"""A factor counts as feasible when ||1^T Y|| <= FEASIBLE_SUM sqrt(n) (then |<J, X>| <=
FEASIBLE_SUM^2 n: rounding)."""


def retract(Z: np.ndarray) -> np.ndarray:
    """A point of {unit rows} and {1^T Y = 0} near Z: rows of Z - 1 b^T normalised, with the shift
    b in R^r found by Newton's method on F(b) = sum_i (z_i - b) / |z_i - b| (an r x r system per
    step, quadratic convergence: 2-3 steps after a tangent step, which leaves b = O(t^2)).
    Falls back to alternating projections (column means out, rows normalised; linear
    convergence, ~17 sweeps) where Newton does not converge (`kernels.bisection.retract`)."""
    Z = np.ascontiguousarray(Z, dtype=np.float64)
    out = np.empty_like(Z)
    kernels.retract(Z, out, 0.1 * FEASIBLE_SUM * math.sqrt(Z.shape[0]), NEWTON_STEPS)
    return out


def tangent(Y: np.ndarray, G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(V, a): V = G - Diag(a) Y - 1 b^T tangent at Y (<y_i, v_i> = 0 per row, column sums 0);
    from the two conditions a_i = <y_i, g_i - b> and (n I - Y^T Y) b = G^T 1 - Y^T d with
    d_i = <y_i, g_i> (an r x r system, `kernels.bisection.tangent`)."""
    Y = np.ascontiguousarray(Y, dtype=np.float64)
    G = np.ascontiguousarray(G, dtype=np.float64)
    V = np.empty_like(Y)
    a = np.empty(Y.shape[0])
    kernels.tangent(Y, G, V, a)
    return V, a


def _bisection_bound(C: sp.csr_matrix, lam: np.ndarray, Y: np.ndarray, *, seed: int,
                     target: float) -> tuple[float, Any]:
    """(bound, eig): sum(lam) + n max(lambda_max(P (C - Diag lam) P), 0), rounded up, through
    the core certificate's eigenvalue routine on the min-form slack S = P (Diag lam - C) P."""
    n = C.shape[0]
    M = sp.csr_matrix(sp.diags(lam) - C)
    if n <= DENSE_PROJECTED:
        D = M.toarray()
        u = D.mean(axis=1)
        G = D - u[:, None] - u[None, :] + u.mean()
        G = 0.5 * (G + G.T)
    else:
        def matvec(x):
            x = np.asarray(x, dtype=np.float64).reshape(n, -1)
            x = x - x.mean(axis=0)
            z = M @ x
            return (z - z.mean(axis=0)).reshape(-1) if z.shape[1] == 1 else z - z.mean(axis=0)

        G = LinearOperator((n, n), matvec=matvec, matmat=matvec, rmatvec=matvec, dtype=np.float64)
    zero = np.zeros(n)
    eig = cert_module.smallest_eigenvalue(G, zero, Y, seed=seed, target=target)
    eig = cert_module.settle(G, zero, eig, target, rigorous=False,
                             seconds=cert_module.DEFAULT_PROOF_SECONDS)
    # P S P is formed (or applied) in floating point: its distance to the exact one is at most
    # ~3 n eps max_i sum_j |S_ij| in the 2-norm; the margin takes 16 (n + 8) eps of that.
    rowsum = float(np.abs(M).sum(axis=1).max()) if M.nnz else 0.0
    lower = float(eig.lower) - 16.0 * (n + 8) * EPS * rowsum
    total = math.fsum(lam)
    bound = total + n * max(-lower, 0.0)
    bound += 64.0 * EPS * (float(np.abs(lam).sum()) + abs(bound))
    return bound, eig._replace(lower=lower)


def solve_bisection_sdp(C: sp.csr_matrix, *, tol: float, seed: int, time_limit: float | None,
                     max_iterations: int | None) -> Result:
    """max <C, X> s.t. diag(X) = 1, <J, X> = 0, X PSD, for any symmetric C.

    Riemannian gradient ascent (Barzilai-Borwein steps, Armijo backtracking) of <C, Y Y^T>
    on {unit rows, 1^T Y = 0}, certified as in the module docstring; the rank climbs by one
    column along the eigenvector of a positive eigenvalue of P (C - Diag lambda) P."""
    start = time.perf_counter()
    n = C.shape[0]
    rng = np.random.default_rng(seed)
    # Half the Barvinok-Pataki rank of the n + 1 constraints, as the unit-diagonal path starts
    # (the gpp optima have rank 5-11; the staircase climbs where the certificate asks).
    from lowrank_sdp.solve import auto_start_rank

    r = min(n, auto_start_rank(n + 1))
    Y = retract(rng.standard_normal((n, r)))
    scale = max(1.0, float(abs(C).sum()) / n)
    grad_tol = GRAD_TOL_START * scale
    iterations, step = 0, 1.0 / scale
    rank_history = [r]
    status = None
    deadline = np.inf if time_limit is None else start + time_limit
    feasible_target = 0.1 * FEASIBLE_SUM * math.sqrt(n)
    C = sp.csr_matrix(C, dtype=np.float64)
    C.sort_indices()
    CY = np.ascontiguousarray(C @ Y)
    f = float(np.einsum("ij,ij->", CY, Y))
    V, lam = tangent(Y, CY)
    recent, k = np.full(WINDOW, f), 0
    best = (-np.inf, Y)
    period = CHECK_EVERY
    while True:
        gnorm = float(np.linalg.norm(V))
        if gnorm <= grad_tol or iterations >= period:
            period = iterations + CHECK_EVERY
            target = 0.1 * tol * (1.0 + abs(f)) / n
            bound, eig = _bisection_bound(C, lam, Y, seed=seed, target=target)
            best = max(best, _feasible_point(C, Y, f, rng), key=lambda p: p[0])
            if best[1] is Y:  # the ascent below moves Y in place
                best = (best[0], Y.copy())
            if bound - best[0] <= tol * (1.0 + abs(best[0])):
                status = Status.CERTIFIED
                break
            if gnorm > grad_tol:
                pass  # a periodic check: carry on
            elif (-eig.theta > 10.0 * gnorm and eig.vector is not None and Y.shape[1] < n
                    and -eig.theta * n > tol * (1.0 + abs(f))):
                u = np.asarray(eig.vector, dtype=np.float64).reshape(-1)
                u = u - u.mean()
                Y = retract(np.hstack([Y, 1e-2 * u[:, None] / max(np.abs(u).max(), 1e-300)]))
                rank_history.append(Y.shape[1])
                grad_tol *= 0.1
            elif grad_tol <= 1e-13 * scale:
                status = Status.STATIONARY
                break
            else:
                grad_tol *= _shrink(bound - best[0], tol * (1.0 + abs(best[0])))
            CY = np.ascontiguousarray(C @ Y)
            f = float(np.einsum("ij,ij->", CY, Y))
            V, lam = tangent(Y, CY)
            recent[:], k = f, 0
            if gnorm <= grad_tol * 10:
                continue
        if time.perf_counter() >= deadline:
            status = Status.TIME_LIMIT
            break
        cap = MAX_ITERATIONS if max_iterations is None else max_iterations
        if iterations >= cap:
            status = Status.MAX_ITERATIONS
            break
        steps = min(period, cap, iterations + CHUNK) - iterations
        k0 = k
        f, step, k, code = kernels.ascend(C.indptr, C.indices, C.data, Y, CY, V, lam, f, step,
                                          scale, grad_tol, steps, feasible_target, NEWTON_STEPS,
                                          recent, k)
        iterations += k - k0
        if code == 2:  # no ascent along the gradient at this accuracy: stationary
            status = Status.STATIONARY
            break
    if status is not Status.CERTIFIED:
        target = 0.1 * tol * (1.0 + abs(f)) / n
        bound, eig = _bisection_bound(C, lam, Y, seed=seed, target=target)
        best = max(best, _feasible_point(C, Y, f, rng), key=lambda p: p[0])
    value, Y_out = best
    if status is not Status.CERTIFIED and Y_out.shape[1] == 1 and n <= DENSE_PROJECTED:
        lam_x = _rank_one_multipliers(C, Y_out[:, 0])
        bound_x, eig_x = _bisection_bound(C, lam_x, Y_out, seed=seed,
                                          target=0.1 * tol * (1.0 + abs(value)) / n)
        if bound_x < bound:
            bound, eig, lam = bound_x, eig_x, lam_x
        if bound - value <= tol * (1.0 + abs(value)):
            status = Status.CERTIFIED
    gap = max(bound - value, 0.0)
    cert = Certificate(objective=value, bound=bound, gap=gap, lambda_min=float(eig.lower),
                       lambda_estimate=float(eig.theta), residual=float(eig.residual),
                       evidence=eig.evidence, multipliers=lam, eigenvector=eig.vector)
    return Result(Y=Y_out, objective=value, bound=bound, gap=gap, status=status,
                  rank=Y_out.shape[1], iterations=iterations,
                  seconds=time.perf_counter() - start, method="bisection-rgd", sense="max",
                  certificate=cert, rank_history=tuple(rank_history),
                  grad_norm=float(np.linalg.norm(V)))


def _shrink(gap: float, want: float) -> float:
    """The factor for the next gradient tolerance after a check left `gap` open (`want` is what
    certifies): near the optimum the gap falls with the square of the gradient (measured on
    gpp: 60-100x a decade), so aim at GAP_AIM of what is wanted, within [0.01, 0.3]."""
    if not gap > 0 or not np.isfinite(gap):
        return 0.1
    return min(0.3, max(0.01, math.sqrt(GAP_AIM * want / gap)))


def _rank_one_multipliers(C: sp.csr_matrix, x: np.ndarray) -> np.ndarray:
    """Multipliers for the bisection X = x x^T: stationarity (C - Diag(lambda)) x = mu 1 gives
    lambda = x * (C x) - mu x (sum(lambda) = x^T C x for every mu); mu minimises
    lambda_max(P (C - Diag(lambda)) P), a convex function of mu (searched on dense estimates;
    the bound is then proven at the chosen mu)."""
    from scipy.optimize import minimize_scalar

    n = x.size
    base = x * (C @ x)
    D = C.toarray()
    u = D.mean(axis=1)
    PCP = D - u[:, None] - u[None, :] + u.mean()
    Pd = np.eye(n) - 1.0 / n

    def top(mu):
        lam = base - mu * x
        M = PCP - (Pd * lam) @ Pd
        return float(np.linalg.eigvalsh(0.5 * (M + M.T))[-1])

    span = 4.0 * max(float(np.abs(base).max()), 1.0)
    mu = minimize_scalar(top, bounds=(-span, span), method="bounded",
                         options={"xatol": 1e-12 * span}).x
    return base - mu * x


def _feasible_point(C: sp.csr_matrix, Y: np.ndarray, f: float,
                    rng: np.random.Generator) -> tuple[float, np.ndarray]:
    """(value, factor) of a point feasible to rounding: Y itself when its column sums vanish,
    and the best bisection x (X = x x^T is feasible) split at the median of Y g along the top
    singular direction and a few random g. Near a rank-one optimum (an integral SDP) the set
    {unit rows, 1^T Y = 0} has a cusp where the alternating projection stalls short of
    1^T Y = 0; the bisection there is exactly feasible and as good."""
    n = Y.shape[0]
    value, point = -np.inf, Y
    if np.linalg.norm(Y.sum(axis=0)) <= FEASIBLE_SUM * math.sqrt(n):
        value = f
    directions = np.hstack([np.linalg.svd(Y, full_matrices=False)[2][:1].T,
                            rng.standard_normal((Y.shape[1], 8))])
    Z = Y @ directions
    X = -np.ones_like(Z)
    np.put_along_axis(X, np.argsort(-Z, axis=0, kind="stable")[: n // 2], 1.0, axis=0)
    vals = np.einsum("ij,ij->j", X, C @ X)
    j = int(np.argmax(vals))
    if vals[j] > value:
        value, point = float(vals[j]), X[:, j: j + 1].copy()
    return value, point
