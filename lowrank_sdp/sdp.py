"""General SDPs: linear constraints beyond the unit diagonal, block-diagonal X with LP blocks.

    minimize (or maximize)  <C, X>
    subject to  <A_k, X> = b_k (k in eq),   <A_k, X> <= b_k (k in ub),
                X = blockdiag(X_1, ..., X_p),  X_j PSD  (an LP block: X_j diagonal, >= 0),
                optionally diag(X_j) = 1 on a block.

`SDP` validates the data once and keeps every matrix on its upper triangle (rows <= columns) in
the block-diagonal layout of the whole X. Rows whose diagonal entry is fixed (a unit-diagonal
block, or a constraint X_ii = d_i > 0 on its own) are *fixed rows*: the solver keeps them exact
on the oblique manifold and only the other constraints go to the augmented Lagrangian.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from lowrank_sdp.validation import check_choice, invalid


@dataclass(frozen=True)
class _Upper:
    """Entries (k, i, j, v), i <= j, of a stack of symmetric matrices: entry (i, j) = (j, i) = v."""

    k: np.ndarray
    i: np.ndarray
    j: np.ndarray
    v: np.ndarray


class SDP:
    """A general SDP (see the module docstring); the input of `lowrank_sdp.solve`.

    Parameters
    ----------
    C : (n, n) array or scipy.sparse matrix, symmetric (the cost).
    sense : "min" or "max".
    A_eq, A_ub : the constraint matrices, either a list of (n, n) arrays / sparse matrices, an
        (m, n, n) array, or an (m, n*n) sparse or dense matrix whose row k is A_k flattened
        (what `A.reshape(-1)` gives). Non-symmetric A_k act through (A_k + A_k^T) / 2, which is
        the same linear function of a symmetric X.
    b_eq, b_ub : right-hand sides, 1-D of length m.
    blocks : block sizes (negative: a diagonal LP block, as in SDPA files), summing in absolute
        value to n; None means one PSD block. C and every A_k must be block-diagonal.
    unit_diagonal : True, False, or one bool per block: diag(X_j) = 1, kept exactly.
    trace_bound : None, a number T with trace(X) <= T, or one number (or None) per block (bounds
        on trace(X_j)). It must hold for some optimal X (for instance for every feasible X): the
        bound is OPT = <C, X*> >= b^T y + T min(lambda_min(S), 0). Only needed where the
        constraints imply none (see `trace_bounds`); a wrong value makes the certificate wrong.
    offset : added to the objective (SDPA problems and reformulations carry constants).
    name : shown in results.
    """

    def __init__(
        self,
        C: Any,
        *,
        sense: str = "min",
        A_eq: Any = None,
        b_eq: Any = None,
        A_ub: Any = None,
        b_ub: Any = None,
        blocks: Sequence[int] | None = None,
        unit_diagonal: bool | Sequence[bool] = False,
        trace_bound: float | Sequence[float | None] | None = None,
        offset: float = 0.0,
        name: str = "",
        func: str = "SDP",
    ) -> None:
        self.sense = check_choice(sense, ("min", "max"), "sense", func)
        self.C = _cost(C, func)
        n = self.C.shape[0]
        self.n = n
        self.blocks = _blocks(blocks, n, func)
        self.block_of = np.repeat(np.arange(len(self.blocks)), np.abs(self.blocks))
        self.offset = float(offset)
        if not math.isfinite(self.offset):
            raise invalid("offset", func, "a finite number", offset)
        self.name = str(name)
        self._check_layout(self.C, "C", func)
        eq = _stack(A_eq, b_eq, n, "A_eq", "b_eq", func)
        ub = _stack(A_ub, b_ub, n, "A_ub", "b_ub", func)
        for (mats, _), param in ((eq, "A_eq"), (ub, "A_ub")):
            for k, M in enumerate(mats):
                self._check_layout(M, f"{param}[{k}]", func)
        self.m_eq, self.m_ub = len(eq[0]), len(ub[0])
        self.b = np.concatenate([eq[1], ub[1]])
        self.is_ub = np.concatenate([np.zeros(self.m_eq, bool), np.ones(self.m_ub, bool)])
        self.A = _upper_stack(eq[0] + ub[0], n)
        self.unit_diagonal = _per_block(unit_diagonal, len(self.blocks), "unit_diagonal", func)
        self.user_trace = _trace_bound(trace_bound, len(self.blocks), func)

    @classmethod
    def from_upper(cls, C: Any, k: np.ndarray, i: np.ndarray, j: np.ndarray, v: np.ndarray,
                   b: np.ndarray, *, m_eq: int, sense: str = "min",
                   blocks: Sequence[int] | None = None, offset: float = 0.0, name: str = "",
                   func: str = "SDP") -> SDP:
        """An SDP from constraint entries already on their upper triangle (readers of large files):
        matrix k (0-based; the first m_eq are equalities) has entry (i, j) = (j, i) = v, i <= j."""
        self = cls(C, sense=sense, blocks=blocks, offset=offset, name=name, func=func)
        b = np.asarray(b, dtype=np.float64).reshape(-1)
        k, i, j = (np.asarray(a, dtype=np.int64) for a in (k, i, j))
        v = np.asarray(v, dtype=np.float64)
        m = b.shape[0]
        n = self.n
        if not (k.shape == i.shape == j.shape == v.shape) or (k.size and (
                k.min() < 0 or k.max() >= m or i.min() < 0 or j.max() >= n or np.any(i > j))):
            raise invalid("k, i, j, v", func, f"entries of {m} matrices with 0 <= i <= j < {n}",
                          "<entries out of range>")
        if not (np.all(np.isfinite(v)) and np.all(np.isfinite(b))) or not 0 <= m_eq <= m:
            raise invalid("v, b", func, "finite, with 0 <= m_eq <= len(b)", "<not so>")
        if k.size:
            # Repeated (k, i, j) entries add up, as in a scipy matrix; summed here once so that
            # every consumer (the trace bounds' row coverage above all) sees one entry per position.
            order = np.lexsort((j, i, k))
            k, i, j, v = k[order], i[order], j[order], v[order]
            first = np.ones(k.size, bool)
            first[1:] = (np.diff(k) != 0) | (np.diff(i) != 0) | (np.diff(j) != 0)
            starts = np.flatnonzero(first)
            k, i, j, v = k[starts], i[starts], j[starts], np.add.reduceat(v, starts)
        keep = v != 0
        self.A = _Upper(k[keep], i[keep], j[keep], v[keep])
        M = sp.csr_matrix((v, (i, j)), shape=(n, n))
        self._check_layout(M, "the constraint matrices", func)
        self.m_eq, self.m_ub = int(m_eq), int(m - m_eq)
        self.b = b
        self.is_ub = np.arange(m) >= m_eq
        return self

    @property
    def m(self) -> int:
        """Number of constraints given as matrices (the unit diagonal not counted)."""
        return self.m_eq + self.m_ub

    def _check_layout(self, M: sp.csr_matrix, param: str, func: str) -> None:
        coo = M.tocoo()
        off_block = self.block_of[coo.row] != self.block_of[coo.col]
        if off_block.any():
            p = int(np.flatnonzero(off_block)[0])
            raise invalid(param, func, f"block-diagonal in the layout blocks={list(self.blocks)}",
                          f"<a matrix with entry ({coo.row[p]}, {coo.col[p]}) between blocks>")
        diag_block = np.asarray(self.blocks)[self.block_of[coo.row]] < 0
        bad = diag_block & (coo.row != coo.col)
        if bad.any():
            p = int(np.flatnonzero(bad)[0])
            raise invalid(param, func, "diagonal on the diagonal (LP) blocks",
                          f"<a matrix with entry ({coo.row[p]}, {coo.col[p]}) in an LP block>")

    def fixed_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, d, used): rows i whose X_ii = d_i > 0 is fixed, and the constraints (indices into
        the stack) that said so, which the solver enforces exactly instead of by multipliers."""
        d = np.full(self.n, np.nan)
        for j, unit in enumerate(self.unit_diagonal):
            if unit:
                d[self.block_of == j] = 1.0
        A = self.A
        counts = np.bincount(A.k, minlength=self.m)
        single = (counts == 1) & ~self.is_ub
        used = []
        for p in np.flatnonzero(single[A.k] & (A.i == A.j)):
            k, i, v = int(A.k[p]), int(A.i[p]), float(A.v[p])
            if v != 0 and self.b[k] / v > 0 and np.isnan(d[i]):
                d[i] = self.b[k] / v
                used.append(k)
        rows = np.flatnonzero(~np.isnan(d))
        return rows, d[rows], np.array(sorted(used), dtype=np.int64)

    def trace_bounds(self) -> tuple[np.ndarray, float]:
        """(T_j per block, T for the whole X) with trace(X_j) <= T_j, trace(X) <= T for every
        feasible X; inf where nothing is known. Sources, the smallest kept: fixed diagonals
        (X_ii = d_i on every row of a block: T_j = sum d_i); a constraint whose matrix is diagonal
        and >= 0 (then mu_j trace(X_j) <= <A_k, X> <= b_k with mu_j its smallest entry on block j:
        a trace constraint gives its right side); single-entry bounds X_ii <= u_i on every row of
        a block; the user's `trace_bound`."""
        p = len(self.blocks)
        T = np.full(p, np.inf)
        total = np.inf
        rows, d, _ = self.fixed_rows()
        row_bound = np.full(self.n, np.inf)
        row_bound[rows] = d
        A = self.A
        offdiag = np.zeros(self.m, bool)
        np.logical_or.at(offdiag, A.k[A.i != A.j], True)
        negative = np.zeros(self.m, bool)
        np.logical_or.at(negative, A.k[A.v < 0], True)
        counts = np.bincount(A.k, minlength=self.m)
        # Constraints with a diagonal matrix >= 0 (by entry: one loop over the constraints
        # scanned the whole stack once per constraint, 40 ms on gpp500).
        rhs = np.maximum(self.b, 0.0)
        sel = (~offdiag & ~negative & (counts > 0))[A.k]
        ke, ie, ve = A.k[sel], A.i[sel], A.v[sel]
        one = counts[ke] == 1
        np.minimum.at(row_bound, ie[one], rhs[ke[one]] / ve[one])
        # mu_j > 0 only where the matrix has an entry on every row of block j (the smallest
        # of them), mu > 0 only where it has one on every row.
        size = np.abs(np.asarray(self.blocks, dtype=np.int64))
        for key_of, width, covered in ((ke * p + self.block_of[ie], p, None),
                                       (ke, 1, self.n)):
            keys, where = np.unique(key_of, return_inverse=True)
            mins = np.full(keys.size, np.inf)
            np.minimum.at(mins, where, ve)
            hits = np.bincount(where, minlength=keys.size)
            k_of, j_of = keys // width, keys % width
            full = hits == (size[j_of] if covered is None else covered)
            ok = full & (mins > 0)
            if covered is None:
                np.minimum.at(T, j_of[ok], rhs[k_of[ok]] / mins[ok])
            elif ok.any():
                total = min(total, float(np.min(rhs[k_of[ok]] / mins[ok])))
        for j in range(p):
            T[j] = min(T[j], float(row_bound[self.block_of == j].sum()))
        user_total, user_blocks = self.user_trace
        total = min(total, user_total)
        T = np.minimum(T, user_blocks)
        total = min(total, float(T.sum()))
        T = np.minimum(T, total)
        return T, total

    def __repr__(self) -> str:
        return (f"SDP(name={self.name!r}, n={self.n}, blocks={list(self.blocks)}, "
                f"m_eq={self.m_eq}, m_ub={self.m_ub}, sense={self.sense!r})")


