"""Tests of lowrank_sdp.io: bundled data against its READMEs, round trips, every source type,
malformed files (ValueError with file and line), the fast path against the line-by-line
reference path, fuzzing, and the examples of docs/io.md."""

from __future__ import annotations

import gzip
import itertools
import os
import re
import shutil
import subprocess
import tempfile
import tracemalloc
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lowrank_sdp as ls
import lowrank_sdp.io as lio
from benchmarks.references import markdown_table
from lowrank_sdp.io import _text  # private: the tests of the readers' own text layer
from lowrank_sdp.io import edgelist as edgelist_module
from lowrank_sdp.io import sdpa as sdpa_module
from lowrank_sdp.io._text import TextFile  # private: as above
from lowrank_sdp.io.edgelist import read_edgelist
from lowrank_sdp.io.gset import read_gset
from lowrank_sdp.io.mtx import read_mtx
from lowrank_sdp.io.sdpa import parse_sdpa

REPO = Path(__file__).resolve().parent.parent
GSET = REPO / "data" / "gset"
SDPLIB = REPO / "data" / "sdplib"
FUZZ = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
MANY = settings(FUZZ, max_examples=200)


def as_int(cell: str) -> int:
    return int(cell.replace(",", ""))


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def same_graph(a: lio.Graph, b: lio.Graph) -> bool:
    return a.n == b.n and (a.adjacency != b.adjacency).nnz == 0


def naive_rudy(path: Path) -> tuple[int, list[tuple[int, int, float]]]:
    """An independent reference parse of a G-set file, in plain Python."""
    with gzip.open(path, "rt") as fh:
        n, m = map(int, fh.readline().split())
        edges = [(int(a) - 1, int(b) - 1, float(w)) for a, b, w in
                 (line.split() for line in fh if line.strip())]
    assert len(edges) == m
    return n, edges


# ---------------------------------------------------------------------------------------------
# Bundled data against the READMEs


def test_every_gset_file_matches_the_readme_table():
    table = markdown_table(GSET / "README.md", "name")
    files = sorted(GSET.glob("G*.txt.gz"))
    assert {f.name.split(".")[0] for f in files} == set(table)
    for path in files:
        g = lio.read_graph(path)
        row = table[g.name]
        assert (g.n, g.m) == (as_int(row["n"]), as_int(row["m"])), g.name
        weights = set(np.unique(g.adjacency.data).tolist())
        assert weights == ({1.0} if row["w"] == "1" else {-1.0, 1.0}), g.name
        degree = np.diff(g.adjacency.indptr)
        low, high = re.match(r"(\d+)/(\d+)", row["deg min/max"]).groups()
        assert (degree.min(), degree.max()) == (int(low), int(high)), g.name


@pytest.mark.parametrize("name", ["G11", "G43"])
def test_gset_reader_agrees_with_a_naive_parse(name):
    n, edges = naive_rudy(GSET / f"{name}.txt.gz")
    g = lio.read_graph(GSET / f"{name}.txt.gz")
    dense = np.zeros((n, n))
    for a, b, w in edges:
        dense[a, b] += w
        dense[b, a] += w
    np.testing.assert_array_equal(g.adjacency.toarray(), dense)
    assert g.total_weight == sum(w for _, _, w in edges)
    L = np.diag(dense.sum(axis=1)) - dense
    np.testing.assert_array_equal(g.laplacian_quarter().toarray(), L / 4)


def test_sdplib_maxcut_files_match_the_readme_and_their_cost():
    table = markdown_table(SDPLIB / "README.md", "file")
    assert table, "the SDPLIB README table was not found"
    for name, row in table.items():
        problem = lio.read_sdpa(SDPLIB / f"{name}.dat-s")
        g = lio.read_graph(SDPLIB / f"{name}.dat-s")
        assert (g.n, g.m) == (as_int(row["n"]), as_int(row["edges"])), name
        assert problem.m == g.n and problem.block_sizes == (g.n,)
        weights = set(np.unique(g.adjacency.data).tolist())
        assert weights == ({1.0} if row["weights"] == "1" else {-1.0, 1.0}), name
        C, offset, sense = problem.unit_diagonal_cost()
        assert (offset, sense) == (0.0, "max")
        assert abs(C - g.laplacian_quarter()).max() == 0.0, name


@pytest.mark.parametrize("k", [11, 32, 51, 60])
def test_sdplib_maxG_is_gset_G_edge_by_edge(k):
    assert same_graph(lio.read_graph(SDPLIB / f"maxG{k}.dat-s"),
                      lio.read_graph(GSET / f"G{k}.txt.gz"))


def test_sdplib_maxG55_is_not_G55_but_contains_it():
    big = lio.read_graph(SDPLIB / "maxG55.dat-s").adjacency
    small = lio.read_graph(GSET / "G55.txt.gz").adjacency
    assert big.nnz > small.nnz
    assert (small.multiply(big) != small.multiply(small)).nnz == 0  # same weight on G55's edges


