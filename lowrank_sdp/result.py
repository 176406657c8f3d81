"""The result vocabulary: status codes, the certificate, the iteration state, and the results.

Every result (`Result` of `solve`, `MaxCutResult` of `maxcut`, and any later front door) derives from
`BaseResult`: the same attribute names (objective, bound, gap, relative_gap, certified, status, ...)
and one `to_dict()` whose keys are `BaseResult.KEYS` followed by the result's own `EXTRA_KEYS`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np


class Status(enum.Enum):
    """Why a solve stopped. Only CERTIFIED means the gap met the tolerance."""

    CERTIFIED = "certified"
    """gap <= tol * (1 + |objective|): a proven near-optimal point."""
    STATIONARY = "stationary"
    """The Riemannian gradient norm fell below its tolerance but the certificate did not close."""
    MAX_ITERATIONS = "max_iterations"
    TIME_LIMIT = "time_limit"
    CALLBACK = "callback"
    """The callback raised StopIteration."""
    INTERRUPTED = "interrupted"
    """KeyboardInterrupt (Ctrl-C) during the solve."""
    MAX_RANK = "max_rank"
    """The staircase reached its rank cap with a negative eigenvalue left."""
    NOT_FEASIBLE = "not_feasible"
    """General SDPs: the constraint violation (DIMACS err1) was still above tol when the method
    stopped (penalty at its cap, or no progress). The problem may be infeasible; this is not a proof."""
    NO_BOUND = "no_bound"
    """General SDPs: feasible to tol, but the gap is unknown: the slack is not proven PSD and no
    bound on trace(X) is implied by the constraints or given (`trace_bound=`)."""

    @property
    def certified(self) -> bool:
        return self is Status.CERTIFIED


class Evidence(enum.Enum):
    """What the certificate's lambda_min rests on (docs/certificate.md states each guarantee)."""

    FACTORIZATION = "factorization"
    """Proof: a Cholesky (dense) or LDL^T (sparse, inertia) factorisation of S - sigma I completed
    with positive pivots, so lambda_min(S) >= sigma less the factorisation's rounding bound."""
    EIGENSOLVER_BOUND = "eigensolver_bound"
    """Dense LAPACK eigenvalue minus the backward-error bound c n eps ||S||_F of a backward-stable
    symmetric eigensolver (a proof up to LAPACK's own error analysis)."""
    GERSHGORIN = "gershgorin"
    """Proof by Gershgorin's disc theorem: lambda_min(S) >= min_i (S_ii - sum_{j != i} |S_ij|)."""
    ESTIMATE = "estimate"
    """Not a proof: a converged Lanczos Ritz value minus its residual. It bounds *an* eigenvalue;
    that it is the smallest is what a random start makes overwhelmingly likely."""
    NONE = "none"
    """Nothing is claimed (non-convex objective, or no estimate possible): the bound is infinite."""

    @property
    def is_proof(self) -> bool:
        """True for FACTORIZATION, EIGENSOLVER_BOUND and GERSHGORIN."""
        return self in (Evidence.FACTORIZATION, Evidence.EIGENSOLVER_BOUND, Evidence.GERSHGORIN)


@dataclass(frozen=True)
class Certificate:
    """A dual bound for a feasible point Y (see docs/certificate.md).

    For minimisation: bound = objective + n * min(lambda_min, 0) <= optimum <= objective.
    For maximisation everything is mirrored: bound >= optimum >= objective.
    """

    objective: float
    bound: float
    gap: float
    """|objective - bound| >= 0."""
    lambda_min: float
    """Proven-or-estimated *lower* bound on the smallest eigenvalue of S = G - Diag(lambda) (of
    -G + Diag(lambda) when maximising): the number the bound is built from."""
    lambda_estimate: float
    """The eigensolver's estimate of that eigenvalue (>= lambda_min); guides the staircase."""
    residual: float
    """Norm of the eigen-residual that backs lambda_min (0 for a dense eigensolver)."""
    evidence: Evidence
    """What lambda_min rests on: a proof (FACTORIZATION, EIGENSOLVER_BOUND, GERSHGORIN) or an
    ESTIMATE (Lanczos); NONE when nothing is claimed."""
    multipliers: np.ndarray = field(repr=False)
    """lambda_i = <(G Y)_i, Y_i>, the dual variables of diag(X) = 1."""
    eigenvector: np.ndarray | None = field(default=None, repr=False)
    """Unit vector for lambda_min (the staircase's escape direction), when available."""
    work: float = field(default=float("nan"), repr=False, compare=False)
    """Floating-point operations the certificate spent (counted from the sizes, not timed; NaN
    where not counted; the eigensolver's dense vector operations weighted by
    `lowrank_sdp.certificate.DENSE_FLOP_WEIGHT`): a solve spaces its checkpoints by it."""

    @property
    def relative_gap(self) -> float:
        """gap / (1 + |objective|), the quantity `tol` is compared with."""
        return relative_gap(self.gap, self.objective)


def relative_gap(gap: float, objective: float) -> float:
    """gap / (1 + |objective|): the one definition every result uses."""
    return gap / (1.0 + abs(objective))


