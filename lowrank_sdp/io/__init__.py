"""Graph and SDP readers and writers: G-set/rudy, Matrix Market, SDPA (.dat-s), edge lists,
networkx, scipy and numpy. See docs/io.md.

    g = read_graph("data/gset/G11.txt.gz")       # Graph: adjacency, n, m, name, total_weight
    C = g.laplacian_quarter()                     # Max-Cut SDP: maximize <C, X>, diag(X) = 1
    C, offset, sense = read_sdpa("data/sdplib/maxG11.dat-s").unit_diagonal_cost()
"""

from lowrank_sdp.io._text import MAX_BYTES, MAX_VERTICES
from lowrank_sdp.io.edgelist import write_edgelist
from lowrank_sdp.io.graph import SYMMETRY_RTOL, Graph, as_graph, laplacian_quarter
from lowrank_sdp.io.gset import write_gset
from lowrank_sdp.io.readers import read_graph
from lowrank_sdp.io.sdpa import SDPAProblem, read_sdpa, write_sdpa, write_sdpa_maxcut
from lowrank_sdp.io.wcnf import WCNF, read_wcnf

__all__ = [
    "MAX_BYTES",
    "MAX_VERTICES",
    "SYMMETRY_RTOL",
    "WCNF",
    "Graph",
    "SDPAProblem",
    "as_graph",
    "laplacian_quarter",
    "read_graph",
    "read_sdpa",
    "read_wcnf",
    "write_edgelist",
    "write_gset",
    "write_sdpa",
    "write_sdpa_maxcut",
]