def test_bundled_files_take_the_fast_path(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("slow path taken")

    monkeypatch.setattr(edgelist_module, "_slow", refuse)
    monkeypatch.setattr(sdpa_module, "_slow_entries", refuse)
    assert lio.read_graph(GSET / "G81.txt.gz").m > 0
    assert lio.read_sdpa(SDPLIB / "mcp124-1.dat-s").m > 0


# ---------------------------------------------------------------------------------------------
# SDPA: non-max-cut problems, the unit-diagonal reduction, the tolerated syntax


@pytest.mark.parametrize("name", ["theta1", "theta2"])
def test_theta_problems_are_refused_naming_the_constraint(name):
    problem = lio.read_sdpa(SDPLIB / f"{name}.dat-s")
    with pytest.raises(ValueError, match=r"constraint 1 \(F_1\) is not e_i e_i\^T"):
        problem.unit_diagonal_cost()
    with pytest.raises(ValueError, match=name):
        lio.read_graph(SDPLIB / f"{name}.dat-s")


def test_theta1_matrices_agree_with_a_naive_parse():
    problem = lio.read_sdpa(SDPLIB / "theta1.dat-s")
    lines = (SDPLIB / "theta1.dat-s").read_text().split("\n")
    n = int(lines[2].split()[0])
    assert problem.m == int(lines[0].split()[0]) and problem.n == n
    dense = np.zeros((problem.m + 1, n, n))
    for line in lines[4:]:
        if line.strip():
            k, _, i, j, v = line.split()
            dense[int(k), int(i) - 1, int(j) - 1] = dense[int(k), int(j) - 1, int(i) - 1] = float(v)
    for k in (0, 1, 2, problem.m):
        np.testing.assert_array_equal(problem.matrices[k].toarray(), dense[k])


def test_sdpa_tolerated_syntax(tmp_path):
    text = ('"a comment line\n* another\n'
            "3 = mDIM\n2 = nBLOCK\n(2, -2) = bLOCKsTRUCT\n{1.0, -2, 3e0}\n"
            "0 1 2 1 0.5\n0 2 2 2 -1\n1 1 1 1 1\n2 1 1 2 1\n3 2 1 1 4\n")
    problem = lio.read_sdpa(write(tmp_path / "small.dat-s", text))
    assert problem.m == 3 and problem.block_sizes == (2, -2) and problem.n == 4
    np.testing.assert_array_equal(problem.c, [1.0, -2.0, 3.0])
    expected = {0: [(0, 1, 0.5), (1, 0, 0.5), (3, 3, -1.0)], 1: [(0, 0, 1.0)],
                2: [(0, 1, 1.0), (1, 0, 1.0)], 3: [(2, 2, 4.0)]}
    for k, entries in expected.items():
        dense = np.zeros((4, 4))
        for i, j, v in entries:
            dense[i, j] = v
        np.testing.assert_array_equal(problem.matrices[k].toarray(), dense)
    with pytest.raises(ValueError, match=r"block sizes are \[2, -2\]"):
        problem.unit_diagonal_cost()


def _sdpa_unit_diagonal_text(F0: np.ndarray, c: np.ndarray, order: np.ndarray) -> str:
    n = len(c)
    lines = [str(n), "1", str(n), " ".join(map(repr, c.tolist()))]
    lines += [f"0 1 {i + 1} {j + 1} {float(F0[i, j])!r}" for i in range(n) for j in range(i, n)
              if F0[i, j]]
    lines += [f"{k + 1} 1 {p + 1} {p + 1} 1" for k, p in enumerate(order)]
    return "\n".join(lines) + "\n"


def test_unit_diagonal_cost_with_general_c_matches_cvxpy(tmp_path):
    cp = pytest.importorskip("cvxpy")
    rng = np.random.default_rng(3)
    n = 4
    B = rng.standard_normal((n, n))
    F0 = np.round(B + B.T, 3)
    c = np.array([0.5, 2.0, 0.0, 1.5])
    order = rng.permutation(n)  # F_k = e_p e_p^T with p = order[k]: c_k belongs to entry p
    assert np.any(order != np.arange(n))
    problem = lio.read_sdpa(write(tmp_path / "c.dat-s", _sdpa_unit_diagonal_text(F0, c, order)))
    C, offset, sense = problem.unit_diagonal_cost()
    assert sense == "max"
    Y = cp.Variable((n, n), PSD=True)  # the SDPA dual, as written in the file
    target = np.zeros(n)
    target[order] = c
    dual = cp.Problem(cp.Maximize(cp.trace(F0 @ Y)), [cp.diag(Y) == target]).solve(cp.CLARABEL)
    X = cp.Variable((n, n), PSD=True)
    reduced = cp.Problem(cp.Maximize(cp.trace(C.toarray() @ X)), [cp.diag(X) == 1]).solve(
        cp.CLARABEL)
    assert reduced + offset == pytest.approx(dual, rel=1e-6)
    with pytest.raises(ValueError, match="not a Max-Cut SDP: c_"):
        problem.maxcut_graph()


@pytest.mark.parametrize(("entries", "c", "match"), [
    (["1 1 1 1 1", "2 1 1 1 1"], "1 1", r"constraint 2 \(F_2\) repeats e_i e_i\^T of constraint 1"),
    (["1 1 1 1 1", "2 1 1 2 1"], "1 1", r"constraint 2 \(F_2\) is not e_i e_i\^T: its only "
     r"nonzero entry \(1, 2\) is off the diagonal"),
    (["1 1 1 1 1", "2 1 2 2 3"], "1 1", r"constraint 2 \(F_2\) .* is 3.0, not 1"),
    (["1 1 1 1 1"], "1 1", r"constraint 2 \(F_2\) is not e_i e_i\^T: it is zero"),
    (["1 1 1 1 1", "2 1 2 2 1"], "1 -1", r"c_2 = -1.0 < 0"),
])
def test_unit_diagonal_cost_refusals(tmp_path, entries, c, match):
    text = "\n".join(["2", "1", "2", c, "0 1 1 2 0.25", *entries]) + "\n"
    problem = lio.read_sdpa(write(tmp_path / "p.dat-s", text))
    with pytest.raises(ValueError, match=match):
        problem.unit_diagonal_cost()


def test_sdpa_of_something_else_than_a_laplacian_is_refused(tmp_path):
    text = "2\n1\n2\n1 1\n0 1 1 2 -0.25\n0 1 1 1 1\n1 1 1 1 1\n2 1 2 2 1\n"
    path = write(tmp_path / "notL.dat-s", text)
    with pytest.raises(ValueError, match=r"F0 is not L/4"):
        lio.read_graph(path)
    C, _, _ = lio.read_sdpa(path).unit_diagonal_cost()  # still a unit-diagonal SDP
    assert C[0, 0] == 1.0


def test_sdpa_maxcut_graph_is_valid_without_a_second_validation(tmp_path):
    """maxcut_graph wraps W without Graph's O(nnz) checks (F0 came from the file's upper
    triangle, mirrored): the graph still passes them, and a weight -4 F0_ij that overflows is
    refused naming the entry (it once surfaced as Graph's adjacency error)."""
    for name in ("mcp124-1", "maxG11"):
        g = lio.read_graph(SDPLIB / f"{name}.dat-s")
        assert lio.Graph(g.adjacency, g.name).adjacency is g.adjacency  # Graph's checks pass
    text = "3\n1\n3\n1 1 1\n0 1 1 2 1e308\n0 1 1 3 -1e308\n1 1 1 1 1\n2 1 2 2 1\n3 1 3 3 1\n"
    with pytest.raises(ValueError, match=r"not a Max-Cut SDP: the weight w_ij = -4 F0_ij of "
                       r"entry \(1, 2\), F0_ij = 1e\+308, overflows"):
        lio.read_graph(write(tmp_path / "huge.dat-s", text))


# ---------------------------------------------------------------------------------------------
# Round trips


def random_graph(rng: np.random.Generator, n: int, m: int, integral: bool) -> lio.Graph:
    i, j = rng.integers(0, n, m), rng.integers(0, n, m)
    keep = i != j
    w = rng.choice([-1.0, 1.0, 2.0], m) if integral else rng.standard_normal(m) / 3
    W = sp.coo_matrix((w[keep], (i[keep], j[keep])), shape=(n, n)).tocsr()
    return lio.read_graph(W + W.T)


@pytest.mark.parametrize("integral", [True, False])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_write_read_round_trips(tmp_path, integral, suffix):
    g = random_graph(np.random.default_rng(7), 60, 200, integral)
    lio.write_gset(tmp_path / f"g.txt{suffix}", g)
    lio.write_edgelist(tmp_path / f"g.edges{suffix}", g)
    lio.write_edgelist(tmp_path / f"g0.edges{suffix}", g, base=0)
    lio.write_sdpa_maxcut(tmp_path / f"g.dat-s{suffix}", g)
    assert same_graph(lio.read_graph(tmp_path / f"g.txt{suffix}"), g)
    assert same_graph(lio.read_graph(tmp_path / f"g.edges{suffix}", n=g.n), g)
    assert same_graph(lio.read_graph(tmp_path / f"g0.edges{suffix}", base=0, n=g.n), g)
    assert same_graph(lio.read_graph(tmp_path / f"g.dat-s{suffix}"), g)
    C, _, _ = lio.read_sdpa(tmp_path / f"g.dat-s{suffix}").unit_diagonal_cost()
    assert abs(C - g.laplacian_quarter()).max() <= 1e-15 * abs(C).max()


def test_gzip_output_is_reproducible(tmp_path):
    g = lio.read_graph(GSET / "G11.txt.gz")
    lio.write_gset(tmp_path / "a.txt.gz", g)
    lio.write_gset(tmp_path / "b.txt.gz", g)
    assert (tmp_path / "a.txt.gz").read_bytes() == (tmp_path / "b.txt.gz").read_bytes()
    with gzip.open(GSET / "G11.txt.gz") as original, gzip.open(tmp_path / "a.txt.gz") as ours:
        first = original.readline()
        assert first.split() == ours.readline().split()


def test_write_sdpa_min_is_the_negated_max(tmp_path):
    rng = np.random.default_rng(0)
    B = rng.standard_normal((5, 5))
    C = B + B.T
    lio.write_sdpa(tmp_path / "min.dat-s", C, sense="min")
    F0, offset, sense = lio.read_sdpa(tmp_path / "min.dat-s").unit_diagonal_cost()
    assert (offset, sense) == (0.0, "max")  # min <C, X> = -max <-C, X>
    np.testing.assert_array_equal(F0.toarray(), -C)
    with pytest.raises(ValueError, match="'C' parameter of write_sdpa"):
        lio.write_sdpa(tmp_path / "x.dat-s", B)
    with pytest.raises(ValueError, match="'sense' parameter of write_sdpa"):
        lio.write_sdpa(tmp_path / "x.dat-s", C, sense="maximize")


@pytest.mark.skipif(shutil.which("csdp") is None, reason="the csdp executable is not installed")
def test_written_sdpa_file_is_solved_by_csdp_to_the_sdplib_value(tmp_path):
    table = markdown_table(SDPLIB / "README.md", "file")
    reference = float(table["mcp124-1"]["SDPA-GMP"])
    g = lio.read_graph(SDPLIB / "mcp124-1.dat-s")
    for sense, C in (("max", g.laplacian_quarter()), ("min", -g.laplacian_quarter())):
        path = tmp_path / f"{sense}.dat-s"
        lio.write_sdpa(path, C, sense=sense)
        run = subprocess.run(["csdp", str(path)], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
        value = float(re.search(r"Primal objective value:\s*(\S+)", run.stdout).group(1))
        assert value == pytest.approx(reference, rel=1e-6)


def test_matrix_market_agrees_with_scipy(tmp_path):
    g = random_graph(np.random.default_rng(1), 40, 120, integral=False)
    for symmetry in ("symmetric", "general"):
        path = tmp_path / f"{symmetry}.mtx"
        scipy.io.mmwrite(path, g.adjacency, symmetry=symmetry)
        reference = sp.csr_matrix(scipy.io.mmread(path))
        assert (lio.read_graph(path).adjacency != reference).nnz == 0
    pattern = tmp_path / "pattern.mtx"
    scipy.io.mmwrite(pattern, sp.csr_matrix(g.adjacency != 0, dtype=float), field="pattern",
                     symmetry="symmetric")
    assert (lio.read_graph(pattern).adjacency != (g.adjacency != 0)).nnz == 0


def test_crlf_and_comments_read_the_same(tmp_path):
    plain = "3 2\n1 2 1\n2 3 -1.5\n"
    a = lio.read_graph(write(tmp_path / "a.txt", plain))
    b = lio.read_graph(write(tmp_path / "b.txt", "# hi\n" + plain.replace("\n", "\r\n")))
    c = lio.read_graph(write(tmp_path / "c.txt", "3 2 % header\n\n1 2 1 # edge\n2 3 -1.5\n"))
    assert same_graph(a, b) and same_graph(a, c)
    assert a.name == "a" and a.total_weight == -0.5


def test_edge_list_base_rule(tmp_path):
    one = lio.read_graph(write(tmp_path / "one.edges", "1 2\n2 3 2.5\n"))
    zero = lio.read_graph(write(tmp_path / "zero.edges", "0 1\n1 2 2.5\n"))
    assert same_graph(one, zero) and one.n == 3
    assert lio.read_graph(write(tmp_path / "b0.edges", "1 2\n"), base=0).n == 3
    assert lio.read_graph(write(tmp_path / "nn.edges", "1 2\n"), n=5).n == 5
    assert lio.read_graph(write(tmp_path / "g.txt", "0 1 1\n"), fmt="edgelist").n == 2
    assert lio.read_graph(write(tmp_path / "g0.txt", "3 1\n0 2 1\n"), base=0).n == 3
    banner = "%%MatrixMarket matrix coordinate pattern symmetric\n2 2 1\n2 1\n"
    assert lio.read_graph(write(tmp_path / "mm.txt", banner)).m == 1  # the banner wins


# ---------------------------------------------------------------------------------------------
# In-memory sources


def test_networkx_scipy_and_dense_sources_agree():
    nx = pytest.importorskip("networkx")
    G = nx.Graph(name="toy")
    G.add_nodes_from(["a", "b", "c", "d"])
    G.add_edge("a", "b", weight=2.0)
    G.add_edge("b", "c")  # weight 1 by default
    G.add_edge("c", "a", weight=-0.5)
    dense = np.array([[0, 2, -0.5, 0], [2, 0, 1, 0], [-0.5, 1, 0, 0], [0, 0, 0, 0]])
    from_nx = lio.read_graph(G)
    assert from_nx.name == "toy" and from_nx.n == 4 and from_nx.m == 3
    np.testing.assert_array_equal(from_nx.adjacency.toarray(), dense)
    for source in (dense, sp.csr_matrix(dense), sp.coo_array(dense), dense.astype(np.float32)):
        assert same_graph(lio.read_graph(source), from_nx)
    assert lio.read_graph(from_nx) is from_nx
    assert lio.read_graph(np.array([[0, 1], [1, 0]], dtype=bool)).m == 1
    i, j, w = from_nx.edges()
    assert list(zip(i.tolist(), j.tolist(), w.tolist())) == [(0, 1, 2.0), (0, 2, -0.5), (1, 2, 1.0)]


def test_self_loops_and_parallel_edges_warn():
    nx = pytest.importorskip("networkx")
    M = nx.MultiGraph()
    M.add_edge(0, 1, weight=1.0)
    M.add_edge(0, 1, weight=2.0)
    M.add_edge(1, 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = lio.read_graph(M)
    messages = " | ".join(str(w.message) for w in caught)
    assert "1 self-loop" in messages and "1 duplicate edge" in messages
    assert all(Path(w.filename) == Path(__file__) for w in caught)  # points at the caller
    assert g.adjacency[0, 1] == 3.0 and g.m == 1
    with pytest.warns(UserWarning, match="2 self-loops"):
        assert lio.read_graph(np.diag([1.0, 2.0, 0.0])).m == 0


def test_bad_in_memory_sources():
    nx = pytest.importorskip("networkx")
    with pytest.raises(ValueError, match="undirected"):
        lio.read_graph(nx.DiGraph([(0, 1)]))
    with pytest.raises(ValueError, match="numeric 'weight'"):
        lio.read_graph(nx.Graph([(0, 1, {"weight": "heavy"})]))
    with pytest.raises(ValueError, match=r"W\[0, 1\] = 1.0 but W\[1, 0\] = 0.0"):
        lio.read_graph(sp.csr_matrix(np.triu(np.ones((3, 3)), 1)))
    for bad in (np.ones((2, 3)), np.zeros((0, 0)), np.eye(2) * 1j, np.array([[0, np.nan],
                                                                             [np.nan, 0]])):
        with pytest.raises(ValueError, match="'source' parameter of read_graph"):
            lio.read_graph(bad)
    assert lio.read_graph([[0, 1], [1, 0]]).m == 1  # nested lists: as maxcut and round_cut take them
    with pytest.raises(ValueError, match="'source' parameter of read_graph"):
        lio.read_graph([[0, 1], [1]])
    with pytest.raises(ValueError, match="'fmt' parameter of read_graph"):
        lio.read_graph(np.zeros((2, 2)), fmt="gset")


def test_bad_arguments(tmp_path):
    path = write(tmp_path / "g.txt", "2 1\n1 2 1\n")
    for kwargs, param in [({"fmt": "csv"}, "fmt"), ({"base": 2}, "base"), ({"base": True}, "base"),
                          ({"n": 0}, "n"), ({"n": 3}, "n")]:
        with pytest.raises(ValueError, match=f"'{param}' parameter of read_graph"):
            lio.read_graph(path, **kwargs)
    with pytest.raises(TypeError):
        lio.read_graph(path, format="gset")
    with pytest.raises(ValueError, match="'base' parameter of read_graph"):
        lio.read_graph(SDPLIB / "mcp100.dat-s", base=1)


def test_graph_checks_its_adjacency():
    W = sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]))
    g = lio.Graph(W, "pair")
    assert (g.n, g.m, g.total_weight, g.name) == (2, 1, 1.0, "pair")
    for bad in (W.toarray(), sp.csr_matrix(np.array([[0.0, 1.0], [2.0, 0.0]])),
                sp.csr_matrix(np.eye(2)), W.astype(np.float32)):
        with pytest.raises(ValueError, match="'adjacency' parameter of Graph"):
            lio.Graph(bad)
    with pytest.raises(AttributeError):
        g.name = "other"


