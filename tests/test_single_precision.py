"""The float32 start of the built-in rgd on a sparse C (`SINGLE_PRECISION_MIN_ENTRIES`): the
answer, its certificate and every stop are float64, as without it; the value agrees with the
float64 run to the tolerance; the phase hands over to float64 before its rounding stalls it."""

from __future__ import annotations

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
    res = ls.solve(C, sense="max", tol=1e-6, seed=seed)
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
        plain = ls.solve(C, sense="max", tol=1e-6, seed=seed)
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
    res = ls.solve(C, sense="max", tol=1e-9, **kwargs)
    assert res.status in (ls.Status.MAX_ITERATIONS, ls.Status.CALLBACK, ls.Status.TIME_LIMIT)
    assert always_single[0] == np.float32  # stopped inside the float32 phase
    assert res.Y.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(res.Y, axis=1), 1.0, atol=1e-14)
    assert res.objective == pytest.approx(float(np.vdot(C @ res.Y, res.Y)), rel=1e-12)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(solve_module, "SINGLE_PRECISION_MIN_ENTRIES", np.inf)
        optimum = ls.solve(C, sense="max", tol=1e-7).objective  # a value attained: <= OPT
    assert res.bound >= optimum  # an upper bound on the maximum


def test_small_problems_stay_in_float64(monkeypatch):
    seen = []
    real = solve_module.full_precision
    monkeypatch.setattr(solve_module, "full_precision", lambda Y: (seen.append(Y.dtype), real(Y))[1])
    ls.solve(_er_cost(500, 10, 0), sense="max", tol=1e-6)
    assert np.float32 not in seen
