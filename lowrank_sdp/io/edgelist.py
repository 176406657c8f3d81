"""Weighted edge lists (`i j [w]` per line) and the edge-table core shared with G-set and
Matrix Market.

Edge list rules: one edge per line, `i j` (weight 1) or `i j w`; `#` and `%` start comments
(whole lines or line ends); blank lines are skipped. Vertex indices are 0- or 1-based: `base=0`,
`base=1`, or `base="auto"` (the default), which means 0-based if some index is 0 and 1-based
otherwise. With no header, n is the largest index (+1 when 0-based) unless given as `n=`.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from lowrank_sdp.io import _text
from lowrank_sdp.io._text import MAX_VERTICES, TextFile, edge_dtype, fast_rows, parse_float, parse_int
from lowrank_sdp.io.graph import Graph, graph_from_edges

Base = Literal[0, 1, "auto"]


@dataclass
class EdgeRows:
    """Parsed edge lines: 0-based endpoints, weights, and (slow path only) their line numbers."""

    n: int
    base: int
    i: np.ndarray
    j: np.ndarray
    w: np.ndarray
    lines: np.ndarray | None


def read_edge_rows(
    src: TextFile,
    rows: Iterator[tuple[int, list[str], int, int]],
    *,
    columns: tuple[int, ...],
    what: str,
    base: Base,
    n: int | None = None,
    count: int | None = None,
    header: str = "",
    fast: bool = True,
) -> EdgeRows:
    """Read the edge lines that the `src.scan` iterator `rows` is about to yield.

    columns: the allowed token counts per line (the third token, if any, is the weight);
    what: the expected line, for messages ("'i j w'"); n: the vertex count if known (else it is
    inferred); count: the exact number of edge lines required; header: said after a count or
    range error, e.g. " in the header on line 1".
    """
    first = next(rows, None)
    if first is not None and fast:
        fast_result = _fast(src, first, columns, base, n, count)
        if fast_result is not None:
            return fast_result
    return _slow(src, first, rows, columns, what, base, n, count, header)


def _fast(src, first, columns, base, n, count) -> EdgeRows | None:
    k = len(first[1])
    if k not in columns:
        return None
    table = fast_rows(src.text[first[2]:], edge_dtype(2, k > 2))
    if table is None or (count is not None and len(table) != count):
        return None
    i, j = table["i0"], table["i1"]
    w = table["w"] if k > 2 else np.ones(len(table))
    if not len(table):
        return None
    lo = min(int(i.min()), int(j.min()))
    hi = max(int(i.max()), int(j.max()))
    b = (0 if lo == 0 else 1) if base == "auto" else base
    limit = (n if n is not None else src.vertex_limit()) - 1 + b
    if lo < b or hi > limit or not np.all(np.isfinite(w)):
        return None
    return EdgeRows(n if n is not None else hi + 1 - b, b, i - b, j - b, w, None)


def _slow(src, first, rows, columns, what, base, n, count, header) -> EdgeRows:
    ii: list[int] = []
    jj: list[int] = []
    ww: list[float] = []
    numbers: list[int] = []
    pending = [] if first is None else [first]
    for line, tokens, _, _ in itertools.chain(pending, rows):
        if count is not None and len(numbers) >= count:
            raise src.error(line, f"more edge lines than the {count} announced{header}")
        if len(tokens) not in columns:
            raise src.error(line, f"expected an edge {what}; got {src.show(line)}")
        a = parse_int(src, line, tokens[0], "vertex index")
        b = parse_int(src, line, tokens[1], "vertex index")
        w = parse_float(src, line, tokens[2], "weight") if len(tokens) > 2 else 1.0
        for v in (a, b):
            low = 1 if base == 1 else 0
            high = (n if n is not None else src.vertex_limit()) - (1 if base == 0 else 0)
            if not low <= v <= high:
                raise src.error(line, _range_message(src, v, base, n, header))
        ii.append(a)
        jj.append(b)
        ww.append(w)
        numbers.append(line)
    if count is not None and len(numbers) < count:
        raise src.error(src.eof_line, f"unexpected end of file after {len(numbers)} of the "
                        f"{count} edge lines announced{header}")
    if not numbers:
        if n is None:
            raise src.error(src.eof_line, f"no edges found (expected lines {what}); pass n= to "
                            "read a graph without edges")
        empty = np.zeros(0, dtype=np.int64)
        return EdgeRows(n, 1 if base == "auto" else base, empty, empty, np.zeros(0), empty)
    i = np.array(ii, dtype=np.int64)
    j = np.array(jj, dtype=np.int64)
    lines = np.array(numbers, dtype=np.int64)
    b = (0 if min(i.min(), j.min()) == 0 else 1) if base == "auto" else base
    limit = (n if n is not None else src.vertex_limit()) - 1 + b
    bad = np.flatnonzero((i > limit) | (j > limit))
    if bad.size:  # only an "auto" base resolved to 0 gets here
        k = int(bad[0])
        raise src.error(int(lines[k]), _range_message(src, max(i[k], j[k]), b, n, header))
    n_out = n if n is not None else int(max(i.max(), j.max())) + 1 - b
    return EdgeRows(n_out, b, i - b, j - b, np.array(ww, dtype=np.float64), lines)


def _range_message(src: TextFile, v: int, base: Base, n: int | None, header: str) -> str:
    if v < 0:
        return f"vertex index {v} is negative"
    if base == 1 and v == 0:
        return "vertex index 0 in a file read as 1-based (pass base=0 for 0-based indices)"
    if n is None:
        return (f"vertex index {v} is too large: a file of {len(src.text)} characters may "
                f"reference at most {src.vertex_limit()} vertices (pass n= to allow more, up "
                f"to {MAX_VERTICES})")
    b = 0 if base == 0 else 1
    return f"vertex index {v} is out of range [{b}, {n - 1 + b}] (n = {n}{header})"


def read_edgelist(
    path: str | os.PathLike[str] | TextFile,
    *,
    base: Base = "auto",
    n: int | None = None,
    fast: bool = True,
) -> Graph:
    """Read a weighted edge list (see the module docstring for the rules)."""
    src = path if isinstance(path, TextFile) else TextFile(path)
    rows = read_edge_rows(src, src.scan("#%"), columns=(2, 3), what="'i j' or 'i j w'",
                          base=base, n=n, fast=fast)
    return graph_from_edges(rows.n, rows.i, rows.j, rows.w, src.stem, src.name,
                            nodes=range(rows.base, rows.n + rows.base))


def write_edgelist(path: str | os.PathLike[str], graph: Graph, *, base: Literal[0, 1] = 1) -> None:
    """Write `graph` as lines `i j w` (i < j, `base`-based), after one `#` comment line.

    Trailing isolated vertices are not visible in an edge list: read it back with `n=graph.n`
    (or use `write_gset`, whose header keeps n).
    """
    i, j, w = graph.edges()
    body = "\n".join(map("{} {} {}".format, (i + base).tolist(), (j + base).tolist(),
                         _text.format_numbers(w)))
    head = f"# {graph.name or 'graph'}: n = {graph.n}, m = {graph.m}, {base}-based 'i j w'\n"
    _text.write_text(path, head + body + ("\n" if body else ""))