# ---------------------------------------------------------------------------------------------
# Malformed files: ValueError naming the file and the line

MALFORMED = [
    ("empty.txt", "", 1, "unexpected end of file"),
    ("comments.txt", "# only\n", 2, "unexpected end of file"),
    ("header.txt", "3\n1 2 1\n", 1, "expected the G-set/rudy header"),
    ("word.txt", "3 2\n1 2 1\n1 x 1\n", 3, "'x' is not a number"),
    ("nan.txt", "3 2\n1 2 1\n1 3 nan\n", 3, "'nan' is not a finite"),
    ("inf.txt", "3 2\n1 2 1\n1 3 1e999\n", 3, "'1e999' is not finite"),
    ("range.txt", "3 2\n1 2 1\n1 4 1\n", 3, "vertex index 4 is out of range [1, 3]"),
    ("zero.txt", "3 1\n0 2 1\n", 2, "pass base=0"),
    ("negative.txt", "3 1\n-1 2 1\n", 2, "vertex index -1 is negative"),
    ("fraction.txt", "3 1\n1.5 2 1\n", 2, "'1.5' is not an integer"),
    ("columns.txt", "3 2\n1 2 1\n\n1 3\n", 4, "expected an edge 'i j w'"),
    ("truncated.txt", "3 3\n1 2 1\n1 3 1\n", 4, "after 2 of the 3 edge lines"),
    ("extra.txt", "3 1\n1 2 1\n2 3 1\n", 3, "more edge lines than the 1"),
    ("huge_n.txt", "1000000000000 0\n", 1, "not in [1, "),
    ("long.txt", "3 1\n1 " + "9" * 5000 + " 1\n", 2, "is too large"),
    ("binary.txt", b"3 1\n1 2 1\n\xff\xfe\n", 3, "not UTF-8"),
    ("noedges.edges", "# nothing\n", 2, "no edges found"),
    ("five.edges", "1 2\n1 2 3 4 5\n", 2, "expected an edge 'i j' or 'i j w'"),
    ("over.edges", "1 200000000\n", 1, "too large"),
    ("banner.mtx", "%%MatrixMarket matrix array real general\n", 1, "only sparse matrices"),
    ("complex.mtx", "%%MatrixMarket matrix coordinate complex general\n", 1, "complex"),
    ("skew.mtx", "%%MatrixMarket matrix coordinate real skew-symmetric\n", 1, "skew"),
    ("size.mtx", "%%MatrixMarket matrix coordinate real general\n%c\n2 3 1\n", 3, "not square"),
    ("asym.mtx", "%%MatrixMarket matrix coordinate real general\n2 2 1\n1 2 1\n", 3,
     "entry (1, 2) = 1.0 but entry (2, 1) = 0.0"),
    ("integer.mtx", "%%MatrixMarket matrix coordinate integer symmetric\n2 2 1\n2 1 0.5\n", 3,
     "not an integer"),
    ("short.mtx", "%%MatrixMarket matrix coordinate real symmetric\n2 2 2\n2 1 1\n", 4,
     "after 1 of the 2"),
    ("header.dat-s", '"c\n2\n1\n', 4, "expected the block sizes"),
    ("c.dat-s", "2\n1\n2\n1 1 1\n", 4, "unexpected '1' after the 2 numbers of c"),
    ("entry.dat-s", "1\n1\n2\n1\n0 1 1 2\n", 5, "expected an entry 'k b i j v'"),
    ("matno.dat-s", "1\n1\n2\n1\n2 1 1 1 1\n", 5, "matrix number 2 is not in [0, 1]"),
    ("block.dat-s", "1\n1\n2\n1\n1 2 1 1 1\n", 5, "block number 2 is not in [1, 1]"),
    ("row.dat-s", "1\n1\n2\n1\n1 1 3 1 1\n", 5, "row 3 is not in [1, 2]"),
    ("diagonal.dat-s", "1\n1\n-2\n1\n1 1 1 2 1\n", 5, "diagonal block"),
    ("twice.dat-s", "1\n1\n2\n1\n0 1 1 2 1\n0 1 2 1 1\n", 6, "already given on line 5"),
    ("zero_m.dat-s", "0\n1\n2\n", 1, "the number of constraints m = 0"),
]


