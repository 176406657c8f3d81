"""The dual certificate: a bound on the optimum from any feasible point Y.

For the internal minimisation of f over {X : diag(X) = 1, X PSD} with G = grad f(X) and the
multipliers lambda_i = <(G Y)_i, Y_i>, let S = G - Diag(lambda). For every feasible X',
    <G, X'> = <S, X'> + sum(lambda) >= sum(lambda) + n * min(lambda_min(S), 0)
because trace(X') = n. For linear f this *is* a lower bound on f(X') (it is the dual objective at the
dual-feasible point lambda + min(lambda_min, 0) 1), whatever Y and lambda are; for convex f add
f(X) - <G, X> (= f(X) - sum(lambda)). So the whole certificate rests on one number: a *lower*
bound on lambda_min(S), and `Certificate.evidence` says what kind of evidence backs it:
  - FACTORIZATION: a Cholesky (dense) or LDL^T (sparse, SuperLU without pivoting in a
    reverse Cuthill-McKee envelope) factorisation of S - sigma I completes with positive pivots,
    so lambda_min(S) >= sigma less a rounding bound computed from the factors (Higham's
    |L U - A| <= gamma_w |L| |U|, w the longest inner product). Tried by default whenever its
    cost (known in advance from the envelope) is at most about the solve's.
  - EIGENSOLVER_BOUND: dense LAPACK eigenvalue minus c n eps ||S||_F (backward stability).
  - GERSHGORIN: min_i (S_ii - sum_{j != i} |S_ij|), less its rounding.
  - ESTIMATE: a hand-written restarted Lanczos (full reorthogonalisation) on S deflated by the
    column space of Y, converged to a residual rho: the Ritz value minus rho bounds *an*
    eigenvalue, the smallest one only with high probability over the random start.
A Lanczos that runs out of budget is not converged: its value is never used as a bound.
The same holds when a solve's deadline (`lowrank_sdp.budget`) stops it: Lanczos, the dense
fallback and the factorisation proofs all stop at (or are not started past) the deadline, and the
bound is then what is proven in the time left (Gershgorin for a matrix, none for an operator).
Every threshold is relative to a norm estimate of S, so the certificate is scale-invariant.
"""

from __future__ import annotations

import math
import weakref
from typing import NamedTuple

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.csgraph import reverse_cuthill_mckee
from scipy.sparse.linalg import LinearOperator, splu

from lowrank_sdp import budget as time_budget
from lowrank_sdp.problem import Problem
from lowrank_sdp.result import Certificate, Evidence

DENSE_EIGEN_LIMIT = 500
"""Arrays and sparse matrices up to this n are estimated by a dense eigensolver."""
DENSE_FALLBACK_LIMIT = 2500
"""An unconverged Lanczos falls back to a dense eigensolver up to this n."""
RIGOROUS_LIMIT = 6000
"""``rigorous=True`` factorises S densely up to this n (when no sparse factorisation is cheaper)."""
SPARSE_PROOF_BYTES = 2 * 2**30
"""Largest envelope (L and U factors, bytes) a sparse LDL^T proof may allocate."""
PROOF_FLOP_RATE = 1e9
"""Flops per second assumed when deciding whether a proof costs at most about the solve
(conservative for one core; measured in benchmarks/certificate_proof.py)."""
DEFAULT_PROOF_SECONDS = 5.0
"""The proof budget of `certify`, and the least a solve allows."""
PROOF_ATTEMPTS = 4
"""Shifts tried by a factorisation proof before settling for a weaker proof."""
DENSE_FLOP_WEIGHT = 0.25
"""`Certificate.work` counts a flop of the eigensolver's dense vector operations (streamed BLAS
products: reorthogonalisation, deflation, Ritz rotations) as this much of a sparse-product flop,
the unit the solve's iterations are counted in. Measured at ER n = 1e5, rank 126: a mixing sweep
ran at about 5e-10 s per counted flop, the Lanczos look (mostly reorthogonalisation) at 1.1-1.7e-10;
counted at par, one look pushed the next past the point where it would have certified (4x rule)."""
EPS = np.finfo(np.float64).eps
UNIT = EPS / 2.0


class Eigen(NamedTuple):
    """What is known of lambda_min(S)."""

    theta: float
    """Best estimate (Ritz value or dense eigenvalue); lambda_min <= theta when a vector backs it."""
    lower: float
    """The bound claimed: lower <= lambda_min(S) (a proof unless evidence is ESTIMATE)."""
    residual: float
    vector: np.ndarray | None
    evidence: Evidence
    converged: bool
    """False after a Lanczos budget exhaustion or early exit: then `lower` is not an estimate."""
    e: float = 0.0
    """||P S Q||_2 of the deflated directions Q (0 without deflation)."""
    a: float = 0.0
    """A lower bound on lambda_min(Q^T S Q) (0 without deflation)."""
    work: float = 0.0
    """Floating-point operations the eigensolver spent (a count from the sizes, not a clock)."""


