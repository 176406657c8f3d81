"""Matrix Market adjacency matrices: `%%MatrixMarket matrix coordinate <field> <symmetry>`.

Field real, integer or pattern (pattern entries have weight 1); symmetry `symmetric` (each entry
(i, j) is the undirected edge {i, j}; an entry given in both triangles counts twice and is summed
with a warning) or `general` (the matrix itself must be symmetric). Diagonal entries are
self-loops: ignored with a warning. Parsed here rather than by scipy.io.mmread so that every
error names its line.
"""

from __future__ import annotations

import os

import numpy as np
import scipy.sparse as sp

from lowrank_sdp.io._text import TextFile, parse_fields, warn
from lowrank_sdp.io.edgelist import read_edge_rows
from lowrank_sdp.io.graph import Graph, graph_from_edges, graph_from_matrix
from lowrank_sdp.io.gset import check_dimension

BANNER = "'%%MatrixMarket matrix coordinate <real|integer|pattern> <general|symmetric>'"


def read_mtx(path: str | os.PathLike[str] | TextFile, *, fast: bool = True) -> Graph:
    """Read a Matrix Market coordinate file holding a symmetric adjacency matrix."""
    src = path if isinstance(path, TextFile) else TextFile(path)
    first = src.text.split("\n", 1)[0]
    tokens = [t.lower() for t in first.split()]
    if not tokens or tokens[0] != "%%matrixmarket" or len(tokens) != 5:
        raise src.error(1, f"expected the Matrix Market banner {BANNER}; got {src.show(1)}")
    _, kind, layout, field, symmetry = tokens
    if kind != "matrix" or layout != "coordinate":
        raise src.error(1, f"only sparse matrices are read ({BANNER}); got {src.show(1)}")
    if field not in ("real", "integer", "pattern"):
        raise src.error(1, f"field {field!r} is not supported: an adjacency matrix is real, "
                        "integer or pattern")
    if symmetry not in ("general", "symmetric"):
        raise src.error(1, f"symmetry {symmetry!r} is not supported: an adjacency matrix is "
                        "'symmetric' or 'general' (and then symmetric)")
    rows = src.scan("%", line=2, offset=len(first) + 1)
    size = next(rows, None)
    if size is None:
        raise src.error(src.eof_line, "unexpected end of file; expected the size line "
                        "'rows columns entries'")
    line, tokens, _, _ = size
    n_rows, n, count = parse_fields(
        src, line, tokens, (("the number of rows", int), ("the number of columns", int),
                            ("the number of entries", int)), "the size line 'rows columns entries'")
    if n_rows != n:
        raise src.error(line, f"the matrix is {n_rows} x {n}, not square")
    check_dimension(src, line, n, "the matrix size")
    if count < 0:
        raise src.error(line, f"the number of entries {count} is negative")
    pattern = field == "pattern"
    entries = read_edge_rows(src, rows, columns=(2,) if pattern else (3,),
                             what="'i j'" if pattern else "'i j value'", base=1, n=n,
                             count=count, header=f" in the size line {line}", fast=fast)
    i, j, w = entries.i, entries.j, entries.w
    if field == "integer":
        bad = np.flatnonzero(w != np.round(w))
        if bad.size and entries.lines is None:
            return read_mtx(path, fast=False)  # to find the line of the error
        if bad.size:
            raise src.error(int(entries.lines[bad[0]]),
                            f"entry value {float(w[bad[0]])!r} is not an integer (field 'integer')")
    if symmetry == "symmetric":
        return graph_from_edges(n, i, j, w, src.stem, src.name, nodes=range(1, n + 1))
    A = sp.csr_matrix((w, (i, j)), shape=(n, n))
    before = A.nnz
    A.sum_duplicates()
    if A.nnz < before:
        duplicates = before - A.nnz
        warn(f"{src.name}: summed {duplicates} duplicate entr{'ies' if duplicates > 1 else 'y'}")
    asym = A - A.T
    asym.eliminate_zeros()
    if asym.nnz:
        if entries.lines is None:
            return read_mtx(path, fast=False)
        coo = asym.tocoo()
        r, c = int(coo.row[0]), int(coo.col[0])
        k = int(np.flatnonzero(((i == r) & (j == c)) | ((i == c) & (j == r)))[0])
        raise src.error(int(entries.lines[k]), f"entry ({r + 1}, {c + 1}) = {float(A[r, c])!r} "
                        f"but entry ({c + 1}, {r + 1}) = {float(A[c, r])!r}: a 'general' file "
                        "must hold a symmetric adjacency matrix")
    return graph_from_matrix(A, name=src.stem, where=src.name, nodes=range(1, n + 1))