@pytest.mark.parametrize(("name", "content", "line", "message"), MALFORMED,
                         ids=[case[0] for case in MALFORMED])
def test_malformed_files_name_file_and_line(tmp_path, name, content, line, message):
    path = write(tmp_path / name, content)
    reader = lio.read_sdpa if name.endswith(".dat-s") else lio.read_graph
    with pytest.raises(ValueError) as info:
        reader(path)
    text = str(info.value)
    assert f"{name} line {line}: " in text, text
    assert message in text, text


def test_broken_gzip_is_a_value_error(tmp_path):
    data = gzip.compress(b"3 1\n1 2 1\n")
    for name, content in (("cut.txt.gz", data[:-6]), ("noise.txt.gz", b"\x1f\x8b" + b"x" * 20)):
        with pytest.raises(ValueError, match=re.escape(name)):
            lio.read_graph(write(tmp_path / name, content))


def test_fmt_guess_hint_for_txt_edge_lists(tmp_path):
    with pytest.raises(ValueError, match="fmt='edgelist'"):
        lio.read_graph(write(tmp_path / "list.txt", "1 2\n2 3\n3 1\n4 5\n"))


# ---------------------------------------------------------------------------------------------
# The fast path against the reference path, and fuzzing

ODD = st.sampled_from(["1.0", "2.", "1e0", "+3", "-1", "0", "7", "1e999", ".5", "nan", "inf", "x",
                       "1e", "--1", "1_0", "١", "99999999999999999999", "200000000", "{1}"])
