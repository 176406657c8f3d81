"""What every method shares: options, the inner result, the monitor that enforces the stops, and
the line-search constants and helpers of the Riemannian methods (rgd, lbfgs, tr).

The contract of a method (the built-in ones and a callable passed as ``solve(method=...)``)::

    method(problem: Problem, Y: ndarray, options: InnerOptions, monitor: Monitor) -> InnerResult

It runs at the rank of Y, evaluates ``problem.objective.evaluate(Y) -> (f, G Y)`` (f is minimised),
moves on the manifold with `lowrank_sdp.manifold`, calls ``monitor.step(Y, f, grad_norm)`` once per
iteration (``monitor.step(Y, f, grad_norm, products=k)`` for an iteration that costs about k
products with C, such as a trust-region step with its Hessian-vector products) and returns
``InnerResult(Y, f, grad_norm, converged=False, stop=monitor.stop)`` as soon as that returns True,
or ``InnerResult(Y, f, grad_norm, converged=True)`` once
``grad_norm <= options.grad_tol * (1 + |f|)``. The front door then certifies Y, climbs the rank
staircase, tightens grad_tol and calls the method again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lowrank_sdp import _interrupt, manifold
from lowrank_sdp.kernels import linalg
from lowrank_sdp.result import IterationRecord, IterationState, Status

ARMIJO = 1e-4
"""Sufficient-decrease constant of the Armijo backtracking line searches."""
MIN_STEP = 1e-20
"""A line search that backtracks below this step gives up (no decrease along the direction)."""
STALL_ITERATIONS = 50
"""Give up after this many iterations without a decrease above roundoff: the gradient tolerance can
be out of reach (tol=0, or an objective whose certificate cannot close) and must not loop forever."""
STALL_RTOL = 1e-15


def progress(f: float, best: float, stalled: int) -> tuple[float, int]:
    """(best f so far, iterations since it last dropped by more than roundoff)."""
    if f < best - STALL_RTOL * (1.0 + abs(best)):
        return f, 0
    return min(f, best), stalled + 1


def gradient(Y: np.ndarray, GY: np.ndarray) -> tuple[np.ndarray, float]:
    """(Riemannian gradient, its squared norm) at Y from G Y."""
    grad, _, norm2 = manifold.riemannian_gradient(Y, GY)
    return grad, norm2


def first_step(grad: np.ndarray) -> float:
    """The first trial step: a unit move of the row with the largest gradient."""
    row = float(np.sqrt(np.max(np.einsum("ij,ij->i", grad, grad)))) if grad.size else 0.0
    return 1.0 / row if row > 0 else 1.0


def bb_step(t: float, a: float, b: float, g2: float, g2_new: float, k: int) -> float:
    """The next trial step after an accepted step `t` along -grad (Barzilai-Borwein).

    With s = -t grad and y = grad_new - transport(grad) (transport by projection onto the new
    tangent space), `a` = <grad, grad_new>, `b` = |transport(grad)|^2 (from
    `manifold.transported_inner_products`), g2 = |grad|^2, g2_new = |grad_new|^2: the long BB step
    s.s / s.y on even iterations `k`, the short one s.y / y.y on odd ones, 2t when s.y <= 0
    (no curvature information), clamped to [1e-12, 1e12].
    """
    sy, ss, yy = -t * (a - b), t * t * g2, g2_new - 2.0 * a + b
    if sy > 0:
        step = ss / sy if k % 2 == 0 else sy / yy
    else:
        step = 2.0 * t
    return min(max(step, 1e-12), 1e12)


class LbfgsMemory:
    """The last `size` L-BFGS pairs (s, y, 1 / <s, y>) of (n, r) tangent vectors in a ring of flat
    arrays, and the direction -H grad by the Numba two-loop recursion
    (`kernels.linalg.lbfgs_direction`, Nocedal & Wright Alg. 7.4, H_0 = <s, y> / <y, y> of the
    newest pair). Each pair is transported by the caller to the tangent space of the point where
    it was made; the caller projects the direction onto the current one. The one two-loop of the
    package: `lbfgs` and the augmented Lagrangian's inner solver (`alm`) both use it."""

    def __init__(self, shape: tuple[int, int], size: int) -> None:
        self.shape = shape
        N = shape[0] * shape[1]
        # One slot more than kept: the slot `slot()` hands out is never one in use, so a pair
        # written there and then rejected (no push) costs nothing.
        self.size = size
        self.S = np.empty((size + 1, N))
        self.Yd = np.empty((size + 1, N))
        self.rho = np.empty(size + 1)
        self.count = 0
        self.head = 0  # the slot the next pair goes to

    def __bool__(self) -> bool:
        return self.count > 0

    def __len__(self) -> int:
        return self.count

    def clear(self) -> None:
        self.count = self.head = 0

    def slot(self) -> tuple[np.ndarray, np.ndarray]:
        """(s, y) views, shaped like a tangent vector, of the slot the next `push` fills: the
        caller writes the pair there in place (no copy of n r floats per iteration)."""
        k = self.head
        return self.S[k].reshape(self.shape), self.Yd[k].reshape(self.shape)

    def push(self, rho: float) -> None:
        """Keep the pair written into `slot()`, with rho = 1 / <s, y>."""
        self.rho[self.head] = rho
        self.head = (self.head + 1) % self.rho.size
        self.count = min(self.count + 1, self.size)

    def append(self, s: np.ndarray, y: np.ndarray, rho: float) -> None:
        S, Yd = self.slot()
        S[...] = s
        Yd[...] = y
        self.push(rho)

    def direction(self, grad: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """-H grad (into `out`, shaped like grad, when given)."""
        size = self.rho.size
        order = (np.arange(self.head - self.count, self.head) % size).astype(np.int64)
        if out is None:
            out = np.empty(self.shape)
        linalg.lbfgs_direction(np.ascontiguousarray(grad).reshape(-1), self.S, self.Yd, self.rho,
                               order, out.reshape(-1))
        return out


@dataclass(frozen=True)
class InnerOptions:
    grad_tol: float
    """Stop when ||grad||_F <= grad_tol * (1 + |f|)."""


@dataclass(frozen=True)
class InnerResult:
    Y: np.ndarray
    objective: float
    """Internal (minimised) objective at Y."""
    grad_norm: float
    converged: bool
    """True when the gradient tolerance was met (False: stalled, or a stop fired)."""
    stop: Status | None = None


CERTIFY_COST_FACTOR = 4.0
CERTIFY_ELAPSED_FACTOR = 0.25
CERTIFY_MIN_SECONDS = 1.0
CERTIFY_MIN_WORK = 1e9
"""Between certificates an inner method runs at least 4x the last certificate's cost, a quarter
of the cost so far, and CERTIFY_MIN_WORK flops (about a second here): the gap is seen within ~25%
of the work it takes to close, and certificates cost at most ~20% of the run. Cost is counted in
flops from the sizes (`Monitor.iteration_flops`, `Certificate.work`), so the checkpoints fall on
the same iterations whatever the load: deterministic for a seed. Without a count (an operator C,
a custom objective) the same rule runs on the clock, with CERTIFY_MIN_SECONDS."""

RESERVE_FACTOR = 2.0
RESERVE_CAP = 0.5
RESERVE_LANCZOS_STEPS = 400
"""With a time limit T the iterations stop a reserve before T (at most RESERVE_CAP * T): the
final certificate, which runs its eigensolver to convergence where a checkpoint may stop at a
clear direction, gets that time and the slack (`lowrank_sdp.budget`). The reserve is the larger
of RESERVE_FACTOR times the costliest certificate so far and, where the front door gave the sizes
(`expect_certificate`), the time of RESERVE_LANCZOS_STEPS deflated Lanczos steps, priced from the
measured seconds per iteration and the flops of a step against an iteration's. Calibration: ER
n = 1e5, rank 126, T = 60: the final certificate took 17 s past T before the reserve (wall 77 s);
the one checkpoint before it stopped in under a second at a clear direction, and with 200 steps
(a reserve of ~11 s, 14 s with the slack) the final Lanczos did not converge (Gershgorin bound,
relative gap 0.86): a step costs more against an iteration than its flops say."""

HISTORY_LIMIT = 10_000
"""The history keeps between HISTORY_LIMIT and twice as many records, evenly spaced: memory stays
bounded on runs of millions of iterations."""


class Monitor:
    """Counts iterations across the whole solve, records history, runs the callback, enforces limits.

    Methods call ``monitor.step(...)`` once per iteration with the current point and return when
    it returns True: a stop (``monitor.stop``) or a periodic checkpoint (``monitor.checkpoint``),
    at which the front door computes the certificate and, if the gap is not closed, resumes.
    The monitor keeps a reference to the best point seen (lowest internal objective): methods that
    update Y in place must therefore be monotone.
    """

    def __init__(
        self,
        sign: float,
        callback: Callable | None,
        time_limit: float | None,
        max_iterations: int | None,
        start: float,
        progress: Callable[[IterationRecord], None] | None = None,
    ):
        self.sign = sign
        self.callback = callback
        self.time_limit = time_limit
        self.max_iterations = max_iterations
        self.start = start
        self.progress = progress
        self.iterations = 0
        self.history: list[IterationRecord] = []
        self.stride = 1
        self.best_Y: np.ndarray | None = None
        self.best_f = np.inf
        self.stop: Status | None = None
        self.checkpoint = False
        self.last_certificate = 0.0
        self.certificate_cost = 0.0
        self.iteration_flops: float | None = None
        """Flops of one iteration per column of Y (set by the front door where it can count
        them); None: checkpoints are scheduled on the clock."""
        self.work = 0.0  # flops so far, iterations and certificates
        self.last_certificate_work = 0.0
        self.certificate_work = 0.0
        self._paused: tuple | None = None
        self.reserve = 0.0
        """Seconds before time_limit at which the iterations stop (`reserve_for`)."""
        self._certificate_size: tuple[float, float] | None = None

    def reserve_for(self, seconds: float) -> None:
        """Hold back time for a final certificate like one that took `seconds`: RESERVE_FACTOR
        times the costliest seen so far, at most RESERVE_CAP of the limit."""
        if self.time_limit is not None and np.isfinite(seconds):
            self.reserve = min(RESERVE_CAP * self.time_limit,
                               max(self.reserve, RESERVE_FACTOR * seconds))

    def expect_certificate(self, n: int, nnz: float) -> None:
        """The sizes of the certificate's eigensolver (C with `nnz` stored entries, n rows), for
        the reserve's estimate of a final certificate (RESERVE_LANCZOS_STEPS)."""
        self._certificate_size = (float(n), float(nnz))

    def _reserve_now(self, r: int, t: float) -> float:
        """The reserve at rank r and time t (see RESERVE_LANCZOS_STEPS)."""
        size = self._certificate_size
        if size is None or self.iterations == 0 or self.time_limit is None:
            return self.reserve
        n, nnz = size
        iteration = r * (2.0 * nnz + 20.0 * n)  # as `count_iterations` counts one
        step = 2.0 * (nnz + n) + 6.0 * n * (40.0 + r)  # a product, the deflation, reorthogonalisation
        predicted = RESERVE_LANCZOS_STEPS * step / max(iteration, 1.0) * t / self.iterations
        return max(self.reserve, min(RESERVE_CAP * self.time_limit, predicted))

    def out_of_time(self, r: int | None = None) -> bool:
        """Is it time to stop the iterations (time_limit less the reserve) at rank r?"""
        if self.time_limit is None:
            return False
        t = self.elapsed()
        return t >= self.time_limit - (self.reserve if r is None else self._reserve_now(r, t))

    def pause(self, Y, state) -> None:
        """A method returning Y keeps its internal `state` (step size, memory) here; a later call
        on this same Y object gets it back from `resume_state` and continues as if uninterrupted."""
        self._paused = (Y, state)

    def resume_state(self, Y):
        """The state `pause` kept with this very Y object (None for another Y: a new rank, an
        escape, a new start). It is handed out once."""
        paused, self._paused = self._paused, None
        if paused is None or paused[0] is not Y:
            return None
        return paused[1]

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def step(self, Y: np.ndarray, f: float, grad_norm: float, products: float = 1.0) -> bool:
        """Count one iteration at Y that cost about `products` products with C (the unit of the
        flop schedule of checkpoints; 1 for a gradient step, 1 + the Hessian-vector products for a
        trust-region step) and say whether the method must return (a stop or a checkpoint)."""
        self.iterations += 1
        t = self.elapsed()
        record = IterationRecord(self.iterations, self.sign * f, grad_norm, Y.shape[1], t)
        if self.iterations % self.stride == 0:
            self.history.append(record)
            if len(self.history) >= 2 * HISTORY_LIMIT:  # long runs: keep every other record
                self.history = self.history[1::2]
                self.stride *= 2
        if f <= self.best_f:
            self.best_f, self.best_Y = f, Y
        if self.progress is not None:
            self.progress(record)
        if self.callback is not None:
            try:
                self.callback(IterationState.at(record, Y))
            except StopIteration:
                self.stop = Status.CALLBACK
        if self.stop is None and _interrupt.requested():  # Ctrl-C, deferred to here (_interrupt)
            self.stop = Status.INTERRUPTED
        if self.stop is None and self.time_limit is not None and (
                t >= self.time_limit - self._reserve_now(Y.shape[1], t)):
            self.stop = Status.TIME_LIMIT
        if self.stop is None and self.max_iterations is not None:
            if self.iterations >= self.max_iterations:
                self.stop = Status.MAX_ITERATIONS
        if self.stop is None and self._checkpoint_due(Y.shape[1], t, products):
            self.checkpoint = True  # long inner runs: look at the certificate now and then
        return self.stop is not None or self.checkpoint

    def _checkpoint_due(self, r: int, t: float, products: float = 1.0) -> bool:
        if self.iteration_flops is None:
            return t - self.last_certificate >= max(CERTIFY_COST_FACTOR * self.certificate_cost,
                                                    CERTIFY_ELAPSED_FACTOR * t, CERTIFY_MIN_SECONDS)
        self.work += products * r * self.iteration_flops
        return self.work - self.last_certificate_work >= max(
            CERTIFY_COST_FACTOR * self.certificate_work, CERTIFY_ELAPSED_FACTOR * self.work,
            CERTIFY_MIN_WORK)

    def stop_point(self, status: Status | None, Y):
        """The point a solve that stopped with `status` returns: after a Ctrl-C the best one seen
        (RGD is nonmonotone), else Y. Shared by the numpy and torch paths."""
        if status is Status.INTERRUPTED and self.best_Y is not None:
            return self.best_Y
        return Y

    def certified_at(self, cost: float, work: float | None = None) -> None:
        """Record that a certificate was just computed, taking `cost` seconds and `work` flops
        (`Certificate.work`; without a count, or NaN, the schedule falls back to the clock)."""
        self.last_certificate = self.elapsed()
        self.certificate_cost = cost
        self.reserve_for(cost)
        if work is None or not np.isfinite(work):
            self.iteration_flops = None
        else:
            self.work += work
            self.certificate_work = work
        self.last_certificate_work = self.work
        self.checkpoint = False

    def skip_certificate(self) -> None:
        """A checkpoint passed without a certificate (`solve.gap_out_of_reach`): the next one
        comes after the usual spacing from here, with the last certificate's cost."""
        self.last_certificate = self.elapsed()
        self.last_certificate_work = self.work
        self.checkpoint = False

    def count_iterations(self, objective) -> None:
        """Schedule checkpoints by counted flops for `objective`: one iteration costs about a
        product with C (2 nnz flops per column) and 20 vector operations per row and column
        (gradient, retraction, Barzilai-Borwein inner products). Only for C stored as a sparse or
        dense matrix; an operator or a custom objective stays on the clock."""
        n = objective.n if hasattr(objective, "n") else None
        csr, dense = getattr(objective, "csr", None), getattr(objective, "dense", None)
        if csr is not None:
            self.iteration_flops = 2.0 * float(csr.nnz) + 20.0 * n
        elif dense is not None:
            self.iteration_flops = 2.0 * float(n) * n + 20.0 * n
