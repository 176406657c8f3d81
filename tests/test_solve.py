"""The front door: statuses and stops, determinism, warm starts, every method, the staircase."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator

import lowrank_sdp as ls
from lowrank_sdp.result import IterationRecord
from lowrank_sdp.solve import auto_start_rank


def _instance(seed: int, n: int, sparse: bool = False):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n))
    if sparse:
        A *= rng.random((n, n)) < 4.0 / n
        return sp.csr_matrix(np.triu(A) + np.triu(A, 1).T)
    return (A + A.T) / 2


@pytest.fixture(scope="module")
def reference():
    """A cost matrix and its optimum, from a tightly certified solve (bound and objective agree)."""
    C = _instance(0, 30)
    res = ls.solve(C, tol=1e-9)
    assert res.certified
    return C, res


def _assert_valid_bound(res: ls.Result, reference: ls.Result) -> None:
    """res.bound <= optimum <= res.objective, with the optimum bracketed by a certified solve."""
    slack = 2e-9 * (1.0 + abs(reference.objective))
    assert np.isfinite(res.bound)
    assert res.bound <= reference.objective + slack
    assert res.objective >= reference.bound - slack
    assert res.gap == pytest.approx(res.objective - res.bound, rel=1e-12, abs=1e-12)
    assert res.relative_gap == pytest.approx(res.gap / (1.0 + abs(res.objective)))


def _assert_feasible(res: ls.Result) -> None:
    assert res.Y.dtype == np.float64 and res.Y.shape[1] == res.rank
    np.testing.assert_allclose(np.linalg.norm(res.Y, axis=1), 1.0, rtol=1e-12)


def test_certified_solve(reference):
    C, res = reference
    _assert_feasible(res)
    assert res.status is ls.Status.CERTIFIED and res.status.certified
    assert res.relative_gap <= 1e-9
    assert res.objective == pytest.approx(float(np.vdot(C, res.X)), rel=1e-12)
    assert res.rank_history[-1] == res.rank and res.sense == "min"
    assert res.method in ls.METHODS and res.seconds > 0.0
    assert res.certificate.bound == res.bound
    assert "CERTIFIED" in repr(res)


def test_max_iterations(reference):
    C, ref = reference
    res = ls.solve(C, max_iterations=3)
    assert res.status is ls.Status.MAX_ITERATIONS and res.iterations == 3
    assert not res.certified and len(res.history) == 3
    _assert_feasible(res)
    _assert_valid_bound(res, ref)


def test_time_limit(reference):
    C, ref = reference
    res = ls.solve(C, time_limit=1e-9)
    assert res.status is ls.Status.TIME_LIMIT and res.iterations == 1
    _assert_valid_bound(res, ref)


def test_callback_stop_iteration(reference):
    C, ref = reference
    seen: list = []

    def callback(state):
        seen.append((state.iteration, state.objective, state.rank))
        assert not state.Y.flags.writeable  # a read-only view of the current point
        if state.iteration == 5:
            raise StopIteration

    res = ls.solve(C, callback=callback)
    assert res.status is ls.Status.CALLBACK and res.iterations == 5
    assert [s[0] for s in seen] == [1, 2, 3, 4, 5]
    assert [(h.iteration, h.objective, h.rank) for h in res.history] == seen
    _assert_valid_bound(res, ref)


@pytest.mark.parametrize("method", sorted(ls.METHODS))
def test_keyboard_interrupt_in_a_callback(reference, method):
    """Ctrl-C during a solve returns the best point so far, with a finite, valid bound."""
    C, ref = reference

    def callback(state):
        if state.iteration == 4:
            raise KeyboardInterrupt

    res = ls.solve(C, callback=callback, method=method)
    assert res.status is ls.Status.INTERRUPTED and res.iterations == 4
    _assert_feasible(res)
    _assert_valid_bound(res, ref)
    best = min(h.objective for h in res.history)
    assert res.objective == pytest.approx(best, rel=1e-9)


def test_stops_have_distinct_statuses(reference):
    C, _ = reference

    def stop(state):
        raise StopIteration

    def interrupt(state):
        raise KeyboardInterrupt

    statuses = [
        ls.solve(C).status,
        ls.solve(C, max_iterations=1).status,
        ls.solve(C, time_limit=0.0).status,
        ls.solve(C, callback=stop).status,
        ls.solve(C, callback=interrupt).status,
        ls.solve(C, rank=1).status,
    ]
    assert len(set(statuses)) == len(statuses)
    assert statuses[-1] is ls.Status.MAX_RANK
    assert {s.value for s in ls.Status} >= {s.value for s in statuses}


def test_history_records_every_iteration(reference):
    C, _ = reference
    res = ls.solve(C, sense="max")
    assert len(res.history) == res.iterations > 0
    assert all(isinstance(h, IterationRecord) for h in res.history)
    assert [h.iteration for h in res.history] == list(range(1, res.iterations + 1))
    seconds = [h.seconds for h in res.history]
    assert seconds == sorted(seconds) and seconds[-1] <= res.seconds
    # The history is in the user's sense: for max, the objective climbs to the final value.
    assert res.history[-1].objective == pytest.approx(res.objective, rel=1e-9)
    assert res.history[-1].objective > res.history[0].objective


@pytest.mark.parametrize("method", sorted(ls.METHODS))
def test_deterministic_for_a_seed(method):
    C = _instance(1, 25, sparse=True)
    # Warm up first: the monitor's periodic certificate checkpoints are timed (>= 1 s apart), and
    # a first call that compiles the kernels can take long enough for one, changing the path.
    ls.solve(C, method=method, seed=7)
    a = ls.solve(C, method=method, seed=7)
    b = ls.solve(C, method=method, seed=7)
    assert a.Y.tobytes() == b.Y.tobytes()
    assert (a.objective, a.bound, a.iterations, a.rank_history) == (
        b.objective, b.bound, b.iterations, b.rank_history)
    c = ls.solve(C, method=method, seed=8)
    assert c.Y.tobytes() != a.Y.tobytes()


def test_warm_start(reference):
    C, ref = reference
    # From the solution: certified at once, far fewer iterations than from a random start.
    again = ls.solve(C, Y0=ref.Y, tol=1e-8)
    assert again.certified and again.iterations < ref.iterations / 2
    # Rows of Y0 are normalised and Y0 itself is left alone.
    Y0 = 3.0 * ref.Y
    res = ls.solve(C, Y0=Y0, max_iterations=1, method="rgd")
    np.testing.assert_array_equal(Y0, 3.0 * ref.Y)
    _assert_feasible(res)
    # A fixed rank wider than Y0 pads it (same X to start with).
    wide = ls.solve(C, Y0=ref.Y, rank=ref.rank + 2)
    assert wide.rank == ref.rank + 2 and wide.certified


@pytest.mark.parametrize("method", sorted(ls.METHODS))
@pytest.mark.parametrize("sense", ["min", "max"])
def test_every_method_certifies(method, sense):
    for seed, n, sparse in [(2, 12, False), (3, 30, True), (4, 30, False)]:
        C = _instance(seed, n, sparse)
        res = ls.solve(C, method=method, sense=sense)
        assert res.certified, (seed, res)
        assert res.method == method and res.sense == sense
        assert res.relative_gap <= 1e-6
        _assert_feasible(res)
        if sense == "min":
            assert res.bound <= res.objective
        else:
            assert res.bound >= res.objective


@pytest.mark.parametrize("method", ["rgd", "lbfgs"])
def test_operator_input(method):
    C = _instance(5, 20)
    res = ls.solve(aslinearoperator(C), method=method)
    dense = ls.solve(C, tol=1e-9)
    assert res.certified
    assert res.objective == pytest.approx(dense.objective, rel=1e-5)


def test_staircase_escalates_from_rank_one():
    """At rank 1 every point is stationary (the tangent space of S^0 is {0}) but not optimal for this
    instance: the staircase must add columns."""
    C = _instance(6, 25)
    assert ls.solve(C, rank=1).status is ls.Status.MAX_RANK  # rank 1 is not enough
    res = ls.solve(C, Y0=np.ones((25, 1)) + np.arange(25)[:, None] % 2)
    assert res.certified
    assert res.rank_history[0] == 1 and len(res.rank_history) > 1
    assert list(res.rank_history) == sorted(res.rank_history)
    assert res.rank == res.rank_history[-1] > 1
    assert res.history[-1].rank == res.rank


def test_max_rank_caps_the_staircase():
    C = _instance(6, 25)
    res = ls.solve(C, Y0=np.ones((25, 1)) + np.arange(25)[:, None] % 2, max_rank=1)
    assert res.status is ls.Status.MAX_RANK and res.rank_history == (1,)
    assert res.rank == 1 and not res.certified


def test_default_start_rank():
    for n in (1, 2, 50):
        res = ls.solve(_instance(7, n), max_iterations=1)
        assert res.rank_history[0] == auto_start_rank(n)
        assert min(n, 2) <= auto_start_rank(n) <= ls.barvinok_pataki_rank(n)
    assert ls.barvinok_pataki_rank(50) == int(np.ceil(np.sqrt(2 * 50))) == 10
    # Large n with degree >= 8: 1.25 n^0.4 (at most 128), never below the small-n rule nor above
    # Barvinok-Pataki; sparser graphs (and no degree: dense, operators) keep the small rule.
    for n in (3000, 3400, 10_000, 30_000, 10**5, 10**7):
        small = min(-(-ls.barvinok_pataki_rank(n) // 2), 32)
        grown = min(int(np.ceil(1.25 * n**0.4)), 128)
        assert auto_start_rank(n, 10.0) == max(small, grown) <= ls.barvinok_pataki_rank(n)
        assert auto_start_rank(n) == auto_start_rank(n, 4.0) == small
    assert [auto_start_rank(n, 10.0) for n in (3000, 10_000, 10**5)] == [32, 50, 126]
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, 4000, 20_000), rng.integers(0, 4000, 20_000)
    W = sp.coo_matrix((np.ones(i.size), (i, j)), shape=(4000, 4000)).tocsr()
    W = ((W + W.T) > 0).astype(float)
    W.setdiag(0)
    W.eliminate_zeros()
    assert W.nnz / 4000 >= 8
    res = ls.solve(W, max_iterations=1)
    assert res.rank_history[0] == auto_start_rank(4000, 10.0) > 32


def test_fixed_rank_is_kept():
    res = ls.solve(_instance(8, 20), rank=6)
    assert res.rank == 6 and res.rank_history == (6,) and res.certified


def test_tolerance_drives_the_gap():
    C = _instance(9, 30, sparse=True)
    for tol in (1e-3, 1e-6, 1e-9):
        res = ls.solve(C, tol=tol)
        assert res.certified and res.relative_gap <= tol


def test_no_edges_is_certified_at_once():
    for C in (np.zeros((6, 6)), sp.csr_matrix((6, 6)), np.diag(np.arange(6.0))):
        for sense in ("min", "max"):
            res = ls.solve(C, sense=sense)
            assert res.certified and res.gap <= 1e-12
            assert res.objective == pytest.approx(np.trace(np.asarray(C.todense() if
                                                  sp.issparse(C) else C)), abs=1e-12)


def test_one_by_one():
    for C in (np.array([[2.5]]), sp.csr_matrix([[2.5]]), aslinearoperator(np.array([[2.5]]))):
        res = ls.solve(C)
        assert res.certified and res.objective == pytest.approx(2.5) and res.Y.shape[0] == 1


def test_verbose_prints_one_line_per_step(capsys):
    ls.solve(_instance(10, 10), verbose=True)
    out = capsys.readouterr().out
    assert out.startswith("[lowrank_sdp]") and "gap" in out


def test_general_objective_with_sparse_and_operator_gradients():
    """fun may return G as a sparse matrix or a LinearOperator: same answer as a dense G."""
    C = _instance(11, 15, sparse=True)
    as_dense = ls.Objective(lambda Y: (float(np.vdot(C @ Y, Y)), C.toarray()), n=15, convex=True)
    as_sparse = ls.Objective(lambda Y: (float(np.vdot(C @ Y, Y)), C), n=15, convex=True)
    as_op = ls.Objective(lambda Y: (float(np.vdot(C @ Y, Y)), aslinearoperator(C)), n=15,
                         convex=True)
    values = [ls.solve(obj, tol=1e-8) for obj in (as_dense, as_sparse, as_op)]
    assert all(r.certified for r in values)
    linear = ls.solve(C, tol=1e-9)
    for r in values:
        assert r.objective == pytest.approx(linear.objective, rel=1e-6)
        assert r.bound <= linear.objective + 1e-9 * (1 + abs(linear.objective))


@pytest.mark.parametrize("method", sorted(ls.METHODS))
def test_unreachable_tolerance_terminates(method):
    """tol=0 cannot be certified (the bound carries a rounding margin): the solve must still end,
    with a non-certified status, and not run to the iteration guard."""
    res = ls.solve(_instance(12, 20), method=method, tol=0.0, max_iterations=3000)
    assert res.status is ls.Status.STATIONARY  # not MAX_RANK: the rank is below its cap
    assert res.rank < 20 and res.iterations < 3000 and np.isfinite(res.bound)


@pytest.mark.parametrize("method", sorted(m for m in ls.METHODS if not ls.METHODS[m].needs_linear))
def test_uncertifiable_objective_terminates(method):
    """A nonconvex objective has an infinite gap: the solve ends STATIONARY, not in a loop."""
    C, A = _instance(13, 8), _instance(14, 8)

    def fun(Y):
        X = Y @ Y.T
        return float(np.vdot(C, X) + 0.5 * np.sum((X - A) ** 2)), C + X - A

    res = ls.solve(ls.Objective(fun, n=8), method=method, max_iterations=3000)
    assert res.status is ls.Status.STATIONARY and res.iterations < 3000
    assert res.bound == -np.inf


@pytest.mark.parametrize("pause_at", [1, 7, 30])
def test_rgd_resumed_after_a_checkpoint_continues_as_if_uninterrupted(pause_at):
    """A checkpoint (the front door certifying, then calling the method again on the same Y) keeps
    the BB step and the nonmonotone window: the iterates equal those of one uninterrupted run."""
    from lowrank_sdp import manifold
    from lowrank_sdp.problem import make_problem
    from lowrank_sdp.solvers import Monitor
    from lowrank_sdp.solvers.rgd import NumpySpace, descend

    rng = np.random.default_rng(3)
    A = sp.random(120, 120, density=0.05, random_state=4)
    C = sp.csr_matrix(A + A.T)
    problem = make_problem(C, "min", "solve")
    Y0 = manifold.random_point(120, 6, rng)
    total = 60

    class PauseAt(Monitor):
        def step(self, Y, f, grad_norm):
            out = super().step(Y, f, grad_norm)
            if self.iterations == pause_at:
                self.checkpoint = True
            return out or self.checkpoint

    def run(monitor):
        Y = Y0
        while True:
            Y, *_, stop = descend(NumpySpace(problem.objective), Y, 0.0, monitor)
            if stop is not None:
                return Y
            monitor.certified_at(0.0)

    import time

    straight = run(Monitor(1.0, None, None, total, time.perf_counter()))
    paused_monitor = PauseAt(1.0, None, None, total, time.perf_counter())
    paused = run(paused_monitor)
    assert paused_monitor.iterations == total
    np.testing.assert_array_equal(paused, straight)


def test_checkpoints_fall_on_the_same_iterations_whatever_the_clock(monkeypatch):
    """Checkpoints are spaced by counted flops (iterations and certificate work), not seconds: a
    clock that runs 1000x fast (as on a loaded machine) gives the same checkpoints and iterates."""
    import importlib
    import time

    front = importlib.import_module("lowrank_sdp.solve")
    rng = np.random.default_rng(5)
    A = sp.random(400, 400, density=0.03, random_state=rng)
    C = sp.csr_matrix(A + A.T)
    # a few checkpoints on this size
    monkeypatch.setattr("lowrank_sdp.solvers._common.CERTIFY_MIN_WORK", 2e6)
    ls.solve(C, tol=1e-7)  # compile first
    looks: list[tuple[int, float]] = []
    certify = front.step_certificate

    def recorded(problem, Y, **kw):
        cert = certify(problem, Y, **kw)
        looks.append((Y.shape[1], cert.objective))
        return cert

    monkeypatch.setattr(front, "step_certificate", recorded)
    real = ls.solve(C, tol=1e-7)
    real_looks, looks[:] = list(looks), []
    fast = time.perf_counter
    monkeypatch.setattr(time, "perf_counter", lambda: 1000.0 * fast())
    skewed = ls.solve(C, tol=1e-7)
    assert real.status is ls.Status.CERTIFIED and skewed.status is ls.Status.CERTIFIED
    assert len(real_looks) >= 2 and looks == real_looks
    assert (real.iterations, real.rank_history) == (skewed.iterations, skewed.rank_history)
    assert real.Y.tobytes() == skewed.Y.tobytes()


@pytest.mark.parametrize("seed", range(6))
def test_gap_lower_bound_from_the_gradient_holds_against_a_dense_eigensolver(seed):
    """gap_lower_bound(|grad|, slack_norm_bound) <= -n min(lambda_min(S), 0) at random points of
    random sparse and dense problems (and near-stationary ones), with S and lambda_min computed
    densely; the norm bound is at least ||S||_2."""
    from lowrank_sdp import manifold
    from lowrank_sdp.problem import make_problem
    from lowrank_sdp.solve import gap_lower_bound, slack_norm_bound

    rng = np.random.default_rng(seed)
    n = 60
    A = sp.random(n, n, density=0.1, random_state=seed) - 0.5 * sp.random(n, n, density=0.1,
                                                                          random_state=seed + 9)
    Cs = sp.csr_matrix(A + A.T + sp.diags(rng.standard_normal(n)))
    for C in (Cs, Cs.toarray()):
        problem = make_problem(C, "min", "solve")
        bound = slack_norm_bound(problem)
        for r in (1, 3, 8):
            Y = manifold.random_point(n, r, rng)
            if seed % 2:  # near a stationary point too: a few hundred RGD steps
                Y = ls.solve(C, rank=r, Y0=Y, max_iterations=300, tol=0.0).Y
            Cd = Cs.toarray()
            GY = Cd @ Y
            lam = np.einsum("ij,ij->i", GY, Y)
            S = Cd - np.diag(lam)
            grad = 2.0 * (S @ Y)
            eig = np.linalg.eigvalsh(S)
            assert bound >= np.max(np.abs(eig))
            gap = -n * min(eig[0], 0.0)
            for norm in (bound, float(np.max(np.abs(eig)))):  # the solve's bound, and exact
                lower = gap_lower_bound(float(np.linalg.norm(grad)), norm)
                assert lower <= gap * (1 + 1e-9) + 1e-12


def test_gap_lower_bound_is_within_a_factor_two_on_a_tight_case():
    """C = s [[0, 1], [1, 0]] (a block per pair of rows) at Y = I: lambda = 0, S = C with
    eigenvalues +-s, |grad|^2 = 8 s^2 m, gap = n s; the bound gives n s / 2 (a bound 2x looser
    or one that overshoots fails here)."""
    from lowrank_sdp.solve import gap_lower_bound

    s, m = 3.0, 4
    C = np.kron(np.eye(m), s * np.array([[0.0, 1.0], [1.0, 0.0]]))
    n = 2 * m
    Y = np.eye(n)
    GY = C @ Y
    lam = np.einsum("ij,ij->i", GY, Y)
    S = C - np.diag(lam)
    eig = np.linalg.eigvalsh(S)
    gap = -n * min(eig[0], 0.0)
    lower = gap_lower_bound(float(np.linalg.norm(2.0 * S @ Y)), float(np.max(np.abs(eig))))
    assert 0.45 * gap <= lower <= gap


def test_a_checkpoint_that_cannot_certify_skips_its_eigensolver(monkeypatch):
    """Where the gate fires, the certificate it skips would not have certified (computed anyway
    in a run without the gate), and the gated solve certifies with the same objective."""
    import importlib

    from lowrank_sdp.problem import make_problem

    front = importlib.import_module("lowrank_sdp.solve")
    rng = np.random.default_rng(5)
    A = sp.random(400, 400, density=0.03, random_state=rng)
    C = sp.csr_matrix(A + A.T)
    tol = 1e-7
    slack = front.slack_norm_bound(make_problem(C, "min", "solve"))
    monkeypatch.setattr("lowrank_sdp.solvers._common.CERTIFY_MIN_WORK", 2e5)
    certify, gate = front.step_certificate, front.gap_out_of_reach
    fired: list[bool] = []

    def recorded(problem, Y, **kw):
        cert = certify(problem, Y, **kw)
        GY = C @ Y
        grad = 2.0 * (GY - np.einsum("ij,ij->i", GY, Y)[:, None] * Y)
        f = float(np.vdot(GY, Y))
        if gate(float(np.linalg.norm(grad)), f, tol, slack):
            fired.append(True)
            assert cert.relative_gap > tol
        return cert

    monkeypatch.setattr(front, "step_certificate", recorded)
    monkeypatch.setattr(front, "gap_out_of_reach", lambda *args: False)
    plain = ls.solve(C, tol=tol)
    assert plain.status is ls.Status.CERTIFIED and fired
    monkeypatch.setattr(front, "gap_out_of_reach", gate)
    monkeypatch.setattr(front, "step_certificate", certify)
    res = ls.solve(C, tol=tol)
    assert res.status is ls.Status.CERTIFIED
    assert abs(plain.objective - res.objective) <= 1e-6 * (1 + abs(res.objective))


def test_an_iteration_of_k_products_advances_the_checkpoint_schedule_k_times():
    """`Monitor.step(..., products=k)` counts k products with C: one such step moves the flop
    schedule as far as k plain steps, so a checkpoint falls after the same work."""
    import time

    from lowrank_sdp.problem import make_problem
    from lowrank_sdp.solvers import Monitor

    C = sp.csr_matrix(sp.random(300, 300, density=0.02, random_state=1))
    problem = make_problem(C + C.T, "min", "solve")
    Y = np.ones((300, 4)) / 2.0

    def steps_to_checkpoint(products):
        monitor = Monitor(1.0, None, None, None, time.perf_counter())
        monitor.count_iterations(problem.objective)
        monitor.certified_at(0.0, 1e6)
        for k in range(1, 10**6):
            if monitor.step(Y, 0.0, 1.0, products=products):
                return k, monitor.work

    plain, work = steps_to_checkpoint(1)
    heavy, heavy_work = steps_to_checkpoint(7)
    assert plain > 7 and heavy == -(-plain // 7)
    assert heavy_work == pytest.approx(1e6 + 7 * heavy * 4 * (2 * problem.objective.csr.nnz + 20 * 300))
    assert work == pytest.approx(1e6 + plain * 4 * (2 * problem.objective.csr.nnz + 20 * 300))


def test_trust_region_counts_its_hessian_products_in_the_checkpoint_schedule(monkeypatch):
    """A trust-region step makes one product with C for the trial point and one per Hessian-vector
    product of its truncated CG: the monitor's counted work is all of them (the first evaluation
    at the start aside), so its checkpoints are not 10-200x rarer than the gradient methods'."""
    import time

    from lowrank_sdp import manifold
    from lowrank_sdp.objective import LinearObjective
    from lowrank_sdp.problem import make_problem
    from lowrank_sdp.solvers import InnerOptions, Monitor
    from lowrank_sdp.solvers.trust_region import trust_region

    rng = np.random.default_rng(2)
    A = sp.random(200, 200, density=0.04, random_state=3)
    problem = make_problem(sp.csr_matrix(A + A.T), "min", "solve")
    calls = []
    real = LinearObjective.matmat
    monkeypatch.setattr(LinearObjective, "matmat", lambda self, V: calls.append(1) or real(self, V))
    seen = []

    class Seen(Monitor):
        def step(self, Y, f, grad_norm, products=1.0):
            out = super().step(Y, f, grad_norm, products)
            seen.append((len(calls), self.work))
            return out

    monitor = Seen(1.0, None, None, 25, time.perf_counter())
    monitor.count_iterations(problem.objective)
    out = trust_region(problem, manifold.random_point(200, 5, rng), InnerOptions(grad_tol=0.0),
                       monitor)
    assert out.stop is ls.Status.MAX_ITERATIONS and monitor.iterations == 25
    per_product = 5 * monitor.iteration_flops
    assert len(calls) > 3 * 25  # the CG made several Hessian products per step
    # Every step but the last (the monitor stops counting work once a stop fires).
    for made, work in seen[:-1]:
        assert work == pytest.approx((made - 1) * per_product)


