"""The runnable example of docs/bnn.md runs and does what it says."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "bnn.md"


def test_docs_example_runs(capsys):
    text = DOC.read_text()
    match = re.search(r"<!-- example -->\n```python\n(.*?)```", text, re.S)
    assert match, "docs/bnn.md lost its example block"
    namespace: dict = {}
    exec(compile(match.group(1), str(DOC), "exec"), namespace)
    out = capsys.readouterr().out
    for mode in ("mean", "sample", "ensemble", "harden"):
        assert f"mode='{mode}'" in out
    assert namespace["hard"].chosen.accuracy > 0.5  # chance is 0.25
