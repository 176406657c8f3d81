"""The oblique manifold contract: retraction, tangent projection, and the Riemannian gradient."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import lowrank_sdp as ls
from lowrank_sdp import manifold
from lowrank_sdp.kernels import linalg
from lowrank_sdp.problem import make_problem

sizes = st.integers(min_value=1, max_value=15)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def _point(seed: int, n: int, r: int) -> tuple[np.random.Generator, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng, manifold.random_point(n, r, rng)


@given(n=sizes, r=sizes, seed=seeds, t=st.floats(-100, 100))
def test_retraction_lands_on_the_manifold(n, r, seed, t):
    rng, Y = _point(seed, n, r)
    np.testing.assert_allclose(np.linalg.norm(Y, axis=1), 1.0, rtol=1e-14)
    V = manifold.project(Y, rng.standard_normal((n, r)))
    Z = manifold.retract(Y, V, t)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, rtol=1e-14)
    # R_Y(0) = Y, and the curve leaves Y with velocity V: (R_Y(hV) - Y) / h -> V.
    np.testing.assert_allclose(manifold.retract(Y, V, 0.0), Y, rtol=1e-15)
    h = 1e-7
    np.testing.assert_allclose((manifold.retract(Y, V, h) - Y) / h, V, atol=1e-5)


@given(n=sizes, r=sizes, seed=seeds)
def test_tangent_projection_is_an_orthogonal_projector(n, r, seed):
    rng, Y = _point(seed, n, r)
    U, V = rng.standard_normal((n, r)), rng.standard_normal((n, r))
    PU, PV = manifold.project(Y, U), manifold.project(Y, V)
    # Tangent: every row orthogonal to its row of Y.
    np.testing.assert_allclose(np.einsum("ij,ij->i", PV, Y), 0.0, atol=1e-13)
    # Idempotent, self-adjoint, and the residual is normal to the tangent space.
    np.testing.assert_allclose(manifold.project(Y, PV), PV, atol=1e-13)
    assert manifold.inner(PU, V) == pytest.approx(manifold.inner(U, PV), abs=1e-11)
    assert manifold.inner(V - PV, PU) == pytest.approx(0.0, abs=1e-11)


def test_normalize_rows_and_pad_columns():
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((5, 3))
    Z = manifold.normalize_rows(Y)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, rtol=1e-15)
    assert not np.shares_memory(Y, Z)
    Y[2] = 0.0
    with pytest.raises(ValueError, match="row 2"):
        manifold.normalize_rows(Y)
    P = manifold.pad_columns(Z, 5)
    assert P.shape == (5, 5)
    np.testing.assert_array_equal(P @ P.T, Z @ Z.T)


def _taylor_slope(objective, Y: np.ndarray, V: np.ndarray) -> float:
    """Slope of log |f(R_Y(tV)) - f(Y) - t <grad, V>| against log t.

    A correct gradient leaves an O(t^2) remainder (slope 2, or 3 when the second-order term happens
    to vanish along V); a wrong one leaves O(t) (slope 1). The median of the local slopes ignores
    the odd pair of points where the t^2 and t^3 terms cancel.
    """
    f0, GY = objective.evaluate(Y)
    grad = np.empty_like(Y)
    linalg.riemannian_gradient(GY, Y, grad, np.empty(Y.shape[0]))
    slope0 = manifold.inner(grad, V)
    ts = np.logspace(-2, -6, 9)
    errors = [abs(objective.evaluate(manifold.retract(Y, V, t))[0] - f0 - t * slope0) for t in ts]
    return float(np.median(np.diff(np.log(errors)) / np.diff(np.log(ts))))


def _random_symmetric(rng: np.random.Generator, n: int) -> np.ndarray:
    A = rng.standard_normal((n, n))
    return (A + A.T) / 2


# r >= 2: at r = 1 every row lives on S^0 = {-1, 1} and the tangent space is {0}.
@given(n=st.integers(3, 15), r=st.integers(2, 6), seed=seeds, sparse=st.booleans(),
       sense=st.sampled_from(["min", "max"]))
def test_taylor_linear_objective(n, r, seed, sparse, sense):
    rng, Y = _point(seed, n, r)
    C = _random_symmetric(rng, n)
    if sparse:
        mask = np.triu(rng.random((n, n)) < 0.4, 1)
        mask[0, 1] = True  # never the zero matrix
        C = sp.csr_matrix(C * (mask | mask.T))
    objective = make_problem(C, sense).objective
    V = manifold.project(Y, rng.standard_normal((n, r)))
    assert _taylor_slope(objective, Y, V) > 1.9


@given(n=st.integers(3, 12), r=st.integers(2, 5), seed=seeds)
def test_taylor_general_objective(n, r, seed):
    """f(X) = <C, X> + ||X - A||_F^2 / 2, given by value and X-space gradient G = C + X - A."""
    rng, Y = _point(seed, n, r)
    C, A = _random_symmetric(rng, n), _random_symmetric(rng, n)

    def fun(Y):
        X = Y @ Y.T
        return float(np.vdot(C, X) + 0.5 * np.sum((X - A) ** 2)), C + X - A

    V = manifold.project(Y, rng.standard_normal((n, r)))
    for sense in ("min", "max"):
        objective = make_problem(ls.Objective(fun, n=n, convex=True), sense).objective
        assert _taylor_slope(objective, Y, V) > 1.9


def test_taylor_test_detects_a_wrong_gradient():
    """The check above can fail: a gradient off by a factor gives slope 1."""
    rng, Y = _point(3, 10, 3)
    C = _random_symmetric(rng, 10)
    wrong = ls.Objective(lambda Y: (float(np.vdot(C @ Y, Y)), 1.5 * C), n=10)
    V = manifold.project(Y, rng.standard_normal((10, 3)))
    assert _taylor_slope(wrong, Y, V) == pytest.approx(1.0, abs=0.1)


@given(n=st.integers(2, 15), r=st.integers(1, 5), seed=seeds)
def test_gradient_is_twice_the_slack_times_Y(n, r, seed):
    """grad = 2 S Y with S = G - Diag(lambda): the identity behind the certificate."""
    rng, Y = _point(seed, n, r)
    C = _random_symmetric(rng, n)
    grad, lam = np.empty_like(Y), np.empty(n)
    linalg.riemannian_gradient(C @ Y, Y, grad, lam)
    S = C - np.diag(lam)
    np.testing.assert_allclose(grad, 2.0 * S @ Y, atol=1e-12)
    assert float(np.sum(lam)) == pytest.approx(float(np.vdot(C, Y @ Y.T)), abs=1e-11)