def _cost(C: Any, func: str) -> sp.csr_matrix:
    if sp.issparse(C):
        M = sp.csr_matrix(C, dtype=np.float64)
    else:
        try:
            arr = np.asarray(C, dtype=np.float64)
        except (TypeError, ValueError):
            raise invalid("C", func, "a square symmetric array or scipy.sparse matrix",
                          f"<{type(C).__name__}>") from None
        if arr.ndim != 2:
            raise invalid("C", func, "a square symmetric array or scipy.sparse matrix",
                          f"<an array of shape {arr.shape}>")
        M = sp.csr_matrix(arr)
    if M.shape[0] != M.shape[1] or M.shape[0] < 1:
        raise invalid("C", func, "a square matrix", f"<a matrix of shape {M.shape}>")
    if not np.all(np.isfinite(M.data)):
        raise invalid("C", func, "finite (no NaN or inf)", "<a matrix with NaN or inf>")
    asym = abs(M - M.T)
    scale = max(1.0, float(abs(M).max()) if M.nnz else 1.0)
    if asym.nnz and float(asym.max()) > 1e-10 * scale:
        raise invalid("C", func, "symmetric", f"<a matrix with max|C - C^T| = {float(asym.max()):.3g}>")
    M = sp.csr_matrix((M + M.T) * 0.5)
    M.eliminate_zeros()
    return M


