"""The solver contract: the method registry, custom methods, the callback state, the shipped
method table."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse.linalg import aslinearoperator

import lowrank_sdp as ls
from lowrank_sdp import cli, manifold
from lowrank_sdp.problem import make_problem
from lowrank_sdp.solvers import InnerOptions, InnerResult, Monitor, choose_method, method_table

REPO = Path(__file__).resolve().parent.parent


def _C(n: int = 12, seed: int = 0) -> np.ndarray:
    A = np.random.default_rng(seed).standard_normal((n, n))
    return (A + A.T) / 2


def plain_gradient_descent(problem, Y, options: InnerOptions, monitor: Monitor) -> InnerResult:
    """A custom method after the documented contract: fixed-step Riemannian gradient descent."""
    f, GY = problem.objective.evaluate(Y)
    while True:
        grad, _, g2 = manifold.riemannian_gradient(Y, GY)
        gnorm = float(np.sqrt(g2))
        if gnorm <= options.grad_tol * (1.0 + abs(f)):
            return InnerResult(Y, f, gnorm, True)
        Y = manifold.retract(Y, grad, -0.02)
        f, GY = problem.objective.evaluate(Y)
        if monitor.step(Y, f, gnorm):
            return InnerResult(Y, f, gnorm, False, monitor.stop)


def test_custom_method_callable():
    C = _C()
    res = ls.solve(C, method=plain_gradient_descent, rank=12)
    assert res.method == "plain_gradient_descent"
    assert res.certified
    ref = np.linalg.eigvalsh(C)  # rank n: min <C, X> with diag(X) = 1 is an SDP; compare with rgd
    assert res.objective >= 12 * ref[0] - 1e-9
    np.testing.assert_allclose(res.objective, ls.solve(C, method="rgd").objective, rtol=1e-5)
    # The monitor's stops apply to a custom method like to the built-in ones.
    capped = ls.solve(C, method=plain_gradient_descent, max_iterations=5)
    assert capped.status is ls.Status.MAX_ITERATIONS and capped.iterations == 5


def test_bad_method_names_the_choices():
    with pytest.raises(ValueError, match=r"^The 'method' parameter of solve must be one of "
                       r'"auto", "rgd", "lbfgs", "mixing", "tr", or a callable'):
        ls.solve(_C(), method="newton")


def test_every_method_shares_the_common_pieces():
    """No method reaches into another method's module for its helpers."""
    for path in (REPO / "lowrank_sdp" / "solvers").glob("*.py"):
        text = path.read_text()
        assert "from lowrank_sdp.solvers.rgd import" not in text or path.name == "__init__.py", path


def test_callback_state_is_the_public_iteration_state():
    seen = []
    ls.solve(_C(), callback=seen.append, max_iterations=3)
    assert len(seen) == 3 and all(isinstance(s, ls.IterationState) for s in seen)
    state = seen[-1]
    assert isinstance(state, ls.IterationRecord) and state.iteration == 3
    assert state.Y.shape == (12, state.rank) and not state.Y.flags.writeable
    assert "IterationState(iteration=3" in repr(state)


def test_auto_choice_comes_from_the_shipped_table():
    assert set(method_table.MEASURED["choice"]) == {"sparse", "dense", "operator", "nonlinear"}
    problem = make_problem(aslinearoperator(_C()), "min")
    assert choose_method(problem) == method_table.MEASURED["choice"]["operator"]
    # The table decides: a different table gives a different choice; a refused method falls back.
    assert choose_method(problem, {"choice": {"operator": "tr"}}) == "tr"
    assert choose_method(problem, {"choice": {"operator": "mixing"}}) == "rgd"


def test_cli_lists_every_method():
    assert cli.METHOD_NAMES == ("auto", *ls.METHODS)
    helptext = cli.build_parser()._subparsers._group_actions[0].choices["solve"].format_help()
    for name in ls.METHODS:
        assert name in helptext


def test_installed_wheel_ships_the_method_table(tmp_path):
    """Build the wheel, unpack it away from the source tree, and import the choice from there."""
    source = tmp_path / "src"  # a copy: the build writes build/ and *.egg-info next to the sources
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("lowrank_sdp", "bnn"):
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    wheel = next((tmp_path / "dist").glob("lowrank_sdp-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        assert "lowrank_sdp/solvers/method_table.py" in z.namelist()
        z.extractall(tmp_path / "site")
    probe = (
        "import lowrank_sdp.solvers as s, numpy as np\n"
        "from lowrank_sdp.problem import make_problem\n"
        "from scipy.sparse.linalg import aslinearoperator\n"
        "assert s.__file__.startswith({!r}), s.__file__\n"
        "problem = make_problem(aslinearoperator(np.diag([1.0, 2.0]) + 0.5), 'min')\n"
        "print(s.choose_method(problem), s.method_table.MEASURED['choice']['operator'])\n"
    ).format(str(tmp_path / "site"))
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site"),
                                            "NUMBA_CACHE_DIR": str(tmp_path / "numba")},
                         timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    used, shipped = run.stdout.split()
    assert used == shipped == method_table.MEASURED["choice"]["operator"]
