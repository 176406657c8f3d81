"""SDPA sparse format (`.dat-s`, the format of SDPLIB) and its unit-diagonal special case.

An SDPA file holds the primal-dual pair

    (P)  minimize  c^T x          s.t.  sum_i x_i F_i - F0  PSD
    (D)  maximize  <F0, Y>        s.t.  <F_i, Y> = c_i  (i = 1..m),  Y PSD

with block-diagonal symmetric F0..Fm. Layout: optional comment lines starting with `"` or `*`;
m; the number of blocks; the block sizes (negative: a diagonal block); the m numbers c; then
one line `k b i j v` per nonzero: entry (i, j) = (j, i) = v of block b of F_k (1-based; k = 0 is
F0). In the header `{ } ( ) ,` separate numbers and text after `=` is a comment (SDPA's own
examples write `3 = mDIM`). Entries with i > j mean the same entry as (j, i); giving one entry
twice is an error.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
import scipy.sparse as sp

from lowrank_sdp.io._text import (
    MAX_BYTES,
    MAX_VERTICES,
    TextFile,
    check_max_bytes,
    edge_dtype,
    fast_rows,
    format_numbers,
    parse_fields,
    parse_float,
    parse_int,
    write_text,
)
from lowrank_sdp.io.graph import Graph, canonical_graph
from lowrank_sdp.sdp import SDP
from lowrank_sdp.validation import check_choice, invalid

_PUNCTUATION = str.maketrans("{}(),", "     ")
UNIT_DIAGONAL = "min c^T x s.t. sum_i x_i F_i - F0 PSD with F_i = e_i e_i^T"


class SDPAMatrices(Sequence):
    """F0, F1, ..., Fm of an SDPA problem as symmetric csr_matrix, each built when indexed
    (a max-cut file with n constraints would otherwise hold n sparse n x n matrices)."""

    def __init__(self, n: int, ptr: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                 vals: np.ndarray) -> None:
        self._n, self._ptr, self._rows, self._cols, self._vals = n, ptr, rows, cols, vals

    def __len__(self) -> int:
        return len(self._ptr) - 1

    @overload
    def __getitem__(self, k: int) -> sp.csr_matrix: ...
    @overload
    def __getitem__(self, k: slice) -> list[sp.csr_matrix]: ...
    def __getitem__(self, k: int | slice) -> sp.csr_matrix | list[sp.csr_matrix]:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        if not -len(self) <= k < len(self):
            raise IndexError(f"matrix index {k} out of range for F0..F{len(self) - 1}")
        r, c, v = self.upper(k % len(self))
        off = r != c
        F = sp.csr_matrix((np.concatenate([v, v[off]]),
                           (np.concatenate([r, c[off]]), np.concatenate([c, r[off]]))),
                          shape=(self._n, self._n))
        F.sort_indices()
        return F

    def upper(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows, columns (row <= column, 0-based in the whole block-diagonal matrix) and values
        of the nonzero entries of F_k, sorted by row, then column."""
        s = slice(self._ptr[k], self._ptr[k + 1])
        return self._rows[s], self._cols[s], self._vals[s]


