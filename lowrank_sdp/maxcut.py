"""Max-Cut end to end: graph -> SDP relaxation -> certified upper bound -> rounded cut.

For a graph with symmetric weights W and Laplacian L = Diag(W 1) - W, the cut of labels
x in {-1, +1}^n is x^T L x / 4, and

    max cut  <=  SDP value = max <L/4, X> s.t. diag(X) = 1, X psd  <=  upper_bound,

where upper_bound is the solver's certified dual bound. `maxcut` solves the SDP with
`lowrank_sdp.solve`, then rounds its factor Y to a cut (`lowrank_sdp.rounding.round_cut`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from lowrank_sdp import _interrupt, budget
from lowrank_sdp.io.graph import Graph, as_graph, laplacian_quarter
from lowrank_sdp.io.readers import read_graph
from lowrank_sdp.result import IterationState, Result, RoundedResult, Status
from lowrank_sdp.rounding import check_moves, round_cut
from lowrank_sdp.validation import check_nonnegative, check_positive_int

__all__ = ["MaxCutResult", "laplacian_quarter", "maxcut"]

_ROUNDING_SHARE = 0.2  # of time_limit, held back from the SDP solve for the rounding
_CERTIFICATE_SHARE = 0.2
"""Of time_limit, held back from the SDP iterations for the final certificate (an eigenvalue and
a factorisation proof: measured 5-20 s on the G-set graphs with n >= 5000 at a 30 s limit on a
loaded 2-core machine, when `solve` computed it after its limit); what it leaves goes to the
rounding. `solve` now keeps its certificate within its own limit plus slack (`lowrank_sdp.budget`),
so this fifth mostly goes to the rounding; it is kept so that maxcut's SDP iterations stay close
to those of the G-set table (they now stop a certificate's reserve earlier, `Monitor.reserve`)."""


@dataclass(frozen=True)
class MaxCutResult(RoundedResult):
    """What `maxcut` returns: the SDP value and its certified bound, and the best cut found.

    cut_value <= max cut <= bound, and objective <= SDP optimum <= bound. The attribute names are
    those of every result (`lowrank_sdp.result.BaseResult`); `sdp_value` and `upper_bound` are the
    Max-Cut names of `objective` and `bound`.
    """

    EXTRA_KEYS: ClassVar[tuple[str, ...]] = (
        "name", "m", "cut_value", "ratio", "solve_seconds", "rounding_seconds", "evidence",
    )

    name: str
    n: int
    m: int
    """Number of edges (nonzero off-diagonal weights, each pair counted once)."""
    objective: float
    """<L/4, Y Y^T> at the solver's final factor (a feasible point: a lower bound on the SDP)."""
    bound: float
    """Certified dual bound: no cut, and no feasible X, exceeds it."""
    gap: float
    """bound - objective >= 0, the certified gap of the SDP solve."""
    cut_value: float
    """Weight of the edges cut by x, recomputed from x."""
    x: np.ndarray = field(repr=False)
    """int8 labels in {-1, +1}; the two sides of the cut."""
    ratio: float
    """cut_value / bound: a proven lower bound on cut_value / max cut (NaN if the bound is not
    positive)."""
    rank: int
    status: Status
    """Status of the SDP solve (INTERRUPTED also when Ctrl-C came during rounding)."""
    seconds: float
    solve_seconds: float
    rounding_seconds: float
    sdp: Result = field(repr=False)
    """The underlying `lowrank_sdp.Result` (Y, history, certificate, ...)."""
    nodes: Sequence[Any] | None = field(default=None, repr=False)
    """The label of each vertex (networkx nodes, or a file's vertex numbers); None: 0..n-1."""

    @property
    def sdp_value(self) -> float:
        """The Max-Cut name of `objective`."""
        return self.objective

    @property
    def upper_bound(self) -> float:
        """The Max-Cut name of `bound`."""
        return self.bound

    @property
    def labels(self) -> list[Any]:
        """The vertex labels, in vertex order."""
        return list(self.nodes) if self.nodes is not None else list(range(self.n))

    def partition(self) -> tuple[list[Any], list[Any]]:
        """The two sides of the cut as lists of vertex labels: (x == +1, x == -1)."""
        labels = self.labels
        plus = [labels[i] for i in np.flatnonzero(self.x > 0)]
        minus = [labels[i] for i in np.flatnonzero(self.x < 0)]
        return plus, minus


def _graph_input(graph, weight: str | None) -> Graph:
    """The Graph of a path or an in-memory graph, through the io door (one set of checks)."""
    if isinstance(graph, (str, os.PathLike)):
        return read_graph(graph)
    return as_graph(graph, "maxcut", "graph", weight=weight)


def maxcut(
    graph,
    *,
    rank: int | str = "auto",
    method: str | Callable = "auto",
    tol: float = 1e-6,
    seed: int = 0,
    time_limit: float | None = None,
    callback: Callable[[IterationState], None] | None = None,
    Y0: np.ndarray | None = None,
    max_iterations: int | None = None,
    max_rank: int | None = None,
    rigorous: bool = False,
    verbose: bool = False,
    device=None,
    trials: int = 1000,
    local_search: bool = True,
    rounding_moves: int | str | None = "auto",
    rounding_time: float | None = None,
    weight: str | None = "weight",
) -> MaxCutResult:
    """Solve the Max-Cut SDP of `graph` with a certified bound, and round it to a cut.

    Parameters
    ----------
    graph : path to a graph file (see `lowrank_sdp.io.read_graph`), a `lowrank_sdp.io.Graph`, a
        symmetric scipy.sparse or dense weight matrix, or an undirected networkx graph. All go
        through `lowrank_sdp.io.as_graph`: self-loops are dropped with a warning.
    rank, method, tol, seed, time_limit, callback, Y0, max_iterations, max_rank, rigorous, verbose,
    device :
        passed to `lowrank_sdp.solve` (see there).
    trials : number of random hyperplanes of the rounding.
    local_search : improve the best hyperplane cuts by local search (see `round_cut`).
    rounding_moves : flip budget of the rounding's local search (`round_cut`'s `moves`; None: no move
        budget, search until the time is spent).
    rounding_time : seconds for the rounding. With `time_limit`, the limit covers SDP and
        rounding: the solve's iterations get time_limit - rounding_time - time_limit / 5 (a
        fifth held back for the certificate the solve computes after its limit;
        rounding_time defaults to a fifth of time_limit), and the rounding whatever is left of
        time_limit when the solve returns, but at least rounding_time, and never past
        time_limit + max(1 s, 5% of it) (`lowrank_sdp.budget`; the solve keeps its own limit
        and slack). Either stops earlier at its own budget (tol, rounding_moves); the bound is
        kept.
    weight : the networkx edge attribute holding the weight (default "weight", missing = 1;
        None: every edge weighs 1).

    Returns
    -------
    MaxCutResult with the SDP value, the certified upper bound, and the cut (labels x).
    A Ctrl-C during the solve returns the best point so far with status INTERRUPTED.
    """
    import lowrank_sdp

    start = time.perf_counter()
    trials = check_positive_int(trials, "trials", "maxcut")
    g = _graph_input(graph, weight)
    W, name, n, m = g.adjacency, g.name or "graph", g.n, g.m
    time_limit = check_nonnegative(time_limit, "time_limit", "maxcut", allow_none=True)
    rounding_time = check_nonnegative(rounding_time, "rounding_time", "maxcut", allow_none=True)
    if time_limit is not None and not np.isfinite(time_limit):
        time_limit = None
    check_moves(rounding_moves, time_limit if rounding_time is None else rounding_time,
                "rounding_moves", "maxcut")
    solve_limit, reserve = time_limit, 0.0
    end = budget.hard_deadline(start, time_limit)  # time_limit + its slack, rounding included
    if time_limit is not None:
        reserve = _ROUNDING_SHARE * time_limit if rounding_time is None else rounding_time
        solve_limit = max(0.0, time_limit - reserve - _CERTIFICATE_SHARE * time_limit)

    # Ctrl-C sets a flag for the whole of solve + rounding (see lowrank_sdp._interrupt): the
    # solve stops at its next iteration, and the rounding is then one plain hyperplane.
    with _interrupt.deferred():
        t0 = time.perf_counter()
        res = lowrank_sdp.solve(
            g.laplacian_quarter(),
            sense="max",
            rank=rank,
            method=method,
            tol=tol,
            time_limit=solve_limit,
            seed=seed,
            callback=callback,
            Y0=Y0,
            max_iterations=max_iterations,
            max_rank=max_rank,
            rigorous=rigorous,
            verbose=verbose,
            device=device,
        )
        t1 = time.perf_counter()
        rounding_limit = rounding_time
        if time_limit is not None:
            # What is left of time_limit, but never less than the reserve: the solver computes
            # its final certificate after its limit, and the cut should not pay for that.
            rounding_limit = max(0.0, min(max(time_limit - (t1 - start), reserve),
                                          end - time.perf_counter()))
        if _interrupt.requested():
            x, value = round_cut(res.Y, W, trials=1, seed=seed, local_search=False)
        else:
            x, value = round_cut(res.Y, W, trials=trials, seed=seed, local_search=local_search,
                                 moves=rounding_moves, time_limit=rounding_limit)
        status = Status.INTERRUPTED if _interrupt.requested() else res.status
    t2 = time.perf_counter()

    upper = float(res.bound)
    return MaxCutResult(
        name=name,
        n=n,
        m=m,
        objective=float(res.objective),
        bound=upper,
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
        nodes=g.nodes,
    )