def test_smallest_singular_value_from_the_gram_matrix():
    """`smallest_singular_value` (eigenvalues of Y^T Y) agrees with an SVD above its threshold."""
    from lowrank_sdp.solve import smallest_singular_value

    rng = np.random.default_rng(0)
    left = np.linalg.qr(rng.standard_normal((400, 6)))[0]
    right = np.linalg.qr(rng.standard_normal((6, 6)))[0]
    for sv in ([3.0, 2.0, 1.0, 0.5, 0.1, 1e-3], [1.0, 1.0, 1e-5, 1e-9, 0.0, 0.0]):
        Y = (left * np.array(sv)) @ right.T
        expected = min(s for s in sv if s > 1e-7 * max(sv))
        assert smallest_singular_value(Y) == pytest.approx(expected, rel=1e-6)
    assert smallest_singular_value(np.zeros((5, 2))) == 1.0


def test_a_periodic_look_gets_the_checkpoint_lanczos_budget(monkeypatch):
    """A look while the inner method is paused (not converged) runs at most CHECKPOINT_MATVECS
    Lanczos products; the final certificate keeps the full budget."""
    from lowrank_sdp import certificate
    from lowrank_sdp.solve import CHECKPOINT_MATVECS

    rng = np.random.default_rng(0)
    n = 3000
    i, j = rng.integers(0, n, (2, 5 * n))
    W = sp.csr_matrix((np.ones(i.size), (i, j)), shape=(n, n))
    W = ((W + W.T) > 0).astype(float)
    W.setdiag(0.0)
    W.eliminate_zeros()
    C = sp.csr_matrix((sp.diags(np.asarray(W.sum(axis=1)).ravel()) - W) / 4.0)
    budgets = []
    real = certificate.lanczos_smallest

    def spy(matvec, v0, **kw):
        budgets.append(kw["max_matvecs"])
        return real(matvec, v0, **kw)

    monkeypatch.setattr(certificate, "lanczos_smallest", spy)
    monkeypatch.setattr("lowrank_sdp.solvers._common.CERTIFY_MIN_WORK", 0.0)  # look often
    res = ls.solve(C, sense="max", tol=1e-7)
    assert res.status is ls.Status.CERTIFIED
    assert CHECKPOINT_MATVECS in budgets
    assert max(budgets) > CHECKPOINT_MATVECS