WEIGHT = st.sampled_from(["1", "-1", "2.5", "0", "-0.125", "3e-2", "+4", ".5"])
LINE = st.lists(st.one_of(ODD, WEIGHT, st.sampled_from(
    ["#", "% c", '"', "*", "{", "}", ",", "=", "(", "\t", "\r", "\x0b", "é"])), max_size=6
).map(" ".join)


@st.composite
def perturbed(draw, lines: list[str]) -> str:
    """`lines` joined, after at most one change: a token replaced, a line inserted, dropped or
    repeated. One anomaly per file, so that the checks behind it are each reached."""
    lines = list(lines)
    kind = draw(st.sampled_from(["none", "none", "token", "token", "insert", "drop", "repeat"]))
    if lines and kind != "none":
        k = draw(st.integers(0, len(lines) - 1))
        tokens = lines[k].split()
        if kind == "token" and tokens:
            tokens[draw(st.integers(0, len(tokens) - 1))] = draw(ODD)
            lines[k] = " ".join(tokens)
        elif kind == "insert":
            lines.insert(k, draw(LINE))
        elif kind == "drop":
            del lines[k]
        elif kind == "repeat":
            lines.insert(k, lines[k])
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n", "\r\n"]))


def edges(draw, n: int, base: int, weighted: bool) -> list[str]:
    index = st.integers(base, n - 1 + base).map(str)
    row = st.tuples(index, index, WEIGHT) if weighted else st.tuples(index, index)
    return [" ".join(r) for r in draw(st.lists(row, max_size=8))]


