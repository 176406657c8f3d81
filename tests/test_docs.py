"""The examples in the docs run: every ```python block of every page (docs/*.md and the README), in
order, in one namespace per page. Code that is not meant to run (signatures, sketches) is marked
```text, not ```python."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PENDING = {"bnn.md"}
"""Pages whose ```python blocks run elsewhere: docs/bnn.md's (a training run) run once, in
tests/test_bnn_docs.py, which also checks what they print and that its signatures are ```text."""
PAGES = [*sorted(p.name for p in DOCS.glob("*.md") if p.name not in PENDING), "../README.md"]
NEEDS_TORCH = {"bnn.md", "bnn-results.md"}  # the bnn pages import torch (the torch extra)
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_pages_with_examples():
    with_examples = {page for page in PAGES if BLOCK.findall((DOCS / page).read_text())}
    assert {"index.md", "conventions.md", "certificate.md", "result.md", "io.md", "maxcut.md",
            "../README.md"} <= with_examples


def test_readme_starts_with_the_two_commands():
    """A newcomer's first block: exactly `make demo` and `make test`, nothing else to type."""
    readme = (DOCS.parent / "README.md").read_text()
    first = re.search(r"^```(\w*)\n(.*?)^```", readme, re.DOTALL | re.MULTILINE)
    commands = [line.split("#")[0].strip() for line in first.group(2).splitlines()]
    assert first.group(1) == "bash" and commands == ["make demo", "make test"]


@pytest.mark.parametrize("page", PAGES)
def test_examples_run(page, capsys, monkeypatch):
    monkeypatch.chdir(DOCS.parent)  # the examples read data/ by relative paths
    if page in NEEDS_TORCH:
        pytest.importorskip("torch")
    namespace: dict = {"__name__": f"docs_{page}"}
    for number, code in enumerate(BLOCK.findall((DOCS / page).read_text()), start=1):
        try:
            exec(compile(code, f"{DOCS / page}[block {number}]", "exec"), namespace)
        except Exception as exc:  # name the page and block in the failure
            raise AssertionError(f"{page}, python block {number} failed: {exc!r}") from exc


def test_relative_links_resolve():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", (DOCS / page).read_text()):
            assert ((DOCS / page).parent / target).exists(), (page, target)
