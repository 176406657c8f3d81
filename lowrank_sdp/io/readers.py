"""`read_graph`: one door for every graph source."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lowrank_sdp.io._text import MAX_BYTES, MAX_VERTICES, TextFile, check_max_bytes
from lowrank_sdp.io.edgelist import read_edgelist
from lowrank_sdp.io.graph import Graph, as_graph
from lowrank_sdp.io.gset import read_gset
from lowrank_sdp.io.mtx import read_mtx
from lowrank_sdp.io.sdpa import parse_sdpa
from lowrank_sdp.validation import check_choice, invalid

FORMATS = ("gset", "rudy", "mtx", "sdpa", "edgelist")
EXTENSIONS = {".txt": "gset", ".rud": "gset", ".gset": "gset", ".mtx": "mtx", ".mm": "mtx",
              ".dat-s": "sdpa"}


def read_graph(
    source: Any,
    *,
    fmt: Literal["gset", "rudy", "mtx", "sdpa", "edgelist"] | None = None,
    base: Literal[0, 1, "auto"] | None = None,
    n: int | None = None,
    weight: str | None = "weight",
    max_bytes: int | None = MAX_BYTES,
) -> Graph:
    """Read a graph from a file, a networkx graph, a scipy sparse matrix or a dense array.

    source: a path (str or PathLike; gzip is detected from the content), a networkx graph
        (undirected; vertex k = k-th node, edge attribute "weight", default 1), a scipy sparse
        matrix/array or a square ndarray (the symmetric adjacency), or a Graph (returned as is).
    fmt: file format; None guesses from the name (`.gz` removed first): `.txt`/`.rud`/`.gset`
        G-set/rudy, `.mtx`/`.mm` Matrix Market, `.dat-s` SDPA max-cut, anything else an edge
        list unless the file starts with a `%%MatrixMarket` banner. "rudy" = "gset".
    base: first vertex index for G-set (default 1) and edge lists (default "auto": 0-based if
        some index is 0, else 1-based); only for those two formats.
    n: number of vertices of an edge list (default: inferred from the largest index).
    weight: the edge attribute of a networkx graph that holds the weight (None: all weights 1).
    max_bytes: the most text a file may hold, counted after gzip decompression (default 1 GiB,
        `lowrank_sdp.io.MAX_BYTES`); None for no limit. A larger file raises ValueError.

    Self-loops are ignored and duplicate edges summed, each with a warning; zero weights are no
    edge. Malformed files raise ValueError naming the file and the 1-based line. The vertices of
    a file keep its numbering as labels (`Graph.nodes`: 1..n for a 1-based file).
    """
    if not isinstance(source, (str, os.PathLike)):
        for param, value in (("fmt", fmt), ("base", base), ("n", n)):
            if value is not None:
                raise invalid(param, "read_graph", "None unless the source is a file", value)
        return as_graph(source, weight=weight)
    if fmt is not None:
        check_choice(fmt, FORMATS, "fmt", "read_graph")
    if base is not None and (isinstance(base, bool) or base not in (0, 1, "auto")):
        raise invalid("base", "read_graph", 'None, 0, 1 or "auto"', base)
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer))
                          or not 1 <= n <= MAX_VERTICES):
        raise invalid("n", "read_graph", f"None or an int in [1, {MAX_VERTICES}]", n)
    src = TextFile(source, check_max_bytes(max_bytes))
    hint = ""
    if fmt is None:
        fmt = _guess_format(src)
        if fmt == "gset":
            hint = (" (read as G-set/rudy because of the file name; pass fmt='edgelist' for an "
                    "edge list)")
    fmt = "gset" if fmt == "rudy" else fmt
    if base is not None and fmt not in ("gset", "edgelist"):
        raise invalid("base", "read_graph", f"None for format {fmt!r}", base)
    if n is not None and fmt != "edgelist":
        raise invalid("n", "read_graph", f"None for format {fmt!r}, whose header gives n", n)
    if fmt == "gset":
        try:
            return read_gset(src, base=1 if base is None else base)
        except ValueError as error:
            raise ValueError(f"{error}{hint}") from None
    if fmt == "edgelist":
        return read_edgelist(src, base="auto" if base is None else base, n=n)
    if fmt == "mtx":
        return read_mtx(src)
    return parse_sdpa(src).maxcut_graph()


def _guess_format(src: TextFile) -> str:
    if src.text.lstrip()[:14].lower() == "%%matrixmarket":
        return "mtx"
    suffix = Path(src.path.name.lower().removesuffix(".gz")).suffix
    return EXTENSIONS.get(suffix, "edgelist")
