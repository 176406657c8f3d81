"""What to solve, validated: an objective over X = Y Y^T with diag(X) = 1, and a sense.

Internally every problem is a minimisation; ``sign`` maps back (user value = sign * internal value).
Bad input is refused with a ValueError. An asymmetric C is replaced by its symmetric part
(C + C^T) / 2: <C, X> = <(C + C^T) / 2, X> for every symmetric X, so it is the same problem, and
the objective, the gradient and the certificate then all see one symmetric matrix (a certificate
built from one triangle of an asymmetric C can be false). A UserWarning names a large asymmetry.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from lowrank_sdp.objective import SYMMETRY_RTOL, LinearObjective, Objective
from lowrank_sdp.validation import (
    as_numeric_array,
    check_choice,
    check_magnitude,
    check_numeric_dtype,
    invalid,
)

SENSES = ("min", "max")


@dataclass(frozen=True)
class Problem:
    objective: Objective
    """The objective to *minimise* (negated when the user maximises)."""
    n: int
    sense: str
    sign: float


def _symmetric_part(C, asym: float, scale: float, func: str):
    """(C + C^T) / 2 (exactly symmetric in floating point), warning when the asymmetry is large."""
    if asym == 0.0:
        return C
    if asym > SYMMETRY_RTOL * scale:
        warnings.warn(
            f"C passed to {func} is not symmetric (max |C - C^T| = {asym:.3g}, "
            f"max |C| = {scale:.3g}); solving with its symmetric part (C + C^T) / 2, which has "
            "the same value <C, X> at every feasible X.",
            UserWarning, stacklevel=2,
        )
    return C * 0.5 + C.T * 0.5  # halves first: no overflow near the float maximum


def validate_matrix(C, func: str = "solve") -> np.ndarray | sp.csr_matrix | LinearOperator:
    """Check that C is a finite, square, symmetric, non-empty matrix or operator."""
    if isinstance(C, LinearOperator):
        n = _check_shape(C.shape, func)
        check_numeric_dtype(C.dtype, "C", func)
        rng = np.random.default_rng(12345)
        u, v = rng.standard_normal(n), rng.standard_normal(n)
        Cu, Cv = _probe(C, u, func), _probe(C, v, func)
        _probe(C, np.stack([u, v], axis=1), func)  # matmat too: the solver calls it every iteration
        if not (np.all(np.isfinite(Cu)) and np.all(np.isfinite(Cv))):
            raise invalid("C", func, "an operator with finite values", "<an operator giving NaN/inf>")
        peak = float(np.max(np.abs(Cu)))  # |Cu| by parts: its square may overflow
        gain = peak * float(np.linalg.norm(Cu / peak)) / float(np.linalg.norm(u)) if peak else 0.0
        check_magnitude(gain, n, "C", func, "gain |C u| / |u| (on a random u)")
        a, b = float(v @ Cu), float(u @ Cv)
        scale = max(np.linalg.norm(Cu) * np.linalg.norm(v), np.linalg.norm(Cv) * np.linalg.norm(u))
        # Relative to the operator's scale (never absolute) and above the products' rounding.
        if abs(a - b) > 64.0 * n * np.finfo(np.float64).eps * scale:
            return _symmetrised_operator(C, abs(a - b), func)
        return C
    if sp.issparse(C):
        n = _check_shape(C.shape, func)
        check_numeric_dtype(C.dtype, "C", func)
        C = sp.csr_matrix(C, dtype=np.float64)
        if not np.all(np.isfinite(C.data)):
            raise invalid("C", func, "finite (no NaN or inf entries)", "<a matrix with NaN or inf>")
        check_magnitude(float(abs(C).sum(axis=1).max()), n, "C", func)
        scale = float(abs(C).max()) if C.nnz else 0.0
        diff = C - C.T
        asym = float(abs(diff).max()) if diff.nnz else 0.0
        return sp.csr_matrix(_symmetric_part(C, asym, scale, func))
    if isinstance(C, np.ndarray) or isinstance(C, (list, tuple)):
        C = as_numeric_array(C, "C", func)
        if C.ndim != 2:
            raise invalid("C", func, "a 2-D square matrix", f"<array of shape {C.shape}>")
        n = _check_shape(C.shape, func)
        if not np.all(np.isfinite(C)):
            raise invalid("C", func, "finite (no NaN or inf entries)", "<a matrix with NaN or inf>")
        check_magnitude(float(np.abs(C).sum(axis=1).max()), n, "C", func)
        asym, scale = float(np.max(np.abs(C - C.T))), float(np.max(np.abs(C)))
        return np.ascontiguousarray(_symmetric_part(C, asym, scale, func))
    raise invalid(
        "C", func,
        "an ndarray, a scipy.sparse matrix, a symmetric LinearOperator or an Objective",
        f"<{type(C).__name__}>",
    )


def _probe(C: LinearOperator, x: np.ndarray, func: str) -> np.ndarray:
    """C @ x for a user operator, its output checked: real, and the shape of x."""
    try:
        out = C.matvec(x) if x.ndim == 1 else C.matmat(x)
    except ValueError as err:  # scipy's reshape of a wrong-length result
        raise invalid("C", func, f"an operator whose {'matvec' if x.ndim == 1 else 'matmat'} "
                      f"returns shape {x.shape}", f"<an operator that failed: {err}>") from None
    out = np.asarray(out)
    check_numeric_dtype(out.dtype, "C", func)
    if out.size != x.size:
        raise invalid("C", func, f"an operator returning shape {x.shape}",
                      f"<an operator returning shape {out.shape}>")
    return out.reshape(x.shape).astype(np.float64, copy=False)


def _symmetrised_operator(C: LinearOperator, asym: float, func: str) -> LinearOperator:
    """(C + C^T) / 2 through C's adjoint; an asymmetric operator without one is refused."""
    try:
        C.rmatvec(np.zeros(C.shape[0]))
    except NotImplementedError:
        raise invalid(
            "C", func, "a symmetric operator (probe: |v^T C u - u^T C v| <= 64 n eps * scale), "
            "or one with an adjoint (rmatvec) so that its symmetric part can be used",
            f"<an operator with |v^T C u - u^T C v| = {asym:.3g} and no rmatvec>",
        ) from None
    warnings.warn(
        f"The operator C passed to {func} is not symmetric (probe |v^T C u - u^T C v| = "
        f"{asym:.3g}); solving with its symmetric part (C + C^T) / 2.", UserWarning, stacklevel=2,
    )
    n = C.shape[0]

    def mm(X):
        X = np.asarray(X, dtype=np.float64).reshape(n, -1)
        out = 0.5 * np.asarray(C.matmat(X)).reshape(n, -1) + 0.5 * np.asarray(
            C.rmatmat(X)).reshape(n, -1)
        return out

    return LinearOperator((n, n), matvec=lambda x: mm(x).ravel(), rmatvec=lambda x: mm(x).ravel(),
                          matmat=mm, rmatmat=mm, dtype=np.float64)


