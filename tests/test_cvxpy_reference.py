"""Our answers against an independent interior-point solver (cvxpy + Clarabel) and closed forms.

Tolerances: our solve is certified to tol (relative gap); Clarabel is accurate to about 1e-8
relative, so one-sided comparisons get a slack of 1e-7 (1 + |opt|).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import lowrank_sdp as ls
from lowrank_sdp.testing import brute_force_maxcut, solve_cvxpy

pytest.importorskip("cvxpy", reason="the cvxpy extra is not installed")

TOL = 1e-7  # our certified relative gap, well inside the 1e-5 agreement required below


def _slack(opt: float) -> float:
    return 1e-7 * (1.0 + abs(opt))


def _check(C, sense: str, method: str = "auto") -> ls.Result:
    """|ours - cvxpy| <= 1e-5 (1 + |opt|) and the certificate brackets cvxpy's optimum."""
    opt = solve_cvxpy(C, sense)
    res = ls.solve(C, sense=sense, tol=TOL, method=method)
    assert res.certified, res
    assert abs(res.objective - opt) <= 1e-5 * (1.0 + abs(opt))
    if sense == "min":
        assert res.bound <= opt + _slack(opt) and opt <= res.objective + _slack(opt)
    else:
        assert res.bound >= opt - _slack(opt) and opt >= res.objective - _slack(opt)
    return res


@st.composite
def instances(draw):
    """Symmetric matrices, n <= 30: dense or sparse, Gaussian or +-1 weights of both signs."""
    n = draw(st.integers(1, 30))
    seed = draw(st.integers(0, 2**32 - 1))
    density = draw(st.sampled_from([1.0, 0.3, 3.0 / max(n, 1)]))
    weights = draw(st.sampled_from(["gauss", "pm1", "int"]))
    rng = np.random.default_rng(seed)
    if weights == "gauss":
        A = rng.standard_normal((n, n))
    elif weights == "pm1":
        A = rng.choice([-1.0, 1.0], size=(n, n))
    else:
        A = rng.integers(-5, 6, size=(n, n)).astype(float)
    A = np.triu(A * (rng.random((n, n)) < density))
    A = A + np.triu(A, 1).T
    return sp.csr_matrix(A) if draw(st.booleans()) else A


@given(C=instances(), sense=st.sampled_from(["min", "max"]))
def test_agrees_with_cvxpy(C, sense):
    _check(C, sense)


@pytest.mark.parametrize("method", sorted(ls.METHODS))
def test_every_method_agrees_with_cvxpy(method):
    rng = np.random.default_rng(42)
    A = rng.standard_normal((25, 25)) * (rng.random((25, 25)) < 0.3)
    C = sp.csr_matrix(np.triu(A) + np.triu(A, 1).T)
    for sense in ("min", "max"):
        _check(C, sense, method)


def _laplacian(W: np.ndarray) -> np.ndarray:
    return np.diag(W.sum(axis=1)) - W


@pytest.mark.parametrize("n", [2, 5, 6, 11])
def test_complete_graph(n):
    """K_n: <L/4, X> = (n trace X - 1^T X 1) / 4 <= n^2 / 4 since X is PSD, with equality at
    X = (n I - J) / (n - 1) (unit diagonal, PSD, X 1 = 0). So the SDP value is exactly n^2 / 4."""
    W = np.ones((n, n)) - np.eye(n)
    X = (n * np.eye(n) - np.ones((n, n))) / (n - 1)
    assert np.allclose(np.diag(X), 1.0) and np.linalg.eigvalsh(X)[0] >= -1e-12
    assert np.sum(_laplacian(W) / 4 * X) == pytest.approx(n**2 / 4)
    res = _check(_laplacian(W) / 4, "max")
    assert res.objective == pytest.approx(n**2 / 4, rel=1e-6)
    assert res.bound >= n**2 / 4 - _slack(n**2 / 4)
    # The best cut splits the vertices in halves: floor(n/2) * ceil(n/2) <= n^2 / 4.
    assert brute_force_maxcut(W) == (n // 2) * ((n + 1) // 2)


def test_five_cycle():
    """The Max-Cut SDP of C_5 is (5/2)(1 - cos(4 pi / 5)); the best cut is 4 (an odd cycle)."""
    n = 5
    W = np.zeros((n, n))
    for i in range(n):
        W[i, (i + 1) % n] = W[(i + 1) % n, i] = 1.0
    value = 2.5 * (1.0 - np.cos(4.0 * np.pi / 5.0))
    res = _check(_laplacian(W) / 4, "max")
    assert res.objective == pytest.approx(value, rel=1e-6)
    assert brute_force_maxcut(W) == 4.0 < value <= res.bound + 1e-12


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_graph_without_edges(kind):
    n = 7
    L = np.zeros((n, n)) if kind == "dense" else sp.csr_matrix((n, n))
    for sense in ("min", "max"):
        res = ls.solve(L, sense=sense)
        assert res.certified and res.objective == 0.0 and res.bound == pytest.approx(0.0, abs=1e-12)
    assert solve_cvxpy(L, "max") == pytest.approx(0.0, abs=1e-7)


@given(n=st.integers(3, 12), seed=st.integers(0, 2**32 - 1), p=st.sampled_from([0.3, 0.6, 1.0]))
def test_maxcut_bounds_bracket_the_best_cut(n, seed, p):
    """For non-negative weights: 0.878 * SDP <= max cut <= SDP (Goemans-Williamson), brute force."""
    rng = np.random.default_rng(seed)
    W = np.triu(rng.random((n, n)) * (rng.random((n, n)) < p), 1)
    W = W + W.T
    res = ls.solve(_laplacian(W) / 4, sense="max", tol=TOL)
    best = brute_force_maxcut(W)
    assert res.certified
    assert best <= res.bound + 1e-9
    assert best >= 0.87856 * res.objective - 1e-9