@dataclass(frozen=True, eq=False)
class SDPAProblem:
    """An SDP in SDPA form (see the module docstring for the primal-dual pair).

    `matrices[k]` is F_k (so `matrices[0]` is F0), a symmetric float64 csr_matrix of size
    n = sum(|block_sizes|), the block-diagonal layout of all blocks.
    """

    m: int
    block_sizes: tuple[int, ...]
    c: np.ndarray
    matrices: SDPAMatrices
    name: str = ""

    @property
    def n(self) -> int:
        """Order of the (block-diagonal) matrices."""
        return sum(abs(b) for b in self.block_sizes)

    @property
    def F0(self) -> sp.csr_matrix:
        return self.matrices[0]

    def unit_diagonal_cost(self) -> tuple[sp.csr_matrix, float, Literal["max"]]:
        """(C, offset, sense) such that the optimal value of this problem (of P and of D) is
        max <C, X> + offset  s.t.  diag(X) = 1, X PSD: the input of `ls.solve(C, sense="max")`.

        Only problems `min c^T x s.t. sum_i x_i F_i - F0 PSD` with one non-diagonal block and
        F_i = e_{p(i)} e_{p(i)}^T for a permutation p are accepted. Their dual is
        max <F0, Y> s.t. Y_pp = c, Y PSD; with Y = D X D, D = Diag(sqrt(c)) (c >= 0) it becomes
        max <D F0 D, X> s.t. diag(X) = 1. So C = D F0 D (C = F0 when c is all ones, as in
        SDPLIB's max-cut files) and offset = 0. Anything else raises ValueError naming the
        first constraint that is not of that form.
        """
        name = self.name or "SDPA problem"
        prefix = f"{name} is not a unit-diagonal SDP ({UNIT_DIAGONAL}): "
        if len(self.block_sizes) != 1 or self.block_sizes[0] < 0:
            raise ValueError(prefix + f"its block sizes are {list(self.block_sizes)}, not one "
                             "non-diagonal block")
        M = self.matrices
        counts = np.diff(M._ptr)[1:]
        first = M._ptr[1:-1]
        safe = np.minimum(first, max(len(M._rows) - 1, 0))
        if len(M._rows):
            single = (counts == 1) & (M._rows[safe] == M._cols[safe]) & (M._vals[safe] == 1.0)
        else:
            single = np.zeros(self.m, dtype=bool)
        bad = np.flatnonzero(~single)
        if bad.size:
            k = int(bad[0]) + 1
            r, c, v = M.upper(k)
            if len(v) == 0:
                why = "it is zero"
            elif len(v) > 1:
                why = f"it has {len(v)} nonzero entries (upper triangle)"
            elif r[0] != c[0]:
                why = f"its only nonzero entry ({r[0] + 1}, {c[0] + 1}) is off the diagonal"
            else:
                why = f"its only nonzero entry ({r[0] + 1}, {r[0] + 1}) is {float(v[0])!r}, not 1"
            raise ValueError(prefix + f"constraint {k} (F_{k}) is not e_i e_i^T: {why}")
        index = M._rows[first]
        _, where = np.unique(index, return_index=True)
        repeated = np.setdiff1d(np.arange(self.m), where)
        if repeated.size:
            k = int(repeated[0])
            earlier = int(np.flatnonzero(index == index[k])[0])
            raise ValueError(prefix + f"constraint {k + 1} (F_{k + 1}) repeats e_i e_i^T of "
                             f"constraint {earlier + 1} (i = {index[k] + 1})")
        if self.m != self.n:
            # The first diagonal entry no constraint fixes, in O(m log m): never O(n), since n
            # (the block size) may be far beyond what the file holds.
            fixed = np.sort(index)
            gaps = np.flatnonzero(fixed != np.arange(len(fixed)))
            missing = int(gaps[0]) if gaps.size else len(fixed)
            raise ValueError(prefix + f"its {self.m} constraints fix only {self.m} of the "
                             f"{self.n} diagonal entries (none is e_i e_i^T for i = {missing + 1})")
        negative = np.flatnonzero(self.c < 0)
        if negative.size:
            k = int(negative[0])
            raise ValueError(prefix + f"c_{k + 1} = {float(self.c[k])!r} < 0, so the dual "
                             "constraint Y_ii = c_i has no PSD solution")
        F0 = self.F0
        if np.all(self.c == 1.0):
            return F0, 0.0, "max"
        d = np.zeros(self.n)
        d[index] = np.sqrt(self.c)
        D = sp.diags(d, format="csr")
        C = sp.csr_matrix(D @ F0 @ D)
        C.eliminate_zeros()
        C.sort_indices()
        return C, 0.0, "max"

    def maxcut_graph(self) -> Graph:
        """The graph whose Max-Cut SDP this problem is: F0 = L/4 with w_ij = -4 F0_ij.

        Requires the unit-diagonal form with c all ones, and F0's diagonal to equal the
        weighted degrees / 4 (relative tolerance 1e-9); else ValueError.
        """
        F0, _, _ = self.unit_diagonal_cost()
        name = self.name or "SDPA problem"
        if not np.all(self.c == 1.0):
            k = int(np.flatnonzero(self.c != 1.0)[0])
            raise ValueError(f"{name} is not a Max-Cut SDP: c_{k + 1} = {float(self.c[k])!r}, "
                             "not 1 (unit_diagonal_cost() still gives its cost matrix)")
        diagonal = F0.diagonal()
        W = sp.csr_matrix(F0 - sp.diags(diagonal, format="csr"))
        W.eliminate_zeros()
        huge = np.flatnonzero(~(np.abs(W.data) <= np.finfo(np.float64).max / 4.0))  # NaN too
        if huge.size:  # the one property of a Graph that F0 (finite, from a file) can lose
            i = int(np.searchsorted(W.indptr, huge[0], side="right")) - 1
            raise ValueError(f"{name} is not a Max-Cut SDP: the weight w_ij = -4 F0_ij of entry "
                             f"({i + 1}, {int(W.indices[huge[0]]) + 1}), F0_ij = "
                             f"{float(W.data[huge[0]])!r}, overflows")
        W.data *= -4.0
        quarter_degree = np.asarray(W.sum(axis=1)).ravel() / 4.0
        scale = np.asarray(abs(W).sum(axis=1)).ravel() / 4.0
        bad = np.flatnonzero(np.abs(diagonal - quarter_degree) > 1e-9 * np.maximum(scale, 1.0))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{name} is not a Max-Cut SDP: F0 is not L/4 of the graph with "
                             f"weights w_ij = -4 F0_ij, since F0[{i + 1}, {i + 1}] = "
                             f"{float(diagonal[i])!r} but the weights of row {i + 1} give L_ii/4 = "
                             f"{float(quarter_degree[i])!r}")
        W.sort_indices()
        # Not validated again: F0 is a finite, exactly symmetric CSR matrix (each entry stored
        # once, mirrored), so W is canonical, symmetric, zero on the diagonal and finite (above).
        return canonical_graph(W, self.name)

    def __repr__(self) -> str:
        return f"SDPAProblem(name={self.name!r}, m={self.m}, block_sizes={list(self.block_sizes)})"