@st.composite
def gset_like(draw):
    n = draw(st.integers(1, 5))
    rows = edges(draw, n, 1, True)
    return draw(perturbed([f"{n} {len(rows)}", *rows]))


@st.composite
def edgelist_like(draw):
    rows = edges(draw, draw(st.integers(1, 5)), draw(st.sampled_from([0, 1])),
                 draw(st.booleans()))
    return draw(perturbed(["# comment", *rows] if draw(st.booleans()) else rows))


@st.composite
def mtx_like(draw):
    field = draw(st.sampled_from(["real", "integer", "pattern"]))
    symmetry = draw(st.sampled_from(["general", "symmetric"]))
    n = draw(st.integers(1, 5))
    rows = edges(draw, n, 1, field != "pattern")
    if field == "integer":
        rows = [" ".join([*r.split()[:2], draw(st.sampled_from(["1", "-2", "3", "0.5"]))])
                for r in rows]
    if symmetry == "general" and draw(st.booleans()):  # add the mirrors: a symmetric matrix
        rows += [" ".join([r.split()[1], r.split()[0], *r.split()[2:]]) for r in rows]
    banner = f"%%MatrixMarket matrix coordinate {field} {symmetry}"
    return draw(perturbed([banner, "% comment", f"{n} {n} {len(rows)}", *rows]))


