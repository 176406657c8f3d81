"""The O(deg) breakout local search and the schedule of `round_cut`.

With heaps the kernel must make exactly the moves of a plain O(n)-per-move scan (same pick
rule, same ties, the same random draws); with gain buckets (integer weights) it breaks ties
differently, so it is checked against its Python original, by its invariants, by an
independent count of its cuts and, through `round_cut`, against brute force.
ROUNDING_FUZZ=1 runs more random graphs.
"""

from __future__ import annotations

import itertools
import os
import time

import numpy as np
import pytest
import scipy.sparse as sp

from lowrank_sdp.kernels import cut as K
from lowrank_sdp.maxcut import maxcut
from lowrank_sdp.rounding import as_adjacency, cut_value, round_cut

CASES = 40 if os.environ.get("ROUNDING_FUZZ") else 8


def random_graph(n: int, p: float, seed: int, weights: str) -> sp.csr_array:
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.random((n, n)) < p, k=1)
    w = {"pm1": lambda: rng.choice([-1.0, 1.0], size=(n, n)),
         "one": lambda: np.ones((n, n)),
         "int": lambda: rng.integers(-3, 4, size=(n, n)).astype(float),
         "float": lambda: rng.uniform(-1.0, 2.0, size=(n, n))}[weights]()
    W = np.where(upper, w, 0.0)
    return as_adjacency(W + W.T)


def brute_force_max_cut(W) -> float:
    W = W.toarray()
    n = W.shape[0]
    L = np.diag(W.sum(axis=1)) - W
    X = np.hstack([np.ones((2 ** (n - 1), 1)),
                   np.array(list(itertools.product([1.0, -1.0], repeat=n - 1)))])
    return float(np.max(np.einsum("ki,ij,kj->k", X, L, X)) / 4.0)


def scan_breakout(indptr, indices, data, x, moves, floor, state, tenure_lo, tenure_hi, jump_lo,
                  jump_hi, patience, p_directed, tol, target):
    """Reference breakout local search: every pick scans all vertices (largest gain, ties to the
    smaller id, a tabu vertex only when strictly better than the best free one), the generator
    drawn at the same points as the kernel's. It uses the kernels' private generator
    (`_xorshift`) and flip (`_flip`) so that the random draws and the float gains are the same."""
    n = x.shape[0]
    cur, best = x.copy(), x.copy()
    gains = K.flip_gains.py_func(indptr, indices, data, cur)
    active = np.flatnonzero(np.diff(indptr))
    tabu_until = np.zeros(n, dtype=np.int64)  # tabu at step t while t < tabu_until
    value, best_value, prev = 0.0, floor, -np.inf
    t, phase, left = 0, 0, 0

    def top(tabu):
        pick = -1
        for i in active:
            if (tabu_until[i] > t) == tabu and (pick < 0 or gains[i] > gains[pick]):
                pick = i
        return pick

    while t < moves and active.size:
        if phase == 0:
            pick, v = top(False), top(True)
            if v >= 0 and (pick < 0 or gains[v] > gains[pick]):
                pick = v
            if pick < 0 or gains[pick] <= tol:
                if value > best_value + tol:
                    best_value, state[1] = value, 0
                    best[:] = cur
                    if best_value >= target - tol:
                        break
                else:
                    state[1] += 1
                state[2] = min(state[2] + 1, jump_hi) if abs(value - prev) <= tol else jump_lo
                prev = value
                if state[1] > patience:
                    phase, left, state[1] = 2, jump_hi, 0
                else:
                    p = max(np.exp(-state[1] / patience), p_directed)
                    phase = 1 if K._xorshift(state) / 4294967296.0 < p else 2
                    left = state[2]
                continue
        elif phase == 1:
            pick, v = top(False), top(True)
            if v >= 0 and value + gains[v] > best_value + tol and (
                    pick < 0 or gains[v] > gains[pick]):
                pick = v
        else:
            for _ in range(32):
                pick = active[K._xorshift(state) % active.size]
                if tabu_until[pick] <= t:
                    break
        if pick < 0:
            break
        if phase != 0:
            left -= 1
            if left <= 0:
                phase = 0
        value += gains[pick]
        K._flip.py_func(indptr, indices, data, cur, gains, pick)
        tabu_until[pick] = t + 1 + tenure_lo + K._xorshift(state) % (tenure_hi - tenure_lo + 1)
        t += 1
        if phase == 1 and value > best_value + tol:
            phase = 0
    if value > best_value + tol:
        best_value = value
        best[:] = cur
    return best, best_value, cur, value, t


