"""From a Max-Cut SDP factor Y to a cut: random hyperplanes, then local search.

Goemans-Williamson rounding labels vertex i by the side of a random hyperplane its row y_i
falls on, x_i = sign(<y_i, g>) with g ~ N(0, I_r). Many hyperplanes are drawn at once
(one (n, r) @ (r, trials) product per chunk), the best few cuts are improved by a 1-flip local
search and a tabu search (O(deg) per move), and then a breakout schedule perturbs the best cut
along the SDP geometry and searches again until the move (or time) budget is spent. The best
cut is returned with its value recomputed from the labels.
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
"""moves="auto" is _MOVE_WORK / (mean degree + 8) tabu moves: about a fixed amount of work per
graph (a move costs O(deg) plus a constant), and at least _MIN_MOVES_PER_VERTEX * n."""
_MIN_MOVES_PER_VERTEX = 20
_MAX_MOVES_PER_VERTEX = 1000  # small graphs need no fixed amount of work
_EPISODE_MAX = 200_000  # longest tabu run between two time checks
_BREAKOUT = True  # False: no breakout rounds (the benchmark's ablation only)
_BUCKET_SPAN_MAX = 1 << 24  # integer weights up to this weighted degree use gain buckets
_TENURES = ((200, 20), (100, 10), (50, 5))
"""Tabu tenures are drawn in [n/a, n/b), the tabu runs taking turns over these ranges: short
tenures suit the dense and the planar G-set graphs, long ones the toroidal grids (G32, G62)."""
_PERTURBATION = "random"
"""The breakout rounds' perturbation: "random" flips (as breakout local search) or "cluster"
(flip the vertices most parallel to a random one in the SDP factor). Measured on G14, G27,
G32, G39, G55 and G62 at 5e6 moves, random flips came out ahead (mean gap 0.41% vs 0.52%);
the benchmark's ablation compares the two on every graph it runs."""


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
    """Validate a tabu-move budget: a non-negative int, "auto", or None (needs a time limit)."""
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


def _stall(n: int) -> int:
    """Moves without a new best after which a tabu run ends (and the next perturbation comes)."""
    return max(500, 2 * n)


def _perturbation(Y: np.ndarray, x: np.ndarray, active: np.ndarray, strength: int,
                  rng: np.random.Generator) -> np.ndarray:
    """x with a cluster of `strength` vertices flipped: those whose SDP vectors are most
    (anti-)parallel to a random vertex's. The SDP puts y_i ~ ±y_j when i and j should be on
    the same / opposite sides, so flipping the whole cluster keeps the cut inside it and only
    moves its boundary: a jump that 1-flip and tabu moves rarely make.
    """
    c = active[rng.integers(active.size)]
    score = np.abs(Y @ Y[c])
    score[c] = np.inf
    k = min(strength, x.size)
    cluster = np.argpartition(-score, k - 1)[:k]
    out = x.copy()
    out[cluster] = -out[cluster]
    return out


def _random_flips(Y: np.ndarray, x: np.ndarray, active: np.ndarray, strength: int,
                  rng: np.random.Generator) -> np.ndarray:
    """x with `strength` random non-isolated vertices flipped (breakout local search's
    random perturbation)."""
    out = x.copy()
    flip = rng.choice(active, size=min(strength, active.size), replace=False)
    out[flip] = -out[flip]
    return out


