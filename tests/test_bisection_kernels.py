"""The bisection-set kernels (`lowrank_sdp.kernels.bisection`) against their `.py_func` and against
plain NumPy: the tangent projection against numpy's least squares, the retraction against the set's
definition, the ascent against its own pure-Python run and against monotonicity of the objective."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from lowrank_sdp.bisection import FEASIBLE_SUM, NEWTON_STEPS, retract
from lowrank_sdp.kernels import bisection as kernels

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def _tangent_lstsq(Y: np.ndarray, G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The tangent projection as the Python original computed it (numpy lstsq)."""
    n, r = Y.shape
    d = np.einsum("ij,ij->i", Y, G)
    b = np.linalg.lstsq(n * np.eye(r) - Y.T @ Y, G.sum(axis=0) - Y.T @ d, rcond=None)[0]
    a = d - Y @ b
    return G - a[:, None] * Y - b[None, :], a


def _balanced_rank_one(n: int, r: int, rng: np.random.Generator) -> np.ndarray:
    """A point of the set with Y^T Y = n v v^T: n I - Y^T Y singular (the eigenvalue fallback)."""
    x = np.where(np.arange(n) < n // 2, 1.0, -1.0)
    v = rng.standard_normal(r)
    return np.outer(x, v / np.linalg.norm(v))


@settings(max_examples=30, deadline=None)
@given(seed=seeds, n=st.integers(2, 40), r=st.integers(1, 9), singular=st.booleans())
def test_tangent_matches_least_squares_and_is_tangent(seed: int, n: int, r: int,
                                                      singular: bool) -> None:
    rng = np.random.default_rng(seed)
    n = n + n % 2
    Y = _balanced_rank_one(n, r, rng) if singular else retract(rng.standard_normal((n, r)))
    G = rng.standard_normal((n, r))
    V, a = np.empty_like(Y), np.empty(n)
    norm = kernels.tangent(Y, G, V, a)
    V2, a2 = np.empty_like(Y), np.empty(n)
    kernels.tangent.py_func(Y, G, V2, a2)
    assert np.allclose(V, V2, atol=1e-10) and np.allclose(a, a2, atol=1e-10)
    assert np.isclose(norm, np.linalg.norm(V))
    Vr, ar = _tangent_lstsq(Y, G)
    scale = 1.0 + np.abs(G).max()
    assert np.allclose(V, Vr, atol=1e-8 * scale) and np.allclose(a, ar, atol=1e-8 * scale)
    # Tangent: rows orthogonal to Y's rows, columns summing to zero.
    assert np.abs(np.einsum("ij,ij->i", V, Y)).max() <= 1e-9 * scale
    if not singular:
        assert np.abs(V.sum(axis=0)).max() <= 1e-9 * scale * n


@settings(max_examples=30, deadline=None)
@given(seed=seeds, n=st.integers(3, 40), r=st.integers(2, 8), t=st.floats(1e-6, 3.0))
def test_retract_lands_on_the_set_and_matches_py_func(seed: int, n: int, r: int,
                                                      t: float) -> None:
    rng = np.random.default_rng(seed)
    Y = retract(rng.standard_normal((n, r)))
    V = rng.standard_normal((n, r))
    Z = np.ascontiguousarray(Y + t * V / np.linalg.norm(V))
    target = 0.1 * FEASIBLE_SUM * np.sqrt(n)
    out, out2 = np.empty_like(Z), np.empty_like(Z)
    steps = kernels.retract(Z, out, target, NEWTON_STEPS)
    steps2 = kernels.retract.py_func(Z, out2, target, NEWTON_STEPS)
    assert steps == steps2 and np.allclose(out, out2, atol=1e-12)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-12)
    if steps >= 0:  # Newton converged: the column sums are within its target
        assert np.linalg.norm(out.sum(axis=0)) <= target


