"""From a Max-Cut SDP factor Y to a cut: random hyperplanes, then local search.

Goemans-Williamson rounding labels vertex i by the side of a random hyperplane its row y_i
falls on, x_i = sign(<y_i, g>) with g ~ N(0, I_r). Many hyperplanes are drawn at once
(one (n, r) @ (r, trials) product per chunk), the best few cuts are improved by a 1-flip local
search and a short breakout local search each (Benlic & Hao 2013: steepest descent, tabu-directed
and random perturbations of adaptive strength; O(deg) per flip), and the best cut found by a
long one until the move (or time) budget is spent; when that one finds no better cut for 4000 n
flips it restarts from another start's best. The best cut is returned with its value
recomputed from the labels.
"""

from __future__ import annotations

import numbers
import time

import numpy as np
import scipy.sparse as sp

from lowrank_sdp import _interrupt
from lowrank_sdp.io.graph import as_graph
from lowrank_sdp.kernels import cut as _k
from lowrank_sdp.validation import as_numeric_array, check_nonnegative, check_positive_int, invalid

__all__ = ["as_adjacency", "cut_value", "round_cut"]

_CHUNK_ENTRIES = 1 << 22  # entries of Y @ R held at once: 32 MiB of float64
_MOVE_WORK = 6e6
"""moves="auto" is _MOVE_WORK / (mean degree + 8) flips: about a fixed amount of work per
graph (a flip costs O(deg) plus a constant), and at least _MIN_MOVES_PER_VERTEX * n."""
_MIN_MOVES_PER_VERTEX = 20
_MAX_MOVES_PER_VERTEX = 1000  # small graphs need no fixed amount of work
_EPISODE_WORK = 2e6
"""A breakout run between two time checks makes _EPISODE_WORK / (mean degree + 8) flips (tens
of milliseconds), so that a time limit is kept to about that on dense graphs too."""
_CANDIDATE_MOVES_PER_VERTEX = 3
"""Flips of the breakout search from each start cut, times n (then all go to the best cut);
fixed, so that a larger move budget makes the same flips first."""
_RESTART_MOVES_PER_VERTEX = 4000
"""Flips without a new best, times n, after which the long search restarts from another start
(1000 was tuned at 2-4 s per restart on n = 800-2000 with the old kernel; breakout_search_int is
4-6x faster; in paired seeded runs of round_cut at 2e8 flips on G64/G65/G61, 4000 beat 1000
in 5 of 7, tied 1, lost 1 by 6 (sum +64); at 5e7 on G7/G19/G39: +7, 0, 0, 0, -1, -1)."""
_EPISODE_SECONDS = 0.25
"""With a time limit, the long search's runs grow to about this many seconds at the measured
flip rate (each run rebuilds the gain queues and forgets the tabu list and a perturbation
under way): a 25 s search is ~100 runs instead of ~1000 of _EPISODE_WORK."""
_MEMETIC_MIN_N = 5000
_MEMETIC_MAX_N = 10000
"""Not on n >= 10000: with the ~11 s that maxcut(time_limit=30) leaves the rounding there, the
pool's 8 x 1000 n flips take the whole budget; G-set rows with the memetic search on (load
1.0-2.9): G67 0.43 -> 0.52%, G72 0.37 -> 0.69%, G77 0.30 -> 0.54%, G81 0.31 -> 0.61% below the
best known (G70 0.17 -> 0.20%). A gate on the flips the time allows would be better."""
_ELITE = 8
_ELITE_MOVES_PER_VERTEX = 1000
_CHILD_MOVES_PER_VERTEX = 100
_MEMETIC_MIN_MOVES_PER_VERTEX = 2 * _ELITE * _ELITE_MOVES_PER_VERTEX
"""On _MEMETIC_MIN_N <= n < _MEMETIC_MAX_N with a budget of at least
_MEMETIC_MIN_MOVES_PER_VERTEX * n flips left after the starts (a time limit and moves=None:
never at moves="auto", at most 1000 n), the long search is a memetic one (_memetic): a pool
of the best _ELITE starts' own cuts, each searched on for _ELITE_MOVES_PER_VERTEX * n flips,
then crossover children searched on for
_CHILD_MOVES_PER_VERTEX * n flips each. round_cut at 2e8 flips (about 13 cpu-s on G61), seeds
0-4, long search -> memetic: G61 (n 7000, mean degree 4.9, ±1) mean 5757.6 -> 5765.2, worst
5755 -> 5761 (best known 5796); G66 (torus, n 9000) 6336.0 -> 6330.8, worst 6330 -> 6324;
G64 (n 7000, mean degree 11.8, seeds 0-2) 8701.7 -> 8707.3. Children of 30 n / 300 n / 1000 n
flips gave G61 5764.3 / 5759.7 (seeds 0-2) / 5750.7; a pool of 4, 5761.0."""
_MIN_RUN = 1000
"""Flips of the shortest run near a time limit (runs are cut to 90% of the time left)."""
_CHILD_RUN = 1 << 22  # flips per kernel call while a child or an elite is searched on
_BUCKET_SPAN_MAX = 1 << 24  # integer weights up to this weighted degree use gain buckets
_TENURE = (3, 10)
"""Tabu tenures are drawn in [3, n/10] (Benlic & Hao's breakout local search for Max-Cut)."""
_SPARSE = (3.0, 50)
"""On graphs of mean degree below 3.0, tenures are drawn in [3, n/50] instead: G70 (n 10000,
mean degree 2.0, 1354 isolated vertices, 2-core 4798) is frozen by n/10: the long search finds
its best within 1e6 flips and nothing in the next 9.9e7 (seeds 0-2: 9546, 9546, 9544; n/20
9547), while n/50 gives 9576, 9575, 9576 and n/100 9571, 9567, 9574 (best known 9591). Not for
mean degree 4: on G66 (toroidal, degree 4) n/50 loses 10 and 16 at 1e8 flips, on G59 (degree
11.8) 30 and 45."""
_JUMP = (100, 10)
"""Perturbation strength L in [n/100, n/10] flips (at least 2)."""
_PATIENCE = (300, 1000)
"""Local optima without a new best before a strong random perturbation (BLS's T): 300, and
Benlic & Hao's 1000 on sparse graphs (mean degree below _SPARSE[0]). round_cut for 20 s (29 s for
n = 2000, about what maxcut(time_limit=30) leaves it) on the SDP factor of maxcut, mean cut over
seeds, 1000 -> 300: G61 5765.6 -> 5779.0 (5 seeds; best known 5796), G64 8707.5 -> 8712.3 (10
seeds; 8751), G66 6331.3 -> 6344.0 (6364), G57 +2.7, G59 +1.3, G63 +2.3, G29 +3.3, G40 +1.7, G65
+0.7, G42 +0.3, G39 -0.7, G62 -0.7, G81 -2.0 (3 seeds each); but G70 (mean degree 2) 9580.0 ->
9572.3."""
_P_DIRECTED = 0.8
"""Lower bound on the probability of a directed (tabu) perturbation rather than a random one."""