_PERTURBATIONS = {"cluster": _perturbation, "random": _random_flips}


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
    local_search : improve the `candidates` best hyperplane cuts by 1-flip local search and
        tabu search, then perturb the best cut and search again (breakout) until the budget is
        spent. False returns the best hyperplane cut as is.
    moves : total budget of tabu moves (each O(deg)). "auto": 6e6 / (mean degree + 8), at
        least 20 n and at most 1000 n (about a fixed amount of work, a few tenths of a second);
        0: 1-flip search only; None: no move budget (then `time_limit` must be given).
    time_limit : seconds for the local search, checked between tabu runs (of at most 200,000
        moves); None: no limit. A time limit makes the cut depend on the machine's speed; the
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
        x_best, v_best = _search(Y, A, best_x, best_vals, moves, time_limit, start, rng)
    if x_best[0] < 0:
        x_best = -x_best  # the cut is the same; fix the sign for readable output
    value = float(_k.cut_value(ip, ix, w, x_best))
    # The incremental bookkeeping must agree with a fresh count (it is exact for integer weights).
    assert abs(value - v_best) <= 1e-6 * max(1.0, abs(value)), (value, v_best)
    return x_best, value


def _search(Y, A, starts, start_vals, moves, time_limit, start, rng):
    """1-flip + tabu search from each start, then breakout rounds from the best cut found."""
    n = A.shape[0]
    ip, ix, w = A.indptr, A.indices, A.data
    tol = 1e-9 * max(1.0, float(np.abs(w).max(initial=0.0)))
    # No cut weighs more than the positive edges: stop searching once one reaches that.
    ceiling = float(w[w > 0].sum()) / 2.0
    rows = np.repeat(np.arange(n), np.diff(ip))
    span = float(np.bincount(rows, weights=np.abs(w), minlength=n).max(initial=0.0))
    tabu = (_k.tabu_search_buckets if np.all(w == np.rint(w)) and span <= _BUCKET_SPAN_MAX
            else _k.tabu_search)
    tenures = [rng.integers(n // a + 1, n // b + 10, size=1024) for a, b in _TENURES]
    stall = _stall(n)
    active = np.flatnonzero(np.diff(ip))
    deadline = np.inf if time_limit is None else start + time_limit
    left = moves

    def run(x, v, which):
        nonlocal left
        cap = min(left, _EPISODE_MAX)
        if cap <= 0 or v >= ceiling - tol:
            return x, v
        x2, g, used = tabu(ip, ix, w, x, cap, tenures[which], tol, ceiling - v, stall)
        left -= used
        return x2, v + g

    x_best, v_best = starts[0], start_vals[0]
    for episode, (x0, v0) in enumerate(zip(starts, start_vals)):
        which = episode % len(tenures)
        x, g = _k.one_flip_search(ip, ix, w, x0, tol)
        x, v = run(x, v0 + g, which)
        if v > v_best + tol:
            x_best, v_best = x, v
        if v_best >= ceiling - tol or time.perf_counter() >= deadline or _interrupt.requested():
            return x_best, v_best  # (Ctrl-C: the best cut so far; see lowrank_sdp._interrupt)
    if active.size == 0 or not _BREAKOUT:
        return x_best, v_best
    # Breakout: perturb the current cut, search, keep the result; the perturbation grows while
    # the search falls back to the same cut and resets when it finds a better one.
    k0 = max(2, n // 100)
    strength = k0
    x_cur, v_cur = x_best, v_best
    since_best = 0
    rounds = 0
    while (left > 0 and v_best < ceiling - tol and time.perf_counter() < deadline
           and not _interrupt.requested()):
        x = _PERTURBATIONS[_PERTURBATION](Y, x_cur, active, strength, rng)
        rounds += 1
        which = rounds % len(tenures)  # short tenures suit dense graphs, long ones the grids
        v = v_cur + float(_k.cut_value(ip, ix, w, x) - _k.cut_value(ip, ix, w, x_cur))
        x, g = _k.one_flip_search(ip, ix, w, x, tol)
        x, v = run(x, v + g, which)
        if v > v_best + tol:
            x_best, v_best = x, v
            strength = k0
            since_best = 0
        else:
            strength = min(strength + k0, max(k0, n // 10))
            since_best += 1
        x_cur, v_cur = x, v
        if since_best and since_best % 20 == 0:
            x_cur, v_cur = x_best, v_best  # a long detour: go back to the best cut
    return x_best, v_best