def _case(seed: int, weights: str):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 60))
    A = random_graph(n, float(rng.uniform(0.05, 0.5)), seed, weights)
    x = rng.choice(np.array([-1, 1], dtype=np.int8), size=n)
    tenure_lo = int(rng.integers(0, 4))
    tenure_hi = tenure_lo + int(rng.integers(0, 10))
    jump_lo = int(rng.integers(1, 5))
    schedule = (tenure_lo, tenure_hi, jump_lo, jump_lo + int(rng.integers(0, 8)),
                int(rng.choice([2, 10, 1000])), float(rng.choice([0.0, 0.5, 1.0])))
    floor = float(rng.choice([0.0, 0.0, 2.0, -np.inf]))
    return A, x, floor, schedule


def _args(A, x, moves, floor, schedule, seed, target=np.inf):
    state = np.array([1 + seed * 7919, 0, schedule[2]], dtype=np.int64)
    return (A.indptr, A.indices, A.data, x, moves, floor, state, *schedule, 1e-9, target)


@pytest.mark.parametrize("weights", ["pm1", "float"])
@pytest.mark.parametrize("seed", range(CASES))
def test_heap_breakout_makes_the_moves_of_a_full_scan(seed, weights):
    A, x, floor, schedule = _case(seed, weights)
    fast_args = _args(A, x, 400, floor, schedule, seed)
    slow_args = _args(A, x, 400, floor, schedule, seed)
    ref_args = _args(A, x, 400, floor, schedule, seed)
    fast = K.breakout_search(*fast_args, False)
    slow = K.breakout_search.py_func(*slow_args, False)
    ref = scan_breakout(*ref_args)
    for other in (slow, ref):
        for a, b in zip(fast, other):
            np.testing.assert_allclose(a, b)
    # The schedule's state comes out the same too (the next call carries on from it).
    np.testing.assert_array_equal(fast_args[6], ref_args[6])
    np.testing.assert_array_equal(fast_args[6], slow_args[6])


@pytest.mark.parametrize("weights", ["pm1", "one", "int"])
@pytest.mark.parametrize("seed", range(CASES))
def test_bucket_breakout_reports_true_gains_and_matches_its_python_original(seed, weights):
    A, x, floor, schedule = _case(seed, weights)
    best, gain, end, end_gain, used = K.breakout_search(*_args(A, x, 400, floor, schedule, seed),
                                                        True)
    slow = K.breakout_search.py_func(*_args(A, x, 400, floor, schedule, seed), True)
    for a, b in zip((best, gain, end, end_gain, used), slow):
        np.testing.assert_array_equal(a, b)
    assert used <= 400 and gain >= floor
    # Gains checked against an independent count: x^T L x / 4 from the Laplacian.
    L = sp.diags(np.asarray(A.sum(axis=1)).ravel()) - A
    cut = lambda z: float(z.astype(float) @ (L @ z.astype(float))) / 4.0  # noqa: E731
    assert cut(end) - cut(x) == pytest.approx(end_gain)
    if gain > floor:
        assert cut(best) - cut(x) == pytest.approx(gain)
    else:
        np.testing.assert_array_equal(best, x)  # nothing beat the floor: x comes back


@pytest.mark.parametrize("weights", ["pm1", "one", "int"])
def test_bucket_breakout_with_a_given_span_makes_the_same_moves(weights):
    """rounding._search passes the bucket span once computed; the kernel then skips its own
    O(nnz) pass, and every move, gain and the schedule's state come out the same."""
    A, x, floor, schedule = _case(3, weights)
    span = max(1, int(np.abs(A).sum(axis=1).max() + 0.5))
    own_args = _args(A, x, 400, floor, schedule, 3)
    given_args = _args(A, x, 400, floor, schedule, 3)
    own = K.breakout_search(*own_args, True)
    given = K.breakout_search(*given_args, True, span)
    for a, b in zip(own, given):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(own_args[6], given_args[6])