def certify_problem(
    problem: Problem, Y: np.ndarray, *, seed: int = 0, rigorous: bool = False,
    tol: float = 1e-9, early_exit: bool = False, func: str = "solve",
    proof_seconds: float = DEFAULT_PROOF_SECONDS, warm: np.ndarray | None = None,
    max_matvecs: int | None = None,
) -> Certificate:
    """Certificate of the point Y for `problem`, reported in the user's sense.

    `tol` is the relative gap the caller hopes to certify; the eigenvalue estimate is made
    accurate enough for it (a smaller one costs more Lanczos steps, never validity).
    `early_exit` (inside a solve) lets Lanczos stop at a clearly negative Ritz value (the
    staircase only needs the direction) and skips the proof unless the estimate would certify.
    `proof_seconds` is what a default factorisation proof may cost; ``rigorous=True`` asks for a
    proof whatever it costs and raises only where none is possible. `warm`: a start vector added
    to the eigensolver's random one (a solve passes the previous checkpoint's eigenvector).
    `max_matvecs` caps Lanczos's products (a solve's periodic look,
    `lowrank_sdp.solve.CHECKPOINT_MATVECS`).
    """
    objective = problem.objective
    n = problem.n
    f, GY = objective.evaluate(Y)
    lam = np.einsum("ij,ij->i", GY, Y)
    G = objective.gradient_operator(Y)
    if not objective.convex:
        if rigorous:
            raise ValueError(
                f"The 'rigorous' parameter of {func} must be False for an objective not declared "
                "convex (concave when maximising): no bound is claimed for it; got True."
            )
        eig = Eigen(np.nan, np.nan, np.nan, None, Evidence.NONE, False)
        bound = -np.inf
    else:
        target = 0.1 * tol * (1.0 + abs(f)) / n
        budget = np.inf if rigorous else proof_seconds
        # Where a sparse factorisation proof is affordable anyway, Lanczos only has to place the
        # shift (and find a direction): a short run, not one to full convergence (200 x 200
        # torus: 2000 products, 15 s, did not converge; the proof took 1 s).
        # Only above DENSE_FALLBACK_LIMIT: below it an unconverged Lanczos goes to the dense
        # eigensolver first (G22: 124 MB peak instead of 6 MB).
        sparse_proof = _sparse_proof_affordable(G, budget)
        proof_follows = n > DENSE_FALLBACK_LIMIT and sparse_proof
        # The deflated bound is the one claimed only where no proof may follow: there a look may
        # end early (`futile`, below) and gets its whole `max_matvecs`; elsewhere at most
        # LOOK_PROOF_MATVECS (the proof or the dense eigensolver settles it).
        proof_possible = sparse_proof or _dense_affordable(G, n, False, budget)
        matvecs = LANCZOS_PROOF_MATVECS if proof_follows else LANCZOS_MAX_MATVECS
        if max_matvecs is not None:
            matvecs = min(matvecs, max_matvecs)
            if proof_possible:
                matvecs = min(matvecs, LOOK_PROOF_MATVECS)
        if time_budget.expired():
            # The solve's deadline has passed: no eigensolver (its set-up alone costs n r^2),
            # only what is proven at once (Gershgorin for a matrix, no bound for an operator).
            eig = Eigen(np.nan, np.nan, np.nan, None, Evidence.ESTIMATE, False)
        else:
            # Inside a solve a Ritz value below -tol (1 + |f|) / n (1% margin) settles it: the
            # gap is at least n |lambda_min| >= n |theta|, out of tol (ER n = 3e4: 2000 products,
            # 4.5 s, at a checkpoint whose theta was already -4.5e-5 against -4.0e-5).
            hopeless = -1.01 * tol * (1.0 + abs(f)) / n if early_exit else -np.inf
            # The deflated bound may end Lanczos early too (`futile`), but only where that bound
            # is the one claimed: a proof that may follow (a factorisation, or the dense
            # eigensolver) does not rest on it, and needs the Ritz value to place its shift
            # (G81: cut short at 31 products, the shift it gave proved a gap of 1.1e-6, not 1e-6).
            eig = smallest_eigenvalue(G, lam, Y, seed=seed, target=target,
                                      early_exit=early_exit, warm=warm, max_matvecs=matvecs,
                                      hopeless=hopeless,
                                      futile_below=-np.inf if proof_possible else hopeless)
        base = math.fsum(lam) if objective.linear else f
        # The lower bound on lambda_min that would certify tol (1% inside it), for the proofs.
        room = tol * (1.0 + abs(f)) - max(f - base, 0.0)
        certify_at = -0.99 * room / n if room > 0 else None
        if not early_exit:
            eig = settle(G, lam, eig, target, rigorous=rigorous, seconds=budget, func=func,
                         certify_at=certify_at)
        elif eig.converged:
            # Inside a solve a converged estimate is proved only when it would certify.
            if _gap(base, n, eig.lower) <= tol * (1.0 + abs(f)):
                eig = settle(G, lam, eig, target, rigorous=rigorous, seconds=budget, func=func,
                             certify_at=certify_at)
        elif eig.theta < 0 and _gap(base, n, eig.theta) > tol * (1.0 + abs(f)):
            # Stopped at a clearly negative Ritz value: lambda_min <= theta, so the gap cannot
            # close at this rank (the staircase escapes); only the cheap proof is worth it.
            eig = _weak_proof(G, lam, eig)
        else:
            # The Lanczos budget ran out, or the deflated bound could not reach tol (`futile`
            # in `_deflated_lanczos`): whatever tol is, only a proof can settle it (G11: the
            # dense eigensolver certifies where the deflated bound fell short).
            eig = settle(G, lam, eig, target, rigorous=False, seconds=proof_seconds, func=func,
                         certify_at=certify_at)
        bound = _bound(base, n, eig.lower)
    s = problem.sign
    r = Y.shape[1]
    work = eig.work + 2.0 * r * (_nnz(G, n) + n)  # + the evaluation of G Y and lambda
    gap = max(f - bound, 0.0)
    return Certificate(
        objective=float(s * f),
        bound=float(s * bound),
        gap=float(gap),
        lambda_min=float(eig.lower),
        lambda_estimate=float(eig.theta),
        residual=float(eig.residual),
        evidence=eig.evidence,
        multipliers=s * lam,
        eigenvector=eig.vector,
        work=float(work),
    )


def _nnz(G, n: int) -> float:
    """Stored entries of G (n^2 for an array or an operator): the flops of a product, halved."""
    return float(G.nnz) if sp.issparse(G) else float(n) * n


def _bound(base: float, n: int, lower: float) -> float:
    """base + n min(lower, 0), rounded down: base is a correctly rounded sum (math.fsum), and the
    product and the sum each round once."""
    value = base + n * min(lower, 0.0)
    if not np.isfinite(value):
        return -np.inf
    return value - 2.0 * EPS * (abs(base) + n * abs(lower)) - np.finfo(np.float64).tiny


def _gap(base: float, n: int, lower: float) -> float:
    return base - _bound(base, n, lower)


def _slack_operator(G, lam: np.ndarray) -> LinearOperator:
    n = lam.shape[0]
    if isinstance(G, LinearOperator):

        def mv(x):
            x = x.reshape(n, -1)
            return np.asarray(G.matmat(x)).reshape(n, -1) - lam[:, None] * x

        return LinearOperator((n, n), matvec=mv, matmat=mv, dtype=np.float64)
    return LinearOperator(
        (n, n),
        matvec=lambda x: G @ x - lam * x,
        matmat=lambda X: G @ X - lam[:, None] * X,
        dtype=np.float64,
    )


def dense_slack(G, lam: np.ndarray) -> np.ndarray:
    """S = G - Diag(lambda) as a dense array, exactly symmetric (an operator's columns are
    symmetrised, so no triangle of an unsymmetric matrix is ever read alone)."""
    if sp.issparse(G):
        S = G.toarray()
    elif isinstance(G, np.ndarray):
        S = np.array(G, dtype=np.float64)
    else:
        S = np.asarray(G.matmat(np.eye(lam.shape[0])), dtype=np.float64)
    if not np.array_equal(S, S.T):
        S = S * 0.5 + S.T * 0.5
    S[np.diag_indices_from(S)] -= lam
    return S


