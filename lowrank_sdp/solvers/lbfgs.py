"""Riemannian L-BFGS: two-loop recursion on tangent vectors, transport by projection, Armijo."""

from __future__ import annotations

import numpy as np

from lowrank_sdp import manifold
from lowrank_sdp.problem import Problem
from lowrank_sdp.solvers import _common as common
from lowrank_sdp.solvers._common import InnerOptions, InnerResult, LbfgsMemory, Monitor

MEMORY = 8


def lbfgs(problem: Problem, Y: np.ndarray, options: InnerOptions, monitor: Monitor) -> InnerResult:
    objective = problem.objective
    f, GY = objective.evaluate(Y)
    grad, g2 = common.gradient(Y, GY)
    pairs = LbfgsMemory(Y.shape, MEMORY)
    d = np.empty_like(Y)
    step0 = common.first_step(grad)
    best, stalled = f, 0
    while True:
        gnorm = float(np.sqrt(g2))
        if gnorm <= options.grad_tol * (1.0 + abs(f)):
            return InnerResult(Y, f, gnorm, True)
        if pairs:
            pairs.direction(grad, out=d)
            manifold.project(Y, d, out=d)
            slope = float(np.vdot(grad, d))
        if not pairs or not slope < 0:
            pairs.clear()
            np.negative(grad, out=d)
            slope = -g2
        t = 1.0 if pairs else step0
        while True:
            Y_new = manifold.retract(Y, d, t)
            f_new, GY_new = objective.evaluate(Y_new)
            if f_new <= f + common.ARMIJO * t * slope:
                break
            t *= 0.5
            if t < common.MIN_STEP:
                if pairs:  # a bad quasi-Newton model: forget it and retry along -grad
                    pairs.clear()
                    np.negative(grad, out=d)
                    slope, t = -g2, step0
                    continue
                return InnerResult(Y, f, gnorm, False)
        grad_new, g2_new = common.gradient(Y_new, GY_new)
        # The pair, written in place: s = transport(t d), y = grad_new - transport(grad).
        s, y = pairs.slot()
        manifold.transport(Y_new, d, out=s)
        s *= t
        manifold.transport(Y_new, grad, out=y)
        np.subtract(grad_new, y, out=y)
        sy = float(np.vdot(s, y))
        if sy > 1e-12 * float(np.sqrt(np.vdot(s, s) * np.vdot(y, y))):
            pairs.push(1.0 / sy)
        Y, f, grad, g2 = Y_new, f_new, grad_new, g2_new
        if monitor.step(Y, f, float(np.sqrt(g2))):
            return InnerResult(Y, f, float(np.sqrt(g2)), False, monitor.stop)
        best, stalled = common.progress(f, best, stalled)
        if stalled >= common.STALL_ITERATIONS:
            return InnerResult(Y, f, float(np.sqrt(g2)), False)