def read_sdpa(path: str | os.PathLike[str], *, max_bytes: int | None = MAX_BYTES) -> SDPAProblem:
    """Read an SDPA sparse file (`.dat-s`, gzipped or not); errors name the file and line.

    max_bytes: the most text read, after decompression (default 1 GiB); None for no limit."""
    return parse_sdpa(TextFile(path, check_max_bytes(max_bytes, "read_sdpa")))


def parse_sdpa(src: TextFile, *, fast: bool = True) -> SDPAProblem:
    """read_sdpa on a loaded file; fast=False forces the line-by-line reference path."""
    rows = src.scan("sdpa")
    m, blocks, c = _read_header(src, rows)
    offsets = np.concatenate([[0], np.cumsum(np.abs(blocks))]).astype(np.int64)
    first = next(rows, None)
    entries = _fast_entries(src, first, m, blocks, offsets) if fast else None
    if entries is None:
        entries = _slow_entries(src, [] if first is None else [first], rows, m, blocks, offsets)
    mat, gi, gj, val = entries
    keep = val != 0
    mat, gi, gj, val = mat[keep], gi[keep], gj[keep], val[keep]
    order = np.lexsort((gj, gi, mat))
    mat, gi, gj, val = mat[order], gi[order], gj[order], val[order]
    ptr = np.searchsorted(mat, np.arange(m + 2))
    c = np.array(c, dtype=np.float64)
    c.flags.writeable = False
    matrices = SDPAMatrices(int(offsets[-1]), ptr, gi, gj, val)
    return SDPAProblem(m, tuple(blocks), c, matrices, src.stem)


def _read_header(src: TextFile, rows: Any) -> tuple[int, list[int], list[float]]:
    """m, the block sizes and c."""
    m = n_blocks = -1
    blocks: list[int] = []
    c: list[float] = []
    total = 0
    for line, tokens, _, _ in rows:
        for token in " ".join(tokens).split("=", 1)[0].translate(_PUNCTUATION).split():
            if m < 0:
                m = parse_int(src, line, token, "the number of constraints m =")
                if not 1 <= m <= MAX_VERTICES:
                    raise src.error(line, f"the number of constraints m = {m} is not in "
                                    f"[1, {MAX_VERTICES}]")
            elif n_blocks < 0:
                n_blocks = parse_int(src, line, token, "the number of blocks")
                if not 1 <= n_blocks <= MAX_VERTICES:
                    raise src.error(line, f"the number of blocks {n_blocks} is not in "
                                    f"[1, {MAX_VERTICES}]")
            elif len(blocks) < n_blocks:
                size = parse_int(src, line, token, "block size")
                total += abs(size)
                if size == 0:
                    raise src.error(line, "block size 0 is not allowed")
                src.check_vertices(line, total, "the order of the matrices (the sum of the "
                                   "block sizes so far)")
                blocks.append(size)
            elif len(c) < m:
                c.append(parse_float(src, line, token, "objective coefficient c_i ="))
            else:
                raise src.error(line, f"unexpected {token!r} after the {m} numbers of c "
                                "(entries go one per line: 'k b i j v')")
        if len(c) == m > 0:
            return m, blocks, c
    expected = ("m" if m < 0 else "the number of blocks" if n_blocks < 0 else
                "the block sizes" if len(blocks) < n_blocks else f"the {m} numbers of c")
    raise src.error(src.eof_line, f"unexpected end of file in the SDPA header; expected "
                    f"{expected}")


