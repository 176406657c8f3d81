"""The O(deg) tabu searches and the breakout schedule of `round_cut`.

The heap kernel must make exactly the moves of a plain O(n)-per-move scan (same pick rule, same
ties); the bucket kernel (integer weights) breaks ties differently, so it is checked by its
invariants and, through `round_cut`, against brute force.
ROUNDING_FUZZ=1 runs more random graphs.
"""

from __future__ import annotations

import itertools
import os

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


def scan_tabu(indptr, indices, data, x, iterations, tenures, tol, target, stall):
    """Reference tabu search: every move scans all vertices for the best allowed one (it reuses
    the kernels' private _flip, so that only the choice of move differs)."""
    n = x.shape[0]
    cur, best = x.copy(), x.copy()
    gains = K.flip_gains.py_func(indptr, indices, data, cur)
    tabu_until = np.zeros(n, dtype=np.int64)
    value = best_value = 0.0
    t = last = 0
    while t < iterations:
        pick, pick_gain = -1, -np.inf
        for i in range(n):
            allowed = tabu_until[i] <= t or value + gains[i] > best_value + tol
            if indptr[i] < indptr[i + 1] and gains[i] > pick_gain and allowed:
                pick, pick_gain = i, gains[i]
        if pick < 0:
            break
        K._flip.py_func(indptr, indices, data, cur, gains, pick)
        value += pick_gain
        tabu_until[pick] = t + 1 + tenures[t % tenures.shape[0]]
        t += 1
        if value > best_value + tol:
            best_value, last = value, t
            best[:] = cur
            if best_value >= target - tol:
                break
        elif t - last >= stall:
            break
    return best, best_value, t


def _case(seed: int, weights: str):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 60))
    A = random_graph(n, float(rng.uniform(0.05, 0.5)), seed, weights)
    x = rng.choice(np.array([-1, 1], dtype=np.int8), size=n)
    tenures = rng.integers(0, 12, size=int(rng.integers(1, 9)))
    stall = int(rng.choice([3, 20, 10**9]))
    return A, x, tenures, stall


@pytest.mark.parametrize("weights", ["pm1", "float"])
@pytest.mark.parametrize("seed", range(CASES))
def test_heap_tabu_makes_the_moves_of_a_full_scan(seed, weights):
    A, x, tenures, stall = _case(seed, weights)
    args = (A.indptr, A.indices, A.data, x, 300, tenures, 1e-9, np.inf, stall)
    fast, slow, ref = K.tabu_search(*args), K.tabu_search.py_func(*args), scan_tabu(*args)
    for other in (slow, ref):
        np.testing.assert_array_equal(fast[0], other[0])
        assert fast[1] == pytest.approx(other[1]) and fast[2] == other[2]


@pytest.mark.parametrize("weights", ["pm1", "one", "int"])
@pytest.mark.parametrize("seed", range(CASES))
def test_bucket_tabu_reports_true_gains_and_matches_its_python_original(seed, weights):
    A, x, tenures, stall = _case(seed, weights)
    ip, ix, w = A.indptr, A.indices, A.data
    args = (ip, ix, w, x, 300, tenures, 1e-9, np.inf, stall)
    best, gain, used = K.tabu_search_buckets(*args)
    slow = K.tabu_search_buckets.py_func(*args)
    np.testing.assert_array_equal(best, slow[0])
    assert (gain, used) == (slow[1], slow[2])
    assert gain >= 0 and used <= 300
    assert K.cut_value(ip, ix, w, best) - K.cut_value(ip, ix, w, x) == pytest.approx(gain)
    # From the same start both kernels reach a cut at least as good as the 1-flip optimum
    # they leave (tabu search never returns below its start).
    x1, _ = K.one_flip_search(ip, ix, w, x, 1e-9)
    assert K.tabu_search_buckets(ip, ix, w, x1, 300, tenures, 1e-9, np.inf, stall)[1] >= 0


def test_tabu_stops_after_stall_moves_without_a_new_best():
    A = random_graph(40, 0.3, seed=3, weights="pm1")
    ip, ix, w = A.indptr, A.indices, A.data
    x, _ = K.one_flip_search(ip, ix, w, np.ones(40, dtype=np.int8), 1e-9)
    for kernel in (K.tabu_search, K.tabu_search_buckets):
        _, gain, used = kernel(ip, ix, w, x, 10_000, np.full(3, 4), 1e-9, np.inf, 25)
        assert used < 10_000
        # A run that stalls at once from a 1-flip optimum makes exactly `stall` moves.
        if gain == 0:
            assert used == 25


@pytest.mark.parametrize("weights", ["pm1", "one", "float", "int"])
@pytest.mark.parametrize("seed", range(4))
def test_round_cut_finds_the_brute_force_optimum(seed, weights):
    A = random_graph(13, 0.4, seed=100 + seed, weights=weights)
    Y = np.random.default_rng(seed).standard_normal((13, 3))
    x, value = round_cut(Y, A, trials=5, candidates=2, seed=seed, moves=3000)
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
