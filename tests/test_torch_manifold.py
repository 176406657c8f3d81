"""lowrank_sdp.torch.manifold agrees with the numpy core's manifold, and the torch extra is optional."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lowrank_sdp import manifold as npm  # noqa: E402
from lowrank_sdp.torch import manifold as tm  # noqa: E402


def _pair(seed: int, shape=(7, 3)):
    rng = np.random.default_rng(seed)
    Y = npm.random_point(int(np.prod(shape[:-1])), shape[-1], rng).reshape(shape)
    V = rng.standard_normal(shape)
    return Y, V


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("n", "r"), [(1, 1), (7, 3), (30, 1), (5, 12)])
def test_maps_equal_the_numpy_manifold(seed, n, r):
    Y, V = _pair(seed, (n, r))
    tY, tV = torch.from_numpy(Y), torch.from_numpy(V)
    np.testing.assert_allclose(tm.project(tY, tV).numpy(), npm.project(Y, V), atol=1e-14)
    for t in (0.0, 0.3, -2.5):
        np.testing.assert_allclose(tm.retract(tY, tV, t).numpy(), npm.retract(Y, V, t),
                                   atol=1e-14)
    np.testing.assert_allclose(float(tm.inner(tY, tV)), npm.inner(Y, V), rtol=1e-13)
    np.testing.assert_allclose(tm.normalize_rows(tV).numpy(), npm.normalize_rows(V), atol=1e-15)
    assert tm.is_point(tY) and (r == 1 or not tm.is_point(tV))


def test_in_place_variants_equal_the_pure_ones():
    Y, V = _pair(1, (4, 6, 5))  # a batch: rows along the last axis
    tY, tV = torch.from_numpy(Y), torch.from_numpy(V)
    P = tm.project(tY, tV)
    out = tV.clone()
    assert tm.project_(tY, out) is out and torch.equal(out, P)
    R = tm.retract(tY, P, 0.7)
    Z = tY.clone()
    assert tm.retract_(Z, P, 0.7) is Z
    torch.testing.assert_close(Z, R, rtol=0, atol=1e-15)
    np.testing.assert_allclose(torch.linalg.norm(Z, dim=-1).numpy(), 1.0, rtol=1e-14)
    # the row inner products broadcast on rows, and a projected V is tangent
    assert tm.row_inner(tY, tV).shape == (4, 6, 1)
    assert float(tm.row_inner(tY, P).abs().max()) < 1e-14


def test_a_row_that_would_vanish_keeps_y_as_in_numpy():
    Y = np.array([[1.0, 0.0], [0.6, 0.8]])
    V = np.array([[-1.0, 0.0], [0.0, 1.0]])  # row 0 of Y + V is zero
    tY, tV = torch.from_numpy(Y), torch.from_numpy(V)
    expected = npm.retract(Y, V, 1.0)
    np.testing.assert_array_equal(expected[0], Y[0])
    np.testing.assert_allclose(tm.retract(tY, tV).numpy(), expected, atol=1e-15)
    np.testing.assert_allclose(tm.retract_(tY.clone(), tV).numpy(), expected, atol=1e-15)


def test_float32_keeps_dtype_and_random_points_are_points():
    g = torch.Generator().manual_seed(0)
    Y = tm.random_point(50, 4, generator=g, dtype=torch.float32)
    assert Y.shape == (50, 4) and Y.dtype == torch.float32 and tm.is_point(Y)
    V = torch.randn(50, 4, generator=g)
    assert tm.retract(Y, tm.project(Y, V), 0.1).dtype == torch.float32
    # differentiable: the tangent projection's gradient is the projection itself (symmetric)
    Vg = V.clone().requires_grad_()
    (tm.project(Y, Vg) * V).sum().backward()
    torch.testing.assert_close(Vg.grad, tm.project(Y, V))


def test_bad_input_is_a_value_error():
    Y = tm.random_point(3, 2)
    with pytest.raises(ValueError, match="The 'V' parameter of project must be a tensor of the "
                                         "shape of Y"):
        tm.project(Y, torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"row \(1,\) of Y is zero"):
        tm.normalize_rows(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="The 'r' parameter of random_point must be a positive"):
        tm.random_point(3, 0)
    assert not tm.is_point(torch.zeros(0, 3)) and not tm.is_point(np.ones((2, 1)))


def test_core_runs_without_torch_and_the_torch_parts_name_the_extra():
    # torch made unimportable (sys.modules entry None): the numpy core still solves, and
    # lowrank_sdp.torch and bnn say which extra to install.
    code = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None
        import numpy as np
        import lowrank_sdp as ls
        C = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
        res = ls.solve(C, sense="min")
        assert abs(res.objective + 3.0) < 1e-6, res.objective  # X_ij = -1/2
        assert "torch" not in [m.split(".")[0] for m in sys.modules if sys.modules[m] is not None]
        for stmt in ("from lowrank_sdp.torch import RiemannianAdam", "import bnn"):
            try:
                exec(stmt)
            except ImportError as exc:
                assert "pip install lowrank_sdp[torch]" in str(exc), exc
            else:
                raise AssertionError(stmt + " imported without torch")
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False, cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