@st.composite
def sdpa_like(draw):
    m = draw(st.integers(1, 3))
    blocks = draw(st.lists(st.sampled_from([1, 2, 3, -2, -3]), min_size=1, max_size=2))
    head = [str(m), str(len(blocks)), "{" + ", ".join(map(str, blocks)) + "}",
            " ".join(draw(st.lists(WEIGHT, min_size=m, max_size=m)))]
    rows = []
    for _ in range(draw(st.integers(0, 8))):
        b = draw(st.integers(1, len(blocks)))
        i = draw(st.integers(1, abs(blocks[b - 1])))
        j = i if blocks[b - 1] < 0 and draw(st.booleans()) else draw(
            st.integers(1, abs(blocks[b - 1])))
        rows.append(f"{draw(st.integers(0, m))} {b} {i} {j} {draw(WEIGHT)}")
    return draw(perturbed(head + rows))


def outcome(read, path: Path, **kwargs):
    """('ok', adjacency or problem data, warnings) or ('error', message); nothing else escapes."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = read(TextFile(path), **kwargs)
        except ValueError as error:
            return ("error", str(error))
    notes = [str(w.message) for w in caught]
    if isinstance(result, lio.Graph):
        return ("ok", result.n, result.adjacency.toarray().tolist(), notes)
    return ("ok", result.m, result.block_sizes, result.c.tolist(),
            [F.toarray().tolist() for F in result.matrices], notes)


_counter = itertools.count()


@pytest.fixture(scope="module")
def fuzz_dir():
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


@FUZZ
@pytest.mark.parametrize(("read", "files", "suffix"), [(read_gset, gset_like, ".txt"),
                                                      (read_mtx, mtx_like, ".mtx"),
                                                      (parse_sdpa, sdpa_like, ".dat-s")])
@given(data=st.data())
def test_fast_and_reference_paths_agree(fuzz_dir, read, files, suffix, data):
    path = write(fuzz_dir / f"f{next(_counter)}{suffix}", data.draw(files()))
    assert outcome(read, path) == outcome(read, path, fast=False)


@FUZZ
@given(text=edgelist_like(), base=st.sampled_from(["auto", 0, 1]))
def test_fast_and_reference_paths_agree_edgelist(fuzz_dir, text, base):
    path = write(fuzz_dir / f"f{next(_counter)}.edges", text)
    assert outcome(read_edgelist, path, base=base) == outcome(read_edgelist, path, base=base,
                                                              fast=False)


@MANY
@given(data=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                      gset_like().map(str.encode), sdpa_like().map(str.encode),
                      mtx_like().map(str.encode), edgelist_like().map(str.encode),
                      gset_like().map(lambda t: gzip.compress(t.encode())[: len(t) // 2 + 12])),
       suffix=st.sampled_from([".txt", ".edges", ".mtx", ".dat-s", ".txt.gz", ""]))
def test_fuzzed_files_raise_only_value_error(fuzz_dir, data, suffix):
    path = write(fuzz_dir / f"f{next(_counter)}{suffix}", data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for read in (lio.read_graph, lio.read_sdpa):
            try:
                result = read(path)
            except ValueError:
                continue
            if isinstance(result, lio.Graph):  # whatever was read is a valid Graph
                lio.Graph(result.adjacency, result.name)


# ------------------------------------------ issue 10, item 5: small files must not exhaust memory


def test_gset_header_claiming_far_more_vertices_than_the_file_holds(tmp_path):
    """`100000000 0` (12 bytes) was accepted; the solve then tried to allocate gigabytes."""
    path = tmp_path / "huge.txt"
    path.write_text("100000000 0\n")
    with pytest.raises(ValueError, match=r"huge\.txt line 1: the number of vertices n = "
                       r"100000000 is more than a file of 12 characters may declare"):
        lio.read_graph(path)
    # Isolated vertices stay legitimate: a short file may still declare many of them.
    path.write_text(f"{_text.FREE_VERTICES} 1\n1 2 1\n")
    assert lio.read_graph(path).n == _text.FREE_VERTICES


def test_mtx_and_edgelist_sizes_are_checked_against_the_file(tmp_path):
    mtx = tmp_path / "huge.mtx"
    mtx.write_text("%%MatrixMarket matrix coordinate real symmetric\n"
                   "100000000 100000000 1\n2 1 1\n")
    with pytest.raises(ValueError, match=r"huge\.mtx line 2: the matrix size = 100000000 is more"):
        lio.read_graph(mtx)
    edges = tmp_path / "far.edges"
    edges.write_text("1 5000000\n")
    with pytest.raises(ValueError, match=r"far\.edges line 1: vertex index 5000000 is too large: "
                       r"a file of 10 characters .* \(pass n= to allow more"):
        lio.read_graph(edges)
    assert lio.read_graph(edges, n=5_000_000).n == 5_000_000  # asked for explicitly


def test_sdpa_with_a_huge_block_raises_at_once(tmp_path):
    """This file took 178 s and 6.9 GB to raise (np.setdiff1d over arange(n))."""
    path = tmp_path / "huge.dat-s"
    path.write_text("1\n1\n100000000\n1\n1 1 1 1 1\n")
    tracemalloc.start()
    try:
        for read in (lio.read_sdpa, lio.read_graph):
            with pytest.raises(ValueError, match=r"huge\.dat-s line 3: the order of the matrices"):
                read(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20
    # The unit-diagonal check itself is O(m log m), not O(n): one block of a million, m = 2.
    path.write_text("2\n1\n1000000\n1 1\n1 1 1 1 1\n2 1 2 2 1\n")
    with pytest.raises(ValueError, match=r"fix only 2 of the 1000000 diagonal entries \(none is "
                       r"e_i e_i\^T for i = 3\)"):
        lio.read_sdpa(path).unit_diagonal_cost()


def _gzip_bomb(path, megabytes: int) -> None:
    """`megabytes` MiB of zeros, compressed in a stream (never held in memory)."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
    chunk = b"0" * 2**20
    with open(path, "wb") as out:
        for _ in range(megabytes):
            out.write(deflate.compress(chunk))
        out.write(deflate.flush())