def smallest_eigenvalue(
    G, lam: np.ndarray, Y: np.ndarray, *, seed: int = 0, target: float = 1e-10,
    early_exit: bool = False, warm: np.ndarray | None = None, max_matvecs: int | None = None,
    hopeless: float = -np.inf, futile_below: float = -np.inf,
) -> Eigen:
    """First look at lambda_min(S), S = G - Diag(lam): a dense eigensolver for small matrices,
    else the deflated Lanczos estimate (which `settle` may then prove or replace).

    `target` is the accuracy wanted of the lower bound; `warm` (an n-vector, e.g. the previous
    eigenvector) is added to Lanczos's random start; a Ritz value below `hopeless` ends Lanczos
    early (see `lanczos_smallest`), and so does a deflated bound that can no longer rise above
    `futile_below`.
    """
    n = lam.shape[0]
    if n <= DENSE_EIGEN_LIMIT and not isinstance(G, LinearOperator):
        return _dense_smallest(dense_slack(G, lam))._replace(work=10.0 * n**3)
    return _deflated_lanczos(G, lam, Y, seed=seed, target=target, early_exit=early_exit,
                             warm=warm, max_matvecs=max_matvecs or LANCZOS_MAX_MATVECS,
                             hopeless=hopeless, futile_below=futile_below)


def settle(G, lam: np.ndarray, eig: Eigen, target: float, *, rigorous: bool, seconds: float,
           func: str = "certify", dense_fallback: bool = False,
           certify_at: float | None = None) -> Eigen:
    """Turn `eig` into a proof where one costs at most `seconds` (any cost when rigorous).

    An estimate that a factorisation refutes (S - sigma I not positive definite below it), or a
    Lanczos that did not converge, is never returned as the bound: a dense eigensolver, a weaker
    factorisation shift, or Gershgorin's theorem takes its place. `dense_fallback`: an
    unconverged Lanczos on a matrix (n <= DENSE_FALLBACK_LIMIT) goes to the dense eigensolver
    whatever `seconds` allows (the caller has judged its cost), if it fits before a deadline.
    `certify_at`: the lower bound the caller's tolerance needs; where the first factorisation
    shift (from the estimate) fails above it, that shift is the next one tried.
    """
    n = lam.shape[0]
    if eig.evidence is Evidence.FACTORIZATION:
        return eig
    refuted = False
    # Under a solve's deadline (lowrank_sdp.budget) every proof must fit in the time left, a
    # rigorous one too (it then settles for the weaker proof: Gershgorin's, never an estimate).
    left = time_budget.remaining()
    timed = math.isfinite(left)
    if timed:
        seconds = min(seconds, max(left, 0.0))
    costly = rigorous and not timed  # a proof whatever it costs
    # (within a solve's deadline: the time left, infinite without one, must afford it)
    judged = dense_fallback and not isinstance(G, LinearOperator) and _dense_affordable(
        G, n, False, max(left, 0.0))
    if eig.evidence is Evidence.ESTIMATE and not eig.converged and (
            judged or _dense_affordable(G, n, costly, seconds)):
        eig = _dense_smallest(dense_slack(G, lam))._replace(work=eig.work + 10.0 * n**3)
    plan = _proof_plan(G, lam, costly, seconds)
    if plan is not None:
        took = 0.0
        for sigma in _shifts(eig, target, _norm_upper(G, lam), n, certify_at):
            if timed and time_budget.remaining() < took:
                break  # the next factorisation (as long as the last) would pass the deadline
            t0 = time_budget.now()
            proven = plan(sigma)
            took = time_budget.now() - t0
            if proven is not None:
                return eig._replace(lower=proven, evidence=Evidence.FACTORIZATION)
            if sigma <= eig.lower:
                refuted = True  # an eigenvalue below what the estimate claims
    elif rigorous:
        check_rigorous_possible(G, n, func)
    if eig.evidence is Evidence.EIGENSOLVER_BOUND:
        return eig
    if eig.evidence is Evidence.ESTIMATE and eig.converged and not refuted and not rigorous:
        return _best_of(eig, _gershgorin_eigen(G, lam, eig))
    return _weak_proof(G, lam, eig)


def check_rigorous_possible(G, n: int, func: str) -> None:
    """Raise unless some proof of lambda_min is possible: a matrix always has one (Gershgorin at
    least); an operator only when it can be formed densely (n <= RIGOROUS_LIMIT)."""
    if isinstance(G, LinearOperator) and n > RIGOROUS_LIMIT:
        raise ValueError(
            f"The 'rigorous' parameter of {func} must be False for a LinearOperator C with "
            f"n > {RIGOROUS_LIMIT} (no proof is possible without the matrix: pass it as an "
            f"array or a sparse matrix); got True with n = {n}."
        )


def _weak_proof(G, lam, eig: Eigen) -> Eigen:
    """What is left without a strong proof: Gershgorin (matrices) or no bound (operators)."""
    gersh = _gershgorin_eigen(G, lam, eig)
    if gersh is not None:
        return gersh
    return eig._replace(lower=-np.inf, evidence=Evidence.NONE)


def _best_of(eig: Eigen, gersh: Eigen | None) -> Eigen:
    # A proved Gershgorin bound at least as good as the estimate makes the estimate unnecessary.
    if gersh is not None and gersh.lower >= eig.lower:
        return gersh
    return eig


def _shifts(eig: Eigen, target: float, norm: float, n: int,
            certify_at: float | None = None) -> list[float]:
    """Shifts sigma for S - sigma I, most useful first: just below what the estimate hopes
    (a Ritz value is >= lambda_min, so a converged one is close), then geometrically lower;
    `certify_at`, where it lies below the first, second (G81: the first shift of a look sits
    near the Ritz value of the deflated operator and often fails, and the next, 8 residuals
    lower, proved gaps of 1e-4 against a tol of 1e-6)."""
    if eig.converged and np.isfinite(eig.lower):
        hope = eig.lower
    elif np.isfinite(eig.theta):
        # Unconverged: hope that the Ritz value is within `target` of the smallest eigenvalue.
        hope = min(_block_lower_bound(eig.theta - min(eig.residual, target), eig.a, eig.e), 0.0)
    else:
        hope = 0.0
    # Far enough below the hope for the factorisation's rounding, close enough to stay tight.
    floor = 100.0 * n * EPS * norm
    delta = max(floor, min(target, 0.01 * abs(hope)))
    if not delta > 0:  # S = 0: any negative shift will do
        delta = 1e6 * np.finfo(np.float64).tiny
    first = min(hope - delta, 0.0)
    shifts = [first]
    step = max(delta, abs(first) * 0.5, eig.residual if np.isfinite(eig.residual) else 0.0)
    if certify_at is not None and np.isfinite(certify_at) and certify_at < first:
        first = float(certify_at)
        shifts.append(first)
    while len(shifts) < PROOF_ATTEMPTS:
        step *= 8.0
        shifts.append(first - step)
    return shifts


