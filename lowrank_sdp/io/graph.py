"""The one graph door: the `Graph` every reader returns, its constructors from edges, matrices and
networkx graphs (`as_graph`), and the Laplacian (`laplacian_quarter`).

`maxcut`, `rounding` and `read_graph` all take graphs through `as_graph`, so every input gets the
same checks: one sparse type (float64 `scipy.sparse.csr_matrix`), one symmetry tolerance
(`SYMMETRY_RTOL`), self-loops dropped with a warning (with a hint when the matrix looks like a
Laplacian), and the library's ValueError for anything else.
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from lowrank_sdp.io._text import warn
from lowrank_sdp.validation import SYMMETRY_RTOL, check_numeric_dtype, invalid

__all__ = ["SYMMETRY_RTOL", "Graph", "as_graph", "graph_from_edges", "graph_from_matrix",
           "graph_from_networkx", "laplacian_quarter"]


def laplacian_quarter(W: Any) -> sp.csr_matrix:
    """L/4 = (Diag(W 1) - W) / 4 of a symmetric adjacency W with zero diagonal, as a canonical
    csr_matrix: the cost of the Max-Cut SDP  maximize <L/4, X>  s.t. diag(X) = 1, X PSD."""
    W = sp.csr_matrix(W, dtype=np.float64)
    degree = np.asarray(W.sum(axis=1)).ravel()
    L = sp.csr_matrix(sp.diags(degree, format="csr") - W)
    L.sum_duplicates()
    L.eliminate_zeros()  # isolated vertices, or weights that cancel (G11's vertex 1)
    L.sort_indices()
    L.data *= 0.25
    return L


@dataclass(frozen=True, eq=False)
class Graph:
    """An undirected weighted graph on vertices 0..n-1.

    `adjacency` is the symmetric weight matrix W as a float64 `scipy.sparse.csr_matrix` with a
    zero diagonal and canonical storage (sorted indices, no duplicates, no stored zeros); weights
    may be negative. The Max-Cut SDP of the graph is  maximize <L/4, X>  s.t.  diag(X) = 1,
    X PSD, with L = Diag(W 1) - W (see `laplacian_quarter`).

    Constructing a Graph directly validates `adjacency` and changes nothing; use
    `lowrank_sdp.io.read_graph` to convert other inputs.
    """

    adjacency: sp.csr_matrix
    name: str = ""
    nodes: Sequence[Any] | None = None
    """The label of each vertex: networkx nodes, or the vertex numbers of a file (1..n for a
    1-based file); None means 0..n-1. Results report partitions by these labels."""

    def __post_init__(self) -> None:
        W = self.adjacency
        problem = _adjacency_problem(W)
        if problem:
            raise invalid("adjacency", "Graph", "a symmetric float64 csr_matrix with a zero "
                          "diagonal, sorted indices and no stored zeros", f"<{problem}>")
        if not isinstance(self.name, str):
            raise invalid("name", "Graph", "a str", self.name)
        if self.nodes is not None and len(self.nodes) != W.shape[0]:
            raise invalid("nodes", "Graph", f"None or {W.shape[0]} labels, one per vertex",
                          f"<{len(self.nodes)} labels>")

    @classmethod
    def _trusted(cls, adjacency: sp.csr_matrix, name: str,
                 nodes: Sequence[Any] | None = None) -> Graph:
        """Wrap a matrix our own builders made canonical, skipping the O(nnz) checks."""
        graph = object.__new__(cls)
        object.__setattr__(graph, "adjacency", adjacency)
        object.__setattr__(graph, "name", name)
        object.__setattr__(graph, "nodes", nodes)
        return graph

    @property
    def labels(self) -> list[Any]:
        """The vertex labels in vertex order (`nodes`, or 0..n-1)."""
        return list(self.nodes) if self.nodes is not None else list(range(self.n))

    @property
    def n(self) -> int:
        """Number of vertices."""
        return self.adjacency.shape[0]

    @property
    def m(self) -> int:
        """Number of undirected edges (vertex pairs with a nonzero weight)."""
        return self.adjacency.nnz // 2

    @property
    def total_weight(self) -> float:
        """Sum of the edge weights, each undirected edge counted once."""
        return float(self.adjacency.data.sum()) / 2.0

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Arrays (i, j, w) of the edges with i < j (0-based), sorted by i, then j."""
        upper = sp.triu(self.adjacency, k=1, format="csr")
        rows = np.repeat(np.arange(self.n, dtype=np.int64), np.diff(upper.indptr))
        return rows, upper.indices.astype(np.int64), upper.data.copy()

    def laplacian_quarter(self) -> sp.csr_matrix:
        """L/4 = (Diag(W 1) - W) / 4 as a canonical csr_matrix: the Max-Cut SDP cost matrix."""
        return laplacian_quarter(self.adjacency)

    def __repr__(self) -> str:
        return f"Graph(name={self.name!r}, n={self.n}, m={self.m})"