def test_decompression_is_capped(tmp_path):
    """A 3 MiB gzip that expands to 3 GiB was read without a cap. Now the cap is max_bytes
    (default MAX_BYTES = 1 GiB), decompression streams, and stops one byte past it."""
    assert lio.MAX_BYTES == 2**30
    bomb = tmp_path / "bomb.txt.gz"
    _gzip_bomb(bomb, 64)
    assert bomb.stat().st_size < 2**20
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"bomb\.txt\.gz: more than max_bytes = 1048576 bytes "
                           r"of text once decompressed; pass max_bytes=None"):
            lio.read_graph(bomb, max_bytes=2**20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20  # O(max_bytes), not the 64 MiB it expands to
    plain = tmp_path / "big.txt"
    plain.write_text("2 1\n1 2 1\n" + "#" * 2000 + "\n")
    with pytest.raises(ValueError, match=r"big\.txt: more than max_bytes = 100 bytes of text; "):
        lio.read_graph(plain, max_bytes=100)
    assert lio.read_graph(plain, max_bytes=None).m == 1
    with pytest.raises(ValueError, match=r"more than max_bytes = 100 bytes"):
        lio.read_sdpa(plain, max_bytes=100)
    for bad in (0, -1, 1.5, True, "1"):
        with pytest.raises(ValueError, match=r"^The 'max_bytes' parameter of read_graph must be"):
            lio.read_graph(plain, max_bytes=bad)


def test_solve_refuses_a_factor_beyond_memory():
    """n = 10^10 would need petabytes for Y: a ValueError before anything is allocated (the
    operator's matvec is never called)."""
    from scipy.sparse.linalg import LinearOperator

    class Huge(LinearOperator):
        def __init__(self):
            super().__init__(np.float64, (10**10, 10**10))

        def _matvec(self, x):
            raise AssertionError("never called")

    with pytest.raises(ValueError, match=r"^The 'rank' parameter of solve must be .*memory"):
        ls.solve(Huge())


def test_cli_max_bytes(tmp_path, capsys):
    from lowrank_sdp import cli

    assert cli.MAX_BYTES == lio.MAX_BYTES
    path = tmp_path / "C5.txt"
    path.write_text("5 5\n1 2 1\n2 3 1\n3 4 1\n4 5 1\n1 5 1\n")
    assert cli.main(["maxcut", str(path), "--quiet", "--max-bytes", "10"]) == cli.EXIT_BAD_INPUT
    assert "more than max_bytes = 10 bytes" in capsys.readouterr().err
    assert cli.main(["maxcut", str(path), "--quiet", "--json", "--max-bytes", "none"]) == 0
