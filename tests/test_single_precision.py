"""The float32 start of the built-in rgd on a sparse C (`SINGLE_PRECISION_MIN_ENTRIES`): the
answer, its certificate and every stop are float64, as without it; the value agrees with the
float64 run to the tolerance; below float32's rounding it computes in float64 (the exact mode)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import scipy.sparse as sp

import lowrank_sdp as ls
from lowrank_sdp.kernels import linalg

solve_module = __import__("lowrank_sdp.solve", fromlist=["solve"])


def _er_cost(n: int, degree: int, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, n, (2, n * degree // 2))
    W = sp.csr_matrix((np.ones(i.size), (i, j)), shape=(n, n))
    W = ((W + W.T) > 0).astype(np.float64)
    W.setdiag(0.0)
    W.eliminate_zeros()
    return sp.csr_matrix((sp.diags(np.asarray(W.sum(axis=1)).ravel()) - W) / 4.0)


@pytest.fixture
def always_single(monkeypatch):
    """Every rgd solve of a sparse C starts in float32; the handovers are recorded."""
    monkeypatch.setattr(solve_module, "SINGLE_PRECISION_MIN_ENTRIES", 0)
    seen = []
    real = solve_module.full_precision

    def spy(Y):
        seen.append(Y.dtype)
        return real(Y)

    monkeypatch.setattr(solve_module, "full_precision", spy)
    return seen


def test_the_fused_kernel_matches_the_product_and_its_inner_product():
    C = _er_cost(300, 8, 0)
    Y = np.random.default_rng(1).standard_normal((300, 7))
    out = np.empty_like(Y)
    f = linalg.csr_matmat_inner(C.indptr, C.indices, C.data, Y, out)
    np.testing.assert_allclose(out, C @ Y, rtol=1e-13, atol=1e-13)
    assert f == pytest.approx(float(np.vdot(C @ Y, Y)), rel=1e-13)
    Y32, out32 = Y.astype(np.float32), np.empty((300, 7), dtype=np.float32)
    f32 = linalg.csr_matmat_inner(C.indptr, C.indices, C.data.astype(np.float32), Y32, out32)
    py = linalg.csr_matmat_inner.py_func(C.indptr, C.indices, C.data.astype(np.float32), Y32,
                                         np.empty_like(out32))
    np.testing.assert_allclose(out32, C @ Y32.astype(np.float64), rtol=1e-5, atol=1e-5)
    assert f32 == pytest.approx(py, rel=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_single_precision_start_certifies_the_same_value(always_single, seed):
    C = _er_cost(1500, 10, seed)
    res = ls.solve(C, sense="max", method="rgd", tol=1e-6, seed=seed)
    assert np.float32 in always_single  # the float32 phase ran and handed over
    assert res.status is ls.Status.CERTIFIED
    assert res.Y.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(res.Y, axis=1), 1.0, atol=1e-14)
    # value and bound are those of the returned float64 point
    assert res.objective == pytest.approx(float(np.vdot(C @ res.Y, res.Y)), rel=1e-12)
    ref_bound = ls.certify(C, res.Y, sense="max", rigorous=True).bound
    assert res.bound >= ref_bound - 1e-6 * (1 + abs(ref_bound))  # the same (sound) bound level
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(solve_module, "SINGLE_PRECISION_MIN_ENTRIES", np.inf)
        plain = ls.solve(C, sense="max", method="rgd", tol=1e-6, seed=seed)
    assert plain.status is ls.Status.CERTIFIED
    # Both are within tol of the optimum, which lies in both certified intervals.
    assert abs(res.objective - plain.objective) <= 2e-6 * (1 + abs(plain.objective))
    assert res.bound >= plain.objective - 1e-9 * abs(plain.objective)
    assert plain.bound >= res.objective - 1e-9 * abs(res.objective)


def _stop_at_three(state):
    if state.iteration >= 3:
        raise StopIteration


@pytest.mark.parametrize("stop", ["max_iterations", "callback", "time_limit"])
def test_every_stop_in_the_float32_phase_returns_a_float64_point(always_single, stop):
    C = _er_cost(1500, 10, 0)
    kwargs = {"max_iterations": {"max_iterations": 5}, "callback": {"callback": _stop_at_three},
              "time_limit": {"time_limit": 1e-3}}[stop]
    res = ls.solve(C, sense="max", method="rgd", tol=1e-9, **kwargs)
    assert res.status in (ls.Status.MAX_ITERATIONS, ls.Status.CALLBACK, ls.Status.TIME_LIMIT)
    assert always_single[0] == np.float32  # stopped inside the float32 phase
    assert res.Y.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(res.Y, axis=1), 1.0, atol=1e-14)
    assert res.objective == pytest.approx(float(np.vdot(C @ res.Y, res.Y)), rel=1e-12)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(solve_module, "SINGLE_PRECISION_MIN_ENTRIES", np.inf)
        optimum = ls.solve(C, sense="max", method="rgd", tol=1e-7).objective  # a value attained: <= OPT
    assert res.bound >= optimum  # an upper bound on the maximum


def test_small_problems_stay_in_float64(monkeypatch):
    seen = []
    real = solve_module.full_precision
    monkeypatch.setattr(solve_module, "full_precision", lambda Y: (seen.append(Y.dtype), real(Y))[1])
    ls.solve(_er_cost(500, 10, 0), sense="max", method="rgd", tol=1e-6)
    assert np.float32 not in seen


def test_the_exact_mode_kernels_compute_in_float64_from_float32_storage():
    C = _er_cost(300, 8, 2)
    rng = np.random.default_rng(3)
    Y32 = rng.standard_normal((300, 7)).astype(np.float32)
    Y32[5] = 0.0  # a zero row gets scale 0, not a division by zero
    scale = linalg.inverse_row_norms(Y32)
    np.testing.assert_allclose(scale, linalg.inverse_row_norms.py_func(Y32), rtol=1e-14)
    X = Y32.astype(np.float64)
    norms = np.linalg.norm(X, axis=1)
    expected_scale = np.divide(1.0, norms, out=np.zeros(300), where=norms > 0)
    np.testing.assert_allclose(scale, expected_scale, rtol=1e-14)
    X *= expected_scale[:, None]  # the point in float64: unit rows (and the zero row)
    GX = C @ X
    lam = np.sum(GX * X, axis=1)
    expected = 2.0 * (GX - lam[:, None] * X)
    grad = np.empty((300, 7))
    f, norm2 = linalg.csr_normalized_gradient(C.indptr, C.indices, C.data, Y32, scale, grad)
    grad_py = np.empty((300, 7))
    f_py, norm2_py = linalg.csr_normalized_gradient.py_func(C.indptr, C.indices, C.data, Y32,
                                                            scale, grad_py)
    assert f == pytest.approx(float(np.vdot(GX, X)), rel=1e-13)
    assert f_py == pytest.approx(f, rel=1e-13)
    np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad_py, grad, rtol=1e-12, atol=1e-12)
    assert norm2 == pytest.approx(float(np.sum(expected**2)), rel=1e-12)
    assert norm2_py == pytest.approx(norm2, rel=1e-12)
    # stored in float32, the gradient is the float64 one rounded once
    grad32 = np.empty((300, 7), dtype=np.float32)
    linalg.csr_normalized_gradient(C.indptr, C.indices, C.data, Y32, scale, grad32)
    np.testing.assert_allclose(grad32, expected, rtol=1e-6, atol=1e-6)


def test_below_the_fast_modes_floor_rgd_runs_the_exact_mode(monkeypatch):
    rgd_module = sys.modules["lowrank_sdp.solvers.rgd"]  # the package exports the function rgd
    modes = []
    real = rgd_module.SinglePrecisionSpace.__init__

    def spy(self, objective, exact=False):
        modes.append(exact)
        real(self, objective, exact)

    monkeypatch.setattr(rgd_module.SinglePrecisionSpace, "__init__", spy)
    monkeypatch.setattr(solve_module, "SINGLE_PRECISION_MIN_ENTRIES", 0)
    C = _er_cost(1500, 10, 0)
    res = ls.solve(C, sense="max", method="rgd", tol=1e-7, seed=0)
    assert res.status is ls.Status.CERTIFIED
    assert modes[0] is False and True in modes  # fast first, then exact
