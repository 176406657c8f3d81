"""Riemannian gradient descent with Barzilai-Borwein steps and nonmonotone Armijo backtracking."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from lowrank_sdp import manifold
from lowrank_sdp.kernels import linalg
from lowrank_sdp.problem import Problem
from lowrank_sdp.solvers._common import (
    ARMIJO,
    MIN_STEP,
    STALL_ITERATIONS,
    InnerOptions,
    InnerResult,
    Monitor,
    bb_step,
    first_step,
    gradient,
    progress,
)

MEMORY = 10  # nonmonotone window (Grippo-Lampariello-Lucidi: compare with the max of the last M)


class NumpySpace:
    """The oblique manifold of `lowrank_sdp.manifold` with `objective` on it: what `descend` moves
    on for the numpy methods. Another space (the torch path's tensors, row-sharded tensors) gives
    the same five operations on its own arrays."""

    def __init__(self, objective) -> None:
        self.evaluate = objective.evaluate  # Y -> (f, G Y)
        self.retract = manifold.retract  # (Y, V, t) -> R_Y(t V)
        self.transported_inner_products = manifold.transported_inner_products
        self.gradient = gradient  # (Y, G Y) -> (grad, |grad|^2)
        self.first_step = first_step  # grad -> the first trial step


class SinglePrecisionSpace:
    """`NumpySpace` for a float32 Y and a sparse linear C, in one of two modes. Fast: products,
    retraction and gradient in float32 (the product, which dominates at scale, moves half the
    bytes: ER n = 1e5, rank 126, 128 -> 55 ms), every sum (f, |grad|^2, the BB inner products)
    in float64. Exact (`exact=True`): Y still stored in float32 but the point is Y with its rows
    rescaled to unit norm and every operation is float64, the gradient computed with the product
    (90 ms there, against 157 ms for the float64 product and gradient): what the fast mode's
    rounding cannot give near an optimum (G Y - lambda Y cancels to ~1e-3 of G Y). `rgd` picks
    the mode from the gradient tolerance; certificates always see the float64 point."""

    def __init__(self, objective, exact: bool = False) -> None:
        self.evaluate = objective.evaluate_single_exact if exact else objective.evaluate_single
        self.gradient = self._carried if exact else self._gradient
        self.transported_inner_products = manifold.transported_inner_products
        self.first_step = first_step

    @staticmethod
    def retract(Y: np.ndarray, V: np.ndarray, t: float) -> np.ndarray:
        return linalg.retract(Y, V, float(t), np.empty_like(Y))

    @staticmethod
    def _gradient(Y: np.ndarray, GY: np.ndarray) -> tuple[np.ndarray, float]:
        grad = np.empty_like(Y)
        _, norm2 = linalg.riemannian_gradient(GY, Y, grad, np.empty(Y.shape[0]))
        return grad, float(norm2)

    @staticmethod
    def _carried(Y: np.ndarray, evaluated: tuple[np.ndarray, float]) -> tuple[np.ndarray, float]:
        return evaluated  # the exact evaluation computed (grad, |grad|^2) with the product


SINGLE_PRECISION_GRAD_FACTOR = 1000.0
"""The fast float32 mode runs while the gradient tolerance is above SINGLE_PRECISION_GRAD_FACTOR
eps32 / sqrt(n) (relative to 1 + |f|; about that factor times the rounding of its gradient,
eps32 ||G Y||_F, as ||G Y||_F >= |f| / sqrt(n)); below it the exact mode takes over. At ER n =
3e4's certified point the fast gradient was off by 1.2% (8.7e-5 on |grad| 7.3e-3), and BB had
slowed to 2x the float64 run's iterations."""


def single_precision_grad_floor(n: int) -> float:
    """The gradient tolerance below which float32's fast mode hands over to the exact one."""
    return SINGLE_PRECISION_GRAD_FACTOR * float(np.finfo(np.float32).eps) / math.sqrt(n)


def descend(space, Y, grad_tol: float, monitor: Monitor):
    """Riemannian gradient descent on `space` from Y until |grad| <= grad_tol (1 + |f|), a stall,
    a failed line search or a monitor stop: returns (Y, f, grad_norm, converged, stop).

    `space` provides ``evaluate(Y) -> (f, GY)``, ``gradient(Y, GY) -> (grad, |grad|^2)``,
    ``first_step(grad)``, ``retract(Y, V, t)`` and ``transported_inner_products(grad, grad_new,
    Y_new) -> (a, b)`` (see `bb_step`), with every sum over the whole of Y; so one loop serves the
    numpy path (`NumpySpace`) and the torch path (`lowrank_sdp.torch.backend`).

    Called again on the Y it returned (the front door resuming after a certificate: a periodic
    checkpoint, or a tighter gradient tolerance), it continues with the same BB step, nonmonotone
    window and stall count (`Monitor.pause`), as if it had not stopped.
    """
    saved = monitor.resume_state(Y)
    if saved is not None:  # the front door resumes where this loop paused: keep BB and the window
        f, grad, g2, step, recent, best, stalled, k = saved
    else:
        f, GY = space.evaluate(Y)
        grad, g2 = space.gradient(Y, GY)
        step = space.first_step(grad)  # then BB takes over
        recent = deque([f], maxlen=MEMORY)
        best, stalled = f, 0
        k = 0
    while True:
        gnorm = math.sqrt(g2)
        if gnorm <= grad_tol * (1.0 + abs(f)):
            monitor.pause(Y, (f, grad, g2, step, recent, best, stalled, k))
            return Y, f, gnorm, True, None
        reference = max(recent)
        t = step
        while True:
            Y_new = space.retract(Y, grad, -t)
            f_new, GY_new = space.evaluate(Y_new)
            if f_new <= reference - ARMIJO * t * g2:
                break
            t *= 0.5
            if t < MIN_STEP:
                return Y, f, gnorm, False, None
        grad_new, g2_new = space.gradient(Y_new, GY_new)
        # BB step from s = -t grad and y = grad_new - transport(grad) (transport by projection).
        a, b = space.transported_inner_products(grad, grad_new, Y_new)
        step = bb_step(t, a, b, g2, g2_new, k)
        Y, f, grad, g2 = Y_new, f_new, grad_new, g2_new
        recent.append(f)
        k += 1
        best, stalled = progress(f, best, stalled)
        if monitor.step(Y, f, math.sqrt(g2)):
            monitor.pause(Y, (f, grad, g2, step, recent, best, stalled, k))
            return Y, f, math.sqrt(g2), False, monitor.stop
        if stalled >= STALL_ITERATIONS:
            return Y, f, math.sqrt(g2), False, None


def rgd(problem: Problem, Y: np.ndarray, options: InnerOptions, monitor: Monitor) -> InnerResult:
    """The "rgd" method: `descend` on the numpy oblique manifold (the solver contract); in single
    precision for a float32 Y (`SinglePrecisionSpace`)."""
    if Y.dtype != np.float32:
        return InnerResult(*descend(NumpySpace(problem.objective), Y, options.grad_tol, monitor))
    floor = single_precision_grad_floor(Y.shape[0])
    exact = options.grad_tol < floor
    if exact:  # the fast mode first, as far as its rounding allows
        fast = InnerResult(*descend(SinglePrecisionSpace(problem.objective), Y, floor, monitor))
        if not fast.converged and (fast.stop is not None or monitor.checkpoint):
            return fast  # a stop or a checkpoint: the front door's turn
        Y = fast.Y
    space = SinglePrecisionSpace(problem.objective, exact=exact)
    return InnerResult(*descend(space, Y, options.grad_tol, monitor))
