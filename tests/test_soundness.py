"""Soundness: the certificate never claims more than the truth (issue 10).

A fuzz over random and adversarial costs C (clusters at the bottom of the spectrum, isolated
localized eigenvectors, disconnected graphs, isolated vertices, weights over 16 orders of magnitude,
tiny and huge scales, asymmetric input; dense, sparse and LinearOperator) and points Y (random,
low-rank, near-optimal, perturbed), through every evidence path (dense proof, Lanczos then proof,
Lanczos estimate alone, exhausted Lanczos budget, rigorous). Each case checks
    lambda_min <= true lambda_min(S)   (numpy's dense eigvalsh of the same S)
    bound <= <C, X>                    (for the feasible points X at hand, and the planted optimum)
with the rounding allowance of `_allowance`. Then one regression test per example of issue 10.

The fuzz runs FUZZ_EXAMPLES cases (a few seconds on one core); set LOWRANK_SDP_FUZZ_EXAMPLES to run
more, e.g. LOWRANK_SDP_FUZZ_EXAMPLES=20000 pytest tests/test_soundness.py -p no:xdist.
"""

from __future__ import annotations

import itertools
import os
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import aslinearoperator

import lowrank_sdp as ls
from lowrank_sdp import certificate, manifold
from lowrank_sdp.problem import make_problem

FUZZ_EXAMPLES = int(os.environ.get("LOWRANK_SDP_FUZZ_EXAMPLES", "1000"))
EPS = np.finfo(np.float64).eps

# The evidence paths: what each one switches off (module constants of lowrank_sdp.certificate).
PATHS = {
    "default": {},
    "iterative": {"DENSE_EIGEN_LIMIT": 0},  # Lanczos first, then the factorisation proof
    "estimate": {"DENSE_EIGEN_LIMIT": 0, "DENSE_FALLBACK_LIMIT": 0, "RIGOROUS_LIMIT": 0,
                 "SPARSE_PROOF_BYTES": 0},  # Lanczos (or Gershgorin) alone
    "budget": {"DENSE_EIGEN_LIMIT": 0, "DENSE_FALLBACK_LIMIT": 0, "RIGOROUS_LIMIT": 0,
               "SPARSE_PROOF_BYTES": 0, "LANCZOS_MAX_MATVECS": 6},  # Lanczos never converges
}


def _allowance(S: np.ndarray) -> float:
    """How far numpy's own eigvalsh may be from the exact lambda_min of S.

    LAPACK's symmetric eigensolvers are backward stable: the computed eigenvalues are exact for
    S + E with ||E||_2 <= p(n) eps ||S||_2 and p(n) a modest function of n (Demmel, Applied
    Numerical Linear Algebra, sec. 5.4); p(n) = 4 n is generous for n <= 100. Anything beyond this
    would be the library claiming more than the truth.
    """
    return 4.0 * S.shape[0] * EPS * float(np.max(np.abs(np.linalg.eigvalsh(S))))


def _log_weights(rng: np.random.Generator, size: int, orders: float) -> np.ndarray:
    return 10.0 ** rng.uniform(-orders / 2, orders / 2, size) * rng.choice([-1.0, 1.0], size)


