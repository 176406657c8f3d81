"""The front door for general SDPs: the augmented Lagrangian + the certificate + the staircase.

`lowrank_sdp.solve` sends here every problem with constraints beyond the unit diagonal (see
`lowrank_sdp.sdp.SDP`); without them it keeps its unit-diagonal path.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from lowrank_sdp import _interrupt
from lowrank_sdp.kernels import linalg
from lowrank_sdp.result import Certificate, Evidence, Result, Status
from lowrank_sdp.sdp import SDP
from lowrank_sdp.sdp_certificate import SDPCertificate, certify_sdp
from lowrank_sdp.solvers._common import Monitor
from lowrank_sdp.solvers.alm import SIGMA_MAX, AugmentedLagrangian

START_RANK_CAP = 64
MAX_OUTER = 300
INNER_ITERATIONS = 2000
GRAD_TOL_START = 1e-1
INNER_RHO = 1e-1
INNER_KAPPA = 0.3
"""The inner tolerance is at most this times the last infeasibility (internal units, see `_solve`)."""
GRAD_TOL_FLOOR = 1e-13
FEASIBLE_HOLD = 0.1
"""sigma stops growing while the infeasibility (DIMACS err1) is within this times tol."""
GRAD_TOL_SHRINK = 0.3
NO_PROGRESS_OUTER = 12
"""With sigma at its cap, this many outer steps without a smaller infeasibility end the run."""
GAP_STALL_OUTER = 25
"""Feasible to tol, this many outer steps without the relative gap falling by 10% end the run."""


@dataclass(frozen=True, repr=False)
class SDPResult(Result):
    """`Result` of a general SDP: X = Y Y^T satisfies the constraints only up to `infeasibility`.

    `bound` is a proven bound on the optimum (NaN when unknown, see Status.NO_BOUND); `objective`
    is <C, X> + offset at the returned, nearly feasible X. CERTIFIED means the relative gap, the
    infeasibility and the relative feasibility gap |y^T (A(X) - b)| / (1 + |objective|) are all
    within tol.
    """

    infeasibility: float = float("nan")
    """DIMACS err1 = ||A(X) - b||_2 / (1 + ||b||_1) (violated inequalities only)."""
    dimacs: dict = field(default_factory=dict)
    """The six DIMACS errors err1..err6."""
    y: np.ndarray | None = None
    """Multipliers of the equality then the inequality matrices (user's sense)."""
    sdp_certificate: SDPCertificate | None = None
    """The certificate at the returned point (objective, feasibility, its own bound)."""
    bound_certificate: SDPCertificate | None = None
    """The certificate whose bound is reported: the tightest seen during the solve (any
    multipliers give a valid bound, and the last ones need not be the best)."""
    name: str = ""

    EXTRA_KEYS: ClassVar[tuple[str, ...]] = (*Result.EXTRA_KEYS, "infeasibility")

    def to_dict(self) -> dict:
        """The shared scalar keys, the infeasibility and the DIMACS errors (dimacs_err1..6)."""
        return super().to_dict() | {f"dimacs_{k}": float(v) for k, v in self.dimacs.items()}

    def __repr__(self) -> str:
        return (f"SDPResult(status={self.status.name}, objective={self.objective:.10g}, "
                f"bound={self.bound:.10g}, gap={self.gap:.3g}, infeasibility={self.infeasibility:.2g}, "
                f"rank={self.rank}, iterations={self.iterations}, seconds={self.seconds:.3g})")


def solve_sdp(
    sdp: SDP,
    *,
    rank: int | str = "auto",
    tol: float = 1e-6,
    time_limit: float | None = None,
    seed: int = 0,
    callback: Callable | None = None,
    Y0: np.ndarray | None = None,
    max_iterations: int | None = None,
    max_rank: int | None = None,
    verbose: bool = False,
) -> SDPResult:
    """Solve a validated `SDP` (arguments as in `lowrank_sdp.solve`, already checked there)."""
    # Ctrl-C sets a flag the monitor reads (a KeyboardInterrupt inside a Numba call crashes it).
    with _interrupt.deferred(), threadpool_limits(limits=1, user_api="blas"):
        plain = rank == "auto" and Y0 is None and callback is None and max_rank is None
        if plain and bisection_form(sdp):
            return _solve_bisection(sdp, tol=tol, time_limit=time_limit, seed=seed,
                                    max_iterations=max_iterations)
        box = slack_diagonal_form(sdp) if plain else None
        if box is not None:
            return _solve_slack_diagonal(sdp, box, tol=tol, time_limit=time_limit, seed=seed,
                                         max_iterations=max_iterations)
        return _solve(sdp, rank=rank, tol=tol, time_limit=time_limit, seed=seed, callback=callback,
                      Y0=Y0, max_iterations=max_iterations, max_rank=max_rank, verbose=verbose)


def _solve(sdp: SDP, *, rank, tol, time_limit, seed, callback, Y0, max_iterations, max_rank,
           verbose) -> SDPResult:
    start = time.perf_counter()
    al = AugmentedLagrangian(sdp)
    rng = np.random.default_rng(seed)
    biggest = max([abs(b) for b in sdp.blocks if b > 0], default=1)
    r_max = min(max_rank or biggest, biggest)
    # Barvinok-Pataki: some optimal X has rank r with r(r+1)/2 <= number of constraints.
    bp = math.ceil(math.sqrt(2 * (al.m + al.nf)))
    staircase = rank == "auto"
    r0 = min(r_max, max(2, bp), START_RANK_CAP) if staircase else int(rank)
    if Y0 is not None:
        if Y0.shape[0] != sdp.n:
            raise ValueError(f"The 'Y0' parameter of solve must be an array with n = {sdp.n} rows; "
                             f"got <an array with {Y0.shape[0]} rows>.")
        Z = al.from_original(np.asarray(Y0, dtype=np.float64))
        if linalg.normalize_rows(Z[: al.nf]):
            raise ValueError("The 'Y0' parameter of solve must have no zero row where the diagonal "
                             "is fixed; got <an array with such a row>.")
    else:
        Z = al.initial_point(r0, rng)
    monitor = Monitor(-1.0 if sdp.sense == "max" else 1.0, callback, time_limit, max_iterations, start)
    grad_tol = GRAD_TOL_START
    rank_history = [Z.shape[1]]
    status: Status | None = None
    cert: SDPCertificate | None = None
    best_infeas, stalled, grad_norm = np.inf, 0, float("nan")
    best: SDPCertificate | None = None
    best_gap, gap_stalled = np.inf, 0
    try:
        for _ in range(MAX_OUTER):
            run = al.minimize(Z, grad_tol, INNER_ITERATIONS, monitor)
            Z, grad_norm = run.Y, run.grad_norm
            sigma_before = al.sigma
            infeas = al.update(Z)
            if run.stop is not None:
                status = run.stop
                break
            t_cert = time.perf_counter()
            cert = certify_sdp(sdp, al.to_original(Z), al.multipliers(), seed=seed, tol=tol)
            monitor.reserve_for(time.perf_counter() - t_cert)  # time for the final certificate
            if verbose:
                print(f"[lowrank_sdp] rank {Z.shape[1]:4d}  it {monitor.iterations:6d}  "
                      f"f {cert.objective:.12g}  bound {cert.bound:.12g}  infeas {cert.infeasibility:.2e}  "
                      f"sigma {al.sigma:.1e}  lambda_min {cert.lambda_min.min():.2e}  "
                      f"|grad| {grad_norm:.2e}  {monitor.elapsed():.2f}s")
            best = _tighter(best, cert, sdp.sense)
            if _feasible(cert, tol) and _closed(cert, best, tol):
                status = Status.CERTIFIED
                break
            if monitor.out_of_time():
                status = Status.TIME_LIMIT  # the certificate ran into the reserve: stop here
                break
            held = cert.infeasibility <= FEASIBLE_HOLD * tol
            if staircase and run.converged and cert.infeasibility <= math.sqrt(tol):
                fewer = _drop_weak_columns(Z, al)
                if fewer is not None:
                    # Nearly feasible with few strong columns: the optimum has a lower rank than
                    # the start (thetaG11: rank 1 of 64), an iteration at rank 64 costs 16 at
                    # rank 4, and the escape test adds back a column if one is needed.
                    Z = fewer
                    rank_history.append(Z.shape[1])
            if held:
                # Feasible well inside tol: a larger penalty only worsens the conditioning of
                # the inner problem; what is left is the gap, closed by solving it more exactly.
                al.sigma = sigma_before
            if staircase and Z.shape[1] < r_max and run.converged and _needs_escape(
                    cert, Z, grad_norm, tol, al):
                j = int(np.argmin(cert.lambda_estimate))
                rows = np.flatnonzero(sdp.block_of == j)
                vec = cert.eigenvectors[j]
                if vec is not None:
                    Z = al.escape(Z, rows, np.asarray(vec), rng)
                    rank_history.append(Z.shape[1])
                    continue
            elif staircase and run.converged:
                # A saddle at this rank: the direction of negative curvature is that of columns
                # too weak to carry a gradient (theta6 at rank 64: singular values 1e-5 along
                # lambda_min = -0.03 for 3.6 s). Re-seed the weakest one along it.
                j = int(np.argmin(cert.lambda_estimate))
                vec = cert.eigenvectors[j]
                rows = np.flatnonzero(sdp.block_of == j)
                if vec is not None and _curvature_on_weak_columns(
                        cert, Z, tol, al.internal_vector(rows, np.asarray(vec))):
                    moved = al.escape_in_place(Z, rows, np.asarray(vec), WEAK_COLUMN)
                    if moved is not None:
                        Z = moved
                        continue
            if infeas < 0.999 * best_infeas:
                best_infeas, stalled = infeas, 0
            else:
                stalled += 1
            if al.sigma >= SIGMA_MAX and stalled >= NO_PROGRESS_OUTER:
                break
            rel = _relative_gap(cert, best)
            if rel < 0.9 * best_gap:
                best_gap, gap_stalled = rel, 0
            else:
                gap_stalled += 1
            if _feasible(cert, tol) and gap_stalled >= GAP_STALL_OUTER:
                break  # feasible, and the gap no longer closes: stationary at this accuracy
            # SDPLR's rule: the inner tolerance shrinks with the penalty (without constraints,
            # geometrically while the gap stays open); and, as in Rockafellar's criterion (B) for
            # inexact multiplier methods, it is at most a fraction of the infeasibility, which is
            # the size of the next multiplier step (y moves by sigma r): a looser inner solve
            # makes that step noise. It binds where the infeasibility falls faster than 1/sigma
            # (theta, thetaG: thetaG11 3.9 -> 0.6 s), not where sigma runs up (hinf, control).
            if held or not al.m:
                grad_tol = max(GRAD_TOL_FLOOR, GRAD_TOL_SHRINK * grad_tol)
            else:
                grad_tol = max(GRAD_TOL_FLOOR, min(INNER_RHO / al.sigma, INNER_KAPPA * infeas))
    except KeyboardInterrupt:
        status = Status.INTERRUPTED

    Y = al.to_original(Z)
    if cert is None or status is not Status.CERTIFIED:
        cert = certify_sdp(sdp, Y, al.multipliers(), seed=seed, tol=tol)
        best = _tighter(best, cert, sdp.sense)
    # Any multipliers give a valid bound: report the tightest one met on the way.
    bound = best.bound if best is not None else cert.bound
    gap = abs(cert.objective - bound) if np.isfinite(bound) else float("nan")
    if status is None:
        if not _feasible(cert, tol):
            status = Status.NOT_FEASIBLE
        elif not np.isfinite(bound):
            status = Status.NO_BOUND
        elif _closed(cert, best, tol):
            status = Status.CERTIFIED
        elif Z.shape[1] >= r_max and float(np.min(cert.lambda_estimate)) < 0:
            status = Status.MAX_RANK
        else:
            status = Status.STATIONARY
    core_cert = Certificate(
        objective=cert.objective, bound=bound, gap=gap,
        lambda_min=float(np.min(cert.lambda_min)), lambda_estimate=float(np.min(cert.lambda_estimate)),
        residual=float("nan"), evidence=Evidence.ESTIMATE,  # per-block evidence is not tracked
        multipliers=cert.diagonal_multipliers,
    )
    return SDPResult(
        Y=Y, objective=cert.objective, bound=bound, gap=gap, status=status,
        rank=Z.shape[1], iterations=monitor.iterations, seconds=time.perf_counter() - start,
        method="alm", sense=sdp.sense, certificate=core_cert, rank_history=tuple(rank_history),
        history=tuple(monitor.history), grad_norm=grad_norm, infeasibility=cert.infeasibility,
        dimacs=cert.dimacs, y=best.y if best is not None else cert.y, sdp_certificate=cert,
        bound_certificate=best, name=sdp.name,
    )


def bisection_form(sdp: SDP) -> bool:
    """Whether `sdp` is  max/min <C, X>  s.t.  diag(X) = 1,  <c J, X> = 0 (c > 0),  one PSD block:
    Max-Bisection and SDPLIB's gpp*. Its equality has no strictly feasible point, which stalls
    the augmented Lagrangian (and makes a tiny <J, X> hide a first-order error of the value:
    |1^T Y| is its square root), so `lowrank_sdp.bisection` solves it with 1^T Y = 0 exact."""
    n = sdp.n
    if len(sdp.blocks) != 1 or sdp.blocks[0] <= 0 or sdp.m_ub or n < 2:
        return False
    rows, d, used = sdp.fixed_rows()
    if rows.size != n or not np.all(d == 1.0):
        return False
    rest = np.setdiff1d(np.arange(sdp.m), used)
    if rest.size != 1 or sdp.b[rest[0]] != 0.0:
        return False
    v = sdp.A.v[sdp.A.k == rest[0]]
    return bool(v.size == n * (n + 1) // 2 and v[0] > 0 and np.all(v == v[0]))


def _solve_bisection(sdp: SDP, *, tol, time_limit, seed, max_iterations) -> SDPResult:
    from lowrank_sdp.bisection import solve_bisection_sdp

    s = -1.0 if sdp.sense == "min" else 1.0  # the solver maximises
    res = solve_bisection_sdp(sp.csr_matrix(s * sdp.C), tol=tol, seed=seed, time_limit=time_limit,
                              max_iterations=max_iterations)
    # Multipliers: those of the rows' X_ii = 1 where the file states them as constraints; none for
    # <J, X> = 0 (the bound rests on the projected slack, the limit of an infinite one).
    _, _, used = sdp.fixed_rows()
    y = np.zeros(sdp.m)
    mask = np.isin(sdp.A.k, used)
    y[sdp.A.k[mask]] = s * res.certificate.multipliers[sdp.A.i[mask]] / sdp.A.v[mask]
    # The feasibility side (DIMACS errors): these multipliers leave <J, X> = 0 out, so their
    # slack's lambda_min would bound nothing (the bound is res.bound's).
    cert = certify_sdp(sdp, res.Y, y, seed=seed, tol=tol, bound=False)
    objective, bound = s * res.objective + sdp.offset, s * res.bound + sdp.offset
    core = Certificate(
        objective=objective, bound=bound, gap=res.gap, lambda_min=res.certificate.lambda_min,
        lambda_estimate=res.certificate.lambda_estimate, residual=res.certificate.residual,
        evidence=res.certificate.evidence, multipliers=s * res.certificate.multipliers,
        eigenvector=res.certificate.eigenvector)
    status = res.status
    if status is Status.CERTIFIED and cert.infeasibility > tol:
        status = Status.NOT_FEASIBLE
    return SDPResult(
        Y=res.Y, objective=objective, bound=bound, gap=res.gap, status=status, rank=res.rank,
        iterations=res.iterations, seconds=res.seconds, method=res.method, sense=sdp.sense,
        certificate=core, rank_history=res.rank_history, grad_norm=res.grad_norm,
        infeasibility=cert.infeasibility, dimacs=cert.dimacs, y=y, sdp_certificate=cert,
        bound_certificate=None, name=sdp.name,
    )


@dataclass(frozen=True)
class SlackDiagonalForm:
    """The rows of an SDP in `slack_diagonal_form`: constraint k reads
    a_k X_{i_k i_k} + c_k X_{j_k j_k} = b_k with the slack row j_k nowhere else."""

    rows: np.ndarray
    """i_k: the rows C acts on, one per constraint (in constraint order)."""
    slack_rows: np.ndarray
    """j_k: the rows only their own constraint mentions."""
    d: np.ndarray
    """b_k / a_k: the largest X_{i_k i_k} can be, and its value at the optimum taken."""
    b: np.ndarray


def slack_diagonal_form(sdp: SDP) -> SlackDiagonalForm | None:
    """The form of SDPLIB's box-QP relaxations (qpG*), or None: every constraint is
    a_k X_ii + c_k X_jj = b_k (a_k, c_k, b_k > 0) on two diagonal entries, every row of X is in
    exactly one constraint, the row j is in no other constraint and not in C, and the diagonal of
    C on the rows i does not hurt (C_ii >= 0 when maximising, <= 0 when minimising).

    Then the SDP has the optimal value of  opt <C_II, X_II>  s.t.  diag(X_II) = d = b / a:
    for a feasible X, X_jj >= 0 gives X_ii <= d_i, and X_II + Diag(d - diag X_II) is PSD, meets
    the diagonal and is no worse (its objective moves by sum C_ii (d_i - X_ii)); conversely
    X_II with X_JJ = 0, X_IJ = 0 is feasible with the same objective. So the unit-diagonal method
    solves it (rows scaled by sqrt(d)), and its certified bound is one of the original SDP."""
    n, m = sdp.n, sdp.m
    if m == 0 or sdp.m_ub or any(sdp.unit_diagonal) or any(b < 0 for b in sdp.blocks) or 2 * m != n:
        return None
    A = sdp.A
    if A.k.size != 2 * m or np.any(A.i != A.j) or np.any(A.v <= 0) or np.any(sdp.b <= 0):
        return None
    if np.any(np.bincount(A.k, minlength=m) != 2) or np.any(np.bincount(A.i, minlength=n) != 1):
        return None
    order = np.lexsort((A.i, A.k))
    pair_rows = A.i[order].reshape(m, 2)
    pair_vals = A.v[order].reshape(m, 2)
    C = sdp.C.tocoo()
    in_cost = np.zeros(n, bool)
    in_cost[C.row] = True
    # The slack row of each pair: one C leaves alone (the second when C leaves both alone).
    second = ~in_cost[pair_rows[:, 1]]
    first = ~in_cost[pair_rows[:, 0]] & ~second
    if np.any(~second & ~first):
        return None
    pick = np.where(second, 0, 1)  # the column of the cost row i_k
    idx = np.arange(m)
    rows, slack = pair_rows[idx, pick], pair_rows[idx, 1 - pick]
    a = pair_vals[idx, pick]
    diag = np.zeros(n)
    on_diag = C.row == C.col
    np.add.at(diag, C.row[on_diag], C.data[on_diag])
    sign = 1.0 if sdp.sense == "max" else -1.0
    if np.any(sign * diag[rows] < 0):
        return None
    return SlackDiagonalForm(rows=rows, slack_rows=slack, d=sdp.b / a, b=sdp.b.copy())


def _solve_slack_diagonal(sdp: SDP, form: SlackDiagonalForm, *, tol, time_limit, seed,
                          max_iterations) -> SDPResult:
    """The unit-diagonal solve of the reduced problem (see `slack_diagonal_form`), lifted back:
    Y on the rows i scaled by sqrt(d), zero on the slack rows; multipliers y_k = lambda_k / b_k
    from the oblique ones (Diag(lambda) - D^(1/2) C_II D^(1/2) PSD <=> sum_k y_k a_k e_i e_i^T - C_II
    PSD)."""
    from lowrank_sdp.solve import solve as solve_unit

    root = np.sqrt(form.d)
    C_rows = sp.csr_matrix(sdp.C)[form.rows][:, form.rows]
    reduced = sp.csr_matrix(sp.diags(root) @ C_rows @ sp.diags(root))
    res = solve_unit(reduced, sense=sdp.sense, tol=tol, time_limit=time_limit, seed=seed,
                     max_iterations=max_iterations)
    Y = np.zeros((sdp.n, res.Y.shape[1]))
    Y[form.rows] = root[:, None] * res.Y
    y = res.certificate.multipliers / form.b
    cert = certify_sdp(sdp, Y, y, seed=seed, tol=tol, bound=False)  # the feasibility side
    objective, bound = res.objective + sdp.offset, res.bound + sdp.offset
    core = Certificate(
        objective=objective, bound=bound, gap=res.gap, lambda_min=res.certificate.lambda_min,
        lambda_estimate=res.certificate.lambda_estimate, residual=res.certificate.residual,
        evidence=res.certificate.evidence, multipliers=res.certificate.multipliers,
        eigenvector=res.certificate.eigenvector)
    status = res.status
    if status is Status.CERTIFIED and cert.infeasibility > tol:
        status = Status.NOT_FEASIBLE
    return SDPResult(
        Y=Y, objective=objective, bound=bound, gap=res.gap, status=status, rank=res.rank,
        iterations=res.iterations, seconds=res.seconds, method=f"slack-diagonal-{res.method}",
        sense=sdp.sense, certificate=core, rank_history=res.rank_history,
        history=res.history, grad_norm=res.grad_norm, infeasibility=cert.infeasibility,
        dimacs=cert.dimacs, y=y, sdp_certificate=cert, bound_certificate=None, name=sdp.name,
    )


def _negative_curvature(cert: SDPCertificate, Z: np.ndarray, tol: float) -> int | None:
    """The block of the slack's most negative eigenvalue lambda_j when it matters at this
    accuracy: the point feasible to sqrt(tol) and T_j lambda_j < -tol (1 + |objective|) (T_j the
    block's trace bound, n where none is known); None otherwise. Where both staircase moves start."""
    if cert.infeasibility > math.sqrt(tol):
        return None
    j = int(np.argmin(cert.lambda_estimate))
    T = cert.trace_bounds[j]
    T = T if np.isfinite(T) else Z.shape[0]
    return j if T * float(cert.lambda_estimate[j]) < -tol * (1.0 + abs(cert.objective)) else None


def _needs_escape(cert: SDPCertificate, Z: np.ndarray, grad_norm: float, tol: float,
                  al: AugmentedLagrangian) -> bool:
    """Negative curvature of the slack beyond what the unfinished inner solve explains (as in the
    unit-diagonal staircase): near a first-order point S Y = grad / 2. The comparison is in the
    solver's internal units, those of grad_norm and Z: the certificate's lambda (user units) is
    carried over by `AugmentedLagrangian.internal_curvature` (on theta6 the user's lambda is
    ~300 times the internal one, ||C||_F = n)."""
    j = _negative_curvature(cert, Z, tol)
    vec = None if j is None else cert.eigenvectors[j]
    if vec is None:
        return False
    lam = float(cert.lambda_estimate[j])
    curvature = al.internal_curvature(np.flatnonzero(al.sdp.block_of == j), np.asarray(vec), lam)
    sv = np.linalg.svd(Z, compute_uv=False)
    sig = sv[sv > 1e-8 * sv[0]][-1] if sv.size and sv[0] > 0 else 1.0
    return -curvature > 10.0 * 0.5 * grad_norm / sig


WEAK_COLUMN = 1e-3
"""A column of Z (in its singular basis) is weak below this times the largest singular value."""
DROP_STRONG = 0.1
"""In `_drop_weak_columns`, a column of Z (in its singular basis) is strong above this times the
largest singular value."""
DROP_SAVING = 4096
"""`_drop_weak_columns` declines to save fewer entries of Z than this (n times the columns
dropped): on small problems an iteration costs little at any rank (qap5, n = 26: certified in
0.34 s at rank 17, 1.3 s when dropped to rank 4)."""
DROP_MASS = 0.01
"""`_drop_weak_columns` declines when the dropped columns carry more than this share of trace(X):
thetaG51 at rank 64 had singular values falling smoothly from 0.16 to 0.022 of the largest (15
above DROP_STRONG), and the 34 columns dropped held 6% of the trace; at rank 30 it then stalled
with the bound 0.6% above the optimum (thetaG11, whose optimum has rank 1, drops 0.16%, then
0.04%)."""
DROP_FLOOR = 4
"""`_drop_weak_columns` keeps at least this many columns (thetaG11 stalls at rank 3 and
certifies at rank 4)."""


def _drop_weak_columns(Z: np.ndarray, al: AugmentedLagrangian) -> np.ndarray | None:
    """Z in its singular basis without its weakest columns, when fewer than a quarter of its columns
    are strong (DROP_STRONG): twice as many columns as are strong (at least DROP_FLOOR) are kept,
    and the fixed rows normalised again; None when that would keep them all, or when the dropped
    columns carry more than DROP_MASS of trace(X) (no gap in the spectrum).

    X moves by the dropped columns' squares (below DROP_STRONG^2 = 1% of the largest each, at most
    DROP_MASS of the trace in all) and the multiplier method continues from there; no certificate
    depends on the rank."""
    r = Z.shape[1]
    _, sv, Vt = np.linalg.svd(Z, full_matrices=False)
    if not sv.size or not sv[0] > 0:
        return None
    strong = int(np.sum(sv > DROP_STRONG * sv[0]))
    keep = max(DROP_FLOOR, 2 * strong)
    if 4 * strong >= r or Z.shape[0] * (r - keep) < DROP_SAVING:
        return None
    if float(np.sum(sv[keep:] ** 2)) > DROP_MASS * float(np.sum(sv**2)):
        return None  # no gap in the spectrum: the weak columns are part of X
    out = np.ascontiguousarray(Z @ Vt[:keep].T)
    if linalg.normalize_rows(out[: al.nf]):
        return None  # a fixed row lay in the dropped columns
    return out


def _curvature_on_weak_columns(cert: SDPCertificate, Z: np.ndarray, tol: float,
                               u: np.ndarray) -> bool:
    """Negative curvature that matters (`_negative_curvature`, as `_needs_escape` asks) whose
    eigenvector u (internal coordinates, unit) lies mostly in the span of weak columns of Z."""
    if _negative_curvature(cert, Z, tol) is None:
        return False
    U, sv, _ = np.linalg.svd(Z, full_matrices=False)
    weak = sv <= WEAK_COLUMN * sv[0] if sv.size and sv[0] > 0 else np.zeros(sv.size, bool)
    return bool(weak.any() and float(np.sum((U[:, weak].T @ u) ** 2)) > 0.5)


def _tighter(best: SDPCertificate | None, cert: SDPCertificate, sense: str) -> SDPCertificate:
    """The certificate with the tighter known bound (larger for min, smaller for max)."""
    if best is None or not np.isfinite(best.bound):
        return cert
    if not np.isfinite(cert.bound):
        return best
    better = cert.bound > best.bound if sense == "min" else cert.bound < best.bound
    return cert if better else best


def _relative_gap(cert: SDPCertificate, best: SDPCertificate | None) -> float:
    if best is None or not np.isfinite(best.bound):
        return np.inf
    return abs(cert.objective - best.bound) / (1.0 + abs(cert.objective))


def _feasible(cert: SDPCertificate, tol: float) -> bool:
    """Infeasibility within tol, and small enough that restoring feasibility moves the value by at
    most tol relative (to first order, |y^T (A(X) - b)|)."""
    return cert.infeasibility <= tol and cert.relative_feasibility_gap() <= tol


def _closed(cert: SDPCertificate, best: SDPCertificate | None, tol: float) -> bool:
    return _relative_gap(cert, best) <= tol