def _fast_entries(src, first, m, blocks, offsets):
    if first is None:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, np.zeros(0)
    table = fast_rows(src.text[first[2]:], edge_dtype(4, True))
    if table is None:
        return None
    mat, blk, i, j, val = (table[f] for f in ("i0", "i1", "i2", "i3", "w"))
    sizes = np.array(blocks, dtype=np.int64)
    if not (np.all((mat >= 0) & (mat <= m) & (blk >= 1) & (blk <= len(blocks)))
            and np.all(np.isfinite(val))):
        return None
    size = sizes[blk - 1]
    if not np.all((i >= 1) & (j >= 1) & (i <= np.abs(size)) & (j <= np.abs(size))
                  & ((size > 0) | (i == j))):
        return None
    gi = offsets[blk - 1] + np.minimum(i, j) - 1
    gj = offsets[blk - 1] + np.maximum(i, j) - 1
    if _first_duplicate(mat, gi, gj) is not None:
        return None
    return mat, gi, gj, val


ENTRY_FIELDS = (("matrix number", int), ("block number", int), ("row", int), ("column", int),
                 ("value", float))


def _slow_entries(src, first, rows, m, blocks, offsets):
    found: list[tuple[int, int, int, int, float]] = []
    lines: list[int] = []
    for line, tokens, _, _ in itertools.chain(first, rows):
        k, b, i, j, v = parse_fields(src, line, tokens, ENTRY_FIELDS, "an entry 'k b i j v' "
                                     "(matrix, block, row, column, value)")
        if not 0 <= k <= m:
            raise src.error(line, f"matrix number {k} is not in [0, {m}]")
        if not 1 <= b <= len(blocks):
            raise src.error(line, f"block number {b} is not in [1, {len(blocks)}]")
        size = blocks[b - 1]
        for what, x in (("row", i), ("column", j)):
            if not 1 <= x <= abs(size):
                raise src.error(line, f"{what} {x} is not in [1, {abs(size)}] (block {b})")
        if size < 0 and i != j:
            raise src.error(line, f"entry ({i}, {j}) is off the diagonal of block {b}, a "
                            "diagonal block (negative size)")
        found.append((k, b, min(i, j), max(i, j), v))
        lines.append(line)
    table = np.array(found, dtype=np.float64).reshape(-1, 5)
    mat, blk = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64)
    gi = offsets[blk - 1] + table[:, 2].astype(np.int64) - 1
    gj = offsets[blk - 1] + table[:, 3].astype(np.int64) - 1
    duplicate = _first_duplicate(mat, gi, gj)
    if duplicate is not None:
        later, earlier = duplicate
        k, b, i, j, _ = found[later]
        raise src.error(lines[later], f"entry ({i}, {j}) of block {b} of F_{k} was already given "
                        f"on line {lines[earlier]} ((i, j) and (j, i) are the same entry)")
    return mat, gi, gj, np.array([f[4] for f in found], dtype=np.float64)


def _first_duplicate(mat, gi, gj) -> tuple[int, int] | None:
    """(later, earlier) row positions of the first repeated (mat, gi, gj) in file order."""
    if len(mat) < 2:
        return None
    position = np.arange(len(mat))
    order = np.lexsort((position, gj, gi, mat))
    same = ((mat[order][1:] == mat[order][:-1]) & (gi[order][1:] == gi[order][:-1])
            & (gj[order][1:] == gj[order][:-1]))
    if not same.any():
        return None
    later_sorted = np.flatnonzero(same) + 1
    later = order[later_sorted]
    pick = int(np.argmin(later))
    # the earliest row of the same key: walk back to the start of its run
    s = int(later_sorted[pick])
    while s > 0 and same[s - 1]:
        s -= 1
    return int(later[pick]), int(order[s])


