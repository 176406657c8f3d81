"""Each Numba kernel agrees with its pure-Python original (`.py_func`) and with plain NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from lowrank_sdp.kernels import linalg
from lowrank_sdp.kernels.mixing import mixing_sweep

sizes = st.integers(min_value=1, max_value=12)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def _matrix(rng: np.random.Generator, n: int, r: int, zero_rows: bool) -> np.ndarray:
    Y = rng.standard_normal((n, r))
    if zero_rows:
        Y[rng.random(n) < 0.3] = 0.0
    return Y


def _unit(rng: np.random.Generator, n: int, r: int) -> np.ndarray:
    Y = rng.standard_normal((n, r))
    return Y / np.linalg.norm(Y, axis=1, keepdims=True)


def _symmetric_csr(rng: np.random.Generator, n: int, density: float) -> sp.csr_matrix:
    A = sp.random(n, n, density=density, random_state=rng, data_rvs=rng.standard_normal)
    A = sp.csr_matrix(A + A.T)
    A.sort_indices()
    return A


def _both(kernel, *args):
    """(jitted result, py_func result) on independent copies of the array arguments."""
    copy = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    return kernel(*args), kernel.py_func(*copy), args, copy


@given(n=sizes, r=sizes, seed=seeds, density=st.sampled_from([0.0, 0.2, 1.0]))
def test_csr_matmat(n, r, seed, density):
    rng = np.random.default_rng(seed)
    A = _symmetric_csr(rng, n, density)
    Y = _matrix(rng, n, r, zero_rows=True)
    jit, py, _, _ = _both(linalg.csr_matmat, A.indptr, A.indices, A.data, Y, np.full((n, r), 7.0))
    np.testing.assert_allclose(jit, py, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jit, A @ Y, rtol=1e-12, atol=1e-12)


@given(n=sizes, r=sizes, seed=seeds, zero_rows=st.booleans())
def test_normalize_rows(n, r, seed, zero_rows):
    Y = _matrix(np.random.default_rng(seed), n, r, zero_rows)
    norms = np.linalg.norm(Y, axis=1)
    jit, py, (Yj,), (Yp,) = _both(linalg.normalize_rows, Y.copy())
    assert jit == py == int(np.sum(norms == 0))
    np.testing.assert_allclose(Yj, Yp, rtol=1e-14, atol=0)
    nonzero = norms > 0
    np.testing.assert_allclose(Yj[nonzero], Y[nonzero] / norms[nonzero, None], rtol=1e-14)
    assert np.all(Yj[~nonzero] == 0)


@given(n=sizes, r=sizes, seed=seeds, t=st.floats(-10, 10))
def test_retract(n, r, seed, t):
    rng = np.random.default_rng(seed)
    Y = _unit(rng, n, r)
    V = _matrix(rng, n, r, zero_rows=True)
    jit, py, _, _ = _both(linalg.retract, Y, V, t, np.empty((n, r)))
    np.testing.assert_allclose(jit, py, rtol=1e-13, atol=1e-15)
    moved = Y + t * V
    norms = np.linalg.norm(moved, axis=1, keepdims=True)
    np.testing.assert_allclose(jit, moved / norms, rtol=1e-12, atol=1e-14)


def test_retract_keeps_a_row_that_would_vanish():
    Y = np.array([[1.0, 0.0], [0.0, 1.0]])
    V = np.array([[-1.0, 0.0], [1.0, 0.0]])  # row 0: Y_0 + 1 * V_0 = 0
    for kernel in (linalg.retract, linalg.retract.py_func):
        out = kernel(Y, V, 1.0, np.empty_like(Y))
        np.testing.assert_array_equal(out[0], Y[0])
        np.testing.assert_allclose(out[1], np.array([1.0, 1.0]) / np.sqrt(2.0))


@given(n=sizes, r=sizes, seed=seeds, zero_rows=st.booleans())
def test_riemannian_gradient(n, r, seed, zero_rows):
    rng = np.random.default_rng(seed)
    Y = _unit(rng, n, r)
    if zero_rows:
        Y[rng.random(n) < 0.3] = 0.0
    GY = _matrix(rng, n, r, zero_rows=True)
    jit, py, (_, _, gj, lj), (_, _, gp, lp) = _both(
        linalg.riemannian_gradient, GY, Y, np.empty((n, r)), np.empty(n)
    )
    np.testing.assert_allclose(jit, py, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gj, gp, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(lj, lp, rtol=1e-12, atol=1e-12)
    lam = np.einsum("ij,ij->i", GY, Y)
    grad = 2.0 * (GY - lam[:, None] * Y)
    np.testing.assert_allclose(lj, lam, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gj, grad, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jit, (lam.sum(), np.sum(grad**2)), rtol=1e-12, atol=1e-12)


@given(n=sizes, r=sizes, seed=seeds)
def test_project_tangent(n, r, seed):
    rng = np.random.default_rng(seed)
    Y = _unit(rng, n, r)
    Y[rng.random(n) < 0.2] = 0.0  # a zero row projects to V_i itself
    V = _matrix(rng, n, r, zero_rows=True)
    jit, py, _, _ = _both(linalg.project_tangent, Y, V, np.empty((n, r)))
    np.testing.assert_allclose(jit, py, rtol=1e-12, atol=1e-13)
    expected = V - np.einsum("ij,ij->i", V, Y)[:, None] * Y
    np.testing.assert_allclose(jit, expected, rtol=1e-12, atol=1e-13)


def test_project_tangent_in_place():
    """The solvers call project_tangent(Y, d, d): aliasing input and output must be safe."""
    rng = np.random.default_rng(0)
    Y, V = _unit(rng, 6, 3), rng.standard_normal((6, 3))
    expected = linalg.project_tangent(Y, V, np.empty_like(V))
    np.testing.assert_allclose(linalg.project_tangent(Y, V, V), expected, rtol=1e-14)


@given(n=sizes, r=sizes, seed=seeds, density=st.sampled_from([0.0, 0.3, 1.0]),
       omega=st.sampled_from([1.0, 0.5, 1.5, 1.99]))
def test_mixing_sweep(n, r, seed, density, omega):
    rng = np.random.default_rng(seed)
    A = _symmetric_csr(rng, n, density)
    A = sp.csr_matrix(A - sp.diags(A.diagonal()))  # the kernel takes C without its diagonal
    A.eliminate_zeros()
    A.sort_indices()
    Y = _unit(rng, n, r)
    jit, py, (*_, Yj, _, _), (*_, Yp, _, _) = _both(
        mixing_sweep, A.indptr, A.indices, A.data, Y.copy(), np.empty(r), omega
    )
    np.testing.assert_allclose(jit, py, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(Yj, Yp, rtol=1e-10, atol=1e-12)
    # Independent checks: unit rows, and the reported decrease is the true decrease of <C, Y Y^T>.
    np.testing.assert_allclose(np.linalg.norm(Yj, axis=1), 1.0, rtol=1e-12)
    before = float(np.vdot(A @ Y, Y))
    after = float(np.vdot(A @ Yj, Yj))
    assert jit[0] >= 0.0
    assert jit[0] == pytest.approx(before - after, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("omega", [1.0, 0.5, 1.5, 1.9])
def test_mixing_sweep_over_relaxes_towards_the_minimiser(omega):
    """Row 0, updated first from the untouched rows: (y + omega (u - y)) / |.|, u = -g / |g| the
    exact minimiser (omega = 1: the mixing method's u itself)."""
    rng = np.random.default_rng(3)
    n, r = 8, 4
    A = _symmetric_csr(rng, n, 0.6)
    A = sp.csr_matrix(A - sp.diags(A.diagonal()))
    A.eliminate_zeros()
    Y = _unit(rng, n, r)
    Y0 = Y.copy()
    mixing_sweep(A.indptr, A.indices, A.data, Y, np.empty(r), omega)
    u = -(A[[0]] @ Y0).ravel()
    u /= np.linalg.norm(u)
    p = Y0[0] + omega * (u - Y0[0])
    np.testing.assert_allclose(Y[0], p / np.linalg.norm(p), rtol=1e-12, atol=1e-14)
    # Closer to the minimiser than before, unless it was there.
    assert Y[0] @ u >= Y0[0] @ u


def test_mixing_sweep_leaves_isolated_rows():
    Y = _unit(np.random.default_rng(2), 4, 2)
    empty = sp.csr_matrix((4, 4))
    out = Y.copy()
    decrease, grad2 = mixing_sweep(empty.indptr, empty.indices, empty.data, out, np.empty(2), 1.5)
    assert decrease == 0.0 and grad2 == 0.0
    np.testing.assert_array_equal(out, Y)


def _bfgs_inverse_hessian(pairs: list[tuple[np.ndarray, np.ndarray]], N: int) -> np.ndarray:
    """H = the BFGS inverse-Hessian updates of H_0 = <s, y> / <y, y> (newest pair) I over the
    pairs, oldest first, as explicit N x N matrices (Nocedal & Wright eq. 7.19)."""
    s, y = pairs[-1]
    H = float(s @ y) / float(y @ y) * np.eye(N)
    for s, y in pairs:
        rho = 1.0 / float(s @ y)
        V = np.eye(N) - rho * np.outer(y, s)
        H = V.T @ H @ V + rho * np.outer(s, s)
    return H


@pytest.mark.parametrize("pushes", [0, 1, 3, 5, 11])
def test_lbfgs_memory_direction_is_the_bfgs_matrix(pushes):
    """The ring memory (the Numba two-loop) against the explicit BFGS matrix of its last `size`
    pairs, including wrap-around and a rejected pair written into the free slot."""
    from lowrank_sdp.solvers.lbfgs import LbfgsMemory

    rng = np.random.default_rng(pushes)
    shape, size = (6, 3), 4
    N = shape[0] * shape[1]
    memory = LbfgsMemory(shape, size)
    kept = []
    A = rng.standard_normal((N, N))
    A = A @ A.T + N * np.eye(N)  # s^T y > 0 for y = A s
    for k in range(pushes):
        s = rng.standard_normal(shape)
        y = (A @ s.reshape(-1)).reshape(shape)
        S, Yd = memory.slot()
        S[...], Yd[...] = s, y
        memory.push(1.0 / float(np.vdot(s, y)))
        kept.append((s.reshape(-1).copy(), y.reshape(-1).copy()))
        if k == 2:  # written into the free slot, then rejected: must not disturb the kept pairs
            S, Yd = memory.slot()
            S[...], Yd[...] = 1e6, -1e6
    kept = kept[-size:]
    grad = rng.standard_normal(shape)
    assert len(memory) == len(kept)
    got = memory.direction(grad)
    want = -(_bfgs_inverse_hessian(kept, N) @ grad.reshape(-1)) if kept else -grad.reshape(-1)
    np.testing.assert_allclose(got.reshape(-1), want, rtol=1e-10, atol=1e-12)
    out = np.empty(shape)
    assert memory.direction(grad, out=out) is out
    np.testing.assert_allclose(out, got)
