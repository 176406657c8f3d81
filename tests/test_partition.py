"""Max-Bisection and Max-k-Cut end to end: the SDP value against cvxpy + Clarabel, the bound
against the SDP optimum and brute force, the roundings' partitions valid and below the bound.

cvxpy gets the bisection SDP in a strictly feasible form (X = Q Z Q^T with Q a basis of 1^perp;
Clarabel is inaccurate on <J, X> = 0 itself, where no X > 0 is feasible).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import lowrank_sdp as ls
from lowrank_sdp.partition import balanced_local_search, k_cut_value

cp = pytest.importorskip("cvxpy", reason="the cvxpy extra is not installed")

AGREE = 1e-6
SLACK = 1e-7  # Clarabel's own accuracy, relative
seeds = st.integers(0, 2**31 - 1)


def _graph(seed: int, n: int, p: float, weighted: bool = True) -> np.ndarray:
    rng = np.random.default_rng(seed)
    W = np.triu((rng.random((n, n)) < p) * (rng.integers(1, 4, (n, n)) if weighted else 1.0), 1)
    return (W + W.T).astype(float)


def _clarabel(prob) -> float:
    # 1e-9: at 1e-10 Clarabel stops "inaccurate" on a few of these (e.g. dense 11-vertex graphs)
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-9)
    if prob.status == "optimal_inaccurate":  # a few degenerate instances: SCS at 1e-9 instead
        prob.solve(solver="SCS", eps=1e-9, max_iters=200_000)
    assert prob.status == "optimal", prob.status
    return float(prob.value)


def _bisection_sdp(W: np.ndarray) -> float:
    n = W.shape[0]
    if n % 2:
        W = np.pad(W, ((0, 1), (0, 1)))
        n += 1
    L = np.diag(W.sum(1)) - W
    Q = np.linalg.qr(np.hstack([np.ones((n, 1)), np.eye(n)[:, : n - 1]]))[0][:, 1:]
    Z = cp.Variable((n - 1, n - 1), PSD=True)
    X = Q @ Z @ Q.T
    return _clarabel(cp.Problem(cp.Maximize(cp.trace(L / 4 @ X)), [cp.diag(X) == 1]))


def _best_bisection(W: np.ndarray) -> float:
    n = W.shape[0]
    best = -np.inf
    for side in itertools.combinations(range(n), n // 2):
        x = -np.ones(n)
        x[list(side)] = 1.0
        best = max(best, (W.sum() - x @ W @ x) / 4)
    return best


@settings(max_examples=6, deadline=None)
@given(seed=seeds, n=st.integers(3, 11), p=st.floats(0.2, 0.9))
def test_max_bisection_against_cvxpy_and_brute_force(seed: int, n: int, p: float) -> None:
    W = _graph(seed, n, p)
    res = ls.max_bisection(W, seed=seed % 1000)
    opt = _bisection_sdp(W)
    best = _best_bisection(W)
    assert res.certified, res
    assert abs(res.objective - opt) <= AGREE * (1 + abs(opt)) + SLACK * (1 + abs(opt))
    assert res.bound >= opt - SLACK * (1 + abs(opt))  # an upper bound on the SDP ...
    assert res.bound >= best - 1e-9  # ... hence on every bisection
    assert abs(int(res.x.astype(int).sum())) == n % 2  # balanced (odd n: one apart)
    assert res.cut_value <= best + 1e-9
    x = res.x.astype(float)
    assert res.cut_value == pytest.approx((W.sum() - x @ W @ x) / 4)
    # the factor satisfies 1^T Y = 0 exactly (to rounding), the unit diagonal too
    Y = res.sdp.Y
    assert np.abs(Y.sum(axis=0)).max() <= 1e-10
    assert np.allclose(np.einsum("ij,ij->i", Y, Y), 1.0)


def test_max_bisection_larger_graph_certifies_and_rounds() -> None:
    W = sp.csr_matrix(_graph(5, 120, 0.1))
    res = ls.max_bisection(W)
    assert res.certified and res.bound >= res.objective - 1e-6 * res.objective
    assert res.x.astype(int).sum() == 0
    assert 0.8 * res.bound <= res.cut_value <= res.bound
    assert res.sdp.certificate.evidence.is_proof


def test_balanced_local_search_keeps_sizes_and_improves() -> None:
    W = sp.csr_matrix(_graph(2, 40, 0.3))
    x = np.array([1, -1] * 20, dtype=np.int8)
    y = balanced_local_search(W, x)
    assert y.sum() == 0
    def cut(v):
        v = v.astype(float)
        return (W.sum() - v @ (W @ v)) / 4
    assert cut(y) >= cut(x)


def _k_cut_sdp(W: np.ndarray, k: int) -> float:
    n = W.shape[0]
    L = np.diag(W.sum(1)) - W
    X = cp.Variable((n, n), PSD=True)
    cons = [cp.diag(X) == 1] + [X[i, j] >= -1 / (k - 1) for i, j in np.argwhere(np.triu(W, 1))]
    return _clarabel(cp.Problem(cp.Maximize(cp.trace((k - 1) / (2 * k) * L @ X)), cons))


@settings(max_examples=4, deadline=None)
@given(seed=seeds, n=st.integers(3, 7), k=st.integers(3, 4))
def test_max_k_cut_against_cvxpy_and_brute_force(seed: int, n: int, k: int) -> None:
    W = _graph(seed, n, 0.6)
    res = ls.max_k_cut(W, k, time_limit=60)
    opt = _k_cut_sdp(W, k)
    best = max(k_cut_value(sp.csr_matrix(W), np.array(p))
               for p in itertools.product(range(k), repeat=n))
    assert res.certified, res
    assert abs(res.objective - opt) <= AGREE * (1 + abs(opt)) + SLACK * (1 + abs(opt))
    assert res.bound >= opt - SLACK * (1 + abs(opt))
    assert res.bound >= best - 1e-9
    assert res.parts.shape == (n,) and res.parts.min() >= 0 and res.parts.max() < k
    assert res.cut_value == pytest.approx(k_cut_value(sp.csr_matrix(W), res.parts))
    assert res.cut_value <= best + 1e-9


def test_max_k_cut_two_parts_is_max_cut() -> None:
    W = _graph(1, 10, 0.5)
    res = ls.max_k_cut(W, 2)
    L = np.diag(W.sum(1)) - W
    ref = ls.solve(L / 4, sense="max")
    assert res.bound == pytest.approx(ref.bound, rel=1e-5)
    assert res.cut_value <= res.bound


@pytest.mark.parametrize(("call", "match"), [
    (lambda: ls.max_k_cut(np.ones((3, 3)) - np.eye(3), 1), "'k' parameter of max_k_cut"),
    (lambda: ls.max_bisection(np.zeros((1, 1))), "'graph' parameter of max_bisection"),
    (lambda: ls.max_bisection(np.zeros((4, 4)), trials=0), "'trials' parameter of max_bisection"),
    (lambda: ls.max_bisection("not-a-graph.txt"), "not-a-graph"),
])
def test_validation(call, match) -> None:
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        call()


@settings(max_examples=4, deadline=None)
@given(seed=seeds, n=st.integers(4, 8), iterations=st.integers(5, 60))
def test_max_k_cut_bound_sound_on_early_stops(seed: int, n: int, iterations: int) -> None:
    """An unfinished solve gets refitted edge multipliers: the bound must stay above the SDP
    optimum whatever the point."""
    W = _graph(seed, n, 0.7)
    res = ls.max_k_cut(W, 3, max_iterations=iterations, trials=10)
    opt = _k_cut_sdp(W, 3)
    assert res.bound >= opt - SLACK * (1 + abs(opt)), (res, opt)
    if res.certified:
        assert abs(res.objective - opt) <= AGREE * (1 + abs(opt)) + SLACK * (1 + abs(opt))


@settings(max_examples=3, deadline=None)
@given(seed=seeds, n=st.integers(4, 10))
def test_solve_routes_the_bisection_form(seed: int, n: int) -> None:
    """ls.solve(C, A_eq=[c J], b_eq=[0]) with the unit diagonal (Max-Bisection, SDPLIB gpp*) runs
    the exact-factor method, in either sense, and agrees with cvxpy."""
    W = _graph(seed, n, 0.5)
    if n % 2:
        W = np.pad(W, ((0, 1), (0, 1)))
        n += 1
    L = np.diag(W.sum(1)) - W
    opt = _bisection_sdp(W)
    for sense, s in (("max", 1.0), ("min", -1.0)):
        res = ls.solve(s * L / 4, sense=sense, A_eq=[3.0 * np.ones((n, n))], b_eq=[0.0])
        assert res.method == "bisection-rgd" and res.certified, res
        assert abs(s * res.objective - opt) <= (AGREE + SLACK) * (1 + abs(opt))
        assert s * res.bound >= opt - SLACK * (1 + abs(opt))
        assert res.infeasibility <= 1e-12


@settings(max_examples=20, deadline=None)
@given(seed=seeds, n=st.integers(2, 40), r=st.integers(1, 8), t=st.floats(1e-6, 2.0))
def test_bisection_retraction_lands_on_the_set(seed: int, n: int, r: int, t: float) -> None:
    """The Newton shift of the retraction (or its alternating fallback) gives unit rows with
    column sums zero to rounding, and moves a point already there by O(t^2) along a tangent."""
    from lowrank_sdp.bisection import FEASIBLE_SUM, retract, tangent

    rng = np.random.default_rng(seed)
    Y = retract(rng.standard_normal((n, r)))
    assert np.allclose(np.linalg.norm(Y, axis=1), 1.0, atol=1e-12)
    assert np.linalg.norm(Y.sum(axis=0)) <= FEASIBLE_SUM * np.sqrt(n) or r == 1
    V, _ = tangent(Y, rng.standard_normal((n, r)))
    V /= max(np.linalg.norm(V), 1e-300)
    Z = retract(Y + t * V)
    assert np.allclose(np.linalg.norm(Z, axis=1), 1.0, atol=1e-12)
    if np.linalg.norm(Z.sum(axis=0)) <= FEASIBLE_SUM * np.sqrt(n):
        assert np.linalg.norm(Z - Y - t * V) <= 10.0 * t * t + 1e-9