def _blocks(blocks: Any, n: int, func: str) -> tuple[int, ...]:
    if blocks is None:
        return (n,)
    try:
        sizes = tuple(int(b) for b in blocks)
        ok = all(float(b) == int(b) and not isinstance(b, bool) for b in blocks)
    except (TypeError, ValueError):
        sizes, ok = (), False
    if not ok or not sizes or any(s == 0 for s in sizes) or sum(abs(s) for s in sizes) != n:
        raise invalid("blocks", func, f"a list of nonzero ints whose absolute values sum to n = {n} "
                      "(negative: a diagonal LP block)", blocks)
    return sizes


def _per_block(value: Any, p: int, param: str, func: str) -> tuple[bool, ...]:
    if isinstance(value, (bool, np.bool_)):
        return (bool(value),) * p
    try:
        out = tuple(value)
    except TypeError:
        out = ()
    if len(out) != p or not all(isinstance(v, (bool, np.bool_)) for v in out):
        raise invalid(param, func, f"a bool or a sequence of {p} bools (one per block)", value)
    return tuple(bool(v) for v in out)


def _trace_bound(value: Any, p: int, func: str) -> tuple[float, np.ndarray]:
    expected = "None, a positive number, or one positive number (or None) per block"
    if value is None:
        return np.inf, np.full(p, np.inf)
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        if not float(value) > 0 or not math.isfinite(float(value)):
            raise invalid("trace_bound", func, expected, value)
        return float(value), np.full(p, np.inf)
    try:
        items = list(value)
    except TypeError:
        raise invalid("trace_bound", func, expected, value) from None
    if len(items) != p:
        raise invalid("trace_bound", func, expected + f" ({p} blocks)", value)
    out = np.full(p, np.inf)
    for j, t in enumerate(items):
        if t is None:
            continue
        if isinstance(t, bool) or not isinstance(t, (int, float, np.number)) or not float(t) > 0 \
                or not math.isfinite(float(t)):
            raise invalid("trace_bound", func, expected, value)
        out[j] = float(t)
    return np.inf, out