def write_sdpa(path: str | os.PathLike[str], C: Any, *, sense: str = "max") -> None:
    """Write  max (or min) <C, X> s.t. diag(X) = 1, X PSD  as an SDPA sparse file in SDPLIB's
    convention: m = n, one block of size n, c = ones, F_i = e_i e_i^T and F0 = C (-C for
    "min"). The SDPA optimal value is then the max, or minus the min. C: a square symmetric
    real matrix (dense or scipy sparse); a name ending in .gz is gzipped."""
    check_choice(sense, ("max", "min"), "sense", "write_sdpa")
    F0 = sp.csr_matrix(C, dtype=np.float64) if sp.issparse(C) else None
    if F0 is None:
        arr = np.asarray(C)
        if arr.ndim != 2 or not (np.issubdtype(arr.dtype, np.floating)
                                 or np.issubdtype(arr.dtype, np.integer)):
            raise invalid("C", "write_sdpa", "a square symmetric real matrix", f"<{arr.dtype} "
                          f"array of shape {arr.shape}>")
        F0 = sp.csr_matrix(arr.astype(np.float64))
    n = F0.shape[0]
    if F0.shape != (n, n) or n < 1 or (F0 != F0.T).nnz or not np.all(np.isfinite(F0.data)):
        raise invalid("C", "write_sdpa", "a square symmetric real matrix with finite entries",
                      f"<a {F0.shape[0]}x{F0.shape[1]} matrix that is not>")
    if sense == "min":
        F0 = -F0
    upper = sp.triu(F0, format="coo")
    upper.sum_duplicates()
    keep = upper.data != 0
    r, c, v = upper.row[keep] + 1, upper.col[keep] + 1, upper.data[keep]
    order = np.lexsort((c, r))
    r, c, v = r[order], c[order], v[order]
    parts = [f"{n}\n1\n{n}\n", " ".join(["1"] * n), "\n"]
    parts += [f"0 1 {a} {b} {x}\n" for a, b, x in zip(r.tolist(), c.tolist(), format_numbers(v))]
    parts += [f"{k} 1 {k} {k} 1\n" for k in range(1, n + 1)]
    write_text(path, "".join(parts))


def write_sdpa_maxcut(path: str | os.PathLike[str], graph: Graph) -> None:
    """Write the Max-Cut SDP of `graph` as SDPLIB does (F0 = L/4, F_i = e_i e_i^T, c = ones),
    for SDPA, CSDP and friends; `read_graph` reads the file back as the same graph."""
    if not isinstance(graph, Graph):
        raise invalid("graph", "write_sdpa_maxcut", "a lowrank_sdp.io.Graph", graph)
    write_sdpa(path, graph.laplacian_quarter(), sense="max")


def read_sdpa_sdp(path: str | os.PathLike[str], *, max_bytes: int | None = MAX_BYTES) -> SDP:
    """Read an SDPA sparse file as the general SDP its dual (D) is:

        maximize <F0, X>  s.t.  <F_i, X> = c_i (i = 1..m),  X = blockdiag(...) PSD  (LP blocks >= 0)

    whose optimal value is SDPA's (objValPrimal, under strong duality). Any file: several blocks,
    diagonal blocks, any constraints. `lowrank_sdp.solve` takes the result. max_bytes as for
    `read_sdpa`."""
    return sdpa_to_sdp(read_sdpa(path, max_bytes=max_bytes))


def sdpa_to_sdp(problem: SDPAProblem) -> SDP:
    """The general SDP (see `read_sdpa_sdp`) of an SDPA problem already read."""
    M = problem.matrices
    ptr = M._ptr
    k = np.repeat(np.arange(problem.m + 1), np.diff(ptr))
    inner = k > 0
    return SDP.from_upper(M[0], k[inner] - 1, M._rows[inner], M._cols[inner], M._vals[inner],
                          problem.c, m_eq=problem.m, sense="max", blocks=problem.block_sizes,
                          name=problem.name, func="read_sdpa")
