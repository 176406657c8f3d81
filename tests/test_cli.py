"""The `lowrank-sdp` command line: maxcut and solve subcommands, JSON, errors, progress, Ctrl-C."""

from __future__ import annotations

import io
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import lowrank_sdp as ls
from lowrank_sdp import cli

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
C5_SDP = 2.5 * (1.0 - math.cos(4.0 * math.pi / 5.0))  # SDP value of the 5-cycle


@pytest.fixture
def cycle5(tmp_path: Path) -> Path:
    path = tmp_path / "C5.txt"
    path.write_text("5 5\n1 2 1\n2 3 1\n3 4 1\n4 5 1\n1 5 1\n")
    return path


def last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def sdpa_gmp(name: str) -> float:
    for line in (DATA / "sdplib" / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == name and len(cells) == 7:
            return float(cells[5])
    raise KeyError(name)


def test_maxcut_json(cycle5, capsys):
    assert cli.main(["maxcut", str(cycle5), "--json", "--quiet"]) == 0
    out = last_json(capsys.readouterr().out)
    required = {"name", "n", "m", "objective", "bound", "gap", "cut_value", "rank",
                "seconds", "status", "partition"}
    assert required <= set(out)
    assert out["status"] in ls.Status.__members__
    assert (out["n"], out["m"], out["cut_value"]) == (5, 5, 4)
    assert out["objective"] == pytest.approx(C5_SDP, rel=1e-6)
    assert out["objective"] <= out["bound"] + 1e-9
    assert out["name"].startswith("C5")


def test_maxcut_summary_names_every_quantity(cycle5, capsys):
    assert cli.main(["maxcut", str(cycle5), "--quiet", "--trials", "20", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    for word in ("C5", "n = 5", "m = 5", "SDP value", "upper bound", "gap", "cut", "ratio",
                 "status", "CERTIFIED", "seconds"):
        assert word in out
    value = float(re.search(r"SDP value\s+(\S+)", out).group(1))
    assert value == pytest.approx(C5_SDP, rel=1e-6)
    assert re.search(r"cut\s+4\b", out)


def test_solve_sdplib_file(capsys):
    assert cli.main(["solve", str(DATA / "sdplib" / "mcp100.dat-s"), "--json", "--quiet"]) == 0
    out = last_json(capsys.readouterr().out)
    assert out["name"] == "mcp100"
    assert out["status"] == "CERTIFIED"
    assert out["objective"] == pytest.approx(sdpa_gmp("mcp100"), rel=1e-6)
    assert out["bound"] >= sdpa_gmp("mcp100") * (1 - 1e-9)


def test_solve_summary(capsys):
    assert cli.main(["solve", str(DATA / "sdplib" / "mcp124-1.dat-s"), "--quiet"]) == 0
    out = capsys.readouterr().out
    value = float(re.search(r"optimal value\s+(\S+)", out).group(1))
    assert value == pytest.approx(sdpa_gmp("mcp124-1"), rel=1e-6)
    for word in ("bound", "gap", "status", "seconds"):
        assert word in out


def test_solve_takes_general_constraints(capsys):
    """theta1 is not unit-diagonal: the general path solves it (tests/test_general_sdplib.py)."""
    assert cli.main(["solve", str(DATA / "sdplib" / "theta1.dat-s"), "--quiet", "--tol", "1e-4"]) == 0
    out = capsys.readouterr().out
    assert "theta1" in out and "infeasibility" in out


def test_missing_file_and_bad_options(tmp_path, capsys):
    assert cli.main(["maxcut", str(tmp_path / "nope.txt"), "--quiet"]) == 2
    assert "nope.txt" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["maxcut", "x.txt", "--rank", "zero"])
    assert exit_info.value.code == 2
    assert cli.main(["maxcut", str(DATA / "gset" / "G14.txt.gz"), "--tol", "-1", "--quiet"]) == 2
    assert "'tol'" in capsys.readouterr().err


def test_progress_display():
    state = SimpleNamespace(iteration=42, objective=3.5, grad_norm=1e-3, rank=4)
    quiet = io.StringIO()
    cli.Progress(quiet, delay=60.0)(state)
    assert quiet.getvalue() == ""  # short runs print nothing

    log = io.StringIO()
    progress = cli.Progress(log, delay=0.0)
    progress(state)
    progress(state)  # within the refresh interval: not repeated
    assert log.getvalue().count("\n") == 1
    assert "42" in log.getvalue() and "3.5" in log.getvalue()

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    progress = cli.Progress(term, delay=0.0)
    progress(state)
    assert term.getvalue().startswith("\r") and "\n" not in term.getvalue()  # redrawn in place
    progress.close()
    assert term.getvalue().endswith("\r")  # erased before the summary


def test_ctrl_c_still_prints_the_best_point(cycle5, capsys, monkeypatch):
    def interrupt(self, state):
        if state.iteration >= 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli.Progress, "__call__", interrupt)
    assert cli.main(["maxcut", str(cycle5), "--json"]) == 0
    out = last_json(capsys.readouterr().out)
    assert out["status"] == "INTERRUPTED"
    assert out["cut_value"] <= out["bound"]
    assert out["objective"] <= out["bound"] + 1e-9


def test_entry_point_in_a_fresh_process(cycle5):
    done = subprocess.run(
        [sys.executable, "-m", "lowrank_sdp.cli", "maxcut", str(cycle5), "--json"],
        capture_output=True, text=True, cwd=REPO, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert last_json(done.stdout)["cut_value"] == 4


def test_output_partition_and_factor(cycle5, tmp_path, capsys):
    part, factor = tmp_path / "cut.txt", tmp_path / "Y.npy"
    assert cli.main(["maxcut", str(cycle5), "--json", "--quiet", "--output", str(part),
                     "--save-y", str(factor)]) == 0
    out = last_json(capsys.readouterr().out)
    plus, minus = out["partition"]
    assert sorted(plus + minus) == [1, 2, 3, 4, 5]  # the file's 1-based vertex numbers
    lines = [line.split() for line in part.read_text().splitlines() if not line.startswith("#")]
    sides = {int(v): int(s) for v, s in lines}
    assert {v for v, s in sides.items() if s == 1} == set(plus)
    cut = sum(sides[a] != sides[b] for a, b in ((1, 2), (2, 3), (3, 4), (4, 5), (1, 5)))
    assert cut == out["cut_value"] == 4
    import numpy as np

    Y = np.load(factor)
    assert Y.shape == (5, out["rank"])
    np.testing.assert_allclose(np.linalg.norm(Y, axis=1), 1.0)


def test_format_option(tmp_path, capsys):
    path = tmp_path / "square.dat"  # an unknown suffix: guessed as an edge list unless told
    path.write_text("4 4\n1 2 1\n2 3 1\n3 4 1\n1 4 1\n")
    assert cli.main(["maxcut", str(path), "--format", "gset", "--json", "--quiet"]) == 0
    out = last_json(capsys.readouterr().out)
    assert (out["n"], out["m"], out["cut_value"]) == (4, 4, 4)
    assert cli.GRAPH_FORMATS == ("gset", "rudy", "mtx", "sdpa", "edgelist")
    from lowrank_sdp.io import readers

    assert cli.GRAPH_FORMATS == readers.FORMATS


def test_help_shows_defaults():
    for command in ("maxcut", "solve"):
        text = cli.build_parser()._subparsers._group_actions[0].choices[command].format_help()
        text = " ".join(text.split())
        assert "(default: 1e-06)" in text and "(default: auto)" in text, text
        assert "tr (Riemannian trust region)" in text


def test_broken_pipe_is_quiet(cycle5):
    """`lowrank-sdp maxcut G --json | head -c 10`: the reader quits first; no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "lowrank_sdp.cli", "maxcut", str(cycle5), "--json", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )
    proc.stdout.close()  # before the child has written anything (it is still importing)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == cli.EXIT_BROKEN_PIPE
    assert err == ""


def test_maxsat_json_output_and_errors(tmp_path, capsys):
    sol = tmp_path / "small.sol"
    path = DATA / "maxsat" / "small.wcnf"
    assert cli.main(["maxsat", str(path), "--json", "--quiet", "--output", str(sol)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["status"] == "CERTIFIED" and out["hard_satisfied"]
    assert out["satisfied_weight"] <= out["bound"]
    values = [int(t) for t in sol.read_text().split()[1:-1]]
    assert values == out["assignment"] and [abs(v) for v in values] == list(range(1, 7))
    assert cli.main(["maxsat", str(path), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "MAX-SAT, 6 variables, 14 clauses (1 hard)" in text and "upper bound" in text
    bad = tmp_path / "bad.wcnf"
    bad.write_text("p wcnf 2 1\n1 1 3 0\n")
    assert cli.main(["maxsat", str(bad), "--quiet"]) == 2
    assert "line 2: literal 3 names variable 3" in capsys.readouterr().err