def _plain(value: Any) -> Any:
    """A JSON-ready Python value: enums by name, numpy scalars as Python numbers."""
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


class BaseResult:
    """The vocabulary every result shares (a mixin for frozen dataclasses).

    A subclass provides the attributes named in `KEYS` (as fields or properties) except
    `relative_gap` and `certified`, which are computed here, and lists its own further scalar
    keys in `EXTRA_KEYS`. `to_dict()` returns them all as plain Python values.
    """

    KEYS: ClassVar[tuple[str, ...]] = (
        "n", "sense", "objective", "bound", "gap", "relative_gap", "certified", "status", "rank",
        "method", "iterations", "seconds",
    )
    EXTRA_KEYS: ClassVar[tuple[str, ...]] = ()

    objective: float
    gap: float
    status: Status

    @property
    def relative_gap(self) -> float:
        """gap / (1 + |objective|), the quantity `tol` is compared with."""
        return relative_gap(self.gap, self.objective)

    @property
    def certified(self) -> bool:
        """True when the gap met the tolerance (status CERTIFIED)."""
        return self.status is Status.CERTIFIED

    def to_dict(self) -> dict[str, Any]:
        """The scalar results as plain Python values (status by enum name), ready for JSON
        (NaN and inf stay floats: write them as null where JSON is strict)."""
        return {k: _plain(getattr(self, k)) for k in (*self.KEYS, *self.EXTRA_KEYS)}


def finite_or_none(value: Any) -> Any:
    """NaN and inf as None (JSON has no such numbers), anything else unchanged."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class IterationRecord:
    """One entry of `Result.history`."""

    iteration: int
    """Iterations so far, over all ranks (1-based)."""
    objective: float
    """The objective in the user's sense (not negated when maximising)."""
    grad_norm: float
    """Frobenius norm of the Riemannian gradient."""
    rank: int
    seconds: float
    """Since the solve started."""


@dataclass(frozen=True, repr=False)
class IterationState(IterationRecord):
    """What a `solve` callback receives after every iteration: the record's fields and Y.

    ``Y`` is a read-only view of the current factor (copy it to keep it). Raising StopIteration in
    the callback stops the solve with status CALLBACK.
    """

    Y: np.ndarray = field(default=None)  # type: ignore[assignment]

    @classmethod
    def at(cls, record: IterationRecord, Y: np.ndarray) -> IterationState:
        view = Y.view()
        view.flags.writeable = False
        return cls(record.iteration, record.objective, record.grad_norm, record.rank,
                   record.seconds, view)

    def __repr__(self) -> str:
        return (
            f"IterationState(iteration={self.iteration}, objective={self.objective:.10g}, "
            f"grad_norm={self.grad_norm:.3g}, rank={self.rank}, seconds={self.seconds:.3g})"
        )


@dataclass(frozen=True)
class Result(BaseResult):
    """What `lowrank_sdp.solve` returns. X = Y @ Y.T is feasible by construction (unit rows)."""

    EXTRA_KEYS: ClassVar[tuple[str, ...]] = ("grad_norm", "rank_history", "evidence")

    Y: np.ndarray
    objective: float
    bound: float
    gap: float
    status: Status
    rank: int
    iterations: int
    seconds: float
    method: str
    sense: str
    certificate: Certificate = field(repr=False)
    rank_history: tuple[int, ...] = ()
    history: tuple[IterationRecord, ...] = field(default=(), repr=False)
    """One record per iteration; runs longer than 20,000 iterations keep an evenly thinned subset."""
    grad_norm: float = float("nan")

    @property
    def n(self) -> int:
        """Number of rows of Y (the size of X)."""
        return int(self.Y.shape[0])

    @property
    def evidence(self) -> Evidence:
        """What the bound rests on (`certificate.evidence`): a proof or an estimate."""
        return self.certificate.evidence

    @property
    def X(self) -> np.ndarray:
        """The dense n x n solution Y Y^T (memory n^2: avoid for large n)."""
        return self.Y @ self.Y.T

    def __repr__(self) -> str:
        return (
            f"Result(status={self.status.name}, objective={self.objective:.10g}, "
            f"bound={self.bound:.10g}, gap={self.gap:.3g}, rank={self.rank}, "
            f"iterations={self.iterations}, seconds={self.seconds:.3g}, method={self.method!r}, "
            f"evidence={self.certificate.evidence.name})"
        )


class RoundedResult(BaseResult):
    """The shared part of a combinatorial family's result (`maxcut`, `max_bisection`, `max_k_cut`,
    `maxsat`): a maximisation
    whose SDP solve is kept in `sdp` (a `Result`), read through for the method, the iteration
    count and the evidence behind the bound."""

    sdp: Result
    sense: ClassVar[str] = "max"

    @property
    def method(self) -> str:
        return self.sdp.method

    @property
    def iterations(self) -> int:
        return self.sdp.iterations

    @property
    def evidence(self) -> Evidence:
        """What the bound rests on (the SDP certificate's `Evidence`): a proof or an estimate."""
        return self.sdp.evidence
