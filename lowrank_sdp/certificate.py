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
from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, LinearOperator, eigsh

from lowrank_sdp.problem import Problem
from lowrank_sdp.result import Certificate

DENSE_EIGEN_LIMIT = 1000
RIGOROUS_LIMIT = 6000
EPS = np.finfo(np.float64).eps


def certify_problem(
    problem: Problem, Y: np.ndarray, *, seed: int = 0, rigorous: bool = False
) -> Certificate:
    """Certificate of the point Y for `problem`, reported in the user's sense."""
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
        lam_hat, lower, residual, vec = smallest_eigenvalue(G, lam, Y, seed=seed)
        proven = False
        if rigorous:
            lower, proven = _cholesky_proof(G, lam, lam_hat, residual)
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
        objective=s * f,
        bound=s * bound,
        gap=gap,
        lambda_min=float(lower),
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
    G, lam: np.ndarray, Y: np.ndarray, *, seed: int = 0
) -> tuple[float, float, float, np.ndarray | None]:
    """(lambda_hat, lower, residual, vector) for S = G - Diag(lam): lower <= lambda_min(S)."""
    n = lam.shape[0]
    if n <= DENSE_EIGEN_LIMIT and not isinstance(G, LinearOperator):
        S = dense_slack(G, lam)
        w, V = scipy.linalg.eigh(S, subset_by_index=[0, 0], driver="evr")
        # Backward-stable eigensolver: |w - lambda| <= c n eps ||S||_2 <= c n eps ||S||_F.
        err = 4.0 * n * EPS * float(np.linalg.norm(S))
        return float(w[0]), float(w[0]) - err, err, V[:, 0]
    return _deflated_lanczos(G, lam, Y, seed=seed)


def _deflated_lanczos(G, lam, Y, *, seed: int):
    n = lam.shape[0]
    S = _slack_operator(G, lam)
    # Q: orthonormal basis of the significant column space of Y.
    U, sv, _ = np.linalg.svd(Y, full_matrices=False)
    Q = np.ascontiguousarray(U[:, sv > 1e-8 * sv[0]]) if sv.size and sv[0] > 0 else U[:, :0]
    E = S.matmat(Q) if Q.shape[1] else np.zeros((n, 0))
    e = float(np.linalg.norm(E, 2)) if Q.shape[1] else 0.0
    # Shift for the deflated directions: above the spectrum, so they never look smallest.
    alpha = _upper_spectrum_estimate(G, lam) + 1.0

    def mv(x):
        X = x.reshape(n, -1)
        if Q.shape[1]:
            QtX = Q.T @ X
            Px = X - Q @ QtX
            SPx = S.matmat(Px)
            out = SPx - Q @ (Q.T @ SPx) + alpha * (Q @ QtX)
        else:
            out = S.matmat(X)
        return out.reshape(x.shape)

    T = LinearOperator((n, n), matvec=mv, matmat=mv, dtype=np.float64)
    rng = np.random.default_rng(seed)
    v0 = rng.standard_normal(n)
    ncv = min(n, 40)
    try:
        w, V = eigsh(T, k=1, which="SA", v0=v0, ncv=ncv, tol=1e-10, maxiter=max(300, n // 10))
        mu, v = float(w[0]), V[:, 0]
    except ArpackNoConvergence as exc:
        if exc.eigenvalues.size == 0:
            return np.nan, -np.inf, np.inf, None
        mu, v = float(exc.eigenvalues[0]), exc.eigenvectors[:, 0]
    except ArpackError:
        return np.nan, -np.inf, np.inf, None
    v = v / np.linalg.norm(v)
    residual = float(np.linalg.norm(T.matvec(v) - mu * v))
    mu_lower = min(mu - residual, alpha)
    lower = _deflated_lower_bound(mu_lower, e)
    return mu, lower, residual, v


def _deflated_lower_bound(mu: float, e: float) -> float:
    """Lower bound on lambda_min(S) from mu <= lambda_min(P S P on range(Q)^perp), e = ||S Q||_2.

    Split a unit v = a + b with a in range(Q), b orthogonal: v^T S v >= -e|a|^2 - 2e|a||b| + mu|b|^2,
    whose minimum over |a|^2 + |b|^2 = 1 is the smallest eigenvalue of [[-e, -e], [-e, mu]].
    """
    if e == 0.0:
        return min(mu, 0.0)
    return 0.5 * ((mu - e) - np.sqrt((mu + e) ** 2 + 4.0 * e * e))


def _upper_spectrum_estimate(G, lam) -> float:
    """Gershgorin bound on the largest eigenvalue of S (a cheap power-iteration guess otherwise)."""
    if sp.issparse(G):
        A = sp.csr_matrix(G)
        d = A.diagonal() - lam
        radius = np.asarray(abs(A).sum(axis=1)).ravel() - np.abs(A.diagonal())
        return float(np.max(d + radius))
    if isinstance(G, np.ndarray):
        d = np.diag(G) - lam
        radius = np.abs(G).sum(axis=1) - np.abs(np.diag(G))
        return float(np.max(d + radius))
    S = _slack_operator(G, lam)
    x = np.random.default_rng(0).standard_normal(lam.shape[0])
    for _ in range(30):
        x = S.matvec(x)
        x /= np.linalg.norm(x)
    return 2.0 * float(np.linalg.norm(S.matvec(x))) + 1.0


def _cholesky_proof(G, lam, lam_hat: float, residual: float) -> tuple[float, bool]:
    """Prove lambda_min(S) >= sigma by a successful Cholesky factorisation of S - sigma I."""
    n = lam.shape[0]
    if n > RIGOROUS_LIMIT:
        raise ValueError(
            f"The 'rigorous' parameter of solve must be False for n > {RIGOROUS_LIMIT} "
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
