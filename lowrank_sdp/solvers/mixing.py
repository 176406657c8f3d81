"""The mixing method (block-coordinate descent over rows) for linear objectives <C, X>."""

from __future__ import annotations

import numpy as np

from lowrank_sdp.kernels.mixing import mixing_sweep
from lowrank_sdp.problem import Problem
from lowrank_sdp.solvers._common import InnerOptions, InnerResult, Monitor


def mixing(problem: Problem, Y: np.ndarray, options: InnerOptions, monitor: Monitor) -> InnerResult:
    objective = problem.objective
    off = objective.mixing_csr()
    Y = np.array(Y, dtype=np.float64, order="C", copy=True)  # updated in place (monotone)
    f, _ = objective.evaluate(Y)
    work = np.empty(Y.shape[1])
    while True:
        decrease, grad2 = mixing_sweep(off.indptr, off.indices, off.data, Y, work)
        f -= decrease
        gnorm = float(np.sqrt(grad2))
        if monitor.step(Y, f, gnorm):
            f, _ = objective.evaluate(Y)
            return InnerResult(Y, f, gnorm, False, monitor.stop)
        if gnorm <= options.grad_tol * (1.0 + abs(f)):
            f, _ = objective.evaluate(Y)  # exact value, free of the running sum's drift
            return InnerResult(Y, f, gnorm, True)
        if decrease <= 0.0:  # no row moved: a fixed point of the sweep
            f, _ = objective.evaluate(Y)
            return InnerResult(Y, f, gnorm, False)
