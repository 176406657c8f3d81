"""Riemannian gradient descent with Barzilai-Borwein steps and nonmonotone Armijo backtracking."""

from __future__ import annotations

from collections import deque

import numpy as np

from lowrank_sdp import manifold
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


def rgd(problem: Problem, Y: np.ndarray, options: InnerOptions, monitor: Monitor) -> InnerResult:
    objective = problem.objective
    f, GY = objective.evaluate(Y)
    grad, g2 = gradient(Y, GY)
    step = first_step(grad)  # then BB takes over
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
            Y_new = manifold.retract(Y, grad, -t)
            f_new, GY_new = objective.evaluate(Y_new)
            if f_new <= reference - ARMIJO * t * g2:
                break
            t *= 0.5
            if t < MIN_STEP:
                return InnerResult(Y, f, gnorm, False)
        grad_new, g2_new = gradient(Y_new, GY_new)
        # BB step from s = -t grad and y = grad_new - transport(grad) (transport by projection).
        a, b = manifold.transported_inner_products(grad, grad_new, Y_new)
        step = bb_step(t, a, b, g2, g2_new, k)
        Y, f, grad, g2 = Y_new, f_new, grad_new, g2_new
        recent.append(f)
        k += 1
        if monitor.step(Y, f, float(np.sqrt(g2))):
            return InnerResult(Y, f, float(np.sqrt(g2)), False, monitor.stop)
        best, stalled = progress(f, best, stalled)
        if stalled >= STALL_ITERATIONS:
            return InnerResult(Y, f, float(np.sqrt(g2)), False)
