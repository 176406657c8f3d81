"""The over-relaxed mixing method: Young's factor choice against closed forms, and what it buys."""

import math
import sys

import pytest

import lowrank_sdp as ls
from benchmarks.scale import cost, torus
from lowrank_sdp.solvers.mixing import OMEGA_MAX, omega_cap, over_relaxation

mixing_module = sys.modules["lowrank_sdp.solvers.mixing"]


def _sor_contraction(omega: float, mu: float) -> float:
    """Spectral radius of SOR below the optimal omega, for a consistently ordered matrix whose
    Jacobi iteration has spectral radius mu (Young)."""
    root = (omega * mu + math.sqrt(omega * omega * mu * mu - 4.0 * (omega - 1.0))) / 2.0
    return root * root


@pytest.mark.parametrize("n", [10, 100, 1000])
def test_over_relaxation_is_youngs_optimum_for_the_1d_laplacian(n):
    mu = math.cos(math.pi / (n + 1))  # Jacobi on the 1-D Laplacian
    optimum = 2.0 / (1.0 + math.sin(math.pi / (n + 1)))
    # Gauss-Seidel (omega = 1) contracts by mu^2; from there, and from any omega below the
    # optimum, one measurement gives the optimum.
    assert over_relaxation(1.0, mu * mu, cap=2.0) == pytest.approx(optimum, rel=1e-9)
    for omega in (1.2, 1.5, 0.5 * (1.0 + optimum)):
        lam = _sor_contraction(omega, mu)
        assert over_relaxation(omega, lam, cap=2.0) == pytest.approx(optimum, rel=1e-7)


def test_over_relaxation_never_goes_down_and_keeps_the_cap():
    assert over_relaxation(1.9, 0.5, cap=1.99) == 1.9  # a fast contraction: keep omega
    assert over_relaxation(1.0, 0.999999, cap=1.95) == 1.95
    for q in (0.0, -1.0, 1.0, 1.5, float("nan")):  # no information
        assert over_relaxation(1.3, q, cap=1.99) == 1.3


def test_omega_cap():
    assert omega_cap(1) < omega_cap(100) < omega_cap(10_000) <= OMEGA_MAX < 2.0
    assert omega_cap(10**12) == OMEGA_MAX


def test_over_relaxed_mixing_certifies_a_torus_in_far_fewer_sweeps(monkeypatch):
    L = cost(torus(24, seed=0))
    fast = ls.solve(L, sense="max", method="mixing", tol=1e-6, seed=0)
    reference = ls.solve(L, sense="max", method="rgd", tol=1e-6, seed=0)
    monkeypatch.setattr(mixing_module, "OMEGA_MAX", 1.0)  # omega stays 1: the plain mixing method
    plain = ls.solve(L, sense="max", method="mixing", tol=1e-6, seed=0)
    for res in (fast, reference, plain):
        assert res.status is ls.Status.CERTIFIED
    # The same optimum, each within its certified gap of the other's bound.
    assert fast.objective <= reference.bound and reference.objective <= fast.bound
    assert fast.iterations * 3 < plain.iterations, (fast.iterations, plain.iterations)
