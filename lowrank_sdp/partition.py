"""Graph partitions beyond Max-Cut: Max-Bisection and Max-k-Cut, each SDP bound + a rounding.

Max-Bisection (two sides of equal size; for odd n, sizes differing by one):

    max <L/4, X>  s.t.  diag(X) = 1,  <J, X> = 0,  X PSD                  (J = 1 1^T)

No X > 0 is feasible (X PSD and 1^T X 1 = 0 force X 1 = 0), so the multiplier of <J, X> = 0 has
no finite optimum and an augmented Lagrangian crawls (docs/general.md, Limits). `max_bisection`
keeps 1^T Y = 0 exactly on the factor instead: Y lives on {unit rows} x {columns orthogonal to
1}, and the certificate is the dual bound of the equivalent constraints diag(X) = 1, X 1 = 0
(implied by the original ones, so the bound is a bound of the original SDP): for any lambda and
every feasible X, <C, X> = sum(lambda) + <P (C - Diag(lambda)) P, X> with P = I - J / n, hence

    OPT <= sum(lambda) + n max(lambda_max(P (C - Diag(lambda)) P), 0).

The multipliers of X 1 = 0 are the projection P itself (the y -> infinity limit of <J, X> = 0's).

Max-k-Cut (Frieze-Jerrum 1997): k parts, the weight of the edges between parts,

    max (k-1)/k sum_{ij in E} w_ij (1 - X_ij)  s.t.  diag(X) = 1,  X_ij >= -1/(k-1) (ij in E),
    X PSD,

through `lowrank_sdp.solve` (the inequalities go to its augmented Lagrangian). Any k-partition
is feasible (X_ij = 1 inside a part, -1/(k-1) across: the vertices of a regular simplex), so the
certified bound bounds every k-cut.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from lowrank_sdp.bisection import solve_bisection_sdp
from lowrank_sdp.io.graph import Graph, as_graph, laplacian_quarter
from lowrank_sdp.io.readers import read_graph
from lowrank_sdp.maxcut import MaxCutResult
from lowrank_sdp.result import RoundedResult, Status
from lowrank_sdp.sdp_certificate import certify_sdp
from lowrank_sdp.validation import check_nonnegative, check_positive_int, check_seed, invalid

__all__ = ["MaxKCutResult", "max_bisection", "max_k_cut"]

ACTIVE = 1e-4
"""Max-k-Cut: edges with X_ij within this of -1/(k-1) get refitted multipliers."""
SWAP_CANDIDATES = 16
"""Balanced local search: the best swap among this many top-gain vertices of each side."""


def _graph(graph, func: str, weight: str | None) -> Graph:
    if isinstance(graph, (str, os.PathLike)):
        return read_graph(graph)
    return as_graph(graph, func, "graph", weight=weight)


# --------------------------------------------------------------------------------------------
# Max-Bisection (the SDP: lowrank_sdp.bisection)
# --------------------------------------------------------------------------------------------

def _cut_values(W: sp.csr_matrix, X: np.ndarray) -> np.ndarray:
    """Cut weight of every column of X (labels +-1): (sum(W) - x^T W x) / 4."""
    return (float(W.sum()) - np.einsum("ij,ij->j", X, W @ X)) / 4.0


def balanced_local_search(W: sp.csr_matrix, x: np.ndarray, *, max_swaps: int | None = None,
                          tol: float = 1e-9) -> np.ndarray:
    """Improve a cut by swaps of one vertex from each side (the sizes never change): the best
    swap among the SWAP_CANDIDATES highest flip gains of each side, while one gains.

    Flipping i changes the cut by g_i = x_i (W x)_i; swapping i and j (opposite sides) by
    g_i + g_j + 2 w_ij."""
    x = np.array(x, dtype=np.float64)
    n = x.size
    W = sp.csr_matrix(W)
    g = x * (W @ x)
    max_swaps = 10 * n if max_swaps is None else max_swaps
    K = min(SWAP_CANDIDATES, n)
    for _ in range(max_swaps):
        plus, minus = np.flatnonzero(x > 0), np.flatnonzero(x < 0)
        if plus.size == 0 or minus.size == 0:
            break
        a = plus[np.argsort(-g[plus], kind="stable")[:K]]
        b = minus[np.argsort(-g[minus], kind="stable")[:K]]
        gain = g[a][:, None] + g[b][None, :] + 2.0 * W[a][:, b].toarray()
        p, q = np.unravel_index(int(np.argmax(gain)), gain.shape)
        if gain[p, q] <= tol:
            break
        for v in (int(a[p]), int(b[q])):
            lo, hi = W.indptr[v], W.indptr[v + 1]
            nbr, w = W.indices[lo:hi], W.data[lo:hi]
            g[nbr] -= 2.0 * x[nbr] * w * x[v]
            x[v] = -x[v]
            g[v] = -g[v]
    return x.astype(np.int8)


def round_bisection(Y: np.ndarray, W: sp.csr_matrix, *, trials: int = 1000, seed: int = 0,
                    local_search: bool = True, candidates: int = 8) -> tuple[np.ndarray, float]:
    """Hyperplane rounding made exactly balanced, then balanced local search.

    Each random hyperplane g orders the vertices by <y_i, g>; the n/2 largest go to +1 (the
    hyperplane shifted to the median: the vertices nearest it change sides). The `candidates`
    best such bisections are improved by `balanced_local_search`; returns (labels, cut)."""
    n = Y.shape[0]
    rng = np.random.default_rng(seed)
    best_x = np.zeros((n, 0), dtype=np.float64)
    best_v = np.zeros(0)
    chunk = max(1, min(trials, (1 << 22) // max(n, 1)))
    done = 0
    while done < trials:
        t = min(chunk, trials - done)
        Z = Y @ rng.standard_normal((Y.shape[1], t))
        order = np.argsort(-Z, axis=0, kind="stable")
        X = -np.ones((n, t))
        np.put_along_axis(X, order[: n // 2], 1.0, axis=0)
        vals = _cut_values(W, X)
        best_x = np.hstack([best_x, X])
        best_v = np.concatenate([best_v, vals])
        keep = np.argsort(-best_v, kind="stable")[: max(candidates, 1)]
        best_x, best_v = best_x[:, keep], best_v[keep]
        done += t
    xs = [best_x[:, j] for j in range(best_x.shape[1] if local_search else 1)]
    if local_search:
        xs = [balanced_local_search(W, x).astype(np.float64) for x in xs]
    vals = _cut_values(W, np.stack(xs, axis=1))
    x = xs[int(np.argmax(vals))]
    if x[0] < 0:
        x = -x
    return x.astype(np.int8), float(_cut_values(W, x[:, None])[0])


def max_bisection(
    graph,
    *,
    tol: float = 1e-6,
    seed: int = 0,
    time_limit: float | None = None,
    max_iterations: int | None = None,
    trials: int = 1000,
    local_search: bool = True,
    weight: str | None = "weight",
) -> MaxCutResult:
    """Max-Bisection: an SDP upper bound on the best cut with sides of equal size, and a
    bisection reaching toward it.

    Parameters
    ----------
    graph : as for `lowrank_sdp.maxcut` (a path, a Graph, a weight matrix, a networkx graph).
        For odd n an isolated vertex is added inside (sizes then differ by at most one, and the
        bound is that of the best such near-bisection).
    tol : relative gap to certify.
    seed, time_limit, max_iterations : of the SDP solve (time_limit covers the solve only).
    trials : random hyperplanes of the rounding; local_search: improve the best ones by
        balanced swaps (`balanced_local_search`).
    weight : the networkx edge attribute holding the weight.

    Returns
    -------
    MaxCutResult whose x has sum(x) = 0 (odd n: +-1), cut_value <= max bisection <= bound.
    `sdp` is the `Result` of the SDP on {unit rows, 1^T Y = 0} (method "bisection-rgd").
    """
    func = "max_bisection"
    start = time.perf_counter()
    tol = check_nonnegative(tol, "tol", func)
    seed = check_seed(seed, func)
    time_limit = check_nonnegative(time_limit, "time_limit", func, allow_none=True)
    trials = check_positive_int(trials, "trials", func)
    if max_iterations is not None:
        max_iterations = check_positive_int(max_iterations, "max_iterations", func, " or None")
    g = _graph(graph, func, weight)
    n0 = g.n
    if n0 < 2:
        raise invalid("graph", func, "a graph with at least 2 vertices", f"<a graph with {n0}>")
    W = sp.csr_matrix(g.adjacency, dtype=np.float64)
    if n0 % 2:
        W = sp.csr_matrix(sp.block_diag([W, sp.csr_matrix((1, 1))]))
    C = laplacian_quarter(W)
    t0 = time.perf_counter()
    res = solve_bisection_sdp(C, tol=tol, seed=seed, time_limit=time_limit,
                              max_iterations=max_iterations)
    t1 = time.perf_counter()
    x, value = round_bisection(res.Y, W, trials=trials, seed=seed, local_search=local_search)
    x = x[:n0]
    t2 = time.perf_counter()
    return MaxCutResult(
        name=g.name or "graph", n=n0, m=g.m, objective=res.objective, bound=res.bound,
        gap=res.gap, cut_value=value, x=x,
        ratio=value / res.bound if res.bound > 0 else float("nan"), rank=res.rank,
        status=res.status, seconds=t2 - start, solve_seconds=t1 - t0, rounding_seconds=t2 - t1,
        sdp=res, nodes=g.nodes,
    )


# --------------------------------------------------------------------------------------------
# Max-k-Cut (Frieze-Jerrum)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MaxKCutResult(RoundedResult):
    """What `max_k_cut` returns: cut_value <= max k-cut <= bound (the certified SDP bound)."""

    EXTRA_KEYS: ClassVar[tuple[str, ...]] = (
        "name", "k", "m", "cut_value", "infeasibility", "evidence",
    )

    name: str
    n: int
    m: int
    k: int
    objective: float
    """(k-1)/k sum w_ij (1 - X_ij) at the solver's X (feasible up to `infeasibility`)."""
    bound: float
    """Certified upper bound on the SDP, hence on every k-cut (NaN when none, see `status`)."""
    gap: float
    cut_value: float
    """Weight of the edges between parts, recomputed from `parts`."""
    parts: np.ndarray = field(repr=False)
    """The part (0..k-1) of each vertex."""
    infeasibility: float
    rank: int
    status: Status
    seconds: float
    sdp: Any = field(repr=False)
    """The `lowrank_sdp.Result` (an `SDPResult` for k >= 3) of the SDP solve."""
    nodes: Any = field(default=None, repr=False)


