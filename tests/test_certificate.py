"""The certificate never claims more than the truth, whatever the point Y.

For min <C, X> the bound is sum(lambda) + n * min(lambda_min(S), 0) with S = C - Diag(lambda), valid for
any lambda: the library's bound must never exceed the same formula with the exact lambda_min (numpy),
nor the optimum computed by cvxpy. Maximisation is mirrored.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from scipy.sparse.linalg import aslinearoperator

import lowrank_sdp as ls
from lowrank_sdp import certificate, manifold
from lowrank_sdp.problem import make_problem
from lowrank_sdp.testing import solve_cvxpy

seeds = st.integers(min_value=0, max_value=2**32 - 1)
senses = st.sampled_from(["min", "max"])
kinds = st.sampled_from(["dense", "sparse"])


def _instance(seed: int, n: int, kind: str) -> np.ndarray | sp.csr_matrix:
    """A symmetric cost with weights of both signs (dense, or sparse with about 3 entries per row)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n))
    if kind == "sparse":
        A *= rng.random((n, n)) < min(1.0, 3.0 / n)
        return sp.csr_matrix(np.triu(A) + np.triu(A, 1).T)
    return (A + A.T) / 2


def _dense(C) -> np.ndarray:
    return C.toarray() if sp.issparse(C) else np.asarray(C)


def _exact_bound(C, Y: np.ndarray, sense: str) -> float:
    """The Lagrangian bound at Y's multipliers with the exact smallest eigenvalue (numpy)."""
    s = 1.0 if sense == "min" else -1.0
    M = s * _dense(C)
    Y = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    lam = np.einsum("ij,ij->i", M @ Y, Y)
    lam_min = np.linalg.eigvalsh(M - np.diag(lam))[0]
    return s * (lam.sum() + M.shape[0] * min(lam_min, 0.0))


def _points(seed: int, C, n: int) -> list[np.ndarray]:
    """Feasible points of every kind: random at several ranks, rank one, a perturbed optimum."""
    rng = np.random.default_rng(seed)
    optimum = ls.solve(C, seed=seed).Y
    noisy = optimum + 0.05 * rng.standard_normal(optimum.shape)
    return [manifold.random_point(n, r, rng) for r in (1, 2, 5)] + [noisy, optimum]


def _slack(opt: float) -> float:
    """cvxpy/Clarabel's own inaccuracy (about 1e-8 relative), with room to spare."""
    return 1e-7 * (1.0 + abs(opt))


def _assert_valid(cert: ls.Certificate, reference: float, sense: str, slack: float) -> None:
    if sense == "min":
        assert cert.bound <= reference + slack
        assert cert.bound <= cert.objective
    else:
        assert cert.bound >= reference - slack
        assert cert.bound >= cert.objective
    assert cert.gap == pytest.approx(abs(cert.objective - cert.bound), rel=1e-12, abs=1e-12)


