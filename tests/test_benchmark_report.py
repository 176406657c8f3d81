"""Every docs section a benchmark writes names the command that wrote it."""

from __future__ import annotations

import sys

from benchmarks import _report  # private: the unit test of the benchmarks' own report helper


def test_sections_name_their_command(tmp_path, monkeypatch):
    monkeypatch.setattr(_report, "DOCS", tmp_path)
    monkeypatch.setattr(sys, "argv", [str(_report.REPO / "benchmarks" / "x.py"), "--only", "G1 G2"])
    _report.write_section("b.md", "s", "## Title\n\n| a |\n|---|", title="B")
    text = (tmp_path / "b.md").read_text()
    assert "## Title\n\nWritten by `python benchmarks/x.py --only 'G1 G2'`.\n\n| a |" in text
    _report.write_section("b.md", "s", "Written by `python benchmarks/x.py`. Table.")
    text = (tmp_path / "b.md").read_text()
    assert text.count("Written by") == 1 and "Table." in text  # the section was replaced


def test_sdplib_false_certificate_is_an_interval_missing_the_optimum():
    from benchmarks.references import SdplibOptimum
    from benchmarks.sdplib import _compare  # private: the unit test of the table's own check

    ref = SdplibOptimum("x", -44.9435, 0.5e-4, "SDPLIB table")

    def row(value, bound, status="CERTIFIED"):
        r = {"file": "x", "value": value, "bound": bound, "status": status, "sense": "max"}
        _compare(r, ref, 1e-6)
        return r

    # gpp100: the value is 5.1e-5 below the printed -44.9435, but [value, bound] contains it
    r = row(-44.94355081, -44.94350624)
    assert r["off_published"] and not r["certificate_contradicts"]
    # a proven upper bound below the optimum is a lie, however close the value
    r = row(-44.95, -44.9437)
    assert r["certificate_contradicts"]
    # a value above the optimum by more than the feasibility slack: a lie too
    assert row(-44.9430, -44.9429)["certificate_contradicts"]
    # a minimisation: the bound is the lower end
    r = {"file": "x", "value": -44.9435, "bound": -44.9430, "status": "CERTIFIED", "sense": "min"}
    _compare(r, ref, 1e-6)
    assert r["certificate_contradicts"]
    assert "certificate_contradicts" not in row(-44.95, -44.9437, status="TIME_LIMIT")


def test_sdplib_warm_up_goes_through_every_path_it_names(monkeypatch):
    """The untimed warm-up must reach the bisection and the augmented-Lagrangian solves (with and
    without inequalities, with an LP block), or its first file still pays Numba's loading."""
    import lowrank_sdp.general as general
    from benchmarks.sdplib import _warm_note, warm_up  # private: the chunk line's own unit test

    seen = []
    for name in ("_solve_bisection", "_solve"):
        real = getattr(general, name)

        def spy(sdp, *a, _real=real, _name=name, **k):
            seen.append((_name, sdp.m_ub > 0, any(b < 0 for b in sdp.blocks)))
            return _real(sdp, *a, **k)

        monkeypatch.setattr(general, name, spy)
    assert warm_up(1e-6) > 0
    assert ("_solve_bisection", False, False) in seen
    assert ("_solve", False, False) in seen and ("_solve", True, False) in seen
    assert ("_solve", False, True) in seen
    assert "untimed (0.30 s" in _warm_note({"warm_up_seconds": 0.3})
    assert _warm_note({}) == ""