def test_retract_is_rows_of_a_shift() -> None:
    """The Newton result is (z_i - b) / |z_i - b| for one b: recovered from two rows, it fits all."""
    rng = np.random.default_rng(3)
    n, r = 30, 4
    Y = retract(rng.standard_normal((n, r)))
    Z = np.ascontiguousarray(Y + 0.3 * rng.standard_normal((n, r)))
    out = np.empty_like(Z)
    assert kernels.retract(Z, out, 1e-12, NEWTON_STEPS) >= 0
    # out_i is parallel to z_i - b: b solves (I - out_i out_i^T) (z_i - b) = 0 for all i.
    A = np.vstack([np.eye(r) - np.outer(u, u) for u in out])
    rhs = np.concatenate([(np.eye(r) - np.outer(u, u)) @ z for u, z in zip(out, Z, strict=True)])
    b = np.linalg.lstsq(A, rhs, rcond=None)[0]
    D = Z - b
    assert np.allclose(out, D / np.linalg.norm(D, axis=1)[:, None], atol=1e-10)
    assert np.all(np.einsum("ij,ij->i", D, out) > 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ascend_matches_py_func_and_ascends(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, r = 24, 4
    A = sp.random(n, n, density=0.3, random_state=rng, data_rvs=rng.standard_normal)
    C = sp.csr_matrix(A + A.T)
    C.sort_indices()
    Y = retract(rng.standard_normal((n, r)))
    CY = np.ascontiguousarray(C @ Y)
    f = float(np.einsum("ij,ij->", CY, Y))
    V, lam = np.empty_like(Y), np.empty(n)
    kernels.tangent(Y, CY, V, lam)
    scale = max(1.0, float(abs(C).sum()) / n)
    target = 0.1 * FEASIBLE_SUM * np.sqrt(n)
    runs = []
    for fn in (kernels.ascend, kernels.ascend.py_func):
        state = [Y.copy(), CY.copy(), V.copy(), lam.copy()]
        recent = np.full(10, f)
        out = fn(C.indptr, C.indices, C.data, *state, f, 1.0 / scale, scale, 1e-8, 60, target,
                 NEWTON_STEPS, recent, 0)
        runs.append((out, state))
    (out, state), (out2, state2) = runs
    assert out[2:] == out2[2:] and np.isclose(out[0], out2[0], rtol=1e-10)
    for a, b in zip(state, state2, strict=True):
        assert np.allclose(a, b, atol=1e-8)
    Yn, CYn, Vn, lamn = state
    f_new, _, count, code = out
    assert code in (0, 1) and count > 0
    assert f_new > f  # the nonmonotone search still beats the start after a window
    assert np.allclose(np.linalg.norm(Yn, axis=1), 1.0, atol=1e-12)
    assert np.linalg.norm(Yn.sum(axis=0)) <= target
    assert np.isclose(f_new, float(np.einsum("ij,ij->", C @ Yn, Yn)), rtol=1e-10)
    assert np.allclose(CYn, C @ Yn, atol=1e-10)
    Vr, ar = _tangent_lstsq(Yn, CYn)
    assert np.allclose(Vn, Vr, atol=1e-8) and np.allclose(lamn, ar, atol=1e-8)


@pytest.mark.parametrize("jit", [True, False])
def test_retract_fallback_is_alternating_projections(jit: bool) -> None:
    """With no Newton steps allowed the kernel runs its fallback: column means out, rows
    normalised, until the column sums meet the target (here against plain NumPy)."""
    rng = np.random.default_rng(5)
    n, r = 40, 3
    Z = np.ascontiguousarray(retract(rng.standard_normal((n, r))) + 0.4 * rng.standard_normal((n, r)))
    target = 0.1 * FEASIBLE_SUM * np.sqrt(n)
    out = np.empty_like(Z)
    f = kernels.retract if jit else kernels.retract.py_func
    assert f(Z, out, target, 0) == -1
    ref = Z.copy()
    for _ in range(100):
        ref = ref - ref.mean(axis=0)
        ref /= np.linalg.norm(ref, axis=1)[:, None]
        if np.linalg.norm(ref.sum(axis=0)) <= target:
            break
    assert np.allclose(out, ref, atol=1e-12)
    assert np.linalg.norm(out.sum(axis=0)) <= target