@given(n=st.integers(2, 30), seed=seeds, sense=senses, kind=kinds, rigorous=st.booleans())
def test_bound_at_any_point_is_below_the_exact_lagrangian_bound(n, seed, sense, kind, rigorous):
    C = _instance(seed, n, kind)
    for Y in _points(seed, C, n):
        cert = ls.certify(C, Y, sense=sense, rigorous=rigorous)
        exact = _exact_bound(C, Y, sense)
        _assert_valid(cert, exact, sense, 1e-9 * (1.0 + abs(exact)))
        assert cert.evidence.is_proof  # small matrices: always proved (rigorous or not)
        assert cert.objective == pytest.approx(float(np.vdot(_dense(C), Y @ Y.T / np.outer(
            np.linalg.norm(Y, axis=1), np.linalg.norm(Y, axis=1)))), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("kind", ["dense", "sparse"])
@pytest.mark.parametrize("sense", ["min", "max"])
def test_bound_at_any_point_is_below_the_cvxpy_optimum(kind, sense):
    for seed, n in [(1, 8), (2, 17), (3, 30)]:
        C = _instance(seed, n, kind)
        opt = solve_cvxpy(C, sense)
        for Y in _points(seed, C, n):
            for rigorous in (False, True):
                cert = ls.certify(C, Y, sense=sense, rigorous=rigorous)
                _assert_valid(cert, opt, sense, _slack(opt))
                # The objective side: any feasible point is no better than the optimum.
                assert (cert.objective - opt) * (1 if sense == "min" else -1) >= -_slack(opt)


@given(n=st.integers(1, 30), seed=seeds, sense=senses)
def test_bound_through_an_operator_is_valid_at_any_point(n, seed, sense):
    """A LinearOperator C takes the iterative (Lanczos) eigenvalue path even for small n."""
    C = _instance(seed, n, "dense")
    for Y in _points(seed, C, n):
        cert = ls.certify(aslinearoperator(C), Y, sense=sense)
        exact = _exact_bound(C, Y, sense)
        _assert_valid(cert, exact, sense, 1e-7 * (1.0 + abs(exact)))


def test_bound_through_an_operator_at_many_random_points():
    """The same, exhaustively over random points (cheap at this size): a Ritz value that stopped
    early bounds *an* eigenvalue of S, not necessarily the smallest one."""
    failures = []
    for seed in range(200):
        rng = np.random.default_rng(seed)
        n, r = int(rng.integers(10, 31)), int(rng.integers(1, 4))
        C = _instance(seed, n, "dense")
        Y = manifold.random_point(n, r, rng)
        exact = _exact_bound(C, Y, "min")
        if ls.certify(aslinearoperator(C), Y).bound > exact + 1e-7 * (1.0 + abs(exact)):
            failures.append((seed, n, r))
    assert not failures


@given(n=st.integers(2, 30), seed=seeds, sense=senses, kind=kinds)
def test_iterative_eigenvalue_path_is_valid_at_any_point(n, seed, sense, kind):
    """Force the deflated-Lanczos path (used above DENSE_EIGEN_LIMIT) on small instances."""
    C = _instance(seed, n, kind)
    points = _points(seed, C, n)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(certificate, "DENSE_EIGEN_LIMIT", 0)
        for Y in points:
            cert = ls.certify(C, Y, sense=sense)
            exact = _exact_bound(C, Y, sense)
            _assert_valid(cert, exact, sense, 1e-7 * (1.0 + abs(exact)))


def _near_split(n: int, k: int, seed: int, coupling) -> tuple[np.ndarray, np.ndarray, float]:
    """(S, Q, mu): S nearly annihilates an orthonormal Q (n x k), as near an optimum (S Y ~ 0),
    `coupling(S, P, Q, rng)` says how it is not exact; mu = lambda_min of S on Q-perp."""
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(rng.standard_normal((n, max(k, 1))))[0][:, :k]
    A = rng.standard_normal((n, n))
    S = (A + A.T) / 2
    P = np.eye(n) - Q @ Q.T
    S = P @ S @ P + coupling(S, P, Q, rng)
    S = (S + S.T) / 2
    perp = np.linalg.qr(np.hstack([Q, rng.standard_normal((n, n - k))]))[0][:, k:]
    return S, Q, float(np.linalg.eigvalsh(perp.T @ S @ perp)[0])


@given(n=st.integers(2, 40), k=st.integers(0, 6), seed=seeds, scale=st.floats(1e-6, 1.0))
def test_deflated_lower_bound_inequality(n, k, seed, scale):
    """For any orthonormal Q: lambda_min(S) >= bound(mu, ||S Q||) with mu = lambda_min on Q-perp."""
    k = min(k, n - 1)
    S, Q, mu = _near_split(n, k, seed, lambda S, P, Q, rng: scale * (
        Q @ rng.standard_normal((k, k)) @ Q.T if k else 0.0))
    e = float(np.linalg.norm(S @ Q, 2)) if k else 0.0
    lower = certificate._deflated_lower_bound(mu, e)  # private helper: its bound is tested alone
    assert min(lower, 0.0) <= min(np.linalg.eigvalsh(S)[0], 0.0) + 1e-10


@given(n=st.integers(2, 40), k=st.integers(0, 6), seed=seeds, scale=st.floats(1e-6, 1.0))
def test_block_lower_bound_inequality(n, k, seed, scale):
    """lambda_min(S) >= the block bound from lambda_min(Q^T S Q), ||P S Q|| and mu on Q-perp
    (a test of the private inequality the deflated Lanczos rests on)."""
    k = min(k, n - 1)
    # a weak coupling to range(Q) of every kind (Q-Q and Q-perp blocks)
    S, Q, mu = _near_split(n, k, seed, lambda S, P, Q, rng: scale * (S - P @ S @ P))
    P = np.eye(n) - Q @ Q.T
    a = float(np.linalg.eigvalsh(Q.T @ S @ Q)[0]) if k else np.inf
    e = float(np.linalg.norm(P @ S @ Q, 2)) if k else 0.0
    lower = certificate._block_lower_bound(mu, a, e)
    assert lower <= np.linalg.eigvalsh(S)[0] + 1e-10 * (1.0 + np.abs(S).max())


def _erdos_renyi_cost(n: int, degree: int, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, n, (2, n * degree // 2))
    W = sp.csr_matrix((np.ones(i.size), (i, j)), shape=(n, n))
    W = ((W + W.T) > 0).astype(np.float64)
    W.setdiag(0.0)
    W.eliminate_zeros()
    return sp.csr_matrix((sp.diags(np.asarray(W.sum(axis=1)).ravel()) - W) / 4.0)


def test_lanczos_resolves_the_bound_below_the_zero_cluster():
    """Issue 13: near an optimum S has a cluster of about r eigenvalues at 0 (range(Y)) just below
    the rest; deflating only part of range(Y) left Lanczos in the cluster, out of budget, and the
    certificate fell to Gershgorin (relative gap 0.8 at a point whose gap is 1e-7). With range(Y)
    deflated and the block bound, a converged estimate certifies the point."""
    C = _erdos_renyi_cost(2000, 10, 0)
    with pytest.MonkeyPatch.context() as mp:  # no periodic looks: the same point on any load
        mp.setattr("lowrank_sdp.solvers._common.CERTIFY_MIN_SECONDS", np.inf)
        mp.setattr("lowrank_sdp.solvers._common.CERTIFY_MIN_WORK", np.inf)
        res = ls.solve(C, sense="max", tol=1e-6, rank=20)
    assert res.status is ls.Status.CERTIFIED
    problem = make_problem(C, "max")
    cert = certificate.certify_problem(problem, res.Y, tol=1e-7, proof_seconds=0.0)
    assert cert.evidence is ls.Evidence.ESTIMATE
    assert cert.relative_gap <= 1e-6
    S = C.toarray() - np.diag(cert.multipliers)
    assert cert.lambda_min <= np.linalg.eigvalsh(-S)[0] + 1e-9  # the internal (min) S is -S


def test_certificate_at_the_optimum_is_tight_and_mirrored():
    C = _instance(5, 20, "dense")
    for sense in ("min", "max"):
        res = ls.solve(C, sense=sense, tol=1e-8)
        cert = ls.certify(C, res.Y, sense=sense)
        assert cert.relative_gap <= 1e-8
        assert cert.objective == pytest.approx(res.objective, rel=1e-12)
        # max <C, X> is -min <-C, X>: the same certificate with every sign flipped.
        flipped = ls.certify(-C, res.Y, sense="min" if sense == "max" else "max")
        assert flipped.objective == pytest.approx(-cert.objective, rel=1e-12)
        assert flipped.bound == pytest.approx(-cert.bound, rel=1e-12)
        np.testing.assert_allclose(flipped.multipliers, -cert.multipliers, rtol=1e-12)


def test_certificate_fields():
    C = _instance(6, 12, "sparse")
    Y = manifold.random_point(12, 3, np.random.default_rng(0))
    cert = ls.certify(C, 2.0 * Y)  # rows are normalised first
    lam = np.einsum("ij,ij->i", C @ Y, Y)
    np.testing.assert_allclose(cert.multipliers, lam, rtol=1e-12, atol=1e-12)
    assert cert.objective == pytest.approx(lam.sum(), rel=1e-12)
    lam_min = np.linalg.eigvalsh(C.toarray() - np.diag(lam))[0]
    assert cert.lambda_min <= lam_min
    assert cert.lambda_min == pytest.approx(lam_min, rel=1e-9)
    assert cert.residual >= 0.0 and cert.evidence is ls.Evidence.FACTORIZATION
    v = cert.eigenvector
    assert v is not None and v @ (C @ v) - v @ (lam * v) == pytest.approx(lam_min, rel=1e-8)
    assert cert.relative_gap == pytest.approx(cert.gap / (1.0 + abs(cert.objective)))


def test_rigorous_proof_is_refused_only_where_no_proof_is_possible(monkeypatch):
    monkeypatch.setattr(certificate, "RIGOROUS_LIMIT", 10)
    monkeypatch.setattr(certificate, "DENSE_EIGEN_LIMIT", 0)
    monkeypatch.setattr(certificate, "DENSE_FALLBACK_LIMIT", 0)
    C = _instance(7, 11, "dense")
    Y = np.ones((11, 1))
    # An operator above the dense limit: nothing can be proved, so rigorous=True is an error ...
    assert not ls.certify(aslinearoperator(C), Y).evidence.is_proof
    with pytest.raises(ValueError, match="'rigorous' parameter of certify"):
        ls.certify(aslinearoperator(C), Y, rigorous=True)
    with pytest.raises(ValueError, match="'rigorous' parameter of solve"):
        ls.solve(aslinearoperator(C), rigorous=True)
    # ... while a matrix always has a proof: a sparse factorisation, or Gershgorin's theorem.
    cert = ls.certify(sp.csr_matrix(C), Y, rigorous=True)
    assert cert.evidence is ls.Evidence.FACTORIZATION
    assert cert.lambda_min <= np.linalg.eigvalsh(C - np.diag(cert.multipliers))[0]
    monkeypatch.setattr(certificate, "SPARSE_PROOF_BYTES", 0)
    for M in (C, sp.csr_matrix(C)):
        cert = ls.certify(M, Y, rigorous=True)
        assert cert.evidence is ls.Evidence.GERSHGORIN
        assert cert.lambda_min <= np.linalg.eigvalsh(C - np.diag(cert.multipliers))[0]


def _convex_objective(C: np.ndarray, A: np.ndarray, **flags) -> ls.Objective:
    """f(X) = <C, X> + ||X - A||_F^2 / 2 (convex), by value and X-space gradient."""

    def fun(Y):
        X = Y @ Y.T
        return float(np.vdot(C, X) + 0.5 * np.sum((X - A) ** 2)), C + X - A

    return ls.Objective(fun, n=C.shape[0], **flags)


def _cvxpy_convex_optimum(C: np.ndarray, A: np.ndarray) -> float:
    import cvxpy as cp

    n = C.shape[0]
    X = cp.Variable((n, n), PSD=True)
    problem = cp.Problem(
        cp.Minimize(cp.trace(C @ X) + 0.5 * cp.sum_squares(X - A)), [cp.diag(X) == 1]
    )
    problem.solve(solver="CLARABEL")
    assert problem.status == "optimal"
    return float(problem.value)


def test_convex_objective_bound_is_valid_and_closes():
    rng = np.random.default_rng(8)
    n = 10
    C, A = _instance(8, n, "dense"), _instance(9, n, "dense")
    opt = _cvxpy_convex_optimum(C, A)
    objective = _convex_objective(C, A, convex=True)
    for r in (1, 2, 4):
        cert = ls.certify(objective, manifold.random_point(n, r, rng))
        assert np.isfinite(cert.bound) and cert.bound <= opt + _slack(opt)
    res = ls.solve(objective, tol=1e-7)
    assert res.certified
    assert res.bound <= opt + _slack(opt) and opt <= res.objective + _slack(opt)
    assert res.objective == pytest.approx(opt, rel=1e-5, abs=1e-5)
    # Maximising -f (concave) is the mirror image.
    neg = ls.Objective(lambda Y: tuple(-v for v in objective.fun(Y)), n=n, concave=True)
    mirrored = ls.solve(neg, sense="max", tol=1e-7)
    assert mirrored.certified and mirrored.bound >= -opt - _slack(opt)


def test_nonconvex_objective_claims_nothing():
    C, A = _instance(10, 8, "dense"), _instance(11, 8, "dense")
    plain = _convex_objective(C, A)  # convexity not declared: nothing may be claimed
    Y = manifold.random_point(8, 3, np.random.default_rng(0))
    cert = ls.certify(plain, Y)
    assert cert.bound == -np.inf and cert.gap == np.inf and cert.evidence is ls.Evidence.NONE
    assert ls.certify(plain, Y, sense="max").bound == np.inf
    # Declared convex but maximised: f is not concave, so still nothing.
    assert ls.certify(_convex_objective(C, A, convex=True), Y, sense="max").bound == np.inf
    res = ls.solve(plain)
    assert res.bound == -np.inf and not res.certified and res.status is not ls.Status.CERTIFIED


@pytest.mark.parametrize("prove", ["sparse", "dense"])
def test_factorisation_proof_agrees_with_dense_eigenvalues(prove):
    """The LDL^T (sparse) and Cholesky (dense) proofs claim lambda_min >= sigma - margin only when
    sigma is below lambda_min, and succeed a little below it (the private proof routines alone,
    at shifts the public certify never chooses)."""
    rng = np.random.default_rng(7)
    n = 300
    A = sp.random(n, n, density=0.02, random_state=rng, data_rvs=rng.standard_normal)
    G = sp.csr_matrix(A + A.T)
    lam = rng.standard_normal(n)
    true_min = np.linalg.eigvalsh(G.toarray() - np.diag(lam))[0]
    env = certificate._envelope(G, lam)
    S = certificate.dense_slack(G, lam)
    for sigma in (true_min - 0.1, true_min - 1e-3, true_min - 1e-9, true_min + 1e-9,
                  true_min + 1e-3, true_min + 0.5):
        if prove == "sparse":
            proven = certificate._sparse_ldl_lower(G, lam, sigma, env)
        else:
            proven = certificate._cholesky_lower(S, G, lam, sigma)
        if proven is not None:
            assert proven <= true_min and proven <= sigma
            assert sigma - proven < 1e-10  # the rounding margin is small at this size
        else:
            # Refusing is always allowed, but well below the spectrum the factorisation succeeds.
            assert sigma > true_min - 1e-3
