"""The `Graph` every reader returns, and its constructors from edges and from matrices."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from lowrank_sdp._validation import invalid
from lowrank_sdp.io._text import warn


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

    def __post_init__(self) -> None:
        W = self.adjacency
        problem = _adjacency_problem(W)
        if problem:
            raise invalid("adjacency", "Graph", "a symmetric float64 csr_matrix with a zero "
                          "diagonal, sorted indices and no stored zeros", f"<{problem}>")
        if not isinstance(self.name, str):
            raise invalid("name", "Graph", "a str", self.name)

    @classmethod
    def _trusted(cls, adjacency: sp.csr_matrix, name: str) -> Graph:
        """Wrap a matrix our own builders made canonical, skipping the O(nnz) checks."""
        graph = object.__new__(cls)
        object.__setattr__(graph, "adjacency", adjacency)
        object.__setattr__(graph, "name", name)
        return graph

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
        W = self.adjacency
        degree = np.asarray(W.sum(axis=1)).ravel()
        L = sp.csr_matrix(sp.diags(degree, format="csr") - W)
        L.sum_duplicates()
        L.eliminate_zeros()  # isolated vertices, or weights that cancel (G11's vertex 1)
        L.sort_indices()
        L.data *= 0.25
        return L

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
    if (W != W.T).nnz:
        return "a csr_matrix that is not symmetric"
    return ""


def graph_from_edges(
    n: int, i: np.ndarray, j: np.ndarray, w: np.ndarray, name: str, where: str
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
    return Graph._trusted(W, name)


def graph_from_matrix(
    A: Any, func: str = "read_graph", name: str = "", where: str | None = None
) -> Graph:
    """The graph whose adjacency is the square symmetric real matrix A (dense or scipy sparse);
    a nonzero diagonal is dropped with a warning."""
    what = "a square symmetric real matrix (the adjacency)"
    if sp.issparse(A):
        if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] < 1:
            raise invalid("source", func, what, f"<a sparse matrix of shape {A.shape}>")
        if not (np.issubdtype(A.dtype, np.number) or A.dtype == bool) or np.issubdtype(
            A.dtype, np.complexfloating
        ):
            raise invalid("source", func, what, f"<a sparse matrix of dtype {A.dtype}>")
        W = sp.csr_matrix(A, dtype=np.float64, copy=True)
        W.sum_duplicates()
    else:
        arr = np.asarray(A)
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 1:
            raise invalid("source", func, what, f"<an array of shape {arr.shape}>")
        if arr.dtype != bool and (
            not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating)
        ):
            raise invalid("source", func, what, f"<an array of dtype {arr.dtype}>")
        W = sp.csr_matrix(arr.astype(np.float64))
    if not np.all(np.isfinite(W.data)):
        raise invalid("source", func, "a matrix with finite entries", "<a matrix with NaN or inf>")
    asym = W - W.T
    asym.eliminate_zeros()
    if asym.nnz:
        r, c = int(asym.tocoo().row[0]), int(asym.tocoo().col[0])
        got = (f"<a matrix with W[{r}, {c}] = {float(W[r, c])!r} but "
               f"W[{c}, {r}] = {float(W[c, r])!r}>")
        raise invalid("source", func, what + "; symmetrize it, e.g. (W + W.T) / 2", got)
    diagonal = W.diagonal()
    loops = int(np.count_nonzero(diagonal))
    if loops:
        warn(f"{where or func}: ignored {loops} self-loop{'s' * (loops != 1)} "
             "(nonzero diagonal entries)")
        W = sp.csr_matrix(W - sp.diags(diagonal, format="csr"))
    W.eliminate_zeros()
    W.sort_indices()
    return Graph._trusted(W, name)


def graph_from_networkx(G: Any, func: str = "read_graph") -> Graph:
    """The graph of an undirected networkx graph: vertex k is the k-th node of `G.nodes`, the
    weight of an edge its "weight" attribute (default 1). Self-loops are dropped and parallel
    edges of a multigraph summed, each with a warning."""
    if G.is_directed():
        raise invalid("source", func, "an undirected networkx graph", f"<a {type(G).__name__}>")
    if G.number_of_nodes() < 1:
        raise invalid("source", func, "a graph with at least one vertex", "<an empty graph>")
    nodes = list(G.nodes)
    index = {node: k for k, node in enumerate(nodes)}
    triples = []
    for u, v, weight in G.edges(data="weight", default=1):
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
            raise invalid("source", func, "a graph with numeric 'weight' edge attributes",
                          f"<weight {weight!r} on edge ({u!r}, {v!r})>")
        triples.append((index[u], index[v], float(weight)))
    arr = np.array(triples, dtype=np.float64).reshape(-1, 3)
    if not np.all(np.isfinite(arr[:, 2])):
        raise invalid("source", func, "a graph with finite edge weights", "<NaN or inf weights>")
    name = G.name if isinstance(G.name, str) else ""
    what = f"{func} (networkx {type(G).__name__} {name!r})" if name else f"{func} (networkx)"
    return graph_from_edges(len(nodes), arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64),
                            arr[:, 2], name, what)
