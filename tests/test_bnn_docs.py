"""Every ```python block of docs/bnn.md runs (in order, one namespace) and does what it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("torch")

DOC = Path(__file__).resolve().parent.parent / "docs" / "bnn.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_every_python_block_runs(capsys):
    text = DOC.read_text()
    assert re.search(r"<!-- example -->\n```python\n", text), "docs/bnn.md lost its example block"
    blocks = BLOCK.findall(text)
    assert blocks
    namespace: dict = {"__name__": "docs_bnn"}
    for number, code in enumerate(blocks, start=1):
        try:
            exec(compile(code, f"{DOC}[block {number}]", "exec"), namespace)
        except Exception as exc:  # name the block in the failure
            raise AssertionError(f"docs/bnn.md, python block {number} failed: {exc!r}") from exc
    out = capsys.readouterr().out
    for mode in ("mean", "sample", "ensemble", "harden"):
        assert f"mode='{mode}'" in out
    hard = namespace["hard"]
    assert hard.chosen.accuracy > 0.5  # chance is 0.25
    assert hard.chosen in hard.candidates and len(hard.candidates) == 5  # the mean + k=4 samples
    exported = namespace["exported"]
    assert not {op.kind for op in exported.ops} & {"linear", "conv2d"}  # every weight is packed
    assert exported.binary_weights == 32 * 32 + 32 * 4


def test_signatures_are_text_not_code():
    # The API sections list signatures with placeholders (`...`): they must not pose as code.
    for block in re.findall(r"^```text\n(.*?)^```", DOC.read_text(), re.DOTALL | re.MULTILINE):
        with pytest.raises(Exception):  # noqa: B017  (NameError, SyntaxError, ...: any)
            exec(compile(block, str(DOC), "exec"), {})