def _int_args(A, x, moves, floor, schedule, seed, target=np.inf):
    """The integer kernel's arguments: int32 indices and weights, then the span."""
    span = max(1, int(np.abs(A).sum(axis=1).max() + 0.5))
    state = np.array([1 + seed * 7919, 0, schedule[2]], dtype=np.int64)
    return (A.indptr, A.indices.astype(np.int32), A.data.astype(np.int32), x, moves, floor,
            state, *schedule, 1e-9, target, span)


@pytest.mark.parametrize("moves", [0, 7, 400, 3000])
@pytest.mark.parametrize("weights", ["pm1", "one", "int"])
@pytest.mark.parametrize("seed", range(CASES))
def test_int_breakout_makes_the_moves_of_the_bucket_breakout(seed, weights, moves):
    """breakout_search_int (what round_cut runs on integer weights) against the generic kernel
    with buckets, its own Python original, and an independent count of its cuts."""
    A, x, floor, schedule = _case(seed, weights)
    ref_args = _args(A, x, moves, floor, schedule, seed)
    ref = K.breakout_search(*ref_args, True)
    fast_args = _int_args(A, x, moves, floor, schedule, seed)
    fast = K.breakout_search_int(*fast_args)
    slow_args = _int_args(A, x, moves, floor, schedule, seed)
    slow = K.breakout_search_int.py_func(*slow_args)
    for other, other_args in ((ref, ref_args), (slow, slow_args)):
        for a, b in zip(fast, other):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(fast_args[6], other_args[6])  # the schedule's state
    best, gain, end, end_gain, used = fast
    assert used <= moves and gain >= floor
    cut = lambda z: K.cut_value.py_func(A.indptr, A.indices, A.data, z)  # noqa: E731
    assert cut(end) - cut(x) == end_gain
    if gain > floor:
        assert cut(best) - cut(x) == gain
    else:
        np.testing.assert_array_equal(best, x)


def test_int_breakout_stops_at_its_target_and_finds_the_brute_force_optimum():
    A = random_graph(14, 0.4, seed=8, weights="pm1")
    x = np.ones(14, dtype=np.int8)
    schedule = (1, 3, 1, 4, 20, 0.8)
    opt = brute_force_max_cut(A) - K.cut_value(A.indptr, A.indices, A.data, x)
    best, gain, _, _, used = K.breakout_search_int(*_int_args(A, x, 100_000, 0.0, schedule, 0,
                                                              opt))
    assert gain == opt and used < 100_000  # stopped at the optimum, its true gain reported
    assert K.cut_value(A.indptr, A.indices, A.data, best) - K.cut_value(
        A.indptr, A.indices, A.data, x) == opt


@pytest.mark.parametrize("buckets", [False, True])
def test_breakout_stops_at_its_target_and_returns_x_for_no_moves(buckets):
    A = random_graph(50, 0.2, seed=5, weights="one")
    x = np.ones(50, dtype=np.int8)
    schedule = (3, 10, 2, 10, 1000, 0.8)
    best, gain, _, _, used = K.breakout_search(*_args(A, x, 10_000, 0.0, schedule, 0, 3.0),
                                               buckets)
    # The target is checked at local optima: it stops at the first one, the steepest descent's.
    assert gain >= 3.0 and used < 10_000
    assert np.all(K.flip_gains(A.indptr, A.indices, A.data, best) <= 0)
    full = K.breakout_search(*_args(A, x, 10_000, 0.0, schedule, 0), buckets)
    assert full[1] > gain and full[4] == 10_000
    # A zero budget makes no move and returns x.
    best, gain, _, end_gain, used = K.breakout_search(*_args(A, x, 0, 0.0, schedule, 0), buckets)
    assert used == 0 and gain == 0.0 and end_gain == 0.0
    np.testing.assert_array_equal(best, x)