def k_cut_value(W: sp.csr_matrix, parts: np.ndarray) -> float:
    """Weight of the edges whose ends lie in different parts."""
    C = sp.triu(sp.csr_matrix(W), k=1, format="coo")
    return float(C.data[parts[C.row] != parts[C.col]].sum())


def k_cut_local_search(W: sp.csr_matrix, parts: np.ndarray, k: int, *,
                       max_moves: int | None = None, tol: float = 1e-9) -> np.ndarray:
    """Move single vertices between parts while a move gains: the best move of all, each time.

    With D[i, q] the weight from i to part q, moving i from p to q gains D[i, p] - D[i, q]."""
    W = sp.csr_matrix(W)
    n = parts.size
    parts = np.array(parts, dtype=np.int64)
    D = np.asarray((W @ sp.csr_matrix((np.ones(n), (np.arange(n), parts)), shape=(n, k))).todense())
    max_moves = 10 * n if max_moves is None else max_moves
    for _ in range(max_moves):
        gain = D[np.arange(n), parts][:, None] - D
        flat = int(np.argmax(gain))
        i, q = divmod(flat, k)
        if gain[i, q] <= tol:
            break
        p = parts[i]
        lo, hi = W.indptr[i], W.indptr[i + 1]
        nbr, w = W.indices[lo:hi], W.data[lo:hi]
        np.subtract.at(D[:, p], nbr, w)
        np.add.at(D[:, q], nbr, w)
        parts[i] = q
    return parts


