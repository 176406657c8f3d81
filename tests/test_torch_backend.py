"""The torch path of the front door (`solve(C, device=...)`), on CPU torch: it agrees with the numpy
path to the tolerance, its certificates are valid bounds, it keeps the statuses and determinism."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import lowrank_sdp as ls

torch = pytest.importorskip("torch")


def _graph_cost(seed: int, n: int, degree: float = 6.0) -> sp.csr_matrix:
    """L/4 of a random graph with +-1 weights (Max-Cut style, maximised)."""
    rng = np.random.default_rng(seed)
    m = int(n * degree / 2)
    i, j = rng.integers(0, n, m), rng.integers(0, n, m)
    keep = i != j
    W = sp.coo_matrix((rng.choice([-1.0, 1.0], keep.sum()), (i[keep], j[keep])), shape=(n, n))
    W = sp.csr_matrix(W + W.T)
    W.sum_duplicates()
    L = sp.diags(np.asarray(W.sum(axis=1)).ravel()) - W
    return sp.csr_matrix(L / 4.0)


def _dense_cost(seed: int, n: int) -> np.ndarray:
    A = np.random.default_rng(seed).standard_normal((n, n))
    return (A + A.T) / 2


def _torch_csr(C: sp.csr_matrix):
    return torch.sparse_csr_tensor(torch.from_numpy(C.indptr.astype(np.int64)),
                                   torch.from_numpy(C.indices.astype(np.int64)),
                                   torch.from_numpy(C.data), size=C.shape, dtype=torch.float64)


def _agree(a: ls.Result, b: ls.Result, tol: float) -> None:
    """Both certified to tol and each one's bound brackets the other's objective."""
    assert a.certified and b.certified
    scale = 1.0 + abs(b.objective)
    assert abs(a.objective - b.objective) <= 2 * tol * scale
    if a.sense == "max":
        assert a.bound >= b.objective - 1e-12 * scale and b.bound >= a.objective - 1e-12 * scale
    else:
        assert a.bound <= b.objective + 1e-12 * scale and b.bound <= a.objective + 1e-12 * scale


@pytest.mark.parametrize("kind", ["scipy", "torch_csr", "torch_dense", "callable"])
def test_agrees_with_the_numpy_path(kind):
    C = _graph_cost(1, 300)
    tol = 1e-6
    ref = ls.solve(C, sense="max", tol=tol, method="rgd")
    if kind == "scipy":
        given = C
    elif kind == "torch_csr":
        given = _torch_csr(C)
    elif kind == "torch_dense":
        given = torch.from_numpy(C.toarray())
    else:
        M = _torch_csr(C)

        class Op:
            shape = C.shape

            def __call__(self, Y):
                return torch.sparse.mm(M, Y)

        given = Op()
    res = ls.solve(given, sense="max", tol=tol, device="cpu")
    _agree(res, ref, tol)
    assert res.method == "rgd" and res.sense == "max"
    assert isinstance(res.Y, np.ndarray) and res.Y.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(res.Y, axis=1), 1.0, rtol=1e-12)
    assert res.objective == pytest.approx(float(np.vdot(C @ res.Y, res.Y)), rel=1e-12)
    assert res.certificate.bound == res.bound


def test_torch_tensor_runs_on_its_device_and_minimises_dense():
    C = _dense_cost(2, 40)
    ref = ls.solve(C, tol=1e-7)
    res = ls.solve(torch.from_numpy(C), tol=1e-7)  # no device: the tensor's own (CPU)
    _agree(res, ref, 1e-7)
    exact = float(np.linalg.eigvalsh(C)[0]) * 40  # a valid (weaker) lower bound: n * lambda_min(C)
    assert res.bound >= exact - 1e-9


def test_deterministic_for_a_seed():
    C = _torch_csr(_graph_cost(3, 200))
    a = ls.solve(C, sense="max", device="cpu", seed=4)
    b = ls.solve(C, sense="max", device=torch.device("cpu"), seed=4)
    assert (a.objective, a.bound, a.iterations, a.rank_history) == (
        b.objective, b.bound, b.iterations, b.rank_history)
    np.testing.assert_array_equal(a.Y, b.Y)


def test_statuses_and_stops():
    C = _graph_cost(4, 200)
    res = ls.solve(C, sense="max", device="cpu", max_iterations=3)
    assert res.status is ls.Status.MAX_ITERATIONS and res.iterations == 3
    assert np.isfinite(res.bound) and res.bound >= res.objective
    res = ls.solve(C, sense="max", device="cpu", time_limit=0.0)
    assert res.status is ls.Status.TIME_LIMIT and res.bound >= res.objective
    seen = []

    def stop_at_five(state):
        seen.append((state.iteration, state.rank, state.Y.shape))
        assert not state.Y.flags.writeable
        if state.iteration == 5:
            raise StopIteration

    res = ls.solve(C, sense="max", device="cpu", callback=stop_at_five)
    assert res.status is ls.Status.CALLBACK and res.iterations == 5
    assert [s[0] for s in seen] == [1, 2, 3, 4, 5]


def test_staircase_climbs_on_torch():
    C = _dense_cost(6, 25)
    Y0 = np.ones((25, 1)) + np.arange(25)[:, None] % 2
    ref = ls.solve(C, Y0=Y0)
    res = ls.solve(C, Y0=torch.from_numpy(Y0), device="cpu")
    assert res.certified and res.rank_history[0] == 1 and res.rank > 1
    assert list(res.rank_history) == sorted(res.rank_history)
    _agree(res, ref, 1e-6)
    capped = ls.solve(C, Y0=Y0, device="cpu", max_rank=1)
    assert capped.status is ls.Status.MAX_RANK and not capped.certified


def test_bad_arguments():
    C = _graph_cost(5, 50)
    with pytest.raises(ValueError, match="'device' parameter of solve"):
        ls.solve(C, device="tpu-nonsense")
    with pytest.raises(ValueError, match="'device' parameter of solve"):
        ls.solve(C, device=3)
    with pytest.raises(ValueError, match="'method' parameter of solve"):
        ls.solve(C, device="cpu", method="mixing")
    with pytest.warns(UserWarning, match="not symmetric"):  # solved as its symmetric part
        ls.solve(torch.tensor([[0.0, 1.0], [2.0, 0.0]]), device="cpu", max_iterations=5)
    with pytest.raises(ValueError, match="'C' parameter of solve"):
        ls.solve(lambda Y: Y, device="cpu")  # a callable needs a shape (or Y0)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="available device"):
            ls.solve(C, device="cuda")


def test_core_imports_without_torch():
    """`import lowrank_sdp` and the numpy path work where torch cannot be imported."""
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np, lowrank_sdp as ls\n"
        "r = ls.solve(np.diag([1.0, 2.0, 3.0]), tol=1e-8)\n"
        "assert r.certified\n"
        "try:\n"
        "    ls.solve(np.eye(3), device='cpu')\n"
        "except ImportError as e:\n"
        "    assert 'lowrank_sdp[torch]' in str(e)\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(_repo()))


def _repo():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent
