"""Riemannian gradient descent with Barzilai-Borwein steps and nonmonotone Armijo backtracking."""

from __future__ import annotations

from collections import deque

import numpy as np

from lowrank_sdp.kernels import linalg
from lowrank_sdp.problem import Problem
from lowrank_sdp.solvers._common import InnerOptions, InnerResult, Monitor

ARMIJO = 1e-4
MEMORY = 10  # nonmonotone window (Grippo-Lampariello-Lucidi: compare with the max of the last M)
MIN_STEP = 1e-20
STALL_ITERATIONS = 50
"""Give up after this many iterations without a decrease above roundoff: the gradient tolerance can
be out of reach (tol=0, or an objective whose certificate cannot close) and must not loop forever."""
STALL_RTOL = 1e-15


def _progress(f: float, best: float, stalled: int) -> tuple[float, int]:
    """(best f so far, iterations since it last dropped by more than roundoff)."""
    if f < best - STALL_RTOL * (1.0 + abs(best)):
        return f, 0
    return min(f, best), stalled + 1


def _gradient(GY: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, float]:
    grad = np.empty_like(Y)
    _, norm2 = linalg.riemannian_gradient(GY, Y, grad, np.empty(Y.shape[0]))
    return grad, norm2


def rgd(problem: Problem, Y: np.ndarray, options: InnerOptions, monitor: Monitor) -> InnerResult:
    objective = problem.objective
    f, GY = objective.evaluate(Y)
    grad, g2 = _gradient(GY, Y)
    # First step: a unit move of the largest row, then BB takes over.
    row = float(np.sqrt(np.max(np.einsum("ij,ij->i", grad, grad)))) if Y.size else 0.0
    step = 1.0 / row if row > 0 else 1.0
    recent = deque([f], maxlen=MEMORY)
    best, stalled = f, 0
    k = 0
    while True:
        gnorm = float(np.sqrt(g2))
        if gnorm <= options.grad_tol * (1.0 + abs(f)):
            return InnerResult(Y, f, gnorm, True)
        reference = max(recent)
        t = step
        while True:
            Y_new = linalg.retract(Y, grad, -t, np.empty_like(Y))
            f_new, GY_new = objective.evaluate(Y_new)
            if f_new <= reference - ARMIJO * t * g2:
                break
            t *= 0.5
            if t < MIN_STEP:
                return InnerResult(Y, f, gnorm, False)
        grad_new, g2_new = _gradient(GY_new, Y_new)
        # BB step from s = -t grad and y = grad_new - transport(grad) (transport by projection).
        a, b = linalg.bb_inner_products(grad, grad_new, Y_new)
        sy, ss, yy = -t * (a - b), t * t * g2, g2_new - 2.0 * a + b
        if sy > 0:
            step = ss / sy if k % 2 == 0 else sy / yy
        else:
            step = 2.0 * t
        step = min(max(step, 1e-12), 1e12)
        Y, f, grad, g2 = Y_new, f_new, grad_new, g2_new
        recent.append(f)
        k += 1
        if monitor.step(Y, f, float(np.sqrt(g2))):
            return InnerResult(Y, f, float(np.sqrt(g2)), False, monitor.stop)
        best, stalled = _progress(f, best, stalled)
        if stalled >= STALL_ITERATIONS:
            return InnerResult(Y, f, float(np.sqrt(g2)), False)