def as_adjacency(W, param: str = "adjacency", func: str = "round_cut") -> sp.csr_matrix:
    """Symmetric weighted adjacency as a kernel-ready CSR matrix (float64, int64 indices, sorted,
    no diagonal), through the one graph door `lowrank_sdp.io.as_graph`: a Graph, a networkx
    graph, a scipy.sparse matrix or a dense 2-D array. Self-loops are dropped with a warning
    (they are cut by no labeling, and the Laplacian ignores them).
    """
    A = as_graph(W, func, param).adjacency.copy()
    A.indptr = A.indptr.astype(np.int64)  # one index type: the kernels compile once
    A.indices = A.indices.astype(np.int64)
    return A


def _labels(x, n: int, func: str) -> np.ndarray:
    x = np.asarray(x)
    if x.shape != (n,) or not np.all(np.abs(x) == 1):
        raise invalid("x", func, f"a vector of n={n} labels in {{-1, +1}}", f"<shape {x.shape}>")
    return x.astype(np.int8)


def cut_value(adjacency, x) -> float:
    """Total weight of the edges whose ends have different labels: x^T L x / 4 for x in {±1}^n."""
    A = as_adjacency(adjacency, func="cut_value")
    return float(_k.cut_value(A.indptr, A.indices, A.data, _labels(x, A.shape[0], "cut_value")))


def check_moves(moves, time_limit: float | None, param: str, func: str) -> int | str | None:
    """Validate a flip budget: a non-negative int, "auto", or None (needs a time limit)."""
    if moves is None:
        if time_limit is None or not np.isfinite(time_limit):
            raise invalid(param, func, 'an int or "auto" when there is no time limit', moves)
        return None
    if isinstance(moves, str) and moves == "auto":
        return moves
    if isinstance(moves, bool) or not isinstance(moves, numbers.Integral) or moves < 0:
        raise invalid(param, func, 'a non-negative int, "auto" or None', moves)
    return int(moves)