def _dense_affordable(G, n: int, rigorous: bool, seconds: float) -> bool:
    limit = RIGOROUS_LIMIT if rigorous else DENSE_FALLBACK_LIMIT
    # The dense eigensolver is ~ 4 n^3 / 3 flops (plus n products for an operator).
    return n <= limit and (rigorous or 1.5 * n**3 <= seconds * PROOF_FLOP_RATE)


def _proof_plan(G, lam: np.ndarray, rigorous: bool, seconds: float):
    """A function sigma -> proven lower bound (or None), by the cheapest affordable
    factorisation; None when no factorisation is affordable."""
    n = lam.shape[0]
    dense_flops = n**3 / 3.0 + (2.0 * n**3 if isinstance(G, LinearOperator) else 0.0)
    envelope = _cached_envelope(G) if sp.issparse(G) else None
    budget = np.inf if rigorous else seconds * PROOF_FLOP_RATE
    dense_ok = n <= RIGOROUS_LIMIT and dense_flops <= budget
    sparse_ok = envelope is not None and envelope.bytes <= SPARSE_PROOF_BYTES and (
        envelope.flops <= budget)
    if sparse_ok and (not dense_ok or envelope.flops <= dense_flops):
        return lambda sigma: _sparse_ldl_lower(G, lam, sigma, envelope)
    if dense_ok:
        S = dense_slack(G, lam)
        return lambda sigma: _cholesky_lower(S, G, lam, sigma)
    return None


_ENVELOPES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _cached_envelope(G) -> Envelope:
    """`_envelope` of G's pattern, kept while G lives (a solve asks at every checkpoint). A stale
    entry (G's pattern changed in place) is never unsound: the envelope only predicts the cost and
    orders the fallback factorisation, whose margin is computed from its own factors."""
    try:
        cached = _ENVELOPES.get(G)
    except TypeError:
        return _envelope(G, None)
    if cached is None or cached[0] != G.nnz:
        cached = (G.nnz, _envelope(G, None))
        try:
            _ENVELOPES[G] = cached
        except TypeError:
            pass
    return cached[1]


def _sparse_proof_affordable(G, seconds: float) -> bool:
    """Is a sparse factorisation proof within `seconds` (by the envelope's bound)?"""
    if not sp.issparse(G):
        return False
    env = _cached_envelope(G)
    return env.bytes <= SPARSE_PROOF_BYTES and env.flops <= seconds * PROOF_FLOP_RATE


class Envelope(NamedTuple):
    perm: np.ndarray
    """Reverse Cuthill-McKee order of S's pattern."""
    width: int
    """Longest row of L (the most terms in one inner product of the factorisation)."""
    bytes: float
    """Storage of L and U within the envelope (an upper bound: no fill leaves it)."""
    flops: float


def _envelope(G, lam) -> Envelope:
    """Cost of an LU without pivoting in the reverse Cuthill-McKee order, known before factorising:
    fill stays inside the envelope, row i of L spans columns first_i..i."""
    A = sp.csr_matrix(G)
    n = A.shape[0]
    perm = reverse_cuthill_mckee(A, symmetric_mode=True)
    P = A[perm][:, perm].tocsr()
    P.sort_indices()
    rows = np.arange(n)
    nonempty = np.diff(P.indptr) > 0
    first = rows.copy()
    first[nonempty] = np.minimum(P.indices[P.indptr[:-1][nonempty]], rows[nonempty])
    width = rows - first
    return Envelope(perm, int(width.max(initial=0)) + 1, 2.0 * 8.0 * float(np.sum(width + 1)),
                    2.0 * float(np.sum(width.astype(np.float64) ** 2)) + n)


def _formation_error(diagonal_abs: np.ndarray, sigma: float) -> float:
    """Rounding of the diagonal of fl(fl(G_ii - lam_i) - sigma): two roundings per entry."""
    return 3.0 * UNIT * (float(np.max(diagonal_abs, initial=0.0)) + abs(sigma))


def _gamma(k: int) -> float:
    return k * UNIT / (1.0 - k * UNIT)


def _nonneg_norm2(M_rows: np.ndarray, M_cols: np.ndarray) -> float:
    """||M||_2 <= sqrt(||M||_1 ||M||_inf) for M >= 0, from its row and column sums (their own
    rounding, a relative n u at most, is covered by the factor)."""
    return 1.01 * math.sqrt(float(np.max(M_rows, initial=0.0)) * float(np.max(M_cols, initial=0.0)))


def _cholesky_lower(S: np.ndarray, G, lam, sigma: float) -> float | None:
    """lambda_min(S) >= sigma - margin when the Cholesky factorisation of S - sigma I completes.

    Higham (Accuracy and Stability, Thm 10.3): R^T R = A + dA with |dA| <= gamma_{n+1} |R^T||R|,
    and R^T R is PSD, so lambda_min(A) >= -gamma_{n+1} || |R^T||R| ||_2.
    """
    n = S.shape[0]
    A = S.copy()
    A[np.diag_indices_from(A)] -= sigma
    try:
        R = scipy.linalg.cholesky(A, lower=False, overwrite_a=True, check_finite=False)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(np.diag(R))):
        return None
    absR = np.abs(R)
    rows = absR.T @ (absR @ np.ones(n))  # |R^T||R| is symmetric: row sums = column sums
    diagonal = np.abs(np.diag(S)) + np.abs(lam)
    margin = _gamma(n + 1) * _nonneg_norm2(rows, rows) + _formation_error(diagonal, sigma)
    return sigma - margin