def _stack(A: Any, b: Any, n: int, pa: str, pb: str, func: str) -> tuple[list[sp.csr_matrix], np.ndarray]:
    """Constraint matrices as a list of symmetric csr matrices, and their right-hand sides."""
    if A is None and b is None:
        return [], np.zeros(0)
    if A is None or b is None:
        given, missing = (pa, pb) if b is None else (pb, pa)
        raise invalid(missing, func, f"given together with {given}", None)
    expected = (f"a list of ({n}, {n}) matrices, an (m, {n}, {n}) array or an (m, {n * n}) matrix "
                "of flattened matrices")
    mats: list[sp.csr_matrix] = []
    if sp.issparse(A) or (isinstance(A, np.ndarray) and A.ndim == 2 and A.shape[1] == n * n
                          and not (n == 1 and A.shape[0] == 1)):
        M = sp.csr_matrix(A, dtype=np.float64)
        if M.ndim != 2 or M.shape[1] != n * n:
            raise invalid(pa, func, expected, f"<a matrix of shape {M.shape}>")
        for k in range(M.shape[0]):
            row = M.getrow(k).tocoo()
            mats.append(sp.csr_matrix((row.data, (row.col // n, row.col % n)), shape=(n, n)))
    elif isinstance(A, np.ndarray) and A.ndim == 3:
        if A.shape[1:] != (n, n):
            raise invalid(pa, func, expected, f"<an array of shape {A.shape}>")
        mats = [sp.csr_matrix(np.asarray(a, dtype=np.float64)) for a in A]
    elif isinstance(A, (list, tuple)):
        for k, a in enumerate(A):
            try:
                M = sp.csr_matrix(a, dtype=np.float64) if sp.issparse(a) else \
                    sp.csr_matrix(np.asarray(a, dtype=np.float64))
            except (TypeError, ValueError):
                raise invalid(f"{pa}[{k}]", func, f"a ({n}, {n}) array or sparse matrix",
                              f"<{type(a).__name__}>") from None
            if M.shape != (n, n):
                raise invalid(f"{pa}[{k}]", func, f"a ({n}, {n}) matrix", f"<shape {M.shape}>")
            mats.append(M)
    else:
        raise invalid(pa, func, expected, f"<{type(A).__name__}>")
    for k, M in enumerate(mats):
        if not np.all(np.isfinite(M.data)):
            raise invalid(f"{pa}[{k}]", func, "finite (no NaN or inf)", "<a matrix with NaN or inf>")
    mats = [sp.csr_matrix((M + M.T) * 0.5) for M in mats]
    try:
        rhs = np.asarray(b, dtype=np.float64).reshape(-1) if np.ndim(b) <= 1 else None
    except (TypeError, ValueError):
        rhs = None
    if rhs is None or rhs.shape[0] != len(mats):
        raise invalid(pb, func, f"a 1-D array of {len(mats)} numbers (one per matrix of {pa})",
                      f"<{type(b).__name__} of shape {np.shape(b)}>" if rhs is None or np.ndim(b)
                      else b)
    if not np.all(np.isfinite(rhs)):
        raise invalid(pb, func, "finite (no NaN or inf)", "<an array with NaN or inf>")
    return mats, rhs


def _upper_stack(mats: list[sp.csr_matrix], n: int) -> _Upper:
    ks, is_, js, vs = [], [], [], []
    for k, M in enumerate(mats):
        U = sp.triu(M, format="coo")
        U.sum_duplicates()
        keep = U.data != 0
        ks.append(np.full(int(keep.sum()), k, dtype=np.int64))
        is_.append(U.row[keep].astype(np.int64))
        js.append(U.col[keep].astype(np.int64))
        vs.append(U.data[keep])
    if not mats:
        e = np.zeros(0, dtype=np.int64)
        return _Upper(e, e, e, np.zeros(0))
    return _Upper(np.concatenate(ks), np.concatenate(is_), np.concatenate(js), np.concatenate(vs))
