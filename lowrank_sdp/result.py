"""The one result object every solver returns, and its status codes."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

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

    @property
    def certified(self) -> bool:
        return self is Status.CERTIFIED


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
    rigorous: bool
    """True when a Cholesky factorisation proved lambda_min, not only estimated it."""
    multipliers: np.ndarray = field(repr=False)
    """lambda_i = <(G Y)_i, Y_i>, the dual variables of diag(X) = 1."""
    eigenvector: np.ndarray | None = field(default=None, repr=False)
    """Unit vector for lambda_min (the staircase's escape direction), when available."""

    def relative_gap(self) -> float:
        return self.gap / (1.0 + abs(self.objective))


@dataclass(frozen=True)
class IterationRecord:
    iteration: int
    objective: float
    grad_norm: float
    rank: int
    seconds: float


@dataclass(frozen=True)
class Result:
    """What `lowrank_sdp.solve` returns. X = Y @ Y.T is feasible by construction (unit rows)."""

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
    def relative_gap(self) -> float:
        return self.gap / (1.0 + abs(self.objective))

    @property
    def certified(self) -> bool:
        return self.status is Status.CERTIFIED

    @property
    def X(self) -> np.ndarray:
        """The dense n x n solution Y Y^T (memory n^2: avoid for large n)."""
        return self.Y @ self.Y.T

    def __repr__(self) -> str:
        return (
            f"Result(status={self.status.name}, objective={self.objective:.10g}, "
            f"bound={self.bound:.10g}, gap={self.gap:.3g}, rank={self.rank}, "
            f"iterations={self.iterations}, seconds={self.seconds:.3g}, method={self.method!r})"
        )
