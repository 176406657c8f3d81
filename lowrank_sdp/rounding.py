"""From a Max-Cut SDP factor Y to a cut: random hyperplanes, then local search.

Goemans-Williamson rounding labels vertex i by the side of a random hyperplane its row y_i
falls on, x_i = sign(<y_i, g>) with g ~ N(0, I_r). Many hyperplanes are drawn at once
(one (n, r) @ (r, trials) product per chunk), the best few cuts are improved by a 1-flip local
search and then a short tabu search, and the best cut is returned with its value recomputed
from the labels.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

from lowrank_sdp._validation import check_positive_int, invalid
from lowrank_sdp.io.graph import as_graph
from lowrank_sdp.kernels import cut as _k

__all__ = ["as_adjacency", "cut_value", "round_cut"]

_CHUNK_ENTRIES = 1 << 22  # entries of Y @ R held at once: 32 MiB of float64
_TABU_WORK = 3e7  # tabu moves x vertices per candidate for tabu_moves="auto"
_TENURES = ((100, 10), (50, 5))
"""Tabu tenures are drawn in [n/a, n/b), the candidates taking turns over these ranges: short
tenures suit the dense G-set graphs, long ones the sparse toroidal grids (measured on G1-G54)."""


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


def round_cut(
    Y: np.ndarray,
    adjacency,
    trials: int = 1000,
    seed: int | None = 0,
    local_search: bool = True,
    candidates: int = 8,
    tabu_moves: int | str = "auto",
) -> tuple[np.ndarray, float]:
    """Best cut from `trials` random hyperplanes through the rows of Y, locally improved.

    Parameters
    ----------
    Y : (n, r) array whose rows are the vectors of the SDP solution X = Y Y^T.
    adjacency : symmetric (n, n) weight matrix, sparse or dense.
    trials : number of random hyperplanes.
    seed : seed of the hyperplanes and of the tabu tenures; the same seed gives the same cut.
    local_search : improve the `candidates` best hyperplane cuts by 1-flip local search and
        then `tabu_moves` moves of tabu search each ("auto": about 3e7 / n, at most 20000;
        0 skips tabu search). False returns the best hyperplane cut as is.

    Returns
    -------
    (x, value) : int8 labels in {-1, +1} (x[0] = +1) and the cut value, recomputed from x.
    """
    func = "round_cut"
    Y = np.asarray(Y, dtype=np.float64)
    A = as_adjacency(adjacency, func=func)
    n = A.shape[0]
    if Y.ndim != 2 or Y.shape[0] != n or Y.shape[1] < 1:
        raise invalid("Y", func, f"an (n, r) array with n={n} rows", f"<shape {Y.shape}>")
    if not np.all(np.isfinite(Y)):
        raise invalid("Y", func, "finite", "<non-finite entries>")
    trials = check_positive_int(trials, "trials", func)
    candidates = check_positive_int(candidates, "candidates", func)
    if tabu_moves == "auto":
        tabu_moves = int(min(20000, _TABU_WORK // max(n, 1)))
    elif isinstance(tabu_moves, bool) or not isinstance(tabu_moves, numbers.Integral) or (
        tabu_moves < 0
    ):
        raise invalid("tabu_moves", func, 'a non-negative int or "auto"', tabu_moves)
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
        tol = 1e-9 * max(1.0, float(np.abs(w).max(initial=0.0)))
        tenures = [rng.integers(n // a + 1, n // b + 10, size=1024) for a, b in _TENURES]
        # No cut weighs more than the positive edges: stop searching once one reaches that.
        ceiling = float(w[w > 0].sum()) / 2.0
        for k, (x0, v0) in enumerate(zip(best_x, best_vals)):
            x, g = _k.one_flip_search(ip, ix, w, x0, tol)
            v = v0 + g
            if tabu_moves:
                x2, g2 = _k.tabu_search(
                    ip, ix, w, x, tabu_moves, tenures[k % len(tenures)], tol, ceiling - v
                )
                x, v = x2, v + g2
            if v > v_best + tol:
                x_best, v_best = x, v
            if v_best >= ceiling - tol:
                break
    if x_best[0] < 0:
        x_best = -x_best  # the cut is the same; fix the sign for readable output
    value = float(_k.cut_value(ip, ix, w, x_best))
    # The incremental bookkeeping must agree with a fresh count (it is exact for integer weights).
    assert abs(value - v_best) <= 1e-6 * max(1.0, abs(value)), (value, v_best)
    return x_best, value