@pytest.mark.parametrize("moves", [3000, 200_000])  # 200_000: past several restarts (4000 n)
@pytest.mark.parametrize("weights", ["pm1", "one", "float", "int"])
@pytest.mark.parametrize("seed", range(4))
def test_round_cut_finds_the_brute_force_optimum(seed, weights, moves):
    A = random_graph(13, 0.4, seed=100 + seed, weights=weights)
    Y = np.random.default_rng(seed).standard_normal((13, 3))
    x, value = round_cut(Y, A, trials=5, candidates=2, seed=seed, moves=moves)
    assert value == pytest.approx(brute_force_max_cut(A))
    assert value == pytest.approx(cut_value(A, x))


def torus(side: int, seed: int) -> sp.csr_array:
    """A side x side toroidal grid with ±1 weights (the G48-G81 family in miniature)."""
    rng = np.random.default_rng(seed)
    idx = np.arange(side * side).reshape(side, side)
    rows = np.concatenate([idx.ravel(), idx.ravel()])
    cols = np.concatenate([np.roll(idx, 1, 0).ravel(), np.roll(idx, 1, 1).ravel()])
    W = sp.coo_array((rng.choice([-1.0, 1.0], size=rows.size), (rows, cols)),
                     shape=(side * side,) * 2)
    return as_adjacency(W + W.T)


@pytest.mark.parametrize("weights", ["pm1", "float"])
def test_a_larger_move_budget_never_gives_a_worse_cut_and_the_seed_fixes_the_cut(weights):
    W = torus(16, seed=1)
    if weights == "float":  # the heap kernel
        W = sp.csr_array(W.multiply(1.0 + 0.1 * np.random.default_rng(0).random(W.shape)))
        W = as_adjacency((W + W.T) / 2)
    Y = np.random.default_rng(5).standard_normal((256, 4))
    values = []
    for moves in (0, 500, 5000, 50_000):
        x, v = round_cut(Y, W, trials=20, candidates=2, seed=4, moves=moves)
        values.append(v)
        again = round_cut(Y, W, trials=20, candidates=2, seed=4, moves=moves)
        np.testing.assert_array_equal(x, again[0])
    assert values == sorted(values)  # the runs share a prefix: more moves only add to it
    assert values[-1] > values[1]  # and the breakout rounds do find better cuts


def test_time_limit_only_shortens_the_search():
    W = torus(12, seed=2)
    Y = np.random.default_rng(1).standard_normal((144, 3))
    _, plain = round_cut(Y, W, trials=10, seed=0, local_search=False)
    # time_limit=0 still searches from the best hyperplane once, then stops.
    _, quick = round_cut(Y, W, trials=10, seed=0, time_limit=0.0)
    x, open_ended = round_cut(Y, W, trials=10, seed=0, moves=None, time_limit=0.2)
    assert plain <= quick <= open_ended  # the same trajectory, cut shorter
    assert open_ended == cut_value(W, x)


def test_maxcut_passes_its_rounding_budget_on():
    W = torus(8, seed=3)
    res = maxcut(W, rounding_moves=0, seed=2)
    _, alone = round_cut(res.sdp.Y, W, seed=2, moves=0)
    assert res.cut_value == alone
    timed = maxcut(W, time_limit=1.0, rounding_time=0.5, rounding_moves=None)  # ~1 s
    assert timed.cut_value <= timed.upper_bound  # the bound is kept with every budget
    assert np.isfinite(timed.upper_bound) and timed.ratio <= 1.0
    with pytest.raises(ValueError, match=r"^The 'rounding_moves' parameter of maxcut must be"):
        maxcut(W, rounding_moves=None)
    with pytest.raises(ValueError, match=r"^The 'rounding_time' parameter of maxcut must be"):
        maxcut(W, rounding_time=-1.0)