def _planted(rng: np.random.Generator, n: int, spectrum: str) -> tuple[np.ndarray, np.ndarray, float]:
    """C whose optimum Y* (rank r) is known: C = S* + Diag(lam*), S* PSD with S* Y* = 0.

    `spectrum` shapes the bottom of S* on the complement of Y*: a cluster of tiny eigenvalues, an
    isolated eigenvalue with a localized eigenvector, or plain. Returns (C, Y*, optimum)."""
    r = int(rng.integers(1, max(2, n // 4) + 1))
    Ystar = manifold.random_point(n, r, rng)
    U = np.linalg.svd(Ystar, full_matrices=False)[0]
    W = np.linalg.qr(np.hstack([U, rng.standard_normal((n, n - U.shape[1]))]))[0][:, U.shape[1]:]
    k = W.shape[1]
    ev = rng.uniform(1.0, 2.0, k)
    if spectrum == "cluster" and k:
        m = int(rng.integers(1, k + 1))
        ev[:m] = 10.0 ** rng.uniform(-12, -6, m)
    if spectrum == "localized" and k:
        # One tiny eigenvalue whose eigenvector lives on two coordinates (projected off Y*).
        e = np.zeros(n)
        i, j = rng.choice(n, 2, replace=False) if n > 1 else (0, 0)
        e[i], e[j] = 1.0, 1.0
        loc = W.T @ e
        if np.linalg.norm(loc) > 1e-8:
            basis = np.linalg.qr(np.column_stack([loc, rng.standard_normal((k, k - 1))]))[0]
            W = W @ basis
            ev[0] = 10.0 ** rng.uniform(-10, -4)
    Sstar = (W * ev) @ W.T
    Sstar = (Sstar + Sstar.T) / 2
    lam = rng.standard_normal(n)
    C = Sstar + np.diag(lam)
    return C, Ystar, float(np.sum(lam))


def _graph_laplacian(rng: np.random.Generator, n: int, orders: float) -> np.ndarray:
    """A signed weighted Laplacian-like matrix of a graph with disconnected pieces and isolated
    vertices, weights spread over `orders` orders of magnitude."""
    A = np.zeros((n, n))
    pieces = np.sort(rng.choice(np.arange(1, n), size=min(n - 1, int(rng.integers(0, 4))),
                                replace=False)) if n > 1 else []
    bounds = [0, *pieces, n]
    for a, b in itertools.pairwise(bounds):
        if b - a < 2 or rng.random() < 0.2:
            continue  # an isolated vertex or an edgeless piece
        m = b - a
        mask = np.triu(rng.random((m, m)) < min(1.0, 3.0 / m), 1)
        w = np.zeros((m, m))
        w[mask] = _log_weights(rng, int(mask.sum()), orders)
        A[a:b, a:b] = w + w.T
    return np.diag(A.sum(axis=1)) - A


@st.composite
def cases(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(1, 40))
    family = draw(st.sampled_from(["gaussian", "planted", "cluster", "localized", "graph",
                                   "wide", "spike", "low_rank", "zero"]))
    # Tiny and huge, short of the overflow range (entries near 1e154 square to infinity; the
    # validation refuses those).
    scale = 10.0 ** draw(st.sampled_from([0, 0, 0, -15, 15, -60, 60, -130, 130]))
    optimum = None
    planted_Y = None
    if family == "gaussian":
        A = rng.standard_normal((n, n))
        C = (A + A.T) / 2
    elif family in ("planted", "cluster", "localized"):
        C, planted_Y, optimum = _planted(rng, n, {"planted": "plain"}.get(family, family))
    elif family == "graph":
        C = _graph_laplacian(rng, n, orders=16.0)
    elif family == "wide":  # entries over 16 orders of magnitude, sparse
        mask = np.triu(rng.random((n, n)) < min(1.0, 4.0 / n))
        W = np.zeros((n, n))
        W[mask] = _log_weights(rng, int(mask.sum()), orders=16.0)
        C = W + np.triu(W, 1).T
    elif family == "spike":  # one huge diagonal entry (the asymmetry example's shape)
        A = rng.standard_normal((n, n))
        C = (A + A.T) / 2
        C[0, 0] = 1e10
    elif family == "low_rank":
        B = rng.standard_normal((n, int(rng.integers(1, 3))))
        C = -(B @ B.T)
    else:
        C = np.zeros((n, n))
    C = C * scale
    if optimum is not None:
        optimum *= scale
    asym = draw(st.sampled_from([0.0, 0.0, 0.0, 1e-12, 1e-3, 1.0]))
    C_in = C.copy()
    if asym and n > 1:
        C_in = C_in + asym * np.abs(C).max() * np.triu(rng.standard_normal((n, n)), 1)
        optimum = None  # the planted optimum is that of C, not of the symmetric part of C_in
    container = draw(st.sampled_from(["dense", "sparse", "operator"]))
    point = draw(st.sampled_from(["random", "rank1", "ones", "near", "perturbed"]))
    r = int(rng.integers(1, 5))
    if point == "random":
        Y = manifold.random_point(n, r, rng)
    elif point == "rank1":
        Y = manifold.random_point(n, 1, rng)
    elif point == "ones":
        Y = np.ones((n, 1))
    else:
        base = planted_Y if planted_Y is not None else manifold.random_point(n, r, rng)
        size = 10.0 ** (rng.uniform(-10, -3) if point == "near" else rng.uniform(-3, 0))
        Y = base + size * rng.standard_normal(base.shape)
        if point == "near" and rng.random() < 0.5:  # a column more, as the staircase adds
            Y = np.hstack([Y, size * rng.standard_normal((n, 1))])
    return dict(C=C, C_in=C_in, container=container, Y=Y, optimum=optimum,
                sense=draw(st.sampled_from(["min", "max"])), path=draw(st.sampled_from(list(PATHS))),
                rigorous=draw(st.booleans()), family=family)


def _wrap(C: np.ndarray, container: str):
    if container == "sparse":
        return sp.csr_matrix(C)
    if container == "operator":
        return aslinearoperator(C)
    return C


def check_case(case: dict) -> None:
    n = case["C"].shape[0]
    s = 1.0 if case["sense"] == "min" else -1.0
    rigorous = case["rigorous"] and not (case["container"] == "operator" and case["path"] != "default")
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the asymmetry warning
        for name, value in PATHS[case["path"]].items():
            mp.setattr(certificate, name, value)
        cert = ls.certify(_wrap(case["C_in"], case["container"]), case["Y"], sense=case["sense"],
                          rigorous=rigorous)
    Csym = (case["C_in"] + case["C_in"].T) / 2  # what the library must solve
    S = s * Csym - np.diag(s * cert.multipliers)
    true_min = float(np.linalg.eigvalsh(S)[0])
    slack = _allowance(S)
    if cert.evidence is ls.Evidence.ESTIMATE:
        # Not a proof: a Ritz value bounds *an* eigenvalue, the smallest one only with high
        # probability (a cluster can hide it; see docs/certificate.md). What must hold: the bound
        # is below the estimate, and a negative Ritz value is a Rayleigh quotient of S, so
        # lambda_min(S) <= theta.
        assert cert.lambda_min <= cert.lambda_estimate
        # (theta comes from products C x - lam x, rounded at the scale of C and lam, not of S)
        # (and S = 0 is deflated with a unit shift, so its rounding is at scale 1)
        rounding = 16.0 * n * EPS * (np.abs(np.linalg.eigvalsh(Csym)).max()
                                     + np.abs(cert.multipliers).max() + (not np.any(Csym)))
        if cert.lambda_estimate < 0:
            assert true_min <= cert.lambda_estimate + slack + rounding
        return
    assert cert.lambda_min <= true_min + slack, (cert, true_min, slack)
    if rigorous or case["path"] == "default":
        assert cert.evidence.is_proof
    # bound <= <C, X> (mirrored for max) at feasible points: the certified one, the planted optimum.
    Y = case["Y"] / np.linalg.norm(case["Y"], axis=1, keepdims=True)
    points = [Y, manifold.random_point(n, 2, np.random.default_rng(0))]
    values = [float(np.vdot(Csym, P @ P.T)) for P in points]
    if case["optimum"] is not None:  # attained by the planted Y*: a feasible value too
        values.append(case["optimum"])
    # The two sides are sums of n^2 products computed differently: their rounding, plus n times
    # the eigenvalue allowance.
    room = 4.0 * n * n * EPS * float(np.abs(Csym).max()) + n * slack
    for value in values:
        assert s * cert.bound <= s * value + room, (cert, value, room)
    assert cert.gap >= 0.0


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=cases())
def test_certificate_is_sound_under_fuzz(case):
    check_case(case)


# ---------------------------------------------------------------------------------------------
# Regression tests, one per example of issue 10.


def test_issue10_item1_asymmetric_C_inside_the_old_tolerance():
    """A symmetric A with A[0,0] = 1e10 plus -0.99 sign(u u^T) on the strict upper triangle (u the
    slack's bottom eigenvector at A's optimum) was CERTIFIED 4e4 above a feasible value."""
    rng = np.random.default_rng(0)
    n = 120
    A = rng.standard_normal((n, n))
    A = (A + A.T) / 2
    A[0, 0] = 1e10
    opt = ls.solve(A, tol=1e-8)
    u = np.linalg.eigh(A - np.diag(opt.certificate.multipliers))[1][:, 0]
    C = A + np.triu(-0.99 * np.sign(np.outer(u, u)), 1)
    sym = (C + C.T) / 2
    reference = ls.solve(sym, tol=1e-9)
    for wrap in (np.asarray, sp.csr_matrix):
        # An asymmetry of ~1 next to an entry of 1e10 is 1e-10 relative: below the warning's
        # threshold, and the symmetric part is used all the same.
        res = ls.solve(wrap(C), tol=1e-6)
        assert res.bound <= reference.objective + 1e-9 * abs(reference.objective)
        assert res.objective == pytest.approx(float(np.vdot(sym, res.Y @ res.Y.T)), rel=1e-12)
        cert = ls.certify(wrap(C), reference.Y)
        assert cert.bound <= reference.objective + 1e-9 * abs(reference.objective)


def test_issue10_item2_tiny_scale_lanczos():
    """Scale 1e-15, eigenvalues {0, -1e-16, U(1e-15, 2e-15)}: the Lanczos thresholds were absolute
    (1e-14) and returned its random start's Rayleigh quotient."""
    rng = np.random.default_rng(1)
    n = 300  # the issue's 600 took the Lanczos path by size; here it is forced
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    ev = np.concatenate([[0.0, -1e-16], rng.uniform(1e-15, 2e-15, n - 2)])
    C = (Q * ev) @ Q.T
    C = (C + C.T) / 2
    Y = manifold.random_point(n, 2, rng)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(certificate, "DENSE_EIGEN_LIMIT", 0)
        for path in ("default", "estimate"):  # the proof, and the Lanczos estimate on its own
            for name, value in PATHS[path].items():
                mp.setattr(certificate, name, value)
            for M in (sp.csr_matrix(C), aslinearoperator(C)):
                cert = ls.certify(M, Y)
                S = C - np.diag(cert.multipliers)
                assert cert.lambda_min <= np.linalg.eigvalsh(S)[0] + _allowance(S)
    # The Lanczos kernel alone, on the raw matrix: it must not stop at its start vector.
    theta, residual, _, converged = certificate.lanczos_smallest(
        lambda x: C @ x, rng.standard_normal(n), target=1e-10)
    assert converged and theta - residual <= -1e-16 + 1e-3 * 1e-16
    res = ls.solve(sp.csr_matrix(C), Y0=Y, max_iterations=30)
    S = C - np.diag(res.certificate.multipliers)
    assert res.certificate.lambda_min <= np.linalg.eigvalsh(S)[0] + _allowance(S)


def test_issue10_item3_exhausted_lanczos_is_not_converged():
    """A Ritz value after a budget exhaustion is only within its residual of *an* eigenvalue: with
    an isolated eigenvalue it may be far above lambda_min, and must not be used as the bound."""
    rng = np.random.default_rng(3)
    n = 400
    # A path-graph Laplacian (a cluster of small eigenvalues) plus an isolated negative eigenvalue
    # on two vertices, the shape of the disconnected Laplacian of the issue.
    main = sp.diags([-np.ones(n - 3), 2 * np.ones(n - 2), -np.ones(n - 3)], [-1, 0, 1])
    C = sp.block_diag([main, sp.csr_matrix([[-0.5, 0.1], [0.1, -0.5]])]).tocsr()
    true_min = np.linalg.eigvalsh(C.toarray())[0]
    v0 = rng.standard_normal(n)
    v0[-2:] = 1e-9  # the isolated eigenvector is localized: a start that barely sees it
    theta, residual, _, converged = certificate.lanczos_smallest(
        lambda x: C @ x, v0, target=1e-12, max_matvecs=8)
    assert not converged
    assert theta - residual > true_min  # the old code would have claimed this
    Y = np.ones((n, 1))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(certificate, "LANCZOS_MAX_MATVECS", 8)
        mp.setattr(certificate, "DENSE_EIGEN_LIMIT", 0)
        for path in ("default", "estimate"):
            for name, value in PATHS[path].items():
                mp.setattr(certificate, name, value)
            cert = ls.certify(C, Y)
            S = C.toarray() - np.diag(cert.multipliers)
            assert cert.lambda_min <= np.linalg.eigvalsh(S)[0]
            assert cert.evidence.is_proof
            expected = ls.Evidence.FACTORIZATION if path == "default" else ls.Evidence.GERSHGORIN
            assert cert.evidence is expected


def _torus(a: int, b: int, seed: int) -> sp.csr_matrix:
    """L/4 of an a x b toroidal grid with +-1 weights (the shape of G-set's G62..G81)."""
    rng = np.random.default_rng(seed)
    idx = np.arange(a * b).reshape(a, b)
    rows = np.concatenate([idx.ravel(), idx.ravel()])
    cols = np.concatenate([np.roll(idx, 1, 0).ravel(), np.roll(idx, 1, 1).ravel()])
    W = sp.coo_matrix((rng.choice([-1.0, 1.0], rows.size), (rows, cols)), shape=(a * b, a * b))
    W = (W + W.T).tocsr()
    return sp.csr_matrix(sp.diags(np.asarray(W.sum(axis=1)).ravel()) - W) / 4


def test_issue10_item7_a_looser_tolerance_never_certifies_less():
    """G81 at tol=1e-5 was STATIONARY while 1e-6 certified: a dense/sparse fallback ran only when
    the Ritz value exceeded 9 x the (tol-scaled) Lanczos target. Now an unconverged Lanczos always
    goes to a proof, so every tolerance the tighter one met is met."""
    C = _torus(16, 20, 0)
    n = C.shape[0]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(certificate, "DENSE_EIGEN_LIMIT", 0)  # the iterative path, as for G81
        mp.setattr(certificate, "LANCZOS_MAX_MATVECS", 60)  # a cluster it cannot resolve
        runs = {tol: ls.solve(C, sense="max", tol=tol, seed=1) for tol in (1e-6, 1e-5, 1e-4)}
        for tol, res in runs.items():
            assert res.certified, (tol, res)
            assert res.evidence is ls.Evidence.FACTORIZATION
        # (Iterations are not strictly monotone in tol: the gradient schedule differs by a few.)
        assert runs[1e-4].iterations <= runs[1e-6].iterations
        # The same point certified at every looser tolerance.
        Y = runs[1e-6].Y
        for tol in (1e-6, 1e-5, 1e-4, 1e-3):
            problem = make_problem(C, "max", n=n)
            cert = certificate.certify_problem(problem, Y, tol=tol, early_exit=True)
            assert cert.relative_gap <= tol and cert.evidence.is_proof
