"""The torch path of the front door (`solve(C, device=...)`), on CPU torch: it agrees with the numpy
path to the tolerance, its certificates are valid bounds, it keeps the statuses and determinism."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import lowrank_sdp as ls
from lowrank_sdp.io import read_graph

torch = pytest.importorskip("torch")
GSET = Path(__file__).resolve().parent.parent / "data" / "gset"


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


def _certificate_calls(monkeypatch, **options) -> tuple[ls.Result, list[dict]]:
    """A solve of G14 climbing the staircase from rank 2, with the keyword arguments of every
    certificate it computed (through lowrank_sdp.solve's step_certificate/final_certificate) and
    whether `warm` was the previous certificate's eigenvector."""
    from lowrank_sdp.certificate import certify_problem

    calls, last = [], []

    def spy(problem, Y, **kwargs):
        cert = certify_problem(problem, Y, **kwargs)
        warm = kwargs.get("warm")
        calls.append({**kwargs, "warm": warm is not None,
                      "warm_is_last": bool(last) and warm is last[-1] and warm is not None})
        last.append(cert.eigenvector)
        return cert

    # The module (ls.solve is the function of that name).
    monkeypatch.setattr(sys.modules["lowrank_sdp.solve"], "certify_problem", spy)
    C = read_graph(GSET / "G14.txt.gz").laplacian_quarter()
    Y0 = np.random.default_rng(0).standard_normal((C.shape[0], 2))
    return ls.solve(C, sense="max", tol=1e-6, Y0=Y0, **options), calls


@pytest.mark.parametrize("stop", [{}, {"max_iterations": 40}, {"time_limit": 0.0}])
def test_certificates_are_computed_as_on_the_numpy_path(monkeypatch, stop):
    """The torch path's certificates get the numpy path's evidence and proof budget: the same
    keywords (early exit inside the solve, proof_seconds, the previous eigenvector as warm start),
    the hurried minimum budget after a time limit; and on G14 the same status, evidence and
    ranks (the torch path once certified without proof_seconds or warm)."""
    from lowrank_sdp.certificate import DEFAULT_PROOF_SECONDS

    ref, ref_calls = _certificate_calls(monkeypatch, method="rgd", **stop)
    res, calls = _certificate_calls(monkeypatch, device="cpu", **stop)
    for run in (ref_calls, calls):
        assert {frozenset(c) for c in run} == {frozenset(ref_calls[0])}
        assert all(c["proof_seconds"] >= DEFAULT_PROOF_SECONDS for c in run)
        inside = run if ref.certified else run[:-1]  # the last: the returned point's, in full
        assert all(c.get("early_exit") for c in inside)
        assert ref.certified or not run[-1].get("early_exit")
        assert all(c["warm_is_last"] for c in run[1:])
    if not stop:
        assert len(calls) > 2  # several ranks, each certificate warm-started
    if "time_limit" in stop:  # hurried: the minimum budget, on both paths
        assert calls[-1]["proof_seconds"] == ref_calls[-1]["proof_seconds"] == DEFAULT_PROOF_SECONDS
    assert res.status is ref.status and res.rank_history == ref.rank_history
    assert res.certificate.evidence is ref.certificate.evidence
    assert res.bound >= res.objective and ref.bound >= ref.objective
    if ref.certified:
        _agree(res, ref, 1e-6)


def test_asymmetric_tensor_is_solved_as_its_symmetric_part():
    """An asymmetric tensor C: the iterations use (C + C^T) / 2, as the certificate does (they
    used C itself, whose 2 C Y is not the gradient: a ZeroDivisionError in the BB step)."""
    C = _dense_cost(7, 30)
    C[0, 1] += 5.0
    ref = ls.solve((C + C.T) / 2, tol=1e-8)
    for device in ("cpu", None):
        with pytest.warns(UserWarning, match="not symmetric"):
            res = ls.solve(torch.from_numpy(C), tol=1e-8, device=device)
        _agree(res, ref, 1e-8)


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
