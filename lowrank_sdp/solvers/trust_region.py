"""Riemannian trust region with truncated conjugate gradients (Absil, Baker, Gallivan 2007).

For linear objectives f(Y) = <C, Y Y^T> on the oblique manifold the Riemannian Hessian is exact:
    Hess f(Y)[V] = P_Y(2 C V) - 2 Diag(lambda) V,   lambda_i = <(C Y)_i, Y_i>,
one product with C per Hessian-vector product. The inner solver is Steihaug-Toint truncated CG.
Each outer step tells the monitor what it cost (1 + its Hessian-vector products, in products with
C), so the certificate checkpoints, scheduled by counted flops, fall as often per unit of work as
for the gradient methods.
"""

from __future__ import annotations

import numpy as np

from lowrank_sdp import manifold
from lowrank_sdp.problem import Problem
from lowrank_sdp.solvers._common import STALL_ITERATIONS, InnerOptions, InnerResult, Monitor, progress

MAX_INNER = 200
KAPPA, THETA = 0.1, 1.0  # tCG stops at |r| <= |r0| min(kappa, |r0|^theta): superlinear near the end


def trust_region(problem: Problem, Y: np.ndarray, options: InnerOptions,
                 monitor: Monitor) -> InnerResult:
    objective = problem.objective
    f, CY = objective.evaluate(Y)
    grad, lam, g2 = manifold.riemannian_gradient(Y, CY)
    radius_max = np.sqrt(Y.shape[0]) * np.pi / 2  # each row moves at most a quarter circle
    radius = radius_max / 8
    best, stalled = f, 0
    while True:
        gnorm = float(np.sqrt(g2))
        if gnorm <= options.grad_tol * (1.0 + abs(f)):
            return InnerResult(Y, f, gnorm, True)

        def hess(V, Y=Y, lam=lam):
            HV = 2.0 * objective.matmat(V)
            manifold.project(Y, HV, out=HV)
            HV -= 2.0 * lam[:, None] * V
            return HV

        eta, Heta, products = _truncated_cg(grad, hess, radius)
        Y_new = manifold.retract(Y, eta)
        f_new, CY_new = objective.evaluate(Y_new)
        model = float(np.vdot(grad, eta) + 0.5 * np.vdot(eta, Heta))
        actual = f_new - f
        rho = actual / model if model < 0 else -np.inf
        # Rounding makes rho meaningless once the decrease is at machine precision: accept then.
        if abs(actual) <= 1e-14 * (1.0 + abs(f)) and model < 0:
            rho = 1.0
        step = float(np.linalg.norm(eta))
        if rho < 0.25:
            radius = 0.25 * radius
        elif rho > 0.75 and step >= 0.99 * radius:
            radius = min(2.0 * radius, radius_max)
        if rho > 0.1:
            Y, f, CY = Y_new, f_new, CY_new
            grad, lam, g2 = manifold.riemannian_gradient(Y, CY)
        if monitor.step(Y, f, float(np.sqrt(g2)), products=1 + products):
            return InnerResult(Y, f, float(np.sqrt(g2)), False, monitor.stop)
        best, stalled = progress(f, best, stalled)
        if radius < 1e-14 * radius_max or stalled >= STALL_ITERATIONS:
            return InnerResult(Y, f, float(np.sqrt(g2)), False)


def _truncated_cg(grad: np.ndarray, hess, radius: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Approximately minimise <grad, eta> + <eta, H eta>/2 over |eta| <= radius (Steihaug-Toint):
    (eta, H eta, the number of Hessian-vector products made)."""
    eta = np.zeros_like(grad)
    Heta = np.zeros_like(grad)
    r = grad.copy()
    r0 = float(np.sqrt(np.vdot(r, r)))
    rr = r0 * r0
    d = -r
    stop = r0 * min(KAPPA, r0**THETA)
    for k in range(MAX_INNER):
        Hd = hess(d)
        dHd = float(np.vdot(d, Hd))
        ee, ed, dd = float(np.vdot(eta, eta)), float(np.vdot(eta, d)), float(np.vdot(d, d))
        if dHd <= 0:  # negative curvature: go to the boundary along d
            tau = (-ed + np.sqrt(ed * ed + dd * (radius * radius - ee))) / dd
            return eta + tau * d, Heta + tau * Hd, k + 1
        alpha = rr / dHd
        if ee + 2 * alpha * ed + alpha * alpha * dd >= radius * radius:
            tau = (-ed + np.sqrt(ed * ed + dd * (radius * radius - ee))) / dd
            return eta + tau * d, Heta + tau * Hd, k + 1
        eta += alpha * d
        Heta += alpha * Hd
        r += alpha * Hd
        rr_new = float(np.vdot(r, r))
        if np.sqrt(rr_new) <= stop:
            return eta, Heta, k + 1
        d = -r + (rr_new / rr) * d
        rr = rr_new
    return eta, Heta, MAX_INNER
