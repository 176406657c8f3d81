"""The mixing method (block-coordinate descent over rows) for linear objectives <C, X>,
over-relaxed by a factor chosen from the measured convergence (successive over-relaxation).

Each sweep moves every row y to y + omega (u - y), back on the sphere, u the row's exact
minimiser (`kernels.mixing.mixing_sweep`; omega = 1 is the mixing method of Wang, Chang & Kolter).
The sweeps start at omega = 1. Every OMEGA_WINDOW sweeps, the decrease of f per sweep (quadratic
in the error) gives the error's contraction per sweep, lambda = sqrt(decrease ratio), and
Young's relation for SOR, (lambda + omega - 1)^2 = lambda omega^2 mu^2, the contraction mu of the
Jacobi iteration behind it; omega moves up to Young's optimum 2 / (1 + sqrt(1 - mu^2)) (never
down), at most `omega_cap(n)`. Certified to 1e-6 by `solve(method="mixing")`, threads 1, median
of seeds 0-2: G11 (torus, n 800) 11.55 s at omega = 1 (docs/benchmarks.md) -> 0.164 s (rgd 0.434
s), G57 (torus, n 5000) 0.678 s (rgd 6.26 s), G81 (torus, n 20000) 6.95 s (rgd 58 s, seed 0),
G1 (random, n 800) 0.070 s (rgd 0.085 s).
"""

from __future__ import annotations

import math

import numpy as np

from lowrank_sdp.kernels.mixing import mixing_sweep
from lowrank_sdp.problem import Problem
from lowrank_sdp.solvers._common import InnerOptions, InnerResult, Monitor

OMEGA_WINDOW = 20
"""Sweeps between two choices of the over-relaxation factor (the contraction is measured over
this many sweeps)."""
OMEGA_MAX = 1.999
OMEGA_CAP_SCALE = 0.5
"""omega stays below min(OMEGA_MAX, 2 - OMEGA_CAP_SCALE / sqrt(n)): the contraction per sweep is
at least omega - 1, and Young's estimate, which assumes a linear iteration, overshoots near the
optimum (on a torus, where the best omega is 2 - O(1/side)). G81 (n 20000) certified to 1e-6,
seeds 0-2, with the scale 0.35 / 0.5 / 0.7: 10.73, 9.11, 10.67 / 6.95, 6.83, 14.91 / 14.57, 9.30,
17.77 s; a fixed cap of 1.995, 17.19 s (seed 0). G11 (n 800): 0.26 s with a cap 2 - c / sqrt(n),
2.6 s with 1.999 alone (rotation form of the sweep, as the G57 figures: 1.0-1.1 s at 1.995 and
at 2 - c / sqrt(n), 1.5-2.2 s at 1.997-1.999)."""


def omega_cap(n: int) -> float:
    """The largest over-relaxation factor on n rows (see OMEGA_CAP_SCALE)."""
    return min(OMEGA_MAX, 2.0 - OMEGA_CAP_SCALE / math.sqrt(max(n, 1)))


def over_relaxation(omega: float, contraction: float, cap: float) -> float:
    """The next over-relaxation factor after an error `contraction` per sweep measured at
    `omega`: Young's optimum for the Jacobi contraction mu that it implies, when above omega (at
    most `cap`); omega where the measurement says nothing (outside (0, 1), or mu >= 1)."""
    if not 0.0 < contraction < 1.0:
        return omega
    mu2 = (contraction + omega - 1.0) ** 2 / (contraction * omega * omega)
    if mu2 >= 1.0:
        return omega
    return min(max(omega, 2.0 / (1.0 + math.sqrt(1.0 - mu2))), cap)


def mixing(problem: Problem, Y: np.ndarray, options: InnerOptions, monitor: Monitor) -> InnerResult:
    objective = problem.objective
    off = objective.mixing_csr()
    saved = monitor.resume_state(Y)  # the front door resuming: keep omega and its window
    # The window: the decrease of its first sweep and the sweeps since (None: not begun).
    omega, first, count = saved if saved is not None else (1.0, None, 0)
    Y = np.array(Y, dtype=np.float64, order="C", copy=True)  # updated in place (monotone)
    cap = omega_cap(Y.shape[0])
    f, _ = objective.evaluate(Y)
    work = np.empty(Y.shape[1])
    while True:
        decrease, grad2 = mixing_sweep(off.indptr, off.indices, off.data, Y, work, omega)
        f -= decrease
        count += 1
        if first is None or count == OMEGA_WINDOW:
            if first is not None and first > 0.0 and decrease > 0.0:
                contraction = math.sqrt((decrease / first) ** (1.0 / OMEGA_WINDOW))
                omega = over_relaxation(omega, contraction, cap)
            first, count = decrease, 0  # this sweep opens the next window
        gnorm = float(np.sqrt(grad2))
        if monitor.step(Y, f, gnorm):
            f, _ = objective.evaluate(Y)
            monitor.pause(Y, (omega, first, count))
            return InnerResult(Y, f, gnorm, False, monitor.stop)
        if gnorm <= options.grad_tol * (1.0 + abs(f)):
            f, _ = objective.evaluate(Y)  # exact value, free of the running sum's drift
            monitor.pause(Y, (omega, first, count))
            return InnerResult(Y, f, gnorm, True)
        if decrease <= 0.0:  # no row moved: a fixed point of the sweep
            f, _ = objective.evaluate(Y)
            return InnerResult(Y, f, gnorm, False)