def _adjacency_problem(W: Any) -> str:
    """What keeps `W` from being a valid Graph adjacency, or "" if nothing."""
    if not isinstance(W, sp.csr_matrix):
        return f"a {type(W).__name__}"
    if W.dtype != np.float64:
        return f"a csr_matrix of dtype {W.dtype}"
    n, n2 = W.shape
    if n != n2 or n < 1:
        return f"a {n}x{n2} csr_matrix"
    if not W.has_canonical_format:
        return "a csr_matrix with unsorted or duplicate indices"
    if not np.all(W.data != 0):
        return "a csr_matrix with stored zeros"
    if not np.all(np.isfinite(W.data)):
        return "a csr_matrix with non-finite entries"
    if W.diagonal().any():
        return "a csr_matrix with a nonzero diagonal"
    if _asymmetry(W) > SYMMETRY_RTOL * max(1.0, float(abs(W).max()) if W.nnz else 0.0):
        return f"a csr_matrix that is not symmetric (beyond SYMMETRY_RTOL = {SYMMETRY_RTOL:g})"
    return ""


def _asymmetry(W: sp.csr_matrix) -> float:
    diff = W - W.T
    return float(abs(diff).max()) if diff.nnz else 0.0


def canonical_graph(W: sp.csr_matrix, name: str, nodes: Sequence[Any] | None = None) -> Graph:
    """The Graph of an adjacency a reader of this package built canonical (float64 CSR, exactly
    symmetric, zero diagonal, sorted, no duplicates or stored zeros, finite), without repeating
    Graph's O(nnz) checks of what its construction guarantees."""
    return Graph._trusted(W, name, nodes)


def graph_from_edges(
    n: int, i: np.ndarray, j: np.ndarray, w: np.ndarray, name: str, where: str,
    nodes: Sequence[Any] | None = None,
) -> Graph:
    """The graph on n vertices with undirected edges (i[k], j[k]) of weight w[k] (0-based,
    in range, finite). Self-loops are dropped and duplicate pairs summed, each with a warning
    that starts with `where`; zero total weights are not edges."""
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    w = np.asarray(w, dtype=np.float64)
    loops = i == j
    if loops.any():
        count = int(loops.sum())
        warn(f"{where}: ignored {count} self-loop{'s' * (count != 1)} (i == j)")
        keep = ~loops
        i, j, w = i[keep], j[keep], w[keep]
    # Both triangles at once; the coo -> csr conversion sums duplicates in linear time.
    W = sp.csr_matrix((np.concatenate([w, w]), (np.concatenate([i, j]), np.concatenate([j, i]))),
                      shape=(n, n), dtype=np.float64)
    duplicates = (2 * len(w) - W.nnz) // 2
    if duplicates:
        warn(f"{where}: summed the weights of {duplicates} duplicate "
             f"edge{'s' * (duplicates != 1)} (a vertex pair listed more than once, in either "
             "order)")
    W.sum_duplicates()
    W.eliminate_zeros()
    W.sort_indices()
    return Graph._trusted(W, name, nodes)


def graph_from_matrix(
    A: Any, func: str = "read_graph", name: str = "", where: str | None = None,
    param: str = "source", nodes: Sequence[Any] | None = None,
) -> Graph:
    """The graph whose adjacency is the square symmetric real matrix A (dense or scipy sparse,
    symmetric within `SYMMETRY_RTOL`, then replaced by its symmetric part); a nonzero diagonal
    is dropped with a warning, which says so when A looks like a Laplacian."""
    what = "a square symmetric real matrix (the adjacency)"
    if sp.issparse(A):
        if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] < 1:
            raise invalid(param, func, what, f"<a sparse matrix of shape {A.shape}>")
        check_numeric_dtype(A.dtype, param, func)  # the one message for complex and text
        W = sp.csr_matrix(A, dtype=np.float64, copy=True)
        W.sum_duplicates()
    else:
        try:
            arr = np.asarray(A)
        except ValueError:  # a ragged list
            raise invalid(param, func, what, f"<a ragged {type(A).__name__}>") from None
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 1:
            raise invalid(param, func, what, f"<an array of shape {arr.shape}>")
        check_numeric_dtype(arr.dtype, param, func)
        W = sp.csr_matrix(arr.astype(np.float64))
    if not np.all(np.isfinite(W.data)):
        raise invalid(param, func, "a matrix with finite entries", "<a matrix with NaN or inf>")
    asym = W - W.T
    asym.eliminate_zeros()
    if asym.nnz:
        scale = float(abs(W).max())
        worst = int(np.argmax(np.abs(asym.data)))
        if abs(asym.data[worst]) > SYMMETRY_RTOL * max(1.0, scale):
            coo = asym.tocoo()
            r, c = int(coo.row[worst]), int(coo.col[worst])
            got = (f"<a matrix with W[{r}, {c}] = {float(W[r, c])!r} but "
                   f"W[{c}, {r}] = {float(W[c, r])!r}>")
            raise invalid(param, func, what + f" (within SYMMETRY_RTOL = {SYMMETRY_RTOL:g}); "
                          "symmetrize it, e.g. (W + W.T) / 2", got)
        W = sp.csr_matrix((W + W.T) * 0.5)  # rounding-level asymmetry: the symmetric part
    diagonal = W.diagonal()
    loops = int(np.count_nonzero(diagonal))
    if loops:
        warn(f"{where or func}: ignored {loops} self-loop{'s' * (loops != 1)} "
             f"(nonzero diagonal entries){_laplacian_hint(W, diagonal)}")
        W = sp.csr_matrix(W - sp.diags(diagonal, format="csr"))
    W.eliminate_zeros()
    W.sort_indices()
    return Graph._trusted(W, name, nodes)


