"""The API reference builds from the docstrings: one page per public module (scripts/api_docs.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location("api_docs", REPO / "scripts" / "api_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_reference_builds(tmp_path, capsys):
    pytest.importorskip("pdoc")
    script = _script()
    modules = script.public_modules()
    assert {"lowrank_sdp", "lowrank_sdp.solve", "lowrank_sdp.maxcut", "lowrank_sdp.result",
            "lowrank_sdp.io", "lowrank_sdp.solvers", "lowrank_sdp.cli"} <= set(modules)
    assert not [m for m in modules if "._" in m]  # private modules are not API
    assert script.main(["-o", str(tmp_path)]) == 0
    for module in modules:
        page = tmp_path / (module.replace(".", "/") + ".html")
        assert page.exists(), module
    solve_page = (tmp_path / "lowrank_sdp" / "solve.html").read_text()
    assert "Riemannian staircase" in solve_page and "IterationState" in solve_page
    assert "BaseResult" in (tmp_path / "lowrank_sdp" / "result.html").read_text()