def _sparse_ldl_lower(G, lam, sigma: float, env: Envelope) -> float | None:
    """lambda_min(S) >= sigma - margin when an LDL^T of S - sigma I has positive pivots.

    SuperLU factorises P (S - sigma I) P^T = L U without pivoting, P a minimum-degree order
    (SuperLU's MMD on A + A^T) or, where SuperLU does not keep that order symmetric, the envelope
    order. With D = diag(U) > 0, L D L^T is PSD and ||A - L D L^T|| <= ||A - L U|| +
    ||L (U - D L^T)||, the first <= gamma_w || |L||U| || (Higham Thm 9.3; w the most terms in one
    inner product, at most the longest row of L), the second computed from the factors.
    Positive definiteness does not depend on the order; the cost does: minimum degree is what
    makes tori cheap (200 x 200 torus: 1.5e6 entries in L, 0.3 s, where the envelope holds 1.1e7
    and needs 6e9 flops). The envelope, known before factorising, still decides whether a proof is
    tried at all (`_proof_plan`): it bounds the cost of the envelope order, and minimum degree
    fills less than the envelope on every graph measured here.
    """
    n = lam.shape[0]
    G = sp.csr_matrix(G)  # once: the shifted matrix, the fallback order and the diagonal read it
    A = sp.csc_matrix(G - sp.diags(lam + sigma))
    lu = _symmetric_lu(A, "MMD_AT_PLUS_A")
    if lu is None:
        A = G[env.perm][:, env.perm]
        lu = _symmetric_lu(sp.csc_matrix(A - sp.diags(lam[env.perm] + sigma)), "NATURAL")
        if lu is None:
            return None
    L, U = lu.L.tocsr(), lu.U.tocsr()
    d = U.diagonal()
    if not (np.all(d > 0) and np.all(np.isfinite(d))):
        return None
    # The longest row of L or column of U (counted without converting U to CSC).
    width = int(max(np.diff(L.indptr).max(initial=1),
                    np.bincount(U.indices, minlength=n).max(initial=1)))
    # Everything below is in the order of the factorisation; norms do not depend on it.
    absL, absU = abs(L), abs(U)
    ones = np.ones(n)
    lu_rows = absL @ (absU @ ones)
    lu_cols = (ones @ absL) @ absU
    DLt = sp.diags(d) @ L.T.tocsr()
    E = U - DLt  # CSR minus CSR: already CSR
    # |E| as computed, plus the rounding of forming it (a product and a difference per entry).
    absE = abs(E) + 3.0 * UNIT * (absU + abs(DLt))
    e_rows = absL @ (absE @ ones)
    e_cols = (ones @ absL) @ absE
    diagonal = np.abs(G.diagonal()) + np.abs(lam)
    margin = (_gamma(width + 1) * _nonneg_norm2(lu_rows, lu_cols)
              + 1.01 * _nonneg_norm2(e_rows, e_cols) + _formation_error(diagonal, sigma))
    return sigma - margin


