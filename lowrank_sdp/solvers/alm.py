"""Augmented Lagrangian over the Burer-Monteiro factor of a general SDP (SDPLR-style).

Internally (minimisation, data scaled so that ||C||_F = 1 and every ||A_k||_F = 1, rows with a
fixed diagonal X_ii = d_i scaled to unit norm and moved to the front) the method minimises

    L_sigma(Y; y) = <C, Y Y^T> + sum_k (ytilde_k^2 - y_k^2) / (2 sigma),
    ytilde = y - sigma (A(Y Y^T) - b)      (clipped to <= 0 on inequalities <A_k, X> <= b_k)

over Y whose first nf rows lie on unit spheres (the oblique manifold: those diagonal entries are
exact) and whose other rows are free, by Riemannian L-BFGS; its gradient is 2 (C - A^T(ytilde)) Y.
Then y <- ytilde and sigma grows when the infeasibility did not fall enough (Hestenes-Powell with
SDPLR's rule). The core's L-BFGS (`solvers.lbfgs`) keeps *every* row on the sphere, so this module
carries the same two-loop method on the product of spheres and a Euclidean space.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lowrank_sdp.kernels import linalg
from lowrank_sdp.kernels.constraints import (
    add_outer_doubled,
    csr_matvec,
    pattern_dots,
    pattern_matmat,
)
from lowrank_sdp.sdp import SDP
from lowrank_sdp.solvers._common import ARMIJO, MIN_STEP, LbfgsMemory, Monitor

MEMORY = 8
SIGMA_GROWTH = 4.0
SIGMA_MAX = 1e12
ROUNDING = 1e-10
"""A step whose L differs from the last by at most this relative amount is within rounding of it."""
APPROX_WOLFE = 0.8
"""Such a step is taken when the slope there is at most this times minus the initial one
(Hager-Zhang's approximate Wolfe condition with delta = 0.1)."""
PROGRESS = 0.25
"""sigma grows by SIGMA_GROWTH unless the infeasibility fell below PROGRESS times its last value."""


@dataclass(frozen=True)
class InnerRun:
    Y: np.ndarray
    grad_norm: float
    converged: bool
    iterations: int
    stop: object = None


class AugmentedLagrangian:
    """The scaled internal form of an `SDP` and the state (y, sigma) of the method."""

    def __init__(self, sdp: SDP, sigma0: float = 1.0) -> None:
        self.sdp = sdp
        n = sdp.n
        rows, d, used = sdp.fixed_rows()
        fixed = np.zeros(n, bool)
        fixed[rows] = True
        self.nf = int(rows.size)
        self.perm = np.concatenate([rows, np.flatnonzero(~fixed)]).astype(np.int64)
        self.inv = np.empty(n, dtype=np.int64)
        self.inv[self.perm] = np.arange(n)
        scale = np.ones(n)
        scale[rows] = np.sqrt(d)
        self.scale = scale[self.perm]  # internal row i: Y_orig[perm[i]] = scale[i] * Z[i]
        general = np.setdiff1d(np.arange(sdp.m), used)
        self.general = general
        s = -1.0 if sdp.sense == "max" else 1.0

        Cu = sp.triu(sdp.C, format="coo")
        # A constant dense cost c J (Lovasz theta's J): <C, Y Y^T> = c |1^T Y|^2, kept as a rank-one
        # term instead of n^2 / 2 pattern entries (thetaG51: 5e5 entries against 7e3 constraints).
        constant = Cu.nnz == n * (n + 1) // 2 and n > 1 and bool(np.all(Cu.data == Cu.data[0]))
        cost_value = s * float(Cu.data[0]) if constant else 0.0
        if constant:
            Cu = sp.coo_matrix((n, n))
        A = sdp.A
        keep = np.isin(A.k, general)
        remap = np.full(sdp.m, -1, dtype=np.int64)
        remap[general] = np.arange(general.size)
        ki, ii, jj, vv = remap[A.k[keep]], A.i[keep], A.j[keep], A.v[keep]
        # One pattern for C and all general constraints, in internal (permuted) indices, i <= j.
        gi = np.concatenate([self.inv[Cu.row], self.inv[ii]])
        gj = np.concatenate([self.inv[Cu.col], self.inv[jj]])
        lo, hi = np.minimum(gi, gj), np.maximum(gi, gj)
        keys, where = np.unique(lo * n + hi, return_inverse=True)
        self.pi = np.ascontiguousarray(keys // n, dtype=np.int64)
        self.pj = np.ascontiguousarray(keys % n, dtype=np.int64)
        P = keys.size
        w = np.where(self.pi == self.pj, 1.0, 2.0)
        sij = self.scale[self.pi] * self.scale[self.pj]
        nc = Cu.nnz
        c = np.zeros(P)
        np.add.at(c, where[:nc], s * Cu.data)
        c *= sij
        cnorm = float(np.sqrt(np.sum(w * c * c)))
        if constant:  # internal cost cost_value * u u^T with u the row scales
            cnorm = abs(cost_value) * float(self.scale @ self.scale)
        self.cscale = cnorm if cnorm > 0 else 1.0
        self.c = c / self.cscale
        self.cw = self.c * w
        self.cost_u = self.scale.copy() if constant else None
        self.cost_rank_one = cost_value / self.cscale
        m = general.size
        A0 = sp.csr_matrix((vv * sij[where[nc:]], (ki, where[nc:])), shape=(m, P))
        A0.sum_duplicates()
        anorm = np.sqrt(np.asarray(A0.multiply(A0) @ w).ravel()) if m else np.zeros(0)
        self.ascale = np.where(anorm > 0, anorm, 1.0)
        A0 = sp.csr_matrix(sp.diags(1.0 / self.ascale) @ A0) if m else A0
        self.A0T = sp.csr_matrix(A0.T)
        self.Aw = sp.csr_matrix(A0 @ sp.diags(w)) if m else A0
        self.b = sdp.b[general] / self.ascale
        self.ub = sdp.is_ub[general]
        self.any_ub = bool(self.ub.any())
        self.m = m
        self._r = np.empty(m)
        self._atyt = np.empty(P)
        self.y = np.zeros(m)
        self.sigma = float(sigma0)
        self.last_infeasibility = np.inf
        self._x = np.empty(P)

    # -- the function -------------------------------------------------------------------------
    def residual(self, Y: np.ndarray) -> np.ndarray:
        x = pattern_dots(self.pi, self.pj, Y, self._x)
        return self.Aw @ x - self.b if self.m else np.zeros(0)

    def _ytilde(self, r: np.ndarray) -> np.ndarray:
        yt = self.y - self.sigma * r
        if self.any_ub:
            yt[self.ub] = np.minimum(yt[self.ub], 0.0)
        return yt

    def evaluate(self, Y: np.ndarray, out: np.ndarray) -> float:
        """L_sigma at Y; its Euclidean gradient 2 (C - A^T(ytilde)) Y goes into `out`."""
        x = pattern_dots(self.pi, self.pj, Y, self._x)
        f = float(self.cw @ x)
        uY = None
        if self.cost_u is not None:
            uY = self.cost_u @ Y
            f += self.cost_rank_one * float(uY @ uY)
        if self.m:
            # Aw @ x and A0T @ yt by a kernel that sums as scipy's does (without its dispatch).
            Aw, A0T = self.Aw, self.A0T
            r = csr_matvec(Aw.indptr, Aw.indices, Aw.data, x, self._r) - self.b
            yt = self._ytilde(r)
            if self.any_ub:
                eq = ~self.ub
                f += float(np.sum(-self.y[eq] * r[eq] + 0.5 * self.sigma * r[eq] ** 2))
                f += float(np.sum(yt[self.ub] ** 2 - self.y[self.ub] ** 2)) / (2.0 * self.sigma)
            else:
                f += float(np.sum(-self.y * r + 0.5 * self.sigma * r ** 2))
            vals = self.c - csr_matvec(A0T.indptr, A0T.indices, A0T.data, yt, self._atyt)
        else:
            vals = self.c
        pattern_matmat(self.pi, self.pj, vals, Y, out)
        if uY is not None:
            add_outer_doubled(out, self.cost_rank_one * self.cost_u, uY)
        else:
            out *= 2.0
        return f

    def infeasibility(self, r: np.ndarray) -> float:
        """||violation|| / (1 + ||b||) in the scaled internal units (drives sigma)."""
        viol = np.where(self.ub, np.maximum(r, 0.0), r)
        return float(np.linalg.norm(viol)) / (1.0 + float(np.linalg.norm(self.b)))

    def update(self, Y: np.ndarray, converged: bool = True) -> float:
        """y <- ytilde; sigma grows when the infeasibility stalls after an inner solve that
        converged (a larger penalty would only make an unfinished one harder). Returns the
        infeasibility."""
        if not self.m:
            return 0.0
        r = self.residual(Y)
        self.y = self._ytilde(r)
        infeas = self.infeasibility(r)
        if converged and infeas > PROGRESS * self.last_infeasibility:
            self.sigma = min(SIGMA_MAX, self.sigma * SIGMA_GROWTH)
        self.last_infeasibility = infeas
        return infeas

    # -- coordinates ----------------------------------------------------------------------------
    def to_original(self, Z: np.ndarray) -> np.ndarray:
        Y = np.empty_like(Z)
        Y[self.perm] = Z * self.scale[:, None]
        return Y

    def from_original(self, Y: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(Y[self.perm] / self.scale[:, None])

    def multipliers(self) -> np.ndarray:
        """y in the user's units and sense, one per matrix of the SDP's stack (0 on the
        constraints the manifold enforces)."""
        s = -1.0 if self.sdp.sense == "max" else 1.0
        out = np.zeros(self.sdp.m)
        out[self.general] = s * self.y * self.cscale / self.ascale
        return out

    def initial_point(self, r: int, rng: np.random.Generator) -> np.ndarray:
        """Random unit fixed rows; free rows random, scaled to fit A(X) = b best in least squares."""
        n = self.sdp.n
        Z = rng.standard_normal((n, r)) / np.sqrt(r)
        linalg.normalize_rows(Z[: self.nf])
        if self.nf < n and self.m:
            x = pattern_dots(self.pi, self.pj, Z, self._x)
            free = (self.pi >= self.nf) & (self.pj >= self.nf)
            xf = np.where(free, x, 0.0)
            a = self.Aw @ xf
            rhs = self.b - self.Aw @ (x - xf)
            # X_free scales by t^2 with the free rows by t: the best t^2 >= 0 in least squares.
            t2 = float(a @ rhs) / float(a @ a) if float(a @ a) > 0 else 1.0
            if t2 > 0:
                Z[self.nf:] *= np.sqrt(t2)
        return Z

    # -- the product manifold -----------------------------------------------------------------
    def project(self, Z: np.ndarray, V: np.ndarray, out: np.ndarray) -> np.ndarray:
        nf, n = self.nf, Z.shape[0]
        if nf < n and out is not V:
            out[nf:] = V[nf:]
        if nf == n:
            linalg.project_tangent(Z, V, out)
        elif nf:
            linalg.project_tangent(Z[:nf], V[:nf], out[:nf])
        return out

    def retract(self, Z: np.ndarray, V: np.ndarray, t: float) -> np.ndarray:
        nf, n = self.nf, Z.shape[0]
        out = np.empty_like(Z)
        if nf < n:
            np.add(Z[nf:], t * V[nf:], out=out[nf:])
        if nf == n:
            linalg.retract(Z, V, t, out)
        elif nf:
            linalg.retract(Z[:nf], V[:nf], t, out[:nf])
        return out

    # -- the inner method -----------------------------------------------------------------------
    def minimize(self, Z: np.ndarray, grad_tol: float, max_iterations: int,
                 monitor: Monitor) -> InnerRun:
        """Riemannian L-BFGS on L_sigma (fixed y, sigma) from Z until ||grad|| <= grad_tol."""
        egrad = np.empty_like(Z)
        f = self.evaluate(Z, egrad)
        grad = self.project(Z, egrad, np.empty_like(Z))
        g2 = float(np.vdot(grad, grad))
        pairs = LbfgsMemory(Z.shape, MEMORY)
        first_step = 1.0 / max(float(np.sqrt(g2)), 1e-300)
        it = 0
        while True:
            gnorm = float(np.sqrt(g2))
            if gnorm <= grad_tol:
                return InnerRun(Z, gnorm, True, it)
            if it >= max_iterations:
                return InnerRun(Z, gnorm, False, it)
            d = pairs.direction(grad)
            self.project(Z, d, d)
            slope = float(np.vdot(grad, d))
            if not slope < 0:
                pairs.clear()
                d, slope = -grad, -g2
            t = 1.0 if pairs else min(1.0, first_step)
            egrad_new = np.empty_like(Z)
            while True:
                Z_new = self.retract(Z, d, t)
                f_new = self.evaluate(Z_new, egrad_new)
                if f_new <= f + ARMIJO * t * slope:
                    break
                # A large penalty makes the decrease of a good step smaller than the rounding of
                # L (theta5 at sigma 1e6: steps ~1e-6, decrease ~1e-18): then Hager and Zhang's
                # approximate Wolfe test, on the slope at the new point, decides.
                if f_new <= f + ROUNDING * (1.0 + abs(f)) and self._slope(Z_new, egrad_new, d) \
                        <= -APPROX_WOLFE * slope:
                    break
                t *= 0.5
                if t < MIN_STEP:
                    if pairs:  # a bad quasi-Newton model: forget it, retry along -grad
                        pairs.clear()
                        d, slope, t = -grad, -g2, min(1.0, first_step)
                        continue
                    return InnerRun(Z, gnorm, False, it)
            # Without fixed rows the projection is the identity: no copies then. The pair is
            # written straight into the memory's free slot, kept only if it passes the test.
            grad_new = egrad_new if not self.nf else self.project(Z_new, egrad_new,
                                                                   np.empty_like(Z))
            step, ydiff = pairs.slot()
            np.multiply(t, d, out=step)
            self.project(Z_new, step, step)
            np.subtract(grad_new, grad if not self.nf else self.project(Z_new, grad,
                                                                         np.empty_like(Z)),
                        out=ydiff)
            sy = float(np.vdot(step, ydiff))
            if sy > 1e-12 * float(np.linalg.norm(step) * np.linalg.norm(ydiff)):
                pairs.push(1.0 / sy)
            Z, f, grad, g2 = Z_new, f_new, grad_new, float(np.vdot(grad_new, grad_new))
            it += 1
            if monitor.step(Z, f, float(np.sqrt(g2))):
                if monitor.stop is not None:
                    return InnerRun(Z, float(np.sqrt(g2)), False, it, monitor.stop)
                monitor.certified_at(0.0)  # the ALM certifies between outer steps, not here

    def _slope(self, Z: np.ndarray, egrad: np.ndarray, d: np.ndarray) -> float:
        """The slope at Z along d carried to Z's tangent space."""
        return float(np.vdot(egrad, self.project(Z, d, np.empty_like(Z))))

    def internal_vector(self, block_rows: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A vector on the original rows `block_rows` in internal coordinates (permuted, divided
        by the row scales, as `escape` steps), normalised."""
        v = np.zeros(self.sdp.n)
        rows = self.inv[block_rows]
        v[rows] = u / self.scale[rows]
        norm = float(np.linalg.norm(v))
        return v / norm if norm > 0 else v

    def internal_curvature(self, block_rows: np.ndarray, u: np.ndarray,
                           curvature: float) -> float:
        """The slack's Rayleigh quotient `curvature` = u^T S u / u^T u along u (original rows
        `block_rows`, the user's units) in the units of the inner solver's gradient: the internal
        slack is Diag(scale) S Diag(scale) / cscale (permuted), u's internal vector is
        x = u / scale, so x^T S_int x / x^T x = curvature u^T u / (cscale x^T x). Like any
        Rayleigh quotient it bounds the internal lambda_min from above."""
        u = np.asarray(u, dtype=np.float64)
        x = u / self.scale[self.inv[block_rows]]
        xx = float(x @ x)
        return float(curvature) * float(u @ u) / (self.cscale * xx) if xx > 0 else 0.0

    def escape_in_place(self, Z: np.ndarray, block_rows: np.ndarray, u: np.ndarray,
                        small: float) -> np.ndarray | None:
        """At the same rank: Z rotated to its singular vectors (X unchanged), the weakest column
        (singular value <= small * the largest, X moves by its square) replaced by a step along
        the eigenvector u (original rows `block_rows`); None unless L decreases."""
        _, sv, Vt = np.linalg.svd(Z, full_matrices=False)
        if not sv.size or sv[-1] > small * sv[0]:
            return None
        base = np.ascontiguousarray(Z @ Vt.T)
        r = Z.shape[1]
        work = np.empty_like(Z)
        f0 = self.evaluate(Z, work)
        base[:, r - 1] = 0.0
        direction = np.zeros_like(base)
        rows = self.inv[block_rows]
        direction[rows, r - 1] = u / self.scale[rows]
        return self._backtrack(base, direction, f0, work)

    def _backtrack(self, base: np.ndarray, direction: np.ndarray, f0: float,
                   work: np.ndarray) -> np.ndarray | None:
        """R(base + alpha direction) for the first of 40 halvings of alpha (from a largest
        entry of 1) that brings L below f0, or None."""
        alpha = 1.0 / max(float(np.max(np.abs(direction))), 1e-300)
        for _ in range(40):
            candidate = self.retract(base, direction, alpha)
            if self.evaluate(candidate, work) < f0:
                return candidate
            alpha *= 0.5
        return None

    def escape(self, Z: np.ndarray, block_rows: np.ndarray, u: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        """One more column, stepping along the eigenvector u (on the original rows `block_rows`)
        of a negative eigenvalue of the slack: Z <- R([Z, 0] + alpha u e^T) with L decreasing."""
        n, r = Z.shape
        base = np.zeros((n, r + 1))
        base[:, :r] = Z
        direction = np.zeros_like(base)
        rows = self.inv[block_rows]
        direction[rows, r] = u / self.scale[rows]
        work = np.empty_like(base)
        f0 = self.evaluate(base, work)
        candidate = self._backtrack(base, direction, f0, work)
        if candidate is not None:
            return candidate
        direction[:, r] = 1e-3 * rng.standard_normal(n)
        return self.retract(base, direction, 1.0)

