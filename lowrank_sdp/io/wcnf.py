"""MAX-SAT instances: DIMACS (W)CNF files, the pre-2022 and the 2022 MaxSAT Evaluation formats.

    c comment                         (either format)
    p wcnf NVARS NCLAUSES [TOP]       pre-2022: one header, then `w lit lit ... 0` per clause;
                                      a clause of weight >= TOP is hard
    p cnf NVARS NCLAUSES              plain CNF: `lit lit ... 0`, every clause of weight 1
    h lit lit ... 0                   2022 format (no p-line): a hard clause
    w lit lit ... 0                   2022 format: a soft clause of weight w > 0

Literals are nonzero integers (v for variable v, -v for its negation; 1-based). A clause ends at
its 0 and may span lines. Errors name the file and the 1-based line (see `lowrank_sdp.io._text`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from lowrank_sdp.io._text import MAX_BYTES, TextFile, parse_float, parse_int

__all__ = ["WCNF", "read_wcnf"]


@dataclass(frozen=True)
class WCNF:
    """A weighted partial MAX-SAT instance: clause j is literals[indptr[j]:indptr[j+1]]."""

    n_vars: int
    indptr: np.ndarray
    """int64, length m + 1."""
    literals: np.ndarray
    """int64, nonzero, |literal| <= n_vars."""
    weights: np.ndarray
    """float64 > 0 (the weight written for hard clauses too: TOP or the 2022 format's none, NaN)."""
    hard: np.ndarray
    """bool, one per clause."""
    name: str = ""

    @property
    def m(self) -> int:
        """Number of clauses."""
        return int(self.hard.size)

    def clause(self, j: int) -> np.ndarray:
        return self.literals[self.indptr[j]: self.indptr[j + 1]]

    def satisfied(self, assignment: np.ndarray) -> np.ndarray:
        """One bool per clause: does the assignment (bool per variable, variable v at v-1)
        satisfy it?"""
        a = np.asarray(assignment, dtype=bool)
        if a.shape != (self.n_vars,):
            raise ValueError(f"The 'assignment' parameter of WCNF.satisfied must be a bool array of "
                             f"length {self.n_vars}; got <shape {a.shape}>.")
        lit = self.literals
        true = a[np.abs(lit) - 1] == (lit > 0)
        counts = np.add.reduceat(true.astype(np.int64), self.indptr[:-1]) if lit.size else \
            np.zeros(self.m, np.int64)
        counts[np.diff(self.indptr) == 0] = 0  # reduceat repeats a value at empty clauses
        return counts > 0

    def soft_weight(self, assignment: np.ndarray) -> float:
        """Total weight of the soft clauses the assignment satisfies."""
        sat = self.satisfied(assignment)
        return float(self.weights[sat & ~self.hard].sum())


def read_wcnf(path: str | os.PathLike[str], *, max_bytes: int | None = MAX_BYTES) -> WCNF:
    """Read a DIMACS .cnf / .wcnf file (either MaxSAT Evaluation format; gzip allowed)."""
    src = TextFile(path, max_bytes=max_bytes)
    header: tuple[int, list[str]] | None = None
    n_vars, declared, top = 0, None, np.inf
    fmt: str | None = None  # "wcnf", "cnf" or "2022"
    lits: list[int] = []
    indptr = [0]
    weights: list[float] = []
    hard: list[bool] = []
    current: list[int] = []
    open_line = 0
    expect_weight = True
    for line, tokens, _, _ in src.scan(""):
        if tokens[0].startswith("c"):  # a comment line (a `c` elsewhere is not a comment)
            continue
        if tokens[0] == "p":
            if header is not None:
                raise src.error(line, f"a second 'p' line (the first is on line {header[0]})")
            if fmt is not None:
                raise src.error(line, "the 'p' line must come before the clauses")
            header = (line, tokens)
            if len(tokens) not in (4, 5) or tokens[1] not in ("wcnf", "cnf") or (
                    tokens[1] == "cnf" and len(tokens) != 4):
                raise src.error(line, f"expected 'p wcnf NVARS NCLAUSES [TOP]' or 'p cnf NVARS "
                                f"NCLAUSES'; got {src.show(line)}")
            fmt = tokens[1]
            n_vars = parse_int(src, line, tokens[2], "the number of variables")
            declared = parse_int(src, line, tokens[3], "the number of clauses")
            if n_vars < 0 or declared < 0:
                raise src.error(line, "the numbers of variables and clauses must be >= 0")
            if n_vars:
                src.check_vertices(line, n_vars, "variables")
            if len(tokens) == 5:
                top = parse_float(src, line, tokens[4], "TOP")
                if not top > 0:
                    raise src.error(line, f"TOP must be positive; got {tokens[4]!r}")
            continue
        if fmt is None:
            fmt = "2022"
        for token in tokens:
            if expect_weight and fmt != "cnf":
                open_line = line
                if fmt == "2022" and token == "h":
                    weights.append(np.nan)
                    hard.append(True)
                else:
                    w = parse_float(src, line, token, "the clause weight")
                    if not w > 0:
                        raise src.error(line, f"a clause weight must be positive; got {token!r}")
                    weights.append(w)
                    hard.append(w >= top)
                expect_weight = False
                continue
            if expect_weight:  # plain CNF: the clause starts with its first literal
                open_line = line
                weights.append(1.0)
                hard.append(False)
                expect_weight = False
            lit = parse_int(src, line, token, "the literal")
            if lit == 0:
                lits.extend(current)
                indptr.append(len(lits))
                current = []
                expect_weight = True
                continue
            if fmt != "2022" and abs(lit) > n_vars:
                raise src.error(line, f"literal {lit} names variable {abs(lit)}, but the header "
                                f"declares {n_vars} variables")
            current.append(lit)
    if not expect_weight:
        raise src.error(open_line, "the clause that starts here does not end with 0")
    m = len(hard)
    if declared is not None and m != declared:
        raise src.error(header[0] if header else 1, f"the header declares {declared} clauses; "
                        f"the file holds {m}")
    literals = np.asarray(lits, dtype=np.int64)
    if fmt == "2022" or fmt is None:
        n_vars = int(np.abs(literals).max()) if literals.size else 0
        if n_vars:
            src.check_vertices(src.eof_line, n_vars, "variables")
    return WCNF(n_vars=n_vars, indptr=np.asarray(indptr, dtype=np.int64), literals=literals,
                weights=np.asarray(weights, dtype=np.float64), hard=np.asarray(hard, dtype=bool),
                name=src.stem)
