"""The examples in the docs run: every ```python block of a page, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = ["index.md", "conventions.md", "certificate.md", "result.md", "../README.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_pages_exist_and_have_examples():
    for page in PAGES:
        assert BLOCK.findall((DOCS / page).read_text()), page


@pytest.mark.parametrize("page", PAGES)
def test_examples_run(page, capsys):
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
