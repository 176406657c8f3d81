"""The Lanczos steps on range(Q)-perp (`lanczos_smallest(..., deflate=Q, product=B)`): one
projection per step instead of the deflated operator's two. Its Ritz value must be the smallest
eigenvalue of the deflated operator within its (explicit) residual, like the plain iteration's, on
spectra built to fool it: a tight cluster at the bottom, a tiny negative eigenvalue under a big
positive spectrum, a near-invariant range(Q) holding a near-zero cluster."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator, eigsh

import lowrank_sdp as ls
from lowrank_sdp import certificate

EPS = np.finfo(np.float64).eps


def _spectrum(kind: str, n: int, rng) -> np.ndarray:
    if kind == "cluster":  # five eigenvalues within 1e-9 at the bottom
        return np.concatenate([-1e-3 + 1e-9 * rng.random(5), rng.uniform(0.0, 1.0, n - 5)])
    if kind == "tiny_negative":  # -1e-9 under a spectrum up to 1e3
        return np.concatenate([[-1e-9], rng.uniform(1e-6, 1e3, n - 1)])
    if kind == "gap_free":  # a smooth bottom: Lanczos converges slowly
        return np.sort(np.linspace(-1.0, 1.0, n) ** 3)
    raise ValueError(kind)


def _deflated(kind: str, n: int, q: int, seed: int):
    """B (symmetric) with `kind`'s spectrum on range(Q)-perp, plus q near-zero eigenvalues whose
    eigenvectors Q are perturbed by 1e-6 (a near-invariant Q, like range(Y) near an optimum)."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((n, n)))[0]
    ev = np.concatenate([1e-10 * rng.standard_normal(q), _spectrum(kind, n - q, rng)])
    B = (basis * ev) @ basis.T
    B = 0.5 * (B + B.T)
    Q = np.linalg.qr(basis[:, :q] + 1e-6 * rng.standard_normal((n, q)))[0]
    c = 1.5 * float(np.abs(ev).max()) * 2.0
    P = np.eye(n) - Q @ Q.T
    M = P @ B @ P + c * Q @ Q.T
    M = 0.5 * (M + M.T)

    def matvec(x):  # the deflated operator as _deflated_lanczos applies it
        qx = Q.T @ x
        spx = B @ (x - Q @ qx)
        return spx - Q @ (Q.T @ spx - c * qx)

    return B, Q, M, matvec, c, rng