def test_a_time_limit_makes_the_long_search_runs_longer(monkeypatch):
    """With a time limit the long search is re-entered a few times a second (runs of about
    0.25 s at the measured rate), not every 2e6 / (mean degree + 8) flips; a move budget keeps
    the fixed runs (and so its cut)."""
    W = torus(30, seed=4)
    Y = np.random.default_rng(2).standard_normal((900, 3))
    caps = []
    kernel = K.breakout_search_int

    def spy(ip, ix, w, x, cap, *rest):
        caps.append(cap)
        return kernel(ip, ix, w, x, cap, *rest)

    monkeypatch.setattr(K, "breakout_search_int", spy)
    x, v = round_cut(Y, W, trials=10, seed=0, moves=2_000_000)
    fixed = max(caps)
    assert fixed == int(2e6 / (W.nnz / 900 + 8.0))  # the fixed run length
    assert v == cut_value(W, x)
    caps.clear()
    x, v = round_cut(Y, W, trials=10, seed=0, moves=None, time_limit=1.0)
    assert v == cut_value(W, x)
    assert max(caps) > fixed  # 0.25 s of flips: more than 166_666 at any plausible rate


@pytest.mark.parametrize("limit", [2.0, 5.0, 11.0])
def test_a_time_limit_is_not_overrun_by_the_last_run(monkeypatch, limit):
    """The search ends by its time limit, not one run past it: on a fake clock where each flip
    costs 1e-5 virtual seconds, every other run 8% more (the flip rate varies), no run starts
    that would not fit in the time left. Before, the last run began while time was left and
    ran its full length (up to 2e6 / (mean degree + 8) flips, 1.7 virtual seconds here)."""
    W = torus(30, seed=4)
    Y = np.random.default_rng(2).standard_normal((900, 3))
    virtual, calls = [0.0], [0]
    real = time.perf_counter
    monkeypatch.setattr(time, "perf_counter", lambda: real() + virtual[0])
    kernel = K.breakout_search_int

    def slow(*args):
        out = kernel(*args)
        calls[0] += 1
        virtual[0] += out[-1] * 1e-5 * (1.08 if calls[0] % 2 else 1.0)  # out[-1]: flips made
        return out

    monkeypatch.setattr(K, "breakout_search_int", slow)
    start = time.perf_counter()
    x, v = round_cut(Y, W, trials=10, seed=0, moves=None, time_limit=limit)
    assert time.perf_counter() - start <= limit + 0.1  # 0.1: the real seconds after the search
    assert virtual[0] > 0.5 * limit  # the limit was used, not given up early
    assert v == cut_value(W, x)


def sparse_graph(n: int, extra: int, seed: int) -> sp.csr_array:
    """A random spanning tree plus `extra` random ±1 edges (mean degree about 2, as G70)."""
    rng = np.random.default_rng(seed)
    rows = list(range(1, n)) + list(rng.integers(0, n, extra))
    cols = [int(rng.integers(0, i)) for i in range(1, n)] + list(rng.integers(0, n, extra))
    keep = [(i, j) for i, j in zip(rows, cols) if i != j]
    i, j = np.array(keep).T
    W = sp.coo_array((rng.choice([-1.0, 1.0], size=i.size), (i, j)), shape=(n, n)).tocsr()
    W.data = np.sign(W.data) + (W.data == 0)  # a repeated pair counts once
    return as_adjacency(W + W.T)


