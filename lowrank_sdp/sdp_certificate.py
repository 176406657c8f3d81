"""The certificate of a general SDP (see `lowrank_sdp.sdp`): a dual bound from any multipliers.

In the internal minimisation (C replaced by -C for "max") take any multipliers y of the matrix
constraints, with y_k <= 0 on the inequalities (sign-clipped), and lambda_i on the fixed rows
(X_ii = d_i). With S = C - A^T(y) - Diag(lambda) and every feasible X,

    <C, X> = b^T y + sum_i d_i lambda_i + sum_{k in ub} y_k (<A_k, X> - b_k) + <S, X>
           >= b^T y + sum_i d_i lambda_i + sum_j T_j min(lambda_min(S_j), 0)

where trace(X_j) <= T_j on the feasible set (or T * min_j min(lambda_min(S_j), 0) with one bound T
on trace(X)). A block whose S_j is proven PSD needs no T_j; where one is needed and none is known
the bound is NaN (unknown), never guessed. lambda_min comes from `lowrank_sdp.certificate`'s
eigenvalue routine (a proven or backward-error lower estimate). The primal side is <C, X> at
X = Y Y^T, feasible only up to its residual: the DIMACS errors say how far.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from lowrank_sdp import certificate
from lowrank_sdp.kernels.constraints import pattern_dots
from lowrank_sdp.sdp import SDP

EPS = np.finfo(np.float64).eps


@dataclass(frozen=True)
class SDPCertificate:
    """Objective, bound, gap and feasibility of a point Y (X = Y Y^T) of a general SDP."""

    objective: float
    """<C, X> + offset at X = Y Y^T (the user's sense)."""
    bound: float
    """Proven lower (min) or upper (max) bound on the optimum; NaN when no trace bound is known
    for a block whose slack is not proven PSD."""
    gap: float
    """|objective - bound| (NaN when the bound is unknown)."""
    infeasibility: float
    """DIMACS err1: ||A(X) - b||_2 / (1 + ||b||_1), inequalities counted only where violated."""
    dimacs: dict[str, float]
    """DIMACS errors err1..err6 (err2 = 0: X = Y Y^T is PSD; err3 = 0: the slack is S itself)."""
    lambda_min: np.ndarray
    """Per block: the lower estimate of lambda_min(S_j) the bound is built from."""
    lambda_estimate: np.ndarray
    """Per block: the eigensolver's estimate (>= lambda_min)."""
    trace_bounds: np.ndarray
    """Per block T_j (inf: unknown)."""
    trace_total: float
    bound_known: bool
    feasibility_gap: float
    """|y^T (A(X) - b)|: to first order, how far restoring feasibility may move the objective
    (large multipliers turn a small infeasibility into a large error of the value)."""
    y: np.ndarray = field(repr=False)
    """Multipliers of the constraint stack (equalities, then inequalities), user's sense."""
    diagonal_multipliers: np.ndarray = field(repr=False)
    """lambda_i on the fixed rows (user's sense)."""
    eigenvectors: tuple = field(default=(), repr=False)
    """Per block, the unit vector of lambda_estimate (or None)."""

    def relative_gap(self) -> float:
        return self.gap / (1.0 + abs(self.objective))

    def relative_feasibility_gap(self) -> float:
        return self.feasibility_gap / (1.0 + abs(self.objective))


def upper_dots(A_i: np.ndarray, A_j: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """<Y_i, Y_j> on a list of positions."""
    return pattern_dots(np.ascontiguousarray(A_i), np.ascontiguousarray(A_j),
                        np.ascontiguousarray(Y), np.empty(A_i.shape[0]))


def constraint_values(sdp: SDP, Y: np.ndarray) -> np.ndarray:
    """A(X) for X = Y Y^T: one value per matrix of the constraint stack."""
    A = sdp.A
    x = upper_dots(A.i, A.j, Y)
    w = np.where(A.i == A.j, 1.0, 2.0)
    return np.bincount(A.k, weights=w * A.v * x, minlength=sdp.m)


def adjoint(sdp: SDP, y: np.ndarray) -> sp.csr_matrix:
    """A^T(y) = sum_k y_k A_k as a symmetric csr matrix."""
    A = sdp.A
    v = y[A.k] * A.v
    off = A.i != A.j
    M = sp.csr_matrix((np.concatenate([v, v[off]]),
                       (np.concatenate([A.i, A.j[off]]), np.concatenate([A.j, A.i[off]]))),
                      shape=(sdp.n, sdp.n))
    M.sum_duplicates()
    return M


def block_lambda_min(S: sp.csr_matrix, Y: np.ndarray, *, diagonal: bool, seed: int,
                     target: float) -> tuple[float, float, np.ndarray | None]:
    """(estimate, lower, vector) for lambda_min of one block of the slack.

    The one place this module asks for an eigenvalue: through the core certificate's routine
    (its error bounds, deflation and fallbacks), so that its fixes apply here too. An LP block's
    slack is diagonal and its smallest entry is exact.
    """
    n = S.shape[0]
    if diagonal:
        d = S.diagonal()
        i = int(np.argmin(d))
        v = np.zeros(n)
        v[i] = 1.0
        # exact up to the rounding of the entries themselves: a margin in the safe direction
        return float(d[i]), float(d[i]) - 8.0 * EPS * float(np.abs(d).max()), v
    G, lam = sp.csr_matrix(S), np.zeros(n)
    eig = certificate.smallest_eigenvalue(G, lam, np.ascontiguousarray(Y), seed=seed, target=target)
    # settle without a factorisation budget (this runs every outer iteration): an unconverged
    # Lanczos is replaced by the dense eigensolver on blocks up to BLOCK_DENSE_LIMIT rows, by
    # Gershgorin above, never used as it is.
    eig = certificate.settle(G, lam, eig, target, rigorous=False, seconds=0.0,
                             dense_fallback=n <= BLOCK_DENSE_LIMIT)
    return float(eig.theta), float(eig.lower), eig.vector


BLOCK_DENSE_LIMIT = 1200
"""Blocks up to this many rows settle an unconverged Lanczos by a dense eigensolver (0.06 s at
n = 1001 on the 2-core reference machine) rather than Gershgorin's theorem: on thetaG51 (n = 1001)
Lanczos stopped short of the 0.1 tol (1 + |f|) / T accuracy the bound needs near the optimum, and
Gershgorin's lambda_min, -101 where the estimate was -2.2e-5, hid the converged dual."""


_IMPLIED_TRACE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""`implied_trace_bound`'s result for each problem (kept here, not on the SDP: it is this
module's cache), forgotten with the problem."""


def implied_trace_bound(sdp: SDP, *, seed: int = 0) -> tuple[np.ndarray, float, bool]:
    """(T_j, T, proven_infeasible) from multipliers ybar of the equalities with A^T(ybar) near I.

    If A^T(ybar) restricted to block j is PSD with lambda_min >= mu_j > 0 on every block, then for
    every feasible X: sum_j mu_j trace(X_j) <= <A^T(ybar), X> = b^T ybar, so trace(X_j) <=
    b^T ybar / mu_j. A negative b^T ybar then proves that no X is feasible. ybar is the least-squares
    solution of A^T(ybar) = I on the pattern (LSQR); mu_j a proven lower estimate, less rounding.
    The result is cached per problem.
    """
    cached = _IMPLIED_TRACE.get(sdp)
    if cached is not None:
        return cached
    from scipy.sparse.linalg import lsqr

    p = len(sdp.blocks)
    none = (np.full(p, np.inf), float("inf"), False)
    A = sdp.A
    eq = ~sdp.is_ub[A.k]
    if not eq.any():
        _IMPLIED_TRACE[sdp] = none
        return none
    n = sdp.n
    keys = np.unique(np.concatenate([A.i[eq] * n + A.j[eq], np.arange(n) * (n + 1)]))
    row = np.searchsorted(keys, A.i[eq] * n + A.j[eq])
    M = sp.csr_matrix((A.v[eq], (row, A.k[eq])), shape=(keys.size, sdp.m))
    rhs = (keys // n == keys % n).astype(np.float64)
    ybar = lsqr(M, rhs, atol=1e-14, btol=1e-14, iter_lim=2000)[0]
    ybar[sdp.is_ub] = 0.0
    Q = adjoint(sdp, ybar)
    norms = np.sqrt(np.bincount(A.k, weights=A.v**2, minlength=sdp.m) * 2.0)
    slack = 64.0 * EPS * (float(np.sqrt((Q.data**2).sum())) + float(np.abs(ybar) @ norms))
    starts = np.concatenate([[0], np.cumsum(np.abs(sdp.blocks))])
    mu = np.empty(p)
    for j in range(p):
        sl = slice(int(starts[j]), int(starts[j + 1]))
        _, low, _ = block_lambda_min(Q[sl, sl], np.zeros((sl.stop - sl.start, 1)),
                                     diagonal=sdp.blocks[j] < 0, seed=seed, target=1e-10)
        mu[j] = low - slack
    rhs_value = float(sdp.b @ ybar)
    rhs_value += 64.0 * EPS * float(np.abs(sdp.b * ybar).sum())
    if not np.all(mu > 0):
        _IMPLIED_TRACE[sdp] = none
        return none
    if rhs_value < 0:
        out = (np.zeros(p), 0.0, True)
    else:
        out = (rhs_value / mu, rhs_value / float(mu.min()), False)
    _IMPLIED_TRACE[sdp] = out
    return out


def certify_sdp(sdp: SDP, Y: np.ndarray, y: np.ndarray, *, seed: int = 0,
                tol: float = 1e-9, bound: bool = True) -> SDPCertificate:
    """The certificate of the point Y with multipliers y (user's sense, one per matrix of the
    stack; inequality ones are sign-clipped first). Valid whatever Y and y are. bound=False
    skips the eigenvalues (the bound is then NaN): the feasibility side only, for a solve whose
    bound comes from elsewhere."""
    want_bound = bound
    s = -1.0 if sdp.sense == "max" else 1.0
    Y = np.ascontiguousarray(Y, dtype=np.float64)
    yi = s * np.asarray(y, dtype=np.float64)  # internal (min) sense
    yi = np.where(sdp.is_ub, np.minimum(yi, 0.0), yi)
    C = s * sdp.C
    S = sp.csr_matrix(C - adjoint(sdp, yi))
    SY = S @ Y
    rows, d, _ = sdp.fixed_rows()
    lam = np.einsum("ij,ij->i", SY[rows], Y[rows]) / d
    if rows.size:
        S = sp.csr_matrix(S - sp.csr_matrix((lam, (rows, rows)), shape=S.shape))
    f = float(np.einsum("ij,ij->", C @ Y, Y))
    dual = float(sdp.b @ yi + d @ lam)

    T, total = sdp.trace_bounds()
    if want_bound and not np.isfinite(total):
        T2, total2, _ = implied_trace_bound(sdp, seed=seed)
        T, total = np.minimum(T, T2), min(total, total2)
    p = len(sdp.blocks)
    lower = np.empty(p)
    estimate = np.empty(p)
    vectors = []
    starts = np.concatenate([[0], np.cumsum(np.abs(sdp.blocks))])
    for j in range(p):
        sl = slice(int(starts[j]), int(starts[j + 1]))
        Tj = T[j] if np.isfinite(T[j]) else total if np.isfinite(total) else sdp.n
        target = 0.1 * tol * (1.0 + abs(f)) / max(Tj, 1.0)
        if not want_bound:
            estimate[j], lower[j] = np.nan, np.nan
            vectors.append(None)
            continue
        est, low, vec = block_lambda_min(S[sl, sl], Y[sl], diagonal=sdp.blocks[j] < 0,
                                         seed=seed, target=target)
        estimate[j], lower[j] = est, low
        vectors.append(vec)
    neg = np.minimum(lower, 0.0)
    per_block = float(sum(T[j] * neg[j] for j in range(p) if neg[j] < 0)) if p else 0.0
    whole = total * float(neg.min()) if neg.min() < 0 else 0.0
    correction = max(per_block, whole)  # both are valid lower estimates of <S, X>
    # Rounding in the sums behind the dual objective: a margin in the safe direction.
    margin = 64.0 * EPS * (float(np.abs(sdp.b * yi).sum() + np.abs(d * lam).sum()) + abs(dual))
    known = want_bound and bool(np.isfinite(correction))
    bound = dual + correction - margin if known else float("nan")

    values = constraint_values(sdp, Y)
    r = values - sdp.b
    viol = np.where(sdp.is_ub, np.maximum(r, 0.0), r)
    # The rows of unit-diagonal blocks are constraints no stacked matrix states: count them too.
    unit_rows = rows[np.asarray(sdp.unit_diagonal)[sdp.block_of[rows]]]
    b1 = float(np.abs(sdp.b).sum()) + unit_rows.size
    diag_res = np.einsum("ij,ij->i", Y[unit_rows], Y[unit_rows]) - 1.0
    err1 = float(np.sqrt(viol @ viol + diag_res @ diag_res)) / (1.0 + b1)
    feasibility_gap = abs(float(yi @ r)) + abs(float(lam[np.isin(rows, unit_rows)] @ diag_res))
    c1 = float(np.abs(sdp.C.data).sum())
    denom = 1.0 + abs(f) + abs(dual)
    xs = float(np.einsum("ij,ij->", S @ Y, Y))
    dimacs = {
        "err1": err1,
        "err2": 0.0,
        "err3": 0.0,
        "err4": (max(0.0, -float(lower.min())) / (1.0 + c1) if want_bound else float("nan"))
        if p else 0.0,
        "err5": (f - dual) / denom,
        "err6": xs / denom,
    }
    obj = s * f + sdp.offset
    user_bound = s * bound + sdp.offset if known else float("nan")
    return SDPCertificate(
        objective=float(obj),
        bound=float(user_bound),
        gap=float(abs(obj - user_bound)) if known else float("nan"),
        infeasibility=err1,
        dimacs=dimacs,
        lambda_min=lower,
        lambda_estimate=estimate,
        trace_bounds=T,
        trace_total=float(total),
        bound_known=known,
        feasibility_gap=feasibility_gap,
        y=s * yi,
        diagonal_multipliers=s * lam,
        eigenvectors=tuple(vectors),
    )