def auto_moves(adjacency, n: int) -> int:
    """The move budget of moves="auto" for an adjacency with n vertices."""
    work = max(_MOVE_WORK / (adjacency.nnz / max(n, 1) + 8.0), _MIN_MOVES_PER_VERTEX * n)
    return int(min(work, _MAX_MOVES_PER_VERTEX * n))


def round_cut(
    Y: np.ndarray,
    adjacency,
    trials: int = 1000,
    seed: int | None = 0,
    local_search: bool = True,
    candidates: int = 8,
    moves: int | str | None = "auto",
    time_limit: float | None = None,
) -> tuple[np.ndarray, float]:
    """Best cut from `trials` random hyperplanes through the rows of Y, locally improved.

    Parameters
    ----------
    Y : (n, r) array whose rows are the vectors of the SDP solution X = Y Y^T.
    adjacency : symmetric (n, n) weight matrix, sparse or dense.
    trials : number of random hyperplanes.
    seed : seed of the hyperplanes, tenures and perturbations; the same seed and move budget
        give the same cut.
    local_search : improve the `candidates` best hyperplane cuts by 1-flip local search and a
        breakout local search of 3 n flips each, then search on from the best cut until the
        budget is spent (restarting from another start's best cut after 4000 n flips without
        a better cut). False returns the best hyperplane cut as is.
    moves : total budget of flips (each O(deg)). "auto": 6e6 / (mean degree + 8), at
        least 20 n and at most 1000 n (about a fixed amount of work, a few tenths of a second);
        0: 1-flip search only; None: no move budget (then `time_limit` must be given).
    time_limit : seconds for the local search, checked between runs (of 2e6 / (mean degree + 8)
        flips; the long search's runs then grow to about 0.25 s at the measured flip rate, each
        cut to 90% of the time left at that rate, and none starts when 1000 flips would not end
        in time); None: no limit. A time limit makes the cut depend on the machine's speed; the
        move budget does not.

    Returns
    -------
    (x, value) : int8 labels in {-1, +1} (x[0] = +1) and the cut value, recomputed from x.
    """
    func = "round_cut"
    start = time.perf_counter()
    Y = as_numeric_array(Y, "Y", func)
    A = as_adjacency(adjacency, func=func)
    n = A.shape[0]
    if Y.ndim != 2 or Y.shape[0] != n or Y.shape[1] < 1:
        raise invalid("Y", func, f"an (n, r) array with n={n} rows", f"<shape {Y.shape}>")
    if not np.all(np.isfinite(Y)):
        raise invalid("Y", func, "finite", "<non-finite entries>")
    trials = check_positive_int(trials, "trials", func)
    candidates = check_positive_int(candidates, "candidates", func)
    time_limit = check_nonnegative(time_limit, "time_limit", func, allow_none=True)
    moves = check_moves(moves, time_limit, "moves", func)
    if moves == "auto":
        moves = auto_moves(A, n)
    elif moves is None:
        moves = np.iinfo(np.int64).max
    if n == 0:
        return np.zeros(0, dtype=np.int8), 0.0
    rng = np.random.default_rng(seed)
    ip, ix, w = A.indptr, A.indices, A.data

    # The `keep` best hyperplane cuts over all chunks, as labels.
    keep = min(candidates if local_search else 1, trials)
    best_vals = np.full(0, -np.inf)
    best_x = np.zeros((0, n), dtype=np.int8)
    chunk = max(1, min(trials, _CHUNK_ENTRIES // n))
    done = 0
    while done < trials:
        t = min(chunk, trials - done)
        Z = Y @ rng.standard_normal((Y.shape[1], t))
        vals = _k.hyperplane_cut_values(ip, ix, w, Z)
        top = np.argsort(-vals, kind="stable")[:keep]
        xs = np.where(Z[:, top].T < 0.0, -1, 1).astype(np.int8)
        best_vals = np.concatenate([best_vals, vals[top]])
        best_x = np.concatenate([best_x, xs])
        order = np.argsort(-best_vals, kind="stable")[:keep]
        best_vals, best_x = best_vals[order], best_x[order]
        done += t

    x_best, v_best = best_x[0], best_vals[0]
    if local_search:
        x_best, v_best = _search(A, best_x, best_vals, moves, time_limit, start, rng)
    if x_best[0] < 0:
        x_best = -x_best  # the cut is the same; fix the sign for readable output
    value = float(_k.cut_value(ip, ix, w, x_best))
    # The incremental bookkeeping must agree with a fresh count (it is exact for integer weights).
    assert abs(value - v_best) <= 1e-6 * max(1.0, abs(value)), (value, v_best)
    return x_best, value


def _search(A, starts, start_vals, moves, time_limit, start, rng):
    """Breakout local search from each start (a share of the budget each), then from the best
    cut found until the move budget or the time is spent, restarting from the starts' own best
    cuts in turn when it stalls."""
    n = A.shape[0]
    ip, ix, w = A.indptr, A.indices, A.data
    tol = 1e-9 * max(1.0, float(np.abs(w).max(initial=0.0)))
    # No cut weighs more than the positive edges: stop searching once one reaches that.
    ceiling = float(w[w > 0].sum()) / 2.0
    rows = np.repeat(np.arange(n), np.diff(ip))
    span = float(np.bincount(rows, weights=np.abs(w), minlength=n).max(initial=0.0))
    buckets = bool(np.all(w == np.rint(w)) and span <= _BUCKET_SPAN_MAX and n < 2**31)
    bucket_span = max(1, int(span + 0.5)) if buckets else 0  # the kernel's, computed once here
    if buckets:  # the integer kernel's arrays: |w_ij| <= span <= 2**24 and n < 2**31 fit int32
        ix32, w32 = ix.astype(np.int32), w.astype(np.int32)
    sparse = A.nnz < _SPARSE[0] * n  # mean degree (nnz counts each edge twice) below 3
    tenure = (_TENURE[0], max(_TENURE[0], n // (_SPARSE[1] if sparse else _TENURE[1])))
    patience = _PATIENCE[1] if sparse else _PATIENCE[0]
    jump = (max(2, n // _JUMP[0]), max(2, n // _JUMP[1]))
    deadline = np.inf if time_limit is None else start + time_limit
    episode = base_episode = max(1000, int(_EPISODE_WORK / (A.nnz / max(n, 1) + 8.0)))
    left = moves
    # The flips and seconds of the runs so far, the first left out (it carries Numba's one-time
    # loading of the kernel): their rate sizes runs so that the last ends by the deadline.
    flips_run, seconds_run, first_run = 0, 0.0, True

    def flip_rate():
        return flips_run / max(seconds_run, 1e-6)

    def timed_episode(flips, seconds):
        """With a time limit, the long search's runs grow to about _EPISODE_SECONDS at the
        measured flip rate (never past the time left)."""
        rate = flips / max(seconds, 1e-6)
        room = min(_EPISODE_SECONDS, max(0.0, deadline - time.perf_counter()))
        return max(base_episode, int(rate * room))

    def fresh_state():
        return np.array([rng.integers(1, 2**32), 0, jump[0]], dtype=np.int64)

    def run(x, v, v_best, cap, state):
        """Breakout search from x (value v) for `cap` flips. Returns (labels, value) of a cut
        better than v_best or (None, v_best), then the labels and value where it ended."""
        nonlocal left, flips_run, seconds_run, first_run
        rate = flip_rate()
        if np.isfinite(deadline) and rate > 0:  # at most 90% of the time left (the rate varies)
            cap = min(cap, max(_MIN_RUN, int(rate * 0.9 * (deadline - time.perf_counter()))))
        t_run = time.perf_counter()
        args = (x, cap, v_best - v, state, tenure[0], tenure[1], jump[0], jump[1], patience,
                _P_DIRECTED, tol, ceiling - v)
        if buckets:  # the same moves as breakout_search(..., True, bucket_span), faster
            best, g_best, end, g_end, used = _k.breakout_search_int(ip, ix32, w32, *args,
                                                                    bucket_span)
        else:
            best, g_best, end, g_end, used = _k.breakout_search(ip, ix, w, *args, False)
        left -= used
        if not first_run:
            flips_run, seconds_run = flips_run + used, seconds_run + time.perf_counter() - t_run
        first_run = False
        if v + g_best > v_best + tol:
            return best, v + g_best, end, v + g_end
        return None, v_best, end, v + g_end

    def fits():
        """Whether a run of _MIN_RUN flips fits in the time left at the flip rate so far: the
        time limit is kept, not overrun by a run's length."""
        now, rate = time.perf_counter(), flip_rate()
        return now < deadline and (rate <= 0 or now + _MIN_RUN / rate < deadline)

    def stop():
        return (left <= 0 or v_best >= ceiling - tol or not fits()
                or _interrupt.requested())  # (Ctrl-C: the best cut so far; lowrank_sdp._interrupt)

    x_best, v_best = starts[0], start_vals[0]
    share = _CANDIDATE_MOVES_PER_VERTEX * n
    own_best = []  # the best cut of each start's own search: where the long search restarts
    for i, (x0, v0) in enumerate(zip(starts, start_vals)):
        x, g = _k.one_flip_search(ip, ix, w, x0, tol)
        v = v0 + g
        # Each start gets a share of the moves and at most half of its share of the time left.
        until = time.perf_counter() + (deadline - time.perf_counter()) / (2 * (len(starts) - i))
        if v > v_best + tol:
            x_best, v_best = x, v
        budget, state, v_own = min(left, share), fresh_state(), v
        own = (x, v)
        while budget > 0 and v_own < ceiling - tol and time.perf_counter() < until and fits():
            cap = min(budget, episode)
            x_own, v_own, x, v = run(x, v, v_own, cap, state)
            budget -= cap
            if x_own is not None:
                own = (x_own, v_own)
            if x_own is not None and v_own > v_best + tol:
                x_best, v_best = x_own, v_own
        own_best.append(own)
        if stop():
            return x_best, v_best
    if _MEMETIC_MIN_N <= n < _MEMETIC_MAX_N and left >= _MEMETIC_MIN_MOVES_PER_VERTEX * n:
        return _memetic(A, own_best[:_ELITE], x_best, v_best, run, stop, fresh_state,
                        lambda: left, deadline, rng, tol)
    # From the best start on, the breakout schedule carries over from one run to the next, until
    # _RESTART_MOVES_PER_VERTEX * n flips pass without a new best: then the search starts again
    # from the next start's own best cut, with a fresh schedule. (One run on a sparse ±1 graph
    # often settles in a basin for good, at 0.3-1% below the best known cut on G7, G19, G39.)
    restart_after = _RESTART_MOVES_PER_VERTEX * n
    state = fresh_state()
    x_cur, v_cur = x_best, v_best
    stale, restarts = 0, 0
    while not stop():
        before, t_run = left, time.perf_counter()
        cap = min(left, episode, max(base_episode, restart_after - stale))
        x, v, x_cur, v_cur = run(x_cur, v_cur, v_best, cap, state)
        if np.isfinite(deadline):
            episode = timed_episode(before - left, time.perf_counter() - t_run)
        stale += before - left
        if x is not None:
            x_best, v_best, stale = x, v, 0
        elif stale >= restart_after:
            restarts += 1
            x_cur, v_cur = own_best[restarts % len(own_best)]
            state, stale = fresh_state(), 0
    return x_best, v_best


def _memetic(A, elites, x_best, v_best, run, stop, fresh_state, moves_left, deadline, rng,
             tol):
    """The long search on large graphs with a large budget: a pool of the starts' own best cuts,
    each searched on for _ELITE_MOVES_PER_VERTEX * n flips (at most half of its share of the
    time left), then children until the budget is spent: a uniform crossover of two members
    (the second negated when that makes them agree on more vertices; the vertices where they
    differ drawn at random), searched on for _CHILD_MOVES_PER_VERTEX * n flips, replaces the
    pool's worst member when it is better and not already in the pool (Wu and Hao's memetic
    Max-Cut, with breakout local search in place of their tabu search)."""
    n = A.shape[0]
    ip, ix, w = A.indptr, A.indices, A.data

    def improve(x, v, flips, until):
        nonlocal x_best, v_best
        state, own = fresh_state(), (x, v)
        while flips > 0 and not stop() and time.perf_counter() < until:
            cap = min(flips, _CHILD_RUN, moves_left())  # a move budget is kept, not overrun
            x_own, v_own, x, v = run(x, v, own[1], cap, state)
            flips -= cap
            if x_own is not None:
                own = (x_own, v_own)
                if v_own > v_best + tol:
                    x_best, v_best = x_own, v_own
        return own

    pool = []
    for i, (x, v) in enumerate(elites):
        until = time.perf_counter() + (deadline - time.perf_counter()) / (2 * (len(elites) - i))
        pool.append(improve(x, v, _ELITE_MOVES_PER_VERTEX * n, until))
    if len(pool) < 2:
        return x_best, v_best
    while not stop():
        i, j = rng.choice(len(pool), size=2, replace=False)
        a, b = pool[i][0], pool[j][0]
        if np.count_nonzero(a == b) < n // 2:
            b = -b
        child = a.copy()
        diff = np.flatnonzero(a != b)
        child[diff] = np.where(rng.random(diff.size) < 0.5, 1, -1).astype(np.int8)
        v = float(_k.cut_value(ip, ix, w, child))
        xc, vc = improve(child, v, _CHILD_MOVES_PER_VERTEX * n, np.inf)
        worst = min(range(len(pool)), key=lambda k: pool[k][1])
        if vc > pool[worst][1] + tol and not any(
                np.array_equal(xc, p) or np.array_equal(xc, -p) for p, _ in pool):
            pool[worst] = (xc, vc)
    return x_best, v_best