@pytest.mark.parametrize("seed", range(4))
def test_sparse_graphs_get_the_short_tenure_and_the_brute_force_optimum(seed, monkeypatch):
    tenures = []
    kernel = K.breakout_search_int

    def spy(*args):
        tenures.append(args[8])  # tenure_hi
        return kernel(*args)

    monkeypatch.setattr(K, "breakout_search_int", spy)
    A = sparse_graph(15, 3, seed)
    Y = np.random.default_rng(seed).standard_normal((15, 3))
    x, value = round_cut(Y, A, trials=5, candidates=2, seed=seed, moves=20_000)
    assert value == pytest.approx(brute_force_max_cut(A)) and value == cut_value(A, x)
    big = sparse_graph(1000, 40, seed)
    assert big.nnz < 3 * 1000
    round_cut(np.random.default_rng(seed).standard_normal((1000, 3)), big, trials=5, moves=5000)
    assert set(tenures[-2:]) == {1000 // 50}
    tenures.clear()
    round_cut(np.random.default_rng(seed).standard_normal((900, 3)), torus(30, seed), trials=5,
              moves=5000)
    assert set(tenures) == {900 // 10}  # mean degree 4: the paper's n/10


@pytest.mark.parametrize("weights", ["pm1", "float"])
@pytest.mark.parametrize("seed", range(3))
def test_memetic_search_finds_the_brute_force_optimum_and_the_seed_fixes_it(seed, weights,
                                                                            monkeypatch):
    """The memetic long search (n >= 5000 with a large budget; here forced on small graphs):
    a pool of the starts' cuts searched on for 1000 n flips each, then crossover children."""
    import lowrank_sdp.rounding as R

    caps = []
    kernels = {name: getattr(K, name) for name in ("breakout_search", "breakout_search_int")}

    def spy(name):
        def call(ip, ix, w, x, cap, *rest):
            caps.append(cap)
            return kernels[name](ip, ix, w, x, cap, *rest)
        return call

    for name in kernels:
        monkeypatch.setattr(K, name, spy(name))
    monkeypatch.setattr(R, "_MEMETIC_MIN_N", 10)
    A = random_graph(13, 0.4, seed=200 + seed, weights=weights)
    Y = np.random.default_rng(seed).standard_normal((13, 3))
    x, value = round_cut(Y, A, trials=8, candidates=3, seed=seed, moves=500_000)
    assert caps[3] == 1000 * 13  # after 3 starts of 3 n flips: the pool's first 1000 n
    assert value == pytest.approx(brute_force_max_cut(A)) and value == cut_value(A, x)
    # Children of 2 n flips (a cap no other run has) until the budget is spent.
    monkeypatch.setattr(R, "_CHILD_MOVES_PER_VERTEX", 2)
    W = torus(10, seed)
    Yt = np.random.default_rng(seed).standard_normal((100, 3))
    caps.clear()
    one = round_cut(Yt, W, trials=8, candidates=3, seed=seed, moves=2_000_000)
    assert caps[3:6] == [1000 * 100] * 3 and caps.count(2 * 100) > 100
    two = round_cut(Yt, W, trials=8, candidates=3, seed=seed, moves=2_000_000)
    np.testing.assert_array_equal(one[0], two[0])
    assert one[1] == cut_value(W, one[0]) >= round_cut(Yt, W, trials=8, candidates=3, seed=seed,
                                                      moves=0)[1]


def test_memetic_search_is_off_for_the_default_budget_and_small_graphs(monkeypatch):
    import lowrank_sdp.rounding as R

    def fail(*args):
        raise AssertionError("memetic search at the default budget")

    monkeypatch.setattr(R, "_memetic", fail)
    W = torus(71, seed=0)  # n = 5041, at least the memetic search's 5000
    Y = np.random.default_rng(0).standard_normal((W.shape[0], 3))
    round_cut(Y, W, trials=4, candidates=2, seed=0)  # moves="auto": at most 1000 n flips
    round_cut(Y[:900], torus(30, 0), trials=4, seed=0, moves=None, time_limit=0.1)  # n < 5000
    big = torus(100, seed=0)  # n = 10000: the long search again
    round_cut(np.random.default_rng(0).standard_normal((10000, 3)), big, trials=4, candidates=2,
              seed=0, moves=None, time_limit=0.2)
    with pytest.raises(AssertionError, match="memetic"):
        round_cut(Y, W, trials=4, candidates=2, seed=0, moves=None, time_limit=0.2)


def test_memetic_search_keeps_an_explicit_move_budget(monkeypatch):
    """The memetic search (forced on a small graph) spends at most the `moves` it was given:
    its last child is cut to what is left instead of running its full 100 n flips."""
    import lowrank_sdp.rounding as R

    used = []
    kernels = {name: getattr(K, name) for name in ("breakout_search", "breakout_search_int")}

    def spy(name):
        def call(*args):
            out = kernels[name](*args)
            used.append(int(out[4]))
            return out
        return call

    for name in kernels:
        monkeypatch.setattr(K, name, spy(name))
    monkeypatch.setattr(R, "_MEMETIC_MIN_N", 10)
    W = torus(10, seed=3)
    Y = np.random.default_rng(3).standard_normal((100, 3))
    for moves in (1_700_001, 1_734_567):
        used.clear()
        round_cut(Y, W, trials=8, candidates=3, seed=3, moves=moves)
        assert moves - 100 * 100 < sum(used) <= moves
