"""The time budget (`lowrank_sdp.budget`): a solve given time_limit=T returns within
T + slack(T), whatever phase the limit falls in, and reports only what it proved.

No test here times anything: the clock is a fake one (`time.perf_counter` plus virtual seconds)
that every product of the certificate's slack operator S (by a vector or a block) advances by
PRODUCT_SECONDS, so a
certificate "costs" what its Lanczos, fallbacks and proofs would cost at a much larger n. Before
the budget, the final certificate ran after the limit to its own end (ER n = 1e5, T = 60: 77 s).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.sparse as sp

import lowrank_sdp as ls
from lowrank_sdp import budget, certificate
from lowrank_sdp.problem import make_problem
from lowrank_sdp.result import Evidence, Status

PRODUCT_SECONDS = 0.2
"""Virtual seconds per product with S: the 300-2000 products of a full certificate are 60-400 s."""
MARGIN = 3.0
"""Room for the real seconds of the iterations (well under one on this graph) on a loaded machine."""


def er_laplacian_quarter(n: int, degree: float = 10.0, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    m = int(n * degree / 2)
    i, j = rng.integers(0, n, m), rng.integers(0, n, m)
    keep = i != j
    W = sp.coo_matrix((np.ones(int(keep.sum())), (i[keep], j[keep])), shape=(n, n)).tocsr()
    W = ((W + W.T) > 0).astype(np.float64)
    return sp.csr_matrix((sp.diags(np.asarray(W.sum(axis=1)).ravel()) - W) / 4.0), W


@pytest.fixture
def slow_certificate(monkeypatch):
    """A fake clock advanced by every product with the certificate's slack operator: it wraps
    the private `certificate._slack_operator`, the one place every product with S is made."""
    virtual = [0.0]
    real = time.perf_counter
    monkeypatch.setattr(time, "perf_counter", lambda: real() + virtual[0])
    make = certificate._slack_operator

    def slow(G, lam):
        S = make(G, lam)

        def mv(x):
            virtual[0] += PRODUCT_SECONDS  # a block product costs about one (as C Y does)
            return S.matmat(x) if x.ndim == 2 else S.matvec(x)

        return certificate.LinearOperator(S.shape, matvec=mv, matmat=mv, dtype=np.float64)

    monkeypatch.setattr(certificate, "_slack_operator", slow)
    return virtual


def _sdp_value(C) -> float:
    """A certified value of max <C, X> (the fake clock is not installed here)."""
    ref = ls.solve(C, sense="max", tol=1e-8)
    assert ref.status is Status.CERTIFIED
    return ref.objective


def test_slack_rule():
    assert budget.slack(None) == np.inf
    assert budget.slack(2.0) == 1.0
    assert budget.slack(20.0) == 1.0
    assert budget.slack(60.0) == pytest.approx(3.0)
    assert budget.hard_deadline(10.0, 60.0) == pytest.approx(10.0 + 60.0 + 0.8 * 3.0)
    assert budget.hard_deadline(10.0, None) == np.inf


def test_until_nests_to_the_earliest_deadline():
    assert not budget.expired() and budget.remaining() == np.inf
    with budget.until(time.perf_counter() + 100.0):
        with budget.until(time.perf_counter() - 1.0):
            assert budget.expired()
        assert not budget.expired()
        with budget.until(time.perf_counter() + 1e6):  # a later one does not extend it
            assert budget.remaining() < 101.0
    assert budget.remaining() == np.inf


@pytest.mark.parametrize("limit", [2.0, 6.0])
def test_solve_returns_within_the_slack(slow_certificate, limit):
    C, _ = er_laplacian_quarter(3000)
    value = _sdp_value(C)
    slow_certificate[0] = 0.0
    res = ls.solve(C, sense="max", tol=1e-9, time_limit=limit)
    # Before the budget: the final certificate alone ran its 300-2000 products past the limit.
    assert res.seconds <= limit + budget.slack(limit) + MARGIN
    assert res.status is Status.TIME_LIMIT
    # Honest: a valid bound (no feasible X does better), never CERTIFIED at a 1e-9 target.
    assert res.bound >= value - 1e-9 * (1 + abs(value))
    assert res.objective <= value + 1e-9 * (1 + abs(value))
    assert res.gap == pytest.approx(res.bound - res.objective, rel=1e-12, abs=1e-9)
    assert res.certificate.evidence in (Evidence.GERSHGORIN, Evidence.FACTORIZATION,
                                        Evidence.ESTIMATE)


def test_certificate_cut_by_the_deadline_claims_only_a_proof(slow_certificate):
    C, _ = er_laplacian_quarter(800)
    problem = make_problem(C, "max", "test")
    rng = np.random.default_rng(1)
    Y = rng.standard_normal((800, 8))
    Y /= np.linalg.norm(Y, axis=1, keepdims=True)
    free = certificate.certify_problem(problem, Y, tol=1e-9)
    with budget.until(time.perf_counter() + 5 * PRODUCT_SECONDS):  # a few products' time
        cut = certificate.certify_problem(problem, Y, tol=1e-9)
    assert cut.evidence is Evidence.GERSHGORIN  # the unconverged Lanczos is not used
    # The Gershgorin bound is a true lower bound on lambda_min of the (internal) slack.
    S = -C.toarray()
    lam = -np.einsum("ij,ij->i", C @ Y, Y)
    S[np.diag_indices_from(S)] -= lam
    assert cut.lambda_min <= np.linalg.eigvalsh(S)[0]
    assert cut.bound >= free.bound  # weaker (max: larger), both valid
    with budget.until(time.perf_counter() - 1.0):  # already past: no eigensolver at all
        before = slow_certificate[0]
        late = certificate.certify_problem(problem, Y, tol=1e-9)
        assert slow_certificate[0] == before
    assert late.evidence is Evidence.GERSHGORIN


def test_maxcut_returns_within_the_slack(slow_certificate):
    _, W = er_laplacian_quarter(3000)
    limit = 6.0
    res = ls.maxcut(W, tol=1e-9, time_limit=limit)
    assert res.seconds <= limit + budget.slack(limit) + MARGIN
    assert res.status is Status.TIME_LIMIT
    assert res.cut_value <= res.bound


def test_torch_solve_returns_within_the_slack(slow_certificate):
    pytest.importorskip("torch")
    C, _ = er_laplacian_quarter(3000)
    limit = 4.0
    res = ls.solve(C, sense="max", tol=1e-9, time_limit=limit, device="cpu")
    assert res.seconds <= limit + budget.slack(limit) + MARGIN
    assert res.status is Status.TIME_LIMIT
    assert res.bound >= res.objective


def test_general_sdp_returns_within_the_slack(slow_certificate):
    # A Max-Cut SDP with one more constraint (X_01 = 0 as <E_01, X> = 0): the ALM path.
    C, _ = er_laplacian_quarter(600)
    E = sp.csr_matrix(([0.5, 0.5], ([0, 1], [1, 0])), shape=(600, 600))
    limit = 4.0
    res = ls.solve(C, sense="max", tol=1e-9, time_limit=limit, A_eq=[E], b_eq=[0.0])
    assert res.seconds <= limit + budget.slack(limit) + MARGIN
    assert res.status is not Status.CERTIFIED


def test_keep_best_bound_reports_the_tighter_valid_bound():
    from lowrank_sdp.solve import keep_best_bound, tighter

    C, _ = er_laplacian_quarter(600)
    problem = make_problem(C, "max", "test")
    value = _sdp_value(C)
    rng = np.random.default_rng(3)
    near = ls.solve(C, sense="max", tol=1e-4).Y
    far = rng.standard_normal((600, 4))
    far /= np.linalg.norm(far, axis=1, keepdims=True)
    good = certificate.certify_problem(problem, near, tol=1e-9)
    loose = certificate.certify_problem(problem, far, tol=1e-9)
    assert good.bound < loose.bound  # max: the smaller bound is the tighter
    assert tighter(loose, good, problem.sign) is good and tighter(good, loose, problem.sign) is good
    kept = keep_best_bound(loose, good, problem.sign)
    assert kept.objective == loose.objective and kept.bound == good.bound
    assert kept.gap == pytest.approx(good.bound - loose.objective)
    assert kept.bound >= value - 1e-9 * (1 + value) and kept.evidence is good.evidence
    assert keep_best_bound(good, loose, problem.sign) is good  # a looser earlier bound: unchanged