def _check_shape(shape, func: str) -> int:
    if len(shape) != 2 or shape[0] != shape[1]:
        raise invalid("C", func, "a square matrix", f"<shape {tuple(shape)}>")
    if shape[0] == 0:
        raise invalid("C", func, "at least 1 x 1 (n >= 1)", f"<shape {tuple(shape)}>")
    return int(shape[0])


class _Negated(Objective):
    """-f for a user objective f (maximisation becomes minimisation)."""

    def __init__(self, inner: Objective):
        self.inner = inner
        self.convex = getattr(inner, "concave", False)
        self.n = inner.n

    def evaluate(self, Y):
        f, GY = self.inner.evaluate(Y)
        return -f, -GY

    def gradient_operator(self, Y):
        return -self.inner.gradient_operator(Y)


def make_problem(C, sense: str = "min", func: str = "solve", n: int | None = None) -> Problem:
    """Validate (C, sense) and build the internal minimisation problem."""
    check_choice(sense, SENSES, "sense", func)
    sign = 1.0 if sense == "min" else -1.0
    if isinstance(C, Objective) and not C.linear:
        size = C.n if C.n is not None else n
        if size is None:
            raise invalid(
                "C", func, "an Objective with a known size (Objective(fun, n=...)) or a Y0",
                "<an Objective without n>",
            )
        objective = C if sign > 0 else _Negated(C)
        return Problem(objective, int(size), sense, sign)
    if isinstance(C, LinearObjective):
        C = C.C
    M = validate_matrix(C, func)
    return Problem(LinearObjective(M if sign > 0 else -M), M.shape[0], sense, sign)