def _laplacian_hint(W: sp.csr_matrix, diagonal: np.ndarray) -> str:
    """A hint when W looks like a Laplacian D - A (rows summing to zero, no positive
    off-diagonal entry): its Max-Cut would come out as 0 without a word."""
    rows = np.asarray(W.sum(axis=1)).ravel()
    off = W - sp.diags(diagonal, format="csr")
    scale = max(1.0, float(np.abs(diagonal).max()))
    if (off.nnz and float(off.max()) <= 0.0 and np.all(diagonal >= 0)
            and np.all(np.abs(rows) <= 1e-9 * scale)):
        return ("; the matrix looks like a Laplacian (rows sum to 0): pass the adjacency "
                "matrix W, not L = Diag(W 1) - W")
    return ""


def graph_from_networkx(G: Any, func: str = "read_graph", *, weight: str | None = "weight",
                        param: str = "source") -> Graph:
    """The graph of an undirected networkx graph: vertex k is the k-th node of `G.nodes` (its
    label in `Graph.nodes`), the weight of an edge its `weight` attribute (default 1; None: every
    edge weighs 1). Self-loops are dropped and parallel edges of a multigraph summed, each with
    a warning."""
    if G.is_directed():
        raise invalid(param, func, "an undirected networkx graph", f"<a {type(G).__name__}>")
    if G.number_of_nodes() < 1:
        raise invalid(param, func, "a graph with at least one vertex", "<an empty graph>")
    if weight is not None and not isinstance(weight, str):
        raise invalid("weight", func, "an edge attribute name (str) or None", weight)
    nodes = list(G.nodes)
    index = {node: k for k, node in enumerate(nodes)}
    triples = []
    edges = G.edges(data=weight, default=1) if weight is not None else (
        (u, v, 1) for u, v in G.edges())
    for u, v, w in edges:
        if isinstance(w, bool) or not isinstance(w, numbers.Real):
            raise invalid(param, func, f"a graph with numeric {weight!r} edge attributes",
                          f"<{weight} {w!r} on edge ({u!r}, {v!r})>")
        triples.append((index[u], index[v], float(w)))
    arr = np.array(triples, dtype=np.float64).reshape(-1, 3)
    if not np.all(np.isfinite(arr[:, 2])):
        raise invalid(param, func, "a graph with finite edge weights", "<NaN or inf weights>")
    name = G.name if isinstance(G.name, str) else ""
    what = f"{func} (networkx {type(G).__name__} {name!r})" if name else f"{func} (networkx)"
    return graph_from_edges(len(nodes), arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64),
                            arr[:, 2], name, what, nodes=tuple(nodes))


def as_graph(source: Any, func: str = "read_graph", param: str = "source", *,
             weight: str | None = "weight") -> Graph:
    """The `Graph` of an in-memory graph: a Graph (as is), a networkx graph (edge attribute
    `weight`), or a square symmetric scipy.sparse matrix, ndarray or nested list (the adjacency).
    Errors name `param` of `func`."""
    if isinstance(source, Graph):
        return source
    nx = sys.modules.get("networkx")  # a networkx graph implies networkx is imported
    if nx is not None and isinstance(source, nx.Graph):
        return graph_from_networkx(source, func, weight=weight, param=param)
    if sp.issparse(source) or isinstance(source, (np.ndarray, list, tuple)):
        return graph_from_matrix(source, func, param=param)
    raise invalid(param, func, "a path, a networkx graph, a scipy sparse matrix or a square "
                  "numpy array", f"<a {type(source).__name__}>")
