"""The examples of docs/general.md run (every ```python block, in order, in one namespace)."""

from __future__ import annotations

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parent.parent / "docs" / "general.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_general_page_examples_run(monkeypatch):
    monkeypatch.chdir(PAGE.parent.parent)  # the examples read data/ relative to the repository
    namespace: dict = {"__name__": "docs_general"}
    blocks = BLOCK.findall(PAGE.read_text())
    assert blocks
    for number, code in enumerate(blocks, start=1):
        try:
            exec(compile(code, f"{PAGE}[block {number}]", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"general.md, python block {number} failed: {exc!r}") from exc