@pytest.mark.parametrize("kind", ["cluster", "tiny_negative", "gap_free"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_projected_steps_find_the_smallest_eigenvalue(kind, seed):
    n, q = 300, 12
    B, Q, M, matvec, c, rng = _deflated(kind, n, q, seed)
    exact = np.linalg.eigvalsh(M)
    reference = float(eigsh(M, k=1, which="SA", tol=1e-12, v0=np.ones(n))[0][0])
    assert abs(reference - exact[0]) <= 1e-9 * c
    target = 1e-9 * c
    v0 = rng.standard_normal(n)
    allowance = 1e3 * EPS * c
    results = {}
    steps = {"plain": {}, "projected": {"deflate": Q, "product": lambda x: B @ x}}
    for name, kwargs in steps.items():
        work = [0.0, 0, 0]
        theta, residual, v, converged = certificate.lanczos_smallest(
            matvec, v0, target=target, scale=c, work=work, **kwargs)
        assert converged, name
        # The explicit Rayleigh quotient and residual of the returned vector, recomputed here.
        Mv = M @ v
        assert theta == pytest.approx(float(v @ Mv) / float(v @ v), abs=allowance)
        assert residual <= np.linalg.norm(Mv - theta * v) + allowance
        assert residual <= target
        # An eigenvalue within the residual, never below lambda_min, and the smallest one up to
        # the width of the bottom cluster (1e-9 in "cluster": which of its members a Ritz value
        # approaches is the random start's; that is why the Lanczos value is an ESTIMATE).
        width = 1e-9 if kind == "cluster" else 0.0
        assert np.min(np.abs(exact - theta)) <= residual + allowance
        assert theta >= exact[0] - allowance
        assert theta - residual <= exact[0] + width + allowance, (name, theta, residual)
        assert work[1] >= work[2] >= 1
        results[name] = theta
    assert abs(results["plain"] - results["projected"]) <= 2 * target + width + allowance


def test_projected_steps_with_everything_deflated():
    """range(Q) = the whole space: no complement to iterate on; the plain iteration runs."""
    n = 20
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    B = np.diag(rng.standard_normal(n))
    theta, residual, _, converged = certificate.lanczos_smallest(
        lambda x: B @ (x - Q @ (Q.T @ x)) + 3.0 * Q @ (Q.T @ x), rng.standard_normal(n),
        target=1e-10, deflate=Q, product=lambda x: B @ x)
    assert converged and abs(theta - 3.0) <= 1e-10 + residual


@pytest.mark.parametrize("kind", ["cluster", "tiny_negative"])
def test_certificate_agrees_with_the_plain_steps_and_the_dense_eigenvalue(kind, monkeypatch):
    """Through `certify` (the deflated-Lanczos path forced): the bound with the projected steps is
    valid against the dense eigenvalue of S and as tight as the one from the plain steps."""
    rng = np.random.default_rng(5)
    n, r = 300, 4
    basis = np.linalg.qr(rng.standard_normal((n, n)))[0]
    C = (basis * _spectrum(kind, n, rng)) @ basis.T
    C = sp.csr_matrix(0.5 * (C + C.T))
    Y = ls.solve(C, tol=1e-9, rank=r).Y  # near an optimum: range(Y) is deflated
    monkeypatch.setattr(certificate, "DENSE_EIGEN_LIMIT", 0)
    monkeypatch.setattr(certificate, "_proof_plan", lambda *a, **k: None)  # the estimate alone
    monkeypatch.setattr(certificate, "_gershgorin_eigen", lambda *a, **k: None)
    certs = {}
    real = certificate.lanczos_smallest
    deflated = []

    def projected(matvec, v0, **kw):
        deflated.append(0 if kw.get("deflate") is None else kw["deflate"].shape[1])
        return real(matvec, v0, **kw)

    monkeypatch.setattr(certificate, "lanczos_smallest", projected)
    for name in ("projected", "plain"):
        if name == "plain":
            def plain(matvec, v0, **kw):
                kw.pop("deflate", None), kw.pop("product", None)
                return real(matvec, v0, **kw)
            monkeypatch.setattr(certificate, "lanczos_smallest", plain)
        for M in (C, aslinearoperator(C)):
            cert = ls.certify(M, Y)
            assert cert.evidence is ls.Evidence.ESTIMATE
            S = C.toarray() - np.diag(cert.multipliers)
            true_min = float(np.linalg.eigvalsh(S)[0])
            assert cert.lambda_min <= min(true_min, 0.0) + 1e-12 * (1.0 + abs(true_min))
            certs.setdefault(name, []).append((cert.lambda_min, true_min))
    assert deflated and min(deflated) >= 1  # the projected steps did run
    for (low_p, true_p), (low_q, true_q) in zip(certs["projected"], certs["plain"]):
        assert true_p == pytest.approx(true_q, abs=1e-12)
        assert abs(low_p - low_q) <= 1e-8 * (1.0 + abs(true_p))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_ritz_value_below_hopeless_ends_the_run(seed):
    """`hopeless`: lambda_min <= theta always, so a theta below it answers a caller that needs
    lambda_min above it, whatever the residual; the run ends there, not converged."""
    n, q = 300, 12
    B, Q, M, matvec, c, rng = _deflated("gap_free", n, q, seed)
    exact = float(np.linalg.eigvalsh(M)[0])  # -1 (the cube of -1)
    kwargs = dict(target=1e-9 * c, scale=c, max_matvecs=2000, deflate=Q, product=lambda x: B @ x)
    v0 = rng.standard_normal(n)
    full = [0.0, 0, 0]
    certificate.lanczos_smallest(matvec, v0, work=full, **kwargs)
    cut = [0.0, 0, 0]
    theta, _, _, converged = certificate.lanczos_smallest(matvec, v0, work=cut, hopeless=-0.5,
                                                          **kwargs)
    assert not converged
    assert exact - 1e-12 <= theta < -0.5
    assert cut[1] < full[1]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_flat_block_bound_ends_lanczos_early_and_stays_sound(seed):
    """`enough`: where the block bound is flat in mu (mu on range(Y)-perp well above the coupling
    ||E|| to a near-null range(Y)), a residual larger than target moves the bound by less than
    target; the bound stays below lambda_min(S) and within 2 target of the exact block bound
    (a test of the private `_deflated_lanczos`, with and without the rule)."""
    n, q = 400, 10
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((n, n)))[0]
    Y = basis[:, :q] + 1e-8 * rng.standard_normal((n, q))  # nearly annihilated by S
    ev = np.concatenate([np.zeros(q), 1e-3 + rng.uniform(0.0, 1.0, n - q) ** 2])
    S = (basis * ev) @ basis.T
    S = sp.csr_matrix(0.5 * (S + S.T))
    lam = np.zeros(n)
    target = 1e-7
    calls = {"with": [0.0, 0, 0], "without": [0.0, 0, 0]}
    real = certificate.lanczos_smallest

    def spy(label, drop):
        def run(matvec, v0, **kw):
            if drop:
                kw["enough"] = None
            kw["work"] = calls[label]
            return real(matvec, v0, **kw)
        return run

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(certificate, "lanczos_smallest", spy("without", True))
        strict = certificate._deflated_lanczos(S, lam, Y, seed=seed, target=target, early_exit=False)
        mp.setattr(certificate, "lanczos_smallest", spy("with", False))
        eig = certificate._deflated_lanczos(S, lam, Y, seed=seed, target=target, early_exit=False)
    truth = float(np.linalg.eigvalsh(S.toarray())[0])
    # Without the rule Lanczos must resolve mu (1e-3 + the smallest of 390 squares of uniforms,
    # a gap-free bottom) to 1e-7; its 2000 products may not be enough (no bound then).
    assert calls["with"][1] < calls["without"][1]
    assert eig.converged
    assert truth - 2 * target <= eig.lower <= truth + 1e-12
    if strict.converged:
        assert eig.lower >= strict.lower - 2 * target


@pytest.mark.parametrize("seed", [0, 1])
def test_range_basis_is_orthonormal_and_spans_the_kept_directions(seed):
    """`range_basis` (Gram matrix, two passes) on a Y whose singular values span 1 .. 1e-12 and 0:
    orthonormal to rounding, spanning exactly the directions above RANGE_RTOL (1e-7)."""
    rng = np.random.default_rng(seed)
    n, r = 500, 12
    left = np.linalg.qr(rng.standard_normal((n, r)))[0]
    right = np.linalg.qr(rng.standard_normal((r, r)))[0]
    sv = np.array([1.0, 0.5, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 3e-7, 1e-9, 1e-12, 0.0, 0.0])
    Y = (left * sv) @ right.T
    U = certificate.range_basis(Y)
    kept = int(np.sum(sv > certificate.RANGE_RTOL))
    assert U.shape == (n, kept)
    assert np.linalg.norm(U.T @ U - np.eye(kept)) <= 1e-12
    # the singular directions well above the threshold lie in range(U), to the accuracy the
    # Gram matrix allows (eps / sigma^2: mixing with the dropped ones near the threshold)
    inside = left[:, sv >= 1e-5]
    assert np.linalg.norm(inside - U @ (U.T @ inside)) <= 1e-8
    assert certificate.range_basis(np.zeros((n, 3))).shape == (n, 0)


@pytest.mark.parametrize("steps", [6, 12, 30])
@pytest.mark.parametrize("kind", ["cluster", "tiny_negative", "gap_free"])
def test_thick_restarts_keep_the_ritz_values_honest(kind, steps, monkeypatch):
    """Short cycles force many thick restarts (the kept Ritz vectors plus the residual direction):
    the run still converges to the smallest eigenvalue of the deflated operator, its returned
    theta and residual are those of the returned vector, and with cycles of 12 products or more it
    needs no more products than restarting from the one best vector (the restart this replaced,
    `LANCZOS_KEPT` -> 1 vector)."""
    n, q = 300, 12
    B, Q, M, matvec, c, rng = _deflated(kind, n, q, 4)
    exact = np.linalg.eigvalsh(M)
    target = 1e-8 * c
    v0 = rng.standard_normal(n)
    allowance = 1e3 * EPS * c
    monkeypatch.setattr(certificate, "LANCZOS_STEPS", steps)
    products = {}
    for kept in (0.5, 1e-9):  # 1e-9: one kept vector, the single-vector restart
        monkeypatch.setattr(certificate, "LANCZOS_KEPT", kept)
        work = [0.0, 0, 0]
        theta, residual, v, converged = certificate.lanczos_smallest(
            matvec, v0, target=target, scale=c, work=work, max_matvecs=20000,
            deflate=Q, product=lambda x: B @ x)
        Mv = M @ v
        assert theta == pytest.approx(float(v @ Mv), abs=allowance)
        assert residual == pytest.approx(float(np.linalg.norm(Mv - theta * v)), abs=allowance)
        assert theta >= exact[0] - allowance
        if converged:
            width = 1e-9 if kind == "cluster" else 0.0
            assert theta - residual <= exact[0] + width + allowance
        products[kept] = (work[1], converged)
    assert products[0.5][1]
    if steps >= 12:  # cycles of a few products keep too little to gain (cluster: 351 against 337)
        assert products[0.5][0] <= products[1e-9][0] or not products[1e-9][1]


def _futile_point(seed: int):
    """A slack with a near-null range(Y) that S couples by 5e-7 to a spectrum starting at 1e-9:
    range(Y) is deflated, and the block bound, about -||E|| = -5e-7, sits far below
    lambda_min (about 0)."""
    n, q = 400, 10
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((n, n)))[0]
    ev = np.concatenate([np.zeros(q), [1e-9], 1e-9 + rng.uniform(0.0, 1.0, n - q - 1) ** 2])
    S = (basis * ev) @ basis.T
    E = basis[:, q:2 * q] @ basis[:, :q].T
    S = sp.csr_matrix(S + 5e-7 * (E + E.T))
    return S, basis[:, :q], np.zeros(n)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_futile_deflated_bound_ends_lanczos_early(seed):
    """`futile_below`: the block bound is increasing in mu and mu <= theta, so once the bound at
    the current Ritz value is below what the caller needs, no more steps can reach it; the run
    ends there, not converged, with a theta no lower than lambda_min, and the full run's bound
    is below the same level (the exit lost nothing). A test of the private `_deflated_lanczos`
    and its private `_block_lower_bound`, where the rule lives."""
    S, Y, lam = _futile_point(seed)
    truth = float(np.linalg.eigvalsh(S.toarray())[0])
    level = -1e-7
    full = certificate._deflated_lanczos(S, lam, Y, seed=seed, target=1e-9, early_exit=True)
    cut = certificate._deflated_lanczos(S, lam, Y, seed=seed, target=1e-9, early_exit=True,
                                        futile_below=level)
    assert cut.e > 0  # range(Y) was deflated: the block bound is the one claimed
    assert not cut.converged and cut.work < full.work
    assert cut.theta >= truth - 1e-12
    assert min(certificate._block_lower_bound(cut.theta, cut.a, cut.e), 0.0) < level
    assert not full.lower >= level  # the full run did not reach it either (or proves nothing)