def _symmetric_lu(A: sp.csc_matrix, order: str):
    """SuperLU's LU of A without pivoting in a symmetric order, or None (singular, no memory, or
    an order SuperLU did not keep symmetric)."""
    try:
        lu = splu(A, permc_spec=order, diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    except (RuntimeError, MemoryError):  # exactly singular, or no memory after all
        return None
    return lu if np.array_equal(lu.perm_r, lu.perm_c) else None


def _dense_smallest(S: np.ndarray) -> Eigen:
    n = S.shape[0]
    frob = float(np.linalg.norm(S))
    w, V = scipy.linalg.eigh(S, subset_by_index=[0, 0], driver="evr", overwrite_a=True,
                             check_finite=False)
    # Backward-stable eigensolver: |w - lambda| <= c n eps ||S||_2 <= c n eps ||S||_F.
    err = 4.0 * n * EPS * frob
    return Eigen(float(w[0]), float(w[0]) - err, err, V[:, 0], Evidence.EIGENSOLVER_BOUND, True)


def _norm_upper(G, lam) -> float:
    """An upper bound on ||S||_2 (Gershgorin) for matrices, a power estimate for operators."""
    discs = _gershgorin_discs(G, lam)
    if discs is not None:
        return float(np.max(np.abs(discs[0]) + discs[1], initial=0.0))
    return _power_norm(_slack_operator(G, lam), lam.shape[0])


def _power_norm(S: LinearOperator, n: int) -> float:
    x = np.random.default_rng(0).standard_normal(n)
    x /= np.linalg.norm(x)
    norm = 0.0
    for _ in range(30):
        y = S.matvec(x)
        norm = float(np.linalg.norm(y))
        if norm == 0.0:
            return 0.0
        x = y / norm
    return 1.5 * norm


def deflation_thresholds(target: float, scale: float) -> tuple[float, float]:
    """(base, cap) for the Ritz residuals r of range(Y): r <= base is always deflated, r > cap
    never. A deflated residual r costs at most about r^2 / gap in the block bound, which the cap
    (0.03 of the geometric mean of target and ||S||) keeps within target for a gap above 1e-3
    ||S||; the old rule (0.1 target alone) left part of the zero cluster to Lanczos."""
    base = max(0.1 * target, 64.0 * EPS * scale)
    return base, max(base, 0.03 * math.sqrt(target * scale))


RANGE_RTOL = 1e-7
"""`range_basis` keeps the directions of Y whose singular value is above RANGE_RTOL of the largest."""


def range_basis(Y: np.ndarray) -> np.ndarray:
    """An orthonormal basis (n x q) of the span of Y's singular directions above RANGE_RTOL.

    From the Gram matrix Y^T Y (r x r) instead of an SVD of Y: four products of n r^2 flops (ER
    n = 1e5, rank 126: ~0.25 s against 0.94 s for the SVD). The Gram matrix squares Y's condition
    number, so the first basis is orthonormal only to about eps / RANGE_RTOL^2; a second pass on
    its own Gram matrix (CholeskyQR2's idea, by eigh) brings that to rounding. Only orthonormality
    matters to the bound, and its defect is measured and charged there anyway."""
    if Y.size == 0:
        return np.zeros((Y.shape[0], 0))
    w, V = np.linalg.eigh(Y.T @ Y)
    top = float(w[-1]) if w.size else 0.0
    if not top > 0:
        return np.zeros((Y.shape[0], 0))
    keep = w > (RANGE_RTOL ** 2) * top
    U = Y @ (V[:, keep] / np.sqrt(w[keep]))
    w2, V2 = np.linalg.eigh(U.T @ U)
    good = w2 > 0.5  # every one, unless rounding lost a direction entirely
    return np.ascontiguousarray(U @ (V2[:, good] / np.sqrt(w2[good])))


def _deflated_lanczos(G, lam, Y, *, seed: int, target: float, early_exit: bool,
                      warm: np.ndarray | None = None, max_matvecs: int = 2000,
                      hopeless: float = -np.inf, futile_below: float = -np.inf) -> Eigen:
    n = lam.shape[0]
    S = _slack_operator(G, lam)
    scale = _norm_upper(G, lam)
    # Deflate range(Y): near a first-order point S nearly annihilates it, and that cluster at the
    # bottom of the spectrum stalls Lanczos (ER n = 1e4: 31 eigenvalues within 1e-8 of 0, the next
    # at 6e-4; 2000 products did not resolve it, 537 found the bottom of the rest). Split
    # S = [[A, E^T], [E, P S P]] in the basis [Q, Q-perp] with A = Q^T S Q (r x r, its smallest
    # eigenvalue a computed exactly) and E = P S Q; Lanczos bounds P S P on Q-perp from below by
    # mu, and lambda_min(S) >= the smaller root of (x - a)(x - mu) = ||E||^2 (`_block_lower_bound`).
    U = range_basis(Y)
    late = Eigen(np.nan, np.nan, np.nan, None, Evidence.ESTIMATE, False)  # past a deadline
    if time_budget.expired():  # each stage of the set-up costs about n r^2: none is chained
        return late
    # Each product G x - lam x rounds at the scale of G and lam, not of S (they may nearly
    # cancel): the Ritz value and its residual carry that much error, of order sqrt(n) eps.
    rounding = 8.0 * math.sqrt(n) * EPS * (scale + 2.0 * float(np.max(np.abs(lam), initial=0.0)))
    Q = U
    if U.shape[1]:
        # Rotate range(Y) to the Ritz vectors of S on it, z_k with value theta_k and residual
        # r_k = ||S z_k - theta_k z_k||. Deflating z_k costs about r_k^2 / gap in the bound; a
        # direction S moves far (a tiny singular value of Y: S u = S Y w / sigma) is no part of
        # the zero cluster and would only inflate ||E||, and a Ritz pair well above its residual
        # (theta > 10 r) is an eigenvalue Lanczos finds without stalling: both stay with Lanczos.
        SU = S.matmat(U)
        theta, W = np.linalg.eigh(0.5 * (U.T @ SU + SU.T @ U))
        r = np.linalg.norm(SU @ W - (U @ W) * theta, axis=0)
        base, cap = deflation_thresholds(target, scale)
        keep = (r <= base) | ((r <= cap) & (theta <= 10.0 * r))
        Q = np.ascontiguousarray(U @ W[:, keep])
        if time_budget.expired():
            return late
    if Q.shape[1]:
        SQ = S.matmat(Q)  # afresh (not SU W): the bound below rests on these products alone
        A = Q.T @ SQ
        A = 0.5 * (A + A.T)
        w = np.linalg.eigvalsh(A)
        E = SQ - Q @ A
        # Q is orthonormal only to rounding: its defect d moves every quadratic form by about
        # d ||S||; eigh is backward stable (c r eps ||A||_F); forming A adds `rounding` per entry.
        d = float(np.linalg.norm(Q.T @ Q - np.eye(Q.shape[1])))
        # The inner products of Q^T (S Q) round by at most n eps |Q|^T |S Q| <= n eps ||S Q||_F.
        a_err = rounding * (1.0 + Q.shape[1]) + 4.0 * Q.shape[1] * EPS * float(
            np.linalg.norm(A)) + n * EPS * float(np.linalg.norm(SQ)) + 2.0 * d * scale
        a = float(w[0]) - a_err
        beta = float(np.linalg.norm(E, 2)) + rounding + 2.0 * d * scale
    else:
        a, beta = np.inf, 0.0
    if time_budget.expired():
        return late
    # Shift for the deflated directions: above the spectrum (scale >= ||S||), so they never
    # look smallest; relative, so a tiny S is not swamped.
    alpha = 1.5 * scale if scale > 0 else 1.0

    def matvec(x):
        if not Q.shape[1]:
            return S.matvec(x)
        qx = Q.T @ x
        spx = S.matvec(x - Q @ qx)
        # P S P x + alpha Q Q^T x, with the two products by Q fused into one
        return spx - Q @ (Q.T @ spx - alpha * qx)

    rng = np.random.default_rng(seed)
    v0 = rng.standard_normal(n)
    if warm is not None and warm.shape == (n,) and np.all(np.isfinite(warm)):
        # A warm start (the previous checkpoint's eigenvector) plus the random start: the
        # component of v0 along any fixed direction is then a Gaussian with a mean, never more
        # likely to be small than without the mean (Anderson's inequality), so the random-start
        # argument behind Evidence.ESTIMATE keeps (up to the factor 2 in |v0|).
        norm = float(np.linalg.norm(warm))
        if norm > 0:
            v0 = v0 + warm * (math.sqrt(n) / norm)
    counted = [0.0, 0, 0]
    # Inside the Lanczos steps the deflation is folded into the reorthogonalisation: every
    # Lanczos vector is kept orthogonal to Q (projected with the Lanczos basis, one pass), and on
    # range(Q)-perp the deflated operator is P S, so a step costs the product S x and one
    # projection (4 q n) instead of two (8 q n). Each restart's Ritz value and residual, the only
    # numbers the bound uses, are still computed with the full deflated operator `matvec`.
    def bound(mu: float) -> float:
        return min(_block_lower_bound(min(mu - rounding, alpha), a, beta), 0.0)

    def enough(theta: float, residual: float) -> bool:
        # The bound uses mu - residual: where the block bound is flat in mu (mu well above a and
        # beta, the usual case at an optimum: ER n = 3e4, mu 1.2e-3 against beta 2e-4), a larger
        # residual costs it less than target, and Lanczos need not resolve mu to target itself.
        return bound(theta) - bound(theta - residual) <= target

    def futile(theta: float) -> bool:
        # mu <= theta (a Ritz value bounds the smallest eigenvalue from above) and the bound is
        # increasing in mu: once bound(theta) is below `futile_below`, no further step can lift
        # it there (ER n = 1e5: looks that could not certify ran all their products, and the 4x
        # spacing after them pushed the next look ~100 sweeps past where it would certify).
        return bound(theta) < futile_below

    mu, residual, v, converged = lanczos_smallest(
        matvec, v0, target=target, early_exit=early_exit,
        scale=max(scale, alpha), max_matvecs=max_matvecs, work=counted,
        deflate=Q if Q.shape[1] else None, product=S.matvec if Q.shape[1] else None,
        enough=enough if Q.shape[1] else None, hopeless=hopeless,
        futile=futile if Q.shape[1] and np.isfinite(futile_below) else None)
    # The flops spent, from the sizes: the SVD and Ritz rotation of range(Y), the products with Q,
    # then per Lanczos product the sparse product, the deflation of the full products (8 q n,
    # counted[2] of them) and the reorthogonalisation with the projection on Q (counted by
    # lanczos_smallest).
    r, q, nnz = Y.shape[1], Q.shape[1], _nnz(G, n)
    sparse = 2.0 * (r + q) * (nnz + n) + counted[1] * 2.0 * (nnz + n)
    dense = 14.0 * n * r * r + 8.0 * n * q * q + counted[2] * 8.0 * n * q + counted[0]
    work = sparse + DENSE_FLOP_WEIGHT * dense
    # Capped at 0 as before (the certificate uses min(lambda_min, 0) only).
    lower = bound(mu - residual)
    if not converged:
        lower = np.nan  # a budget exhaustion or early exit proves nothing about lambda_min
    # (mu, v) live on range(Y)-perp: the curvature a staircase step can use, and the warm start
    # of the next checkpoint; range(Y) enters the bound through a and beta only.
    return Eigen(mu, lower, residual, v, Evidence.ESTIMATE, converged, beta,
                 a if np.isfinite(a) else 0.0, work)


LANCZOS_STEPS = 80
LANCZOS_KEPT = 0.5
"""The share of LANCZOS_STEPS a thick restart keeps (the smallest Ritz vectors)."""
LANCZOS_MAX_MATVECS = 2000
LANCZOS_PROOF_MATVECS = 300
"""Lanczos's budget where a sparse factorisation proof will follow (it only places the shift)."""
LOOK_PROOF_MATVECS = 500
"""A solve's periodic look (`max_matvecs` given) where a proof may settle the bound: Lanczos there
places the shift and finds a direction; 1000 (`lowrank_sdp.solve.CHECKPOINT_MATVECS`) cost G32
(n = 2000, proofs by sparse LDL) 0.96 -> 1.41 s."""
LANCZOS_MEMORY_BYTES = 256 * 2**20
LANCZOS_RTOL = 1e-6
"""Converged means residual <= min(target, LANCZOS_RTOL * ||S||): a target far above the scale of S
(a tiny matrix) must not make a random start's Rayleigh quotient look converged."""
BREAKDOWN_RTOL = 64 * EPS
"""An invariant subspace is declared when beta <= BREAKDOWN_RTOL * ||S|| (relative, never absolute)."""


def lanczos_smallest(matvec, v0: np.ndarray, *, target: float, early_exit: bool = False,
                     max_matvecs: int = 2000, scale: float | None = None,
                     work: list | None = None, deflate: np.ndarray | None = None,
                     product=None, enough=None, hopeless: float = -np.inf, futile=None):
    """Smallest Ritz pair of a symmetric operator: thick-restart Lanczos, full reorthogonalisation.

    Returns (theta, residual, v, converged). Converged: the residual ||A v - theta v|| fell to
    min(target, LANCZOS_RTOL * scale), or the Krylov space became invariant (beta below
    BREAKDOWN_RTOL * scale); `scale` estimates ||A|| (a running estimate from the products
    when None). Not converged: `max_matvecs` ran out, a solve's deadline passed
    (`lowrank_sdp.budget`), or (with `early_exit`) theta is clearly
    negative. In every case theta is within `residual` of *an* eigenvalue, and theta >= lambda_min.
    `work` (a list), when given, gets [flops of the vector operations, products, products by
    `matvec` itself] written into it: a count from the sizes for the solve's checkpoint schedule.

    `deflate` (an n x q orthonormal Q) and `product`, for A = P B P + c Q Q^T (P = I - Q Q^T)
    with `product` computing B x: the Lanczos vectors are kept orthogonal to Q (the start is
    projected, and every step's vector is projected on Q in the same pass as on the Lanczos
    basis), where A x = P B x, so a step costs `product` and that pass. Only the directions of
    Q, eigenvectors of A, are removed from the start: the random-start argument holds on their
    complement. Theta and the residual of every restart, what the result rests on, are computed
    with `matvec` (= A) itself, whatever the steps used.

    `enough(theta, residual) -> bool`, when given, also counts as converged once a full Krylov
    space (`LANCZOS_STEPS` products) has been explored: the caller's bound would not move by more
    than its target with a smaller residual. A theta below `hopeless`
    ends the run, not converged, whatever its residual (lambda_min <= theta: a caller that needs
    lambda_min above `hopeless` has its answer); so does `futile(theta) -> bool` when it says
    True (the caller's bound, capped by theta, can no longer reach what it needs).
    """
    n = v0.shape[0]
    steps = int(max(2, min(LANCZOS_STEPS, n, LANCZOS_MEMORY_BYTES // (8 * n))))
    # Thick restart (Wu and Simon's TRLan): a restart keeps the `kept` smallest Ritz vectors
    # and the residual direction, so the next cycle extends that space instead of starting over
    # from one vector. On the clustered bottom of a slack near an optimum (ER n = 3e4, range(Y)
    # deflated) the single-vector restart took 4455 products to a residual of 3.6e-6; ARPACK's
    # implicit restart, the same idea, 1202 to 2.6e-9.
    kept = max(1, min(steps - 2, int(LANCZOS_KEPT * steps)))
    Q = None
    if deflate is not None and product is not None and deflate.shape[1]:
        Q = deflate
        q = Q.shape[1]
        step_product = product
    else:
        q = 0
        step_product = matvec
    v = v0
    if Q is not None:
        v = v0 - Q @ (Q.T @ v0)
        if not np.linalg.norm(v) > 1e-3 * np.linalg.norm(v0):
            # range(Q) is (nearly) everything: the plain iteration on `matvec`, as without Q.
            Q, q, step_product, v = None, 0, matvec, v0
    v = v / np.linalg.norm(v)
    flops = 4.0 * q * n  # the projection of the start
    used = 0
    full = 0
    norm_seen = float(scale) if scale is not None and np.isfinite(scale) else 0.0

    def count():
        if work is not None:
            work[0], work[1] = flops, used
            if len(work) > 2:
                work[2] = full

    def ends_early(t, res, goal):
        # lambda_min <= t: below `hopeless`, clearly negative (early_exit), or `futile`.
        return t < hopeless or (early_exit and t - res < -10 * max(res, goal)) or (
            futile is not None and futile(t))

    def project(w, j, with_q):
        # One classical Gram-Schmidt pass against the basis V[:j + 1] (and Q); its coefficients.
        h = V[: j + 1] @ w
        if with_q:
            w -= Q @ (Q.T @ w) + V[: j + 1].T @ h
        else:
            w -= V[: j + 1].T @ h
        return h

    # V holds an orthonormal basis with A V[:k] = V[:k] H[:k, :k] + beta_k V[k] s^T, H symmetric:
    # entries above the diagonal are the projection coefficients of each new product (the kept
    # Ritz vectors couple to the residual direction through s, the rest is tridiagonal).
    V = np.empty((steps, n))
    H = np.zeros((steps, steps))
    V[0] = v
    first = 0  # where the current cycle's new products start (after the kept Ritz vectors)
    while True:
        k = first
        for j in range(first, steps):
            w = step_product(V[j])
            used += 1
            # Full reorthogonalisation, a second pass when the first cancelled much of the product
            # (Kahan's "twice is enough", below 1/sqrt(2) of its norm). A laxer 0.05 saved ~40%
            # of the traffic at ER n = 3e4 with the same products, but let a thick restart
            # stagnate on a bottom cluster (tests/test_certificate_deflated_steps.py, seed 1):
            # the restart needs the basis orthonormal to working precision.
            norm_before = float(np.linalg.norm(w))
            norm_seen = max(norm_seen, norm_before)
            h = project(w, j, Q is not None)
            b = float(np.linalg.norm(w))
            flops += (4.0 * (j + 1 + q) + 8.0) * n
            if b < 0.7 * norm_before:
                # The cancellation is the basis's own: S x has only a small component on the
                # near-invariant Q, removed to rounding by the first pass.
                h = h + project(w, j, False)
                b = float(np.linalg.norm(w))
                flops += (4.0 * (j + 1) + 2.0) * n
            H[: j + 1, j] = h
            H[j, : j + 1] = h
            k = j + 1
            goal = min(target, LANCZOS_RTOL * norm_seen)
            breakdown = b <= BREAKDOWN_RTOL * norm_seen
            # One product is kept for the true residual; a solve's deadline ends the run too.
            spent = used + 1 >= max_matvecs or time_budget.expired()
            if breakdown or spent or k == steps or k % 10 == 0:
                t, s = _projected_smallest(H[:k, :k], tridiagonal=first == 0)
                res = abs(b * s[-1])
                negative = ends_early(t, res, goal)
                settled = res <= goal or (enough is not None and used >= steps and enough(t, res))
                if breakdown or spent or k == steps or settled or negative:
                    break
            V[j + 1] = w / b
        theta_all, S_all = np.linalg.eigh(H[:k, :k])
        v = V[:k].T @ S_all[:, 0]
        v /= np.linalg.norm(v)
        # The true residual of the returned vector (not the recurrence's estimate), by the
        # operator itself.
        Av = matvec(v)
        theta = float(v @ Av)
        residual = float(np.linalg.norm(Av - theta * v))
        used += 1
        full += 1
        flops += (2.0 * k + 8.0) * n + 10.0 * k**3
        count()
        invariant = b <= BREAKDOWN_RTOL * norm_seen
        goal = min(target, LANCZOS_RTOL * norm_seen)
        if residual <= goal or (invariant and residual <= max(goal, 1e3 * EPS * norm_seen)) or (
                enough is not None and used > steps and enough(theta, residual)):
            return theta, residual, v, True
        if used >= max_matvecs or time_budget.expired():
            return theta, residual, v, False
        if ends_early(theta, residual, goal):
            return theta, residual, v, False
        if invariant or k < steps:
            # An invariant space that is not converged (rounding), or a cycle cut short: start
            # afresh from the best vector, as a single-vector restart.
            if Q is not None:
                v = v - Q @ (Q.T @ v)  # the restart stays on range(Q)-perp
                v /= np.linalg.norm(v)
                flops += 4.0 * q * n
            V[0] = v
            H[:] = 0.0
            first = 0
            continue
        # Thick restart: the `kept` smallest Ritz vectors, then the residual direction w / b.
        coupling = b * S_all[-1, :kept]
        V[:kept] = S_all[:, :kept].T @ V[:k]
        V[kept] = w / b
        H[:] = 0.0
        H[np.arange(kept), np.arange(kept)] = theta_all[:kept]
        H[:kept, kept] = coupling
        H[kept, :kept] = coupling
        flops += 2.0 * kept * k * n
        first = kept


def _projected_smallest(H: np.ndarray, tridiagonal: bool) -> tuple[float, np.ndarray]:
    """Smallest eigenpair of the small symmetric projected matrix (scaled to unit size first:
    the eigensolver squares entries, overflow near 1e154). Before a thick restart H is
    tridiagonal, and LAPACK's bisection for one eigenpair is several times cheaper than a full
    eigendecomposition (what the small blocks of a general SDP's certificate notice)."""
    c = float(np.max(np.abs(H), initial=0.0))
    c = c if c > 0 and np.isfinite(c) else 1.0
    if H.shape[0] == 1:
        return float(H[0, 0]), np.ones(1)
    if tridiagonal:
        w, s = scipy.linalg.eigh_tridiagonal(np.diag(H) / c, np.diag(H, 1) / c, select="i",
                                             select_range=(0, 0))
    else:  # one eigenpair (LAPACK's MRRR): half the time of a full decomposition at 80 x 80
        w, s = scipy.linalg.eigh(H / c, subset_by_index=[0, 0])
    return float(w[0]) * c, s[:, 0]


def _deflated_lower_bound(mu: float, e: float) -> float:
    """Lower bound on lambda_min(S) from mu <= lambda_min(P S P on range(Q)^perp), e = ||S Q||_2:
    `_block_lower_bound` with a = -e (|Q^T S Q| <= e) and ||P S Q|| <= e."""
    if e == 0.0:
        return min(mu, 0.0)
    return _block_lower_bound(mu, -e, e)


def _block_lower_bound(mu: float, a: float, e: float) -> float:
    """Lower bound on lambda_min(S) from mu <= lambda_min(P S P on range(Q)^perp),
    a <= lambda_min(Q^T S Q) and e >= ||P S Q||_2 (Q orthonormal, P = I - Q Q^T).

    Split a unit v = Q x + b with b orthogonal to range(Q): v^T S v >= a|x|^2 - 2e|x||b| + mu|b|^2,
    whose minimum over |x|^2 + |b|^2 = 1 is the smallest eigenvalue of [[a, -e], [-e, mu]],
    ((a + mu) - sqrt((mu - a)^2 + 4 e^2)) / 2. With nothing deflated (a = inf) it is mu.
    """
    if not np.isfinite(a):
        return mu
    if e == 0.0:
        return min(mu, a)
    c = max(abs(mu), abs(a), e)  # scaled: the squares must not overflow
    m, b, f = mu / c, a / c, e / c
    return c * 0.5 * ((m + b) - math.sqrt((m - b) ** 2 + 4.0 * f * f))


def _gershgorin_discs(G, lam) -> tuple[np.ndarray, np.ndarray] | None:
    """(centres S_ii, radii sum_{j != i} |S_ij|) of S = G - Diag(lam); None for an operator."""
    if sp.issparse(G):
        A = sp.csr_matrix(G)
        diagonal = A.diagonal()
        return diagonal - lam, np.asarray(abs(A).sum(axis=1)).ravel() - np.abs(diagonal)
    if isinstance(G, np.ndarray):
        diagonal = np.diag(G)
        return diagonal - lam, np.abs(G).sum(axis=1) - np.abs(diagonal)
    return None


def _gershgorin_lower(G, lam) -> float:
    """min_i (S_ii - sum_{j != i} |S_ij|) <= lambda_min(S) less its rounding, or -inf (operator)."""
    discs = _gershgorin_discs(G, lam)
    if discs is None:
        return -np.inf
    centre, radius = discs
    n = lam.shape[0]
    # Row sums of n terms and the two differences: at most (n + 3) u relative on each part.
    rounding = (n + 3) * UNIT * (np.abs(centre) + radius + np.abs(lam))
    return float(np.min(centre - radius - rounding))


def _gershgorin_eigen(G, lam, eig: Eigen) -> Eigen | None:
    lower = _gershgorin_lower(G, lam)
    if not np.isfinite(lower):
        return None
    return eig._replace(lower=lower, evidence=Evidence.GERSHGORIN)
