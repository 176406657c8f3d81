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