def test_a_proof_tries_the_shift_that_would_certify():
    """`settle(..., certify_at=...)`: where the first shift (placed from an estimate that hopes for
    too much) fails, the shift the tolerance needs is tried next and proves it; without it the
    ladder's next shift is far lower."""
    n = 3000
    rng = np.random.default_rng(0)
    main = sp.diags([-np.ones(n - 1), 2.0 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]).tocsr()
    G = main - 1e-4 * sp.eye(n)  # lambda_min = 2 - 2 cos(pi / (n + 1)) - 1e-4, about -1e-4
    lam = np.zeros(n)
    truth = 2.0 - 2.0 * np.cos(np.pi / (n + 1)) - 1e-4
    hopeful = certificate.Eigen(-1e-6, np.nan, 1e-3, rng.standard_normal(n),
                                ls.Evidence.ESTIMATE, False)
    plain = certificate.settle(G, lam, hopeful, 1e-8, rigorous=False, seconds=60.0)
    aimed = certificate.settle(G, lam, hopeful, 1e-8, rigorous=False, seconds=60.0,
                               certify_at=-2e-4)
    assert aimed.evidence is ls.Evidence.FACTORIZATION
    assert truth >= aimed.lower >= -2e-4 * (1 + 1e-6)  # the proof pays its rounding
    assert plain.lower < -2e-3 <= aimed.lower
