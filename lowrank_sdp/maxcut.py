"""Max-Cut end to end: graph -> SDP relaxation -> certified upper bound -> rounded cut.

For a graph with symmetric weights W and Laplacian L = Diag(W 1) - W, the cut of labels
x in {-1, +1}^n is x^T L x / 4, and

    max cut  <=  SDP value = max <L/4, X> s.t. diag(X) = 1, X psd  <=  upper_bound,

where upper_bound is the solver's certified dual bound. `maxcut` solves the SDP with
`lowrank_sdp.solve`, then rounds its factor Y to a cut (`lowrank_sdp.rounding.round_cut`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from lowrank_sdp._validation import check_positive_int, invalid
from lowrank_sdp.result import Result, Status
from lowrank_sdp.rounding import as_adjacency, round_cut

__all__ = ["MaxCutResult", "laplacian_quarter", "maxcut"]


@dataclass(frozen=True)
class MaxCutResult:
    """What `maxcut` returns: the SDP value and its certified bound, and the best cut found.

    cut_value <= max cut <= upper_bound, and sdp_value <= SDP optimum <= upper_bound.
    """

    name: str
    n: int
    m: int
    """Number of edges (nonzero off-diagonal weights, each pair counted once)."""
    sdp_value: float
    """<L/4, Y Y^T> at the solver's final factor (a feasible point: a lower bound on the SDP)."""
    upper_bound: float
    """Certified dual bound: no cut, and no feasible X, exceeds it."""
    gap: float
    """upper_bound - sdp_value >= 0, the certified gap of the SDP solve."""
    cut_value: float
    """Weight of the edges cut by x, recomputed from x."""
    x: np.ndarray = field(repr=False)
    """int8 labels in {-1, +1}; the two sides of the cut."""
    ratio: float
    """cut_value / upper_bound: a proven lower bound on cut_value / max cut (NaN if the bound
    is not positive)."""
    rank: int
    status: Status
    """Status of the SDP solve (INTERRUPTED also when Ctrl-C came during rounding)."""
    seconds: float
    solve_seconds: float
    rounding_seconds: float
    sdp: Result = field(repr=False)
    """The underlying `lowrank_sdp.Result` (Y, history, certificate, ...)."""

    @property
    def certified(self) -> bool:
        return self.status is Status.CERTIFIED

    @property
    def relative_gap(self) -> float:
        return self.gap / (1.0 + abs(self.sdp_value))

    def to_dict(self) -> dict[str, Any]:
        """The scalar fields as plain Python values (status by enum name): ready for JSON."""
        out = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("x", "sdp")
        }
        out["status"] = self.status.name
        out["relative_gap"] = self.relative_gap
        out["method"] = self.sdp.method
        out["iterations"] = self.sdp.iterations
        return out


def laplacian_quarter(W: sp.csr_array) -> sp.csr_array:
    """L/4 = (Diag(W 1) - W) / 4 for a symmetric adjacency without diagonal."""
    degrees = np.asarray(W.sum(axis=1)).ravel()
    L = sp.csr_array((sp.diags_array(degrees) - W) / 4.0)
    L.eliminate_zeros()  # isolated vertices
    return L


def _graph_input(graph) -> tuple[sp.csr_array, str]:
    """(adjacency, name) from a path, an io Graph, a networkx graph, or a sparse/dense matrix."""
    if isinstance(graph, (str, os.PathLike)):
        from lowrank_sdp.io import read_graph

        graph = read_graph(graph)
    if type(graph).__module__.split(".")[0] == "networkx":
        import networkx as nx

        if graph.is_directed():
            raise invalid("graph", "maxcut", "an undirected graph", "<directed networkx graph>")
        W = nx.to_scipy_sparse_array(graph, weight="weight", format="csr", dtype=np.float64)
        return as_adjacency(W, "graph", "maxcut"), str(graph.name or "networkx graph")
    if hasattr(graph, "adjacency") and not callable(graph.adjacency):  # lowrank_sdp.io.Graph
        return as_adjacency(graph.adjacency, "graph", "maxcut"), str(graph.name)
    if sp.issparse(graph) or isinstance(graph, np.ndarray):
        return as_adjacency(graph, "graph", "maxcut"), "graph"
    raise invalid(
        "graph",
        "maxcut",
        "a path, a scipy.sparse or dense adjacency matrix, or a networkx.Graph",
        f"<{type(graph).__name__}>",
    )


def maxcut(
    graph,
    rank: int | str = "auto",
    method: str = "auto",
    tol: float = 1e-6,
    seed: int = 0,
    time_limit: float | None = None,
    callback=None,
    trials: int = 1000,
    verbose: bool = False,
    local_search: bool = True,
) -> MaxCutResult:
    """Solve the Max-Cut SDP of `graph` with a certified bound, and round it to a cut.

    Parameters
    ----------
    graph : path to a graph file (see `lowrank_sdp.io.read_graph`), a symmetric scipy.sparse
        or dense weight matrix, or a networkx.Graph (edge attribute "weight", default 1).
        Self-loops are ignored.
    rank, method, tol, seed, time_limit, callback, verbose : passed to `lowrank_sdp.solve`.
    trials : number of random hyperplanes of the rounding.
    local_search : improve the best hyperplane cuts by local search (see `round_cut`).

    Returns
    -------
    MaxCutResult with the SDP value, the certified upper bound, and the cut (labels x).
    A Ctrl-C during the solve returns the best point so far with status INTERRUPTED.
    """
    import lowrank_sdp

    start = time.perf_counter()
    trials = check_positive_int(trials, "trials", "maxcut")
    W, name = _graph_input(graph)
    n = W.shape[0]
    if n == 0:
        raise invalid("graph", "maxcut", "a graph with at least one vertex", "<empty graph>")
    m = int(W.nnz // 2)

    t0 = time.perf_counter()
    res = lowrank_sdp.solve(
        laplacian_quarter(W),
        sense="max",
        rank=rank,
        method=method,
        tol=tol,
        time_limit=time_limit,
        seed=seed,
        callback=callback,
        verbose=verbose,
    )
    t1 = time.perf_counter()
    status = res.status
    try:
        x, value = round_cut(res.Y, W, trials=trials, seed=seed, local_search=local_search)
    except KeyboardInterrupt:
        # Ctrl-C during rounding: fall back to one plain hyperplane (milliseconds).
        x, value = round_cut(res.Y, W, trials=1, seed=seed, local_search=False)
        status = Status.INTERRUPTED
    t2 = time.perf_counter()

    upper = float(res.bound)
    return MaxCutResult(
        name=name,
        n=n,
        m=m,
        sdp_value=float(res.objective),
        upper_bound=upper,
        gap=float(res.gap),
        cut_value=value,
        x=x,
        ratio=value / upper if upper > 0 else float("nan"),
        rank=int(res.rank),
        status=status,
        seconds=t2 - start,
        solve_seconds=t1 - t0,
        rounding_seconds=t2 - t1,
        sdp=res,
    )