def round_k_cut(Y: np.ndarray, W: sp.csr_matrix, k: int, *, trials: int = 1000, seed: int = 0,
                local_search: bool = True, candidates: int = 8) -> tuple[np.ndarray, float]:
    """Frieze-Jerrum rounding: k random Gaussian vectors g_1..g_k, vertex i to the part whose
    g_l has the largest <y_i, g_l>; the `candidates` best of `trials` are improved by
    `k_cut_local_search`. Returns (parts, cut value)."""
    n, r = Y.shape
    rng = np.random.default_rng(seed)
    U = sp.triu(sp.csr_matrix(W), k=1, format="coo")
    keep_p, keep_v = [], []
    chunk = max(1, min(trials, (1 << 22) // max(n * k, U.nnz, 1)))
    done = 0
    while done < trials:
        t = min(chunk, trials - done)
        scores = (Y @ rng.standard_normal((r, t * k))).reshape(n, t, k)
        P = np.argmax(scores, axis=2)  # (n, t)
        vals = (U.data[:, None] * (P[U.row] != P[U.col])).sum(axis=0)
        keep_p.extend(P.T)
        keep_v.extend(vals)
        order = np.argsort(-np.asarray(keep_v), kind="stable")[:candidates]
        keep_p = [keep_p[j] for j in order]
        keep_v = [keep_v[j] for j in order]
        done += t
    starts = keep_p if local_search else keep_p[:1]
    outs = [k_cut_local_search(W, p, k) if local_search else p for p in starts]
    vals = [k_cut_value(W, p) for p in outs]
    best = int(np.argmax(vals))
    return outs[best].astype(np.int64), float(vals[best])


def max_k_cut(
    graph,
    k: int,
    *,
    tol: float = 1e-6,
    seed: int = 0,
    time_limit: float | None = None,
    max_iterations: int | None = None,
    trials: int = 1000,
    local_search: bool = True,
    weight: str | None = "weight",
) -> MaxKCutResult:
    """Max-k-Cut (Frieze-Jerrum): a certified SDP upper bound on the weight of the edges
    between k parts, and a k-partition from randomized rounding + local moves.

    Parameters
    ----------
    graph : as for `lowrank_sdp.maxcut`.
    k : number of parts, >= 2 (k = 2 is Max-Cut, no inequalities).
    tol, seed, time_limit, max_iterations : of the SDP solve (`lowrank_sdp.solve`).
    trials, local_search : of the rounding (`round_k_cut`).
    weight : the networkx edge attribute holding the weight.
    """
    import lowrank_sdp

    func = "max_k_cut"
    start = time.perf_counter()
    k = check_positive_int(k, "k", func)
    if k < 2:
        raise invalid("k", func, "an int >= 2", k)
    trials = check_positive_int(trials, "trials", func)
    seed = check_seed(seed, func)
    g = _graph(graph, func, weight)
    n = g.n
    W = sp.csr_matrix(g.adjacency, dtype=np.float64)
    L = sp.csr_matrix(sp.diags(np.asarray(W.sum(axis=1)).ravel()) - W)
    C = sp.csr_matrix(L * ((k - 1) / (2.0 * k)))
    # X_ij >= -1/(k-1)  <=>  <A_e, X> <= 1/(k-1) with A_e = -(e_i e_j^T + e_j e_i^T) / 2
    U = sp.triu(W, k=1, format="coo")
    m = U.nnz
    options = dict(tol=tol, seed=seed, time_limit=time_limit, max_iterations=max_iterations)
    if k == 2 or not m:  # no inequality can bind: the Max-Cut SDP scaled by (k-1)/(2k)
        res = lowrank_sdp.solve(C, sense="max", **options)
        bound, status, infeasibility = float(res.bound), res.status, 0.0
    else:
        rows = np.repeat(np.arange(m), 2)
        cols = np.stack([U.row * n + U.col, U.col * n + U.row], axis=1).reshape(-1)
        A = sp.csr_matrix((np.full(2 * m, -0.5), (rows, cols)), shape=(m, n * n))
        sdp = lowrank_sdp.SDP(C, sense="max", A_ub=A, b_ub=np.full(m, 1.0 / (k - 1)),
                              unit_diagonal=True, func=func)
        res = lowrank_sdp.solve(sdp, **options)
        bound, status, infeasibility = float(res.bound), res.status, float(res.infeasibility)
        if not res.certified and res.status is not Status.INTERRUPTED:
            polished = certify_sdp(sdp, res.Y, _edge_multipliers(L, U, res.Y, k), seed=seed, tol=tol)
            if polished.bound < bound:  # any multipliers give a valid bound: keep the tighter
                bound = polished.bound
                if (polished.infeasibility <= tol and polished.relative_feasibility_gap() <= tol
                        and bound - res.objective <= tol * (1.0 + abs(res.objective))):
                    status = Status.CERTIFIED
    parts, value = round_k_cut(res.Y, W, k, trials=trials, seed=seed, local_search=local_search)
    return MaxKCutResult(
        name=g.name or "graph", n=n, m=g.m, k=k, objective=float(res.objective), bound=bound,
        gap=max(bound - float(res.objective), 0.0), cut_value=value, parts=parts,
        infeasibility=infeasibility, rank=int(res.rank), status=status,
        seconds=time.perf_counter() - start, sdp=res, nodes=g.nodes,
    )


def _edge_multipliers(L: sp.csr_matrix, U: sp.coo_matrix, Y: np.ndarray, k: int) -> np.ndarray:
    """Multipliers y >= 0 of the edge inequalities refitted at Y: on the edges within ACTIVE of
    X_ij = -1/(k-1), the nonnegative least-squares fit of stationarity (C - A^T(y)) Y = Diag(l) Y
    (row-wise tangent parts; the diagonal multipliers absorb the rest). The augmented
    Lagrangian's own multipliers of the many inactive edges decay slowly; these are zero there.
    L is the Laplacian and U the upper triangle of W (the edges, in the order of y), as
    `max_k_cut` built them. Used only through `certify_sdp`, which proves a bound for any
    multipliers."""
    from scipy.optimize import lsq_linear

    n, r = Y.shape
    G = (L @ Y) * ((k - 1) / (2.0 * k))
    g = (G - np.einsum("ij,ij->i", G, Y)[:, None] * Y).ravel()
    xe = np.einsum("ij,ij->i", Y[U.row], Y[U.col])
    act = np.flatnonzero(xe <= -1.0 / (k - 1) + ACTIVE)
    y = np.zeros(U.nnz)
    if act.size == 0:
        return y
    i, j = U.row[act], U.col[act]
    # Column q (edge i-j) of A_e Y = -(e_i Y_j + e_j Y_i) / 2, each row projected on its tangent.
    Yi, Yj, x_ij = Y[i], Y[j], xe[act][:, None]
    Gi = -0.5 * (Yj - x_ij * Yi)
    Gj = -0.5 * (Yi - x_ij * Yj)
    where = np.concatenate([(i[:, None] * r + np.arange(r)).ravel(),
                            (j[:, None] * r + np.arange(r)).ravel()])
    column = np.tile(np.repeat(np.arange(act.size), r), 2)
    M = sp.csr_matrix((np.concatenate([Gi.ravel(), Gj.ravel()]), (where, column)),
                      shape=(n * r, act.size))
    fit = lsq_linear(M, g, bounds=(0.0, np.inf), method="trf", lsq_solver="lsmr", tol=1e-12)
    y[act] = fit.x
    return y
