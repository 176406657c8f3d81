"""The dual certificate: a bound on the optimum from any feasible point Y.

For the internal minimisation of f over {X : diag(X) = 1, X PSD} with G = grad f(X) and the
multipliers lambda_i = <(G Y)_i, Y_i>, let S = G - Diag(lambda). For every feasible X',
    <G, X'> = <S, X'> + sum(lambda) >= sum(lambda) + n * min(lambda_min(S), 0)
because trace(X') = n. For linear f this *is* a lower bound on f(X') (it is the dual objective at the
dual-feasible point lambda + min(lambda_min, 0) 1), whatever Y is; for convex f add
f(X) - <G, X> (= f(X) - sum(lambda)). So the whole certificate rests on one number: a *lower*
estimate of lambda_min(S). It is obtained as
  - dense symmetric eigensolver (n <= DENSE_EIGEN_LIMIT): lambda_hat minus LAPACK's error bound;
  - otherwise a seeded Lanczos (ARPACK) on S deflated by the column space Q of Y (S Q ~ 0 near an
    optimum, which is what makes plain Lanczos slow), minus the Ritz residual, combined with
    e = ||S Q||_2 through an exact 2 x 2 inequality (see `_deflated_lower_bound`);
  - ``rigorous=True``: a Cholesky factorisation of S - (lambda_hat - delta) I that succeeds proves
    lambda_min >= lambda_hat - delta (less a floating-point margin).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, splu

from lowrank_sdp.problem import Problem
from lowrank_sdp.result import Certificate

DENSE_EIGEN_LIMIT = 500
DENSE_FALLBACK_LIMIT = 2500
SPARSE_INERTIA_LIMIT = 100_000
RIGOROUS_LIMIT = 6000
EPS = np.finfo(np.float64).eps


def certify_problem(
    problem: Problem, Y: np.ndarray, *, seed: int = 0, rigorous: bool = False,
    tol: float = 1e-9, early_exit: bool = False, func: str = "solve",
) -> Certificate:
    """Certificate of the point Y for `problem`, reported in the user's sense.

    `tol` is the relative gap the caller hopes to certify; the eigenvalue estimate is made
    accurate enough for it (a smaller one costs more Lanczos steps, never validity).
    `early_exit` lets Lanczos stop at a clearly negative Ritz value (the staircase only needs the
    direction); the bound then falls back to what Gershgorin proves.
    """
    objective = problem.objective
    n = problem.n
    f, GY = objective.evaluate(Y)
    lam = np.einsum("ij,ij->i", GY, Y)
    G = objective.gradient_operator(Y)
    if not objective.convex:
        bound = -np.inf
        lower = lam_hat = np.nan
        residual = np.nan
        vec = None
        proven = False
    else:
        target = 0.1 * tol * (1.0 + abs(f)) / n
        lam_hat, lower, residual, vec = smallest_eigenvalue(G, lam, Y, seed=seed, target=target,
                                                            early_exit=early_exit)
        proven = False
        if rigorous:
            lower, proven = _cholesky_proof(G, lam, lam_hat, residual, func)
        # Rounding in the sums behind lambda and f: a margin in the safe direction.
        scale = _abs_sum(G, lam)
        margin = 16.0 * EPS * scale
        if objective.linear:
            bound = float(np.sum(lam)) + n * min(lower, 0.0) - margin
        else:
            bound = f + n * min(lower, 0.0) - margin
    s = problem.sign
    gap = max(f - bound, 0.0)
    return Certificate(
        objective=float(s * f),
        bound=float(s * bound),
        gap=float(gap),
        lambda_min=float(lower),
        lambda_estimate=float(lam_hat),
        residual=float(residual),
        rigorous=proven,
        multipliers=s * lam,
        eigenvector=vec,
    )


def _abs_sum(G, lam: np.ndarray) -> float:
    if sp.issparse(G):
        return float(np.abs(G.data).sum())
    if isinstance(G, np.ndarray):
        return float(np.abs(G).sum())
    return float(np.abs(lam).sum()) * 4.0


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
    """S = G - Diag(lambda) as a dense array."""
    if sp.issparse(G):
        S = G.toarray()
    elif isinstance(G, np.ndarray):
        S = np.array(G, dtype=np.float64)
    else:
        S = np.asarray(G.matmat(np.eye(lam.shape[0])))
    S[np.diag_indices_from(S)] -= lam
    return S


def smallest_eigenvalue(
    G, lam: np.ndarray, Y: np.ndarray, *, seed: int = 0, target: float = 1e-10,
    early_exit: bool = False,
) -> tuple[float, float, float, np.ndarray | None]:
    """(lambda_hat, lower, residual, vector) for S = G - Diag(lam): lower <= lambda_min(S).

    `target` is the accuracy wanted of `lower` (the iterative path stops once it is reached).
    """
    n = lam.shape[0]
    dense_ok = not isinstance(G, LinearOperator)
    if n <= DENSE_EIGEN_LIMIT and dense_ok:
        return _dense_smallest(G, lam)
    estimate = _deflated_lanczos(G, lam, Y, seed=seed, target=target, early_exit=early_exit)
    theta, lower, _, _ = estimate
    # Lanczos stalls in a cluster of tiny eigenvalues (toroidal graphs): when only its residual
    # stands between the estimate and the target, an exact dense eigenvalue settles it.
    inconclusive = lower < -target and theta - 10 * target > -target
    if inconclusive and dense_ok and n <= DENSE_FALLBACK_LIMIT:
        return _dense_smallest(G, lam)
    if inconclusive and sp.issparse(G) and n <= SPARSE_INERTIA_LIMIT:
        # Large and sparse: prove lambda_min >= sigma from the inertia of S - sigma I instead.
        sigma = -5.0 * target
        proven = _sparse_inertia_lower(G, lam, sigma)
        if proven is not None and proven > lower:
            return theta, proven, estimate[2], estimate[3]
    return estimate


def _sparse_inertia_lower(G, lam: np.ndarray, sigma: float) -> float | None:
    """sigma (less a rounding margin) if S - sigma I is positive definite, else None.

    A sparse LDL^T-type factorisation without pivoting (SuperLU, symmetric mode, diagonal pivots,
    fill-reducing symmetric ordering) gives the inertia by Sylvester's law: all pivots positive
    means every eigenvalue of S exceeds sigma. If SuperLU had to pivot off the diagonal the
    factorisation says nothing and None is returned.
    """
    n = lam.shape[0]
    A = sp.csc_matrix(G - sp.diags(lam + sigma))
    try:
        lu = splu(A, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                  options={"SymmetricMode": True})
    except (RuntimeError, MemoryError):  # exactly singular, or too much fill
        return None
    if not np.array_equal(lu.perm_r, lu.perm_c):
        return None
    if not np.all(lu.U.diagonal() > 0):
        return None
    # Backward error of a factorisation that succeeds, as for the dense Cholesky proof.
    return sigma - 2.0 * (n + 1) * EPS * _frobenius_slack(G, lam)


def _dense_smallest(G, lam: np.ndarray) -> tuple[float, float, float, np.ndarray]:
    n = lam.shape[0]
    S = dense_slack(G, lam)
    w, V = scipy.linalg.eigh(S, subset_by_index=[0, 0], driver="evr", overwrite_a=True,
                             check_finite=False)
    # Backward-stable eigensolver: |w - lambda| <= c n eps ||S||_2 <= c n eps ||S||_F.
    err = 4.0 * n * EPS * _frobenius_slack(G, lam)
    return float(w[0]), float(w[0]) - err, err, V[:, 0]


def _frobenius_slack(G, lam: np.ndarray) -> float:
    if sp.issparse(G):
        off = G - sp.diags(G.diagonal())
        return float(np.sqrt(np.sum(off.data**2) + np.sum((G.diagonal() - lam) ** 2)))
    M = np.array(G, dtype=np.float64)
    M[np.diag_indices_from(M)] -= lam
    return float(np.linalg.norm(M))


def _deflated_lanczos(G, lam, Y, *, seed: int, target: float, early_exit: bool):
    n = lam.shape[0]
    S = _slack_operator(G, lam)
    # Deflate the directions of range(Y) that S (nearly) annihilates; they form the zero cluster
    # at the bottom of the spectrum that would stall Lanczos. Any orthonormal Q keeps the bound
    # valid; only e = ||S Q|| enters it, so keep the singular directions with a small ||S u_k||.
    U, sv, _ = np.linalg.svd(Y, full_matrices=False)
    U = U[:, sv > 1e-10 * sv[0]] if sv.size and sv[0] > 0 else U[:, :0]
    if U.shape[1]:
        SU = S.matmat(U)
        keep = np.linalg.norm(SU, axis=0) <= max(0.1 * target, 1e-14)
        Q, SQ = np.ascontiguousarray(U[:, keep]), SU[:, keep]
    else:
        Q, SQ = U, np.zeros((n, 0))
    e = float(np.linalg.norm(SQ, 2)) if Q.shape[1] else 0.0
    # Shift for the deflated directions: above the spectrum, so they never look smallest.
    alpha = _upper_spectrum_estimate(G, lam) + 1.0

    def matvec(x):
        if not Q.shape[1]:
            return S.matvec(x)
        qx = Q.T @ x
        px = x - Q @ qx
        spx = S.matvec(px)
        return spx - Q @ (Q.T @ spx) + alpha * (Q @ qx)

    rng = np.random.default_rng(seed)
    mu, residual, v, settled = lanczos_smallest(matvec, rng.standard_normal(n), target=target,
                                                early_exit=early_exit)
    lower = _deflated_lower_bound(min(mu - residual, alpha), e)
    if not settled:
        # An unconverged Ritz value need not be near the smallest eigenvalue: claim only what
        # Gershgorin's theorem proves (matrices), or nothing (operators).
        lower = min(lower, _gershgorin_lower(G, lam))
    return mu, lower, residual, v


LANCZOS_STEPS = 80
LANCZOS_MEMORY_BYTES = 256 * 2**20


def lanczos_smallest(matvec, v0: np.ndarray, *, target: float, early_exit: bool = False,
                     max_matvecs: int = 2000):
    """Smallest Ritz pair of a symmetric operator: restarted Lanczos, full reorthogonalisation.

    Stops when the residual ||A v - theta v|| <= target (converged), after `max_matvecs`, and with
    `early_exit` also when theta is clearly negative (enough for the staircase, but then theta is
    near *an* eigenvalue, not necessarily the smallest). Returns (theta, residual, v, settled):
    settled is False after an early exit, True when the residual test or the budget ended the run
    (then theta - residual is the usual Lanczos estimate of the smallest eigenvalue).
    """
    n = v0.shape[0]
    steps = int(max(2, min(LANCZOS_STEPS, n, LANCZOS_MEMORY_BYTES // (8 * n))))
    v = v0 / np.linalg.norm(v0)
    used = 0
    while True:
        V = np.empty((steps, n))
        alpha = np.empty(steps)
        beta = np.empty(steps)
        V[0] = v
        k = 0
        for j in range(steps):
            w = matvec(V[j])
            used += 1
            alpha[j] = float(w @ V[j])
            # Full reorthogonalisation, a second pass only when the first cancelled a lot
            # ("twice is enough"): keeps the Ritz values honest at half the memory traffic.
            norm_before = float(np.linalg.norm(w))
            w -= V[: j + 1].T @ (V[: j + 1] @ w)
            beta[j] = float(np.linalg.norm(w))
            if beta[j] < 0.7 * norm_before:
                w -= V[: j + 1].T @ (V[: j + 1] @ w)
                beta[j] = float(np.linalg.norm(w))
            k = j + 1
            breakdown = beta[j] <= 1e-14 * max(1.0, abs(alpha[j]))
            if breakdown or k == steps or k % 10 == 0:
                t, s = _tridiagonal_smallest(alpha[:k], beta[: k - 1])
                res = abs(beta[j] * s[-1])
                negative = early_exit and t - res < -10 * max(res, target)
                if breakdown or k == steps or res <= target or negative:
                    break
            V[j + 1] = w / beta[j]
        t, s = _tridiagonal_smallest(alpha[:k], beta[: k - 1])
        v = V[:k].T @ s
        v /= np.linalg.norm(v)
        # The true residual of the returned vector (not the recurrence's estimate).
        Av = matvec(v)
        theta = float(v @ Av)
        residual = float(np.linalg.norm(Av - theta * v))
        used += 1
        invariant = beta[k - 1] <= 1e-14 * max(1.0, abs(alpha[k - 1]))
        if residual <= target or invariant or used >= max_matvecs:
            return theta, residual, v, True
        if early_exit and theta - residual < -10 * max(residual, target):
            return theta, residual, v, False


def _tridiagonal_smallest(alpha: np.ndarray, beta: np.ndarray) -> tuple[float, np.ndarray]:
    if alpha.shape[0] == 1:
        return float(alpha[0]), np.ones(1)
    w, s = scipy.linalg.eigh_tridiagonal(alpha, beta, select="i", select_range=(0, 0))
    return float(w[0]), s[:, 0]


def _deflated_lower_bound(mu: float, e: float) -> float:
    """Lower bound on lambda_min(S) from mu <= lambda_min(P S P on range(Q)^perp), e = ||S Q||_2.

    Split a unit v = a + b with a in range(Q), b orthogonal: v^T S v >= -e|a|^2 - 2e|a||b| + mu|b|^2,
    whose minimum over |a|^2 + |b|^2 = 1 is the smallest eigenvalue of [[-e, -e], [-e, mu]].
    """
    if e == 0.0:
        return min(mu, 0.0)
    return 0.5 * ((mu - e) - np.sqrt((mu + e) ** 2 + 4.0 * e * e))


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
    """min_i (S_ii - sum_{j != i} |S_ij|) <= lambda_min(S), or -inf for an operator."""
    discs = _gershgorin_discs(G, lam)
    return -np.inf if discs is None else float(np.min(discs[0] - discs[1]))


def _upper_spectrum_estimate(G, lam) -> float:
    """Gershgorin bound on the largest eigenvalue of S (a cheap power-iteration guess otherwise)."""
    discs = _gershgorin_discs(G, lam)
    if discs is not None:
        return float(np.max(discs[0] + discs[1]))
    S = _slack_operator(G, lam)
    x = np.random.default_rng(0).standard_normal(lam.shape[0])
    for _ in range(30):
        x = S.matvec(x)
        norm = np.linalg.norm(x)
        if norm == 0.0:  # S x = 0 (e.g. S = 0): any shift above 0 will do
            return 1.0
        x /= norm
    return 2.0 * float(np.linalg.norm(S.matvec(x))) + 1.0


def _cholesky_proof(G, lam, lam_hat: float, residual: float, func: str) -> tuple[float, bool]:
    """Prove lambda_min(S) >= sigma by a successful Cholesky factorisation of S - sigma I."""
    n = lam.shape[0]
    if n > RIGOROUS_LIMIT:
        raise ValueError(
            f"The 'rigorous' parameter of {func} must be False for n > {RIGOROUS_LIMIT} "
            f"(it factorises a dense n x n matrix); got True with n = {n}."
        )
    S = dense_slack(G, lam)
    norm = float(np.linalg.norm(S))
    # A Cholesky that succeeds in floating point factors S - sigma I + E, |E|_2 <= (n+1) eps |S|.
    fp_margin = 2.0 * (n + 1) * EPS * (norm + abs(lam_hat) + 1.0)
    delta = max(residual if np.isfinite(residual) else 0.0, 1e-12 * (norm + 1.0))
    base = lam_hat if np.isfinite(lam_hat) else float(scipy.linalg.eigh(S, eigvals_only=True)[0])
    for _ in range(30):
        sigma = base - delta
        A = S.copy()
        A[np.diag_indices_from(A)] -= sigma
        try:
            scipy.linalg.cholesky(A, lower=True, overwrite_a=True, check_finite=False)
            return sigma - fp_margin, True
        except np.linalg.LinAlgError:
            delta *= 4.0
    return -np.inf, False
