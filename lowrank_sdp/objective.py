"""Objectives f(X), evaluated through the factor Y (X = Y Y^T).

Everything the solvers and the certificate need is f and the X-space gradient G = grad f(X):
the Y-space gradient is 2 G Y, the multipliers are lambda_i = <(G Y)_i, Y_i>, and the dual slack is
S = G - Diag(lambda).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from lowrank_sdp.kernels import linalg
from lowrank_sdp.validation import SYMMETRY_RTOL, invalid

__all__ = ["SYMMETRY_RTOL", "LinearObjective", "Objective", "as_operator", "symmetric_part"]

Matrix = np.ndarray | sp.spmatrix | sp.sparray | LinearOperator


class Objective:
    """A smooth objective given by ``fun(Y) -> (f, G)`` with G = grad f(X) at X = Y Y^T.

    G may be a dense array, a scipy.sparse matrix or a symmetric LinearOperator. The dual bound is
    valid only for convex f when minimising (concave f when maximising): pass ``convex=True`` or
    ``concave=True`` when that holds (the bound is then f(X) + n * min(lambda_min(S), 0));
    otherwise results carry an infinite bound (nothing is claimed).
    """

    linear = False

    def __init__(
        self,
        fun: Callable[[np.ndarray], tuple[float, Any]],
        *,
        n: int | None = None,
        convex: bool = False,
        concave: bool = False,
    ):
        if not callable(fun):
            raise invalid("fun", "Objective", "a callable fun(Y) -> (f, G)", fun)
        if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
            raise invalid("n", "Objective", "a positive int or None", n)
        self.fun = fun
        self.n = None if n is None else int(n)
        self.convex = bool(convex)
        self.concave = bool(concave)

    def evaluate(self, Y: np.ndarray) -> tuple[float, np.ndarray]:
        """(f, G Y) at Y."""
        f, G = self._call(Y)
        return f, _apply(G, Y)

    def gradient_operator(self, Y: np.ndarray) -> Matrix:
        """The X-space gradient G at Y (for the certificate)."""
        return self._call(Y)[1]

    def _call(self, Y: np.ndarray) -> tuple[float, Matrix]:
        out = self.fun(Y)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError("Objective fun(Y) must return a tuple (f, G)")
        f, G = out
        f = float(f)
        n = Y.shape[0]
        if getattr(G, "shape", None) != (n, n):
            raise ValueError(
                f"Objective fun(Y) returned G of shape {getattr(G, 'shape', None)}; "
                f"expected ({n}, {n})"
            )
        return f, symmetric_part(G)


class LinearObjective(Objective):
    """f(X) = <C, X>; G = C everywhere. Sparse C is held in CSR with its diagonal split off."""

    linear = True

    def __init__(self, C: Matrix):
        self.convex = True
        self.C = C
        self.n = C.shape[0]
        self.csr: sp.csr_matrix | None = None
        self.dense: np.ndarray | None = None
        self.operator: LinearOperator | None = None
        self._data_single: np.ndarray | None = None
        if sp.issparse(C):
            self.csr = sp.csr_matrix(C, dtype=np.float64)
            self.csr.sum_duplicates()
            self.csr.sort_indices()
            self.diagonal = self.csr.diagonal()
            off = self.csr - sp.diags(self.diagonal)
            off = sp.csr_matrix(off)
            off.eliminate_zeros()
            off.sort_indices()
            self.offdiag = off
        elif isinstance(C, np.ndarray):
            self.dense = np.ascontiguousarray(C, dtype=np.float64)
            self.diagonal = np.diag(self.dense).copy()
            self.offdiag = None
        else:
            self.operator = C
            self.diagonal = None
            self.offdiag = None

    def matmat(self, Y: np.ndarray) -> np.ndarray:
        """C @ Y."""
        if self.csr is not None:
            c = self.csr
            return linalg.csr_matmat(c.indptr, c.indices, c.data, Y, np.empty_like(Y))
        if self.dense is not None:
            return self.dense @ Y
        return np.asarray(self.operator.matmat(Y), dtype=np.float64).reshape(Y.shape)

    def evaluate(self, Y: np.ndarray) -> tuple[float, np.ndarray]:
        CY = self.matmat(Y)
        return float(np.vdot(CY, Y)), CY

    def evaluate_single(self, Y: np.ndarray) -> tuple[float, np.ndarray]:
        """(f, C Y) for a float32 Y of a sparse C: C Y in float32 (half the memory traffic of
        the float64 product), f summed in float64. Only for `csr` (None otherwise)."""
        if self._data_single is None:
            self._data_single = self.csr.data.astype(np.float32)
        c = self.csr
        out = np.empty_like(Y)
        f = linalg.csr_matmat_inner(c.indptr, c.indices, self._data_single, Y, out)
        return float(f), out

    def evaluate_single_exact(self, Y: np.ndarray) -> tuple[float, tuple[np.ndarray, float]]:
        """(f, (grad, ||grad||^2)) at the point with unit rows Y_i / ||Y_i|| for a float32 Y of
        a sparse C: Y stored in float32, every operation in float64, the gradient computed in
        the same pass (`kernels.linalg.csr_normalized_gradient`). Only for `csr`."""
        c = self.csr
        grad = np.empty_like(Y)
        f, norm2 = linalg.csr_normalized_gradient(c.indptr, c.indices, c.data, Y,
                                                  linalg.inverse_row_norms(Y), grad)
        return float(f), (grad, float(norm2))

    def gradient_operator(self, Y: np.ndarray) -> Matrix:
        if self.csr is not None:
            return self.csr
        if self.dense is not None:
            return self.dense
        return self.operator

    def mixing_csr(self) -> sp.csr_matrix:
        """Off-diagonal part of C in CSR form, as the mixing sweep wants it."""
        if self.offdiag is None:
            if self.dense is None:
                raise ValueError("the mixing method needs C as an array or sparse matrix")
            off = sp.csr_matrix(self.dense - np.diag(self.diagonal))
            off.eliminate_zeros()
            self.offdiag = off
        return self.offdiag


def symmetric_part(G: Matrix) -> Matrix:
    """(G + G^T) / 2 for an array or sparse matrix that is not exactly symmetric (warning when the
    asymmetry is large); operators are returned as they are (their symmetry is the caller's)."""
    if sp.issparse(G):
        diff = G - G.T
        asym = float(abs(diff).max()) if diff.nnz else 0.0
        scale = float(abs(G).max()) if G.nnz else 0.0
    elif isinstance(G, np.ndarray) and G.ndim == 2:
        G = np.asarray(G, dtype=np.float64)
        asym, scale = float(np.max(np.abs(G - G.T))), float(np.max(np.abs(G)))
    else:
        return G
    if asym == 0.0:
        return G
    if asym > SYMMETRY_RTOL * scale:
        warnings.warn(
            f"The gradient G returned by an Objective is not symmetric (max |G - G^T| = "
            f"{asym:.3g}, max |G| = {scale:.3g}); its symmetric part (G + G^T) / 2 is used.",
            UserWarning, stacklevel=3,
        )
    return G * 0.5 + G.T * 0.5


def _apply(G: Matrix, Y: np.ndarray) -> np.ndarray:
    if isinstance(G, LinearOperator):
        return np.asarray(G.matmat(Y), dtype=np.float64).reshape(Y.shape)
    return np.asarray(G @ Y, dtype=np.float64)


def as_operator(G: Matrix) -> LinearOperator:
    return G if isinstance(G, LinearOperator) else aslinearoperator(G)
