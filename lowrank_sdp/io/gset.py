"""G-set / rudy files: a header line `n m`, then exactly m lines `i j w` (1-based by default).

Comments (`#`, `%`) and blank lines are tolerated although rudy writes none.
"""

from __future__ import annotations

import os

from lowrank_sdp.io._text import TextFile, format_numbers, parse_fields, write_text
from lowrank_sdp.io.edgelist import Base, read_edge_rows
from lowrank_sdp.io.graph import Graph, graph_from_edges

HEADER = "the G-set/rudy header 'n m' (numbers of vertices and edges)"


def read_gset(
    path: str | os.PathLike[str] | TextFile, *, base: Base = 1, fast: bool = True
) -> Graph:
    """Read a G-set/rudy file."""
    src = path if isinstance(path, TextFile) else TextFile(path)
    rows = src.scan("#%")
    first = next(rows, None)
    if first is None:
        raise src.error(src.eof_line, f"unexpected end of file; expected {HEADER}")
    line, tokens, _, _ = first
    n, m = parse_fields(src, line, tokens, (("the number of vertices", int),
                                            ("the number of edges", int)), HEADER)
    check_dimension(src, line, n, "the number of vertices n")
    if m < 0:
        raise src.error(line, f"the number of edges m = {m} is negative")
    edges = read_edge_rows(src, rows, columns=(3,), what="'i j w'", base=base, n=n, count=m,
                           header=f" in the header on line {line}", fast=fast)
    return graph_from_edges(n, edges.i, edges.j, edges.w, src.stem, src.name,
                            nodes=range(edges.base, n + edges.base))


def check_dimension(src: TextFile, line: int, n: int, what: str) -> None:
    src.check_vertices(line, n, what)


def write_gset(path: str | os.PathLike[str], graph: Graph) -> None:
    """Write `graph` in G-set/rudy format (`n m`, then `i j w` with i < j, 1-based); a name
    ending in .gz is gzipped. Integral weights are written as integers."""
    i, j, w = graph.edges()
    lines = map("{} {} {}".format, (i + 1).tolist(), (j + 1).tolist(), format_numbers(w))
    write_text(path, f"{graph.n} {graph.m}\n" + "".join(s + "\n" for s in lines))
