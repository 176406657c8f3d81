"""Max-Cut end to end: cut kernels, rounding, `maxcut`, and SDP values against published optima."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

import lowrank_sdp as ls
from benchmarks.references import gset_references, sdplib_references
from lowrank_sdp.kernels import cut as K
from lowrank_sdp.maxcut import MaxCutResult, maxcut
from lowrank_sdp.rounding import as_adjacency, cut_value, round_cut

DATA = Path(__file__).resolve().parent.parent / "data"


# ---------------------------------------------------------------- helpers and references


def random_graph(n: int, p: float, seed: int, weights: str = "pm1") -> sp.csr_array:
    """Symmetric random adjacency with weights in {±1} ("pm1"), 1 ("one") or U(0, 2) ("float")."""
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.random((n, n)) < p, k=1)
    if weights == "pm1":
        w = rng.choice([-1.0, 1.0], size=(n, n))
    elif weights == "one":
        w = np.ones((n, n))
    else:
        w = rng.uniform(0.0, 2.0, size=(n, n))
    W = np.where(upper, w, 0.0)
    return sp.csr_array(W + W.T)


def laplacian_cut(W, x) -> float:
    """Independent reference: x^T L x / 4 with the Laplacian L = Diag(W 1) - W."""
    W = sp.csr_array(W) if sp.issparse(W) else np.asarray(W)
    x = np.asarray(x, dtype=float)
    degrees = np.asarray(W.sum(axis=1)).ravel()
    return float((degrees @ (x * x) - x @ (W @ x)) / 4.0)


def brute_force_max_cut(W) -> float:
    """Max cut by enumerating all 2^(n-1) labelings (vertex 0 fixed to +1)."""
    W = W.toarray() if sp.issparse(W) else np.asarray(W)
    n = W.shape[0]
    L = np.diag(W.sum(axis=1)) - W
    signs = np.array(list(itertools.product([1.0, -1.0], repeat=n - 1)))
    X = np.hstack([np.ones((signs.shape[0], 1)), signs])
    return float(np.max(np.einsum("ki,ij,kj->k", X, L, X)) / 4.0)


def csr_arrays(W):
    A = as_adjacency(W)
    return A.indptr, A.indices, A.data


def sdplib_optimum(name: str) -> float:
    """SDPA-GMP value from data/sdplib/README.md, or the certified interval's midpoint."""
    lo, hi = sdplib_references()[name].optimum
    return (lo + hi) / 2.0


def gset_sdp_interval(name: str) -> tuple[float, float]:
    """The certified [lo, hi] of data/gset/README.md's table."""
    return gset_references()[name].sdp_interval


# ---------------------------------------------------------------- kernels


@pytest.mark.parametrize("weights", ["pm1", "float"])
def test_kernels_match_their_python_originals(weights):
    W = random_graph(40, 0.2, seed=1, weights=weights)
    ip, ix, w = csr_arrays(W)
    rng = np.random.default_rng(2)
    x = rng.choice(np.array([-1, 1], dtype=np.int8), size=40)
    Z = rng.standard_normal((40, 17))

    assert K.cut_value(ip, ix, w, x) == pytest.approx(K.cut_value.py_func(ip, ix, w, x))
    np.testing.assert_allclose(
        K.hyperplane_cut_values(ip, ix, w, Z), K.hyperplane_cut_values.py_func(ip, ix, w, Z)
    )
    np.testing.assert_allclose(K.flip_gains(ip, ix, w, x), K.flip_gains.py_func(ip, ix, w, x))
    fast, slow = K.one_flip_search(ip, ix, w, x, 1e-9), K.one_flip_search.py_func(ip, ix, w, x, 1e-9)
    np.testing.assert_array_equal(fast[0], slow[0])
    assert fast[1] == pytest.approx(slow[1])
    # (the breakout search against its original: tests/test_rounding.py)


@pytest.mark.parametrize("seed", range(3))
def test_cut_kernels_against_the_laplacian(seed):
    W = random_graph(30, 0.3, seed=seed, weights="float")
    ip, ix, w = csr_arrays(W)
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((30, 5))
    labels = np.where(Z < 0, -1, 1).astype(np.int8)
    expected = [laplacian_cut(W, labels[:, t]) for t in range(5)]
    np.testing.assert_allclose(K.hyperplane_cut_values(ip, ix, w, Z), expected)
    x = labels[:, 0]
    assert K.cut_value(ip, ix, w, x) == pytest.approx(expected[0])
    flipped = [laplacian_cut(W, np.where(np.arange(30) == i, -x, x)) - expected[0]
               for i in range(30)]
    np.testing.assert_allclose(K.flip_gains(ip, ix, w, x), flipped, atol=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_local_searches_report_true_gains_and_reach_local_optima(seed):
    W = random_graph(60, 0.15, seed=seed, weights="pm1")
    ip, ix, w = csr_arrays(W)
    x0 = np.random.default_rng(seed).choice(np.array([-1, 1], dtype=np.int8), size=60)
    start = laplacian_cut(W, x0)

    x1, gain1 = K.one_flip_search(ip, ix, w, x0, 1e-9)
    assert laplacian_cut(W, x1) == pytest.approx(start + gain1)
    assert gain1 >= 0
    assert np.all(K.flip_gains(ip, ix, w, x1) <= 1e-9)  # no single flip improves

    state = np.array([12345, 0, 3], dtype=np.int64)
    x2, gain2, x3, gain3, _ = K.breakout_search(ip, ix, w, x1, 500, 0.0, state, 3, 6, 3, 6, 100,
                                                0.8, 1e-9, np.inf, True)
    assert laplacian_cut(W, x2) == pytest.approx(start + gain1 + gain2)
    assert laplacian_cut(W, x3) == pytest.approx(start + gain1 + gain3)
    assert gain2 >= 0 and gain2 >= gain3


# ---------------------------------------------------------------- rounding


def test_round_cut_value_is_recomputed_and_seeded():
    W = random_graph(80, 0.1, seed=3)
    Y = np.random.default_rng(0).standard_normal((80, 6))
    x, value = round_cut(Y, W, trials=200, seed=7)
    assert x.dtype == np.int8 and set(np.unique(x)) <= {-1, 1} and x[0] == 1
    assert value == pytest.approx(laplacian_cut(W, x))
    assert value == cut_value(W, x)
    x_again, value_again = round_cut(Y, W, trials=200, seed=7)
    np.testing.assert_array_equal(x, x_again)
    assert value_again == value


def test_local_search_never_loses_and_hyperplanes_match_a_direct_count():
    W = random_graph(120, 0.05, seed=4, weights="one")
    Y = np.random.default_rng(1).standard_normal((120, 5))
    _, plain = round_cut(Y, W, trials=50, seed=3, local_search=False)
    # The same seed draws the same hyperplanes: recount them without the kernel.
    R = np.random.default_rng(3).standard_normal((5, 50))
    direct = max(laplacian_cut(W, np.where(Y @ R[:, t] < 0, -1, 1)) for t in range(50))
    assert plain == pytest.approx(direct)
    _, one_flip = round_cut(Y, W, trials=50, seed=3, moves=0)
    _, tabu = round_cut(Y, W, trials=50, seed=3)
    assert plain <= one_flip <= tabu


def test_round_cut_chunks_give_the_same_answer(monkeypatch):
    import lowrank_sdp.rounding as rounding

    W = random_graph(50, 0.2, seed=8)
    Y = np.random.default_rng(2).standard_normal((50, 4))
    monkeypatch.setattr(rounding, "_CHUNK_ENTRIES", 50 * 7)  # chunks of 7 trials
    x, value = round_cut(Y, W, trials=40, seed=1, local_search=False)
    # The best over all chunks, recounted from the same stream of directions.
    assert value == pytest.approx(max(laplacian_cut(W, np.where(Y @ g < 0, -1, 1))
                                      for g in _chunked_directions(4, 40, 7, 1).T))
    assert value == pytest.approx(laplacian_cut(W, x))


def _chunked_directions(r: int, trials: int, chunk: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    parts, done = [], 0
    while done < trials:
        t = min(chunk, trials - done)
        parts.append(rng.standard_normal((r, t)))
        done += t
    return np.hstack(parts)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [({"trials": 0}, "trials"), ({"candidates": -1}, "candidates"),
     ({"moves": -3}, "moves"), ({"moves": "many"}, "moves"), ({"moves": None}, "moves"),
     ({"time_limit": -1.0}, "time_limit")],
)
def test_round_cut_rejects_bad_options(kwargs, param):
    W = random_graph(10, 0.5, seed=0)
    with pytest.raises(ValueError, match=rf"^The '{param}' parameter of round_cut must be"):
        round_cut(np.ones((10, 2)), W, **kwargs)


def test_self_loops_are_ignored():
    W = random_graph(30, 0.3, seed=6)
    loops = W + sp.diags_array(np.arange(1.0, 31.0))
    Y = np.random.default_rng(4).standard_normal((30, 3))
    x, value = round_cut(Y, W, trials=30, seed=2)
    with pytest.warns(UserWarning, match="ignored 30 self-loops") as caught:
        x_loops, value_loops = round_cut(Y, loops, trials=30, seed=2)
    assert caught[0].filename == __file__  # the warning points at the caller's line
    np.testing.assert_array_equal(x, x_loops)
    assert value_loops == value == pytest.approx(laplacian_cut(loops, x))


def test_round_cut_rejects_bad_inputs():
    W = random_graph(10, 0.5, seed=0)
    with pytest.raises(ValueError, match=r"^The 'Y' parameter of round_cut must be"):
        round_cut(np.ones((9, 2)), W)
    with pytest.raises(ValueError, match=r"^The 'adjacency' parameter of round_cut must be a square sym"):
        round_cut(np.ones((3, 2)), np.triu(np.ones((3, 3)), 1))
    with pytest.raises(ValueError, match=r"^The 'x' parameter of cut_value must be"):
        cut_value(W, np.zeros(10))
    with pytest.raises(TypeError):
        round_cut(np.ones((10, 2)), W, trails=3)


# ---------------------------------------------------------------- maxcut


def test_five_cycle():
    W = nx.to_scipy_sparse_array(nx.cycle_graph(5), format="csr")
    res = maxcut(W)
    assert isinstance(res, MaxCutResult)
    assert res.cut_value == 4
    sdp = 2.5 * (1.0 - np.cos(4.0 * np.pi / 5.0))
    assert res.sdp_value == pytest.approx(sdp, rel=1e-6)
    assert res.sdp_value - 1e-9 <= res.upper_bound
    assert res.upper_bound == pytest.approx(sdp, rel=1e-6)
    assert res.status is ls.Status.CERTIFIED and res.certified
    assert res.ratio == pytest.approx(4 / res.upper_bound)
    assert res.gap == pytest.approx(res.upper_bound - res.sdp_value)
    assert (res.n, res.m) == (5, 5)
    assert res.sdp.Y.shape[0] == 5
    assert res.seconds >= res.solve_seconds + res.rounding_seconds - 1e-6


@pytest.mark.parametrize(("n", "seed", "weights"),
                         [(8, 0, "one"), (10, 1, "pm1"), (11, 2, "float"), (12, 3, "pm1"),
                          (12, 4, "one"), (9, 5, "float")])
def test_cut_below_max_cut_below_bound_by_brute_force(n, seed, weights):
    W = random_graph(n, 0.5, seed, weights)
    best = brute_force_max_cut(W)
    res = maxcut(W, seed=seed)
    assert res.cut_value == pytest.approx(laplacian_cut(W, res.x))
    assert res.cut_value <= best + 1e-9
    assert best <= res.upper_bound + 1e-9 * (1 + abs(best))
    assert res.sdp_value <= res.upper_bound + 1e-9


def test_isolated_vertices_and_input_forms_agree():
    G = nx.path_graph(7)
    G.add_nodes_from(range(7, 10))  # three isolated vertices
    G.name = "path+isolated"
    dense = nx.to_numpy_array(G)
    results = [maxcut(G), maxcut(dense), maxcut(sp.csr_matrix(dense)), maxcut(sp.coo_array(dense))]
    for res in results:
        assert res.n == 10 and res.m == 6
        assert res.cut_value == 6  # a path is bipartite
        assert res.sdp_value == pytest.approx(6, rel=1e-6)
        assert res.x.shape == (10,)
    assert results[0].name == "path+isolated"


def test_edgeless_graph():
    res = maxcut(np.zeros((4, 4)))
    assert res.cut_value == 0 and res.m == 0
    assert res.upper_bound == pytest.approx(0, abs=1e-9)


def test_callback_interrupt_still_returns_a_cut():
    W = random_graph(200, 0.05, seed=9, weights="one")

    def stop(state):
        if state.iteration >= 3:
            raise KeyboardInterrupt

    res = maxcut(W, callback=stop)
    assert res.status is ls.Status.INTERRUPTED
    assert res.cut_value == pytest.approx(laplacian_cut(W, res.x))
    assert res.cut_value <= res.upper_bound


def test_maxcut_input_errors():
    with pytest.raises(ValueError, match=r"^The 'graph' parameter of maxcut must be a square sym"):
        maxcut(np.triu(np.ones((4, 4)), 1))
    with pytest.raises(ValueError, match=r"^The 'graph' parameter of maxcut must be an undir"):
        maxcut(nx.DiGraph([(0, 1)]))
    with pytest.raises(ValueError, match=r"^The 'graph' parameter of maxcut must be"):
        maxcut(42)
    with pytest.raises(ValueError, match=r"^The 'trials' parameter of maxcut must be"):
        maxcut(np.ones((3, 3)), trials=0)
    with pytest.raises(TypeError):
        maxcut(np.ones((3, 3)), trails=5)


def test_to_dict_is_plain():
    res = maxcut(nx.petersen_graph())
    d = res.to_dict()
    assert d["status"] == res.status.name
    assert {"name", "n", "m", "objective", "bound", "gap", "cut_value", "rank",
            "seconds", "status"} <= set(d)
    assert "x" not in d and "sdp" not in d
    assert d["cut_value"] == 12  # Petersen graph's max cut
    assert json.loads(json.dumps(d)) == d


def test_one_result_vocabulary():
    """maxcut's result and solve's result share every key of to_dict, and mean the same by it."""
    res = maxcut(nx.petersen_graph())
    sdp = res.sdp.to_dict()
    d = res.to_dict()
    keys = list(ls.BaseResult.KEYS)
    assert list(d)[: len(keys)] == list(sdp)[: len(keys)] == keys
    for key in ("n", "sense", "objective", "bound", "gap", "relative_gap", "certified", "status",
                "rank", "method", "iterations", "evidence"):
        assert d[key] == sdp[key], key
    assert (res.sdp_value, res.upper_bound) == (res.objective, res.bound)  # the Max-Cut names
    assert res.relative_gap == res.sdp.relative_gap == res.sdp.certificate.relative_gap


def test_maxcut_forwards_every_solve_option():
    import inspect

    from lowrank_sdp.solve import PROBLEM_PARAMETERS

    solve_options = set(inspect.signature(ls.solve).parameters) - {"C", "sense", *PROBLEM_PARAMETERS}
    params = inspect.signature(maxcut).parameters
    assert solve_options <= set(params)
    assert all(p.kind is p.KEYWORD_ONLY for name, p in params.items() if name != "graph")
    G = nx.petersen_graph()
    with pytest.raises(TypeError):
        maxcut(G, 3)  # keyword-only
    res = maxcut(G, max_iterations=2, rank=3)
    assert res.status is ls.Status.MAX_ITERATIONS and res.sdp.iterations == 2
    assert maxcut(G, max_rank=2, rank="auto").rank <= 2
    warm = maxcut(G, Y0=res.sdp.Y)
    assert warm.certified and warm.sdp.rank_history[0] == 3  # started from Y0
    assert maxcut(G, rigorous=True).sdp.certificate.evidence is ls.Evidence.FACTORIZATION


# ---------------------------------------------------------------- published optima

SDPLIB_FAST = [
    "mcp100", "mcp124-1", "mcp124-2", "mcp124-3", "mcp124-4", "mcp250-1", "mcp250-2",
    "mcp250-3", "mcp250-4", "mcp500-1", "mcp500-2", "mcp500-3", "mcp500-4", "maxG11",
]


@pytest.mark.parametrize("name", SDPLIB_FAST)
def test_sdplib_maxcut_optimum(name):
    from lowrank_sdp.io import read_sdpa

    C, offset, sense = read_sdpa(DATA / "sdplib" / f"{name}.dat-s").unit_diagonal_cost()
    res = ls.solve(C, sense=sense)
    reference = sdplib_optimum(name)
    assert res.status is ls.Status.CERTIFIED
    value, bound = res.objective + offset, res.bound + offset
    assert value == pytest.approx(reference, rel=1e-6)
    assert bound >= reference * (1 - 1e-9)  # an upper bound for this max problem


# G11 is SDPLIB's maxG11 (tested above, and slow); G18 stands in for the ±1-weighted graphs.
@pytest.mark.parametrize("name", ["G14", "G18", "G43", "G48"])
def test_gset_sdp_value(name):
    from lowrank_sdp.io import read_graph

    res = maxcut(DATA / "gset" / f"{name}.txt.gz")
    lo, hi = gset_sdp_interval(name)
    assert res.name.startswith(name)
    assert res.status is ls.Status.CERTIFIED
    assert res.sdp_value == pytest.approx(lo, rel=1e-6)
    assert res.sdp_value <= hi * (1 + 1e-9)  # a feasible point cannot beat the dual bound
    assert res.upper_bound >= lo * (1 - 1e-9)
    assert res.cut_value <= res.upper_bound
    assert res.cut_value == laplacian_cut(read_graph(DATA / "gset" / f"{name}.txt.gz").adjacency,
                                          res.x)


# ---------------------------------------------------------------- the one graph door


def test_graph_door_empty_and_bad_graphs():
    with pytest.raises(ValueError, match=r"^The 'graph' parameter of maxcut must be a graph with at "
                       "least one vertex"):
        maxcut(nx.Graph())
    with pytest.raises(ValueError, match=r"^The 'weight' parameter of maxcut"):
        maxcut(nx.path_graph(3), weight=3)


def test_self_loops_warn_on_every_input():
    G = nx.cycle_graph(5)
    G.add_edge(0, 0, weight=7)
    with pytest.warns(UserWarning, match="ignored 1 self-loop"):
        res = maxcut(G)
    assert res.cut_value == 4
    W = nx.to_numpy_array(nx.cycle_graph(5)) + np.diag([1.0, 0, 0, 0, 0])
    with pytest.warns(UserWarning, match="ignored 1 self-loop"):
        assert maxcut(W).cut_value == 4
    with pytest.warns(UserWarning, match="ignored 1 self-loop"):
        assert maxcut(sp.csr_matrix(W)).cut_value == 4


def test_a_laplacian_passed_by_mistake_warns():
    L = nx.laplacian_matrix(nx.cycle_graph(5)).toarray().astype(float)
    with pytest.warns(UserWarning, match="looks like a Laplacian"):
        maxcut(L)


def test_one_symmetry_tolerance():
    """Rounding-level asymmetry is accepted (the symmetric part is used) by maxcut, round_cut and
    read_graph alike; beyond SYMMETRY_RTOL every one of them refuses with the same message."""
    from lowrank_sdp.io import read_graph
    from lowrank_sdp.validation import SYMMETRY_RTOL

    W = nx.to_numpy_array(nx.petersen_graph())
    W[0, 1] += 0.1 * SYMMETRY_RTOL
    assert maxcut(W).cut_value == pytest.approx(12)
    assert read_graph(W).m == 15
    Y = np.random.default_rng(0).standard_normal((10, 3))
    round_cut(Y, W, trials=5)
    W[0, 1] += 10 * SYMMETRY_RTOL
    for call in (lambda: maxcut(W), lambda: read_graph(W), lambda: round_cut(Y, W)):
        with pytest.raises(ValueError, match="SYMMETRY_RTOL = 1e-10"):
            call()


def test_weight_attribute_and_partition_by_labels():
    G = nx.Graph()
    G.add_edge("a", "b", weight=1.0, cost=5.0)
    G.add_edge("b", "c", weight=1.0, cost=1.0)
    G.add_edge("a", "c", weight=1.0, cost=1.0)
    by_weight, by_cost = maxcut(G), maxcut(G, weight="cost")
    assert by_weight.cut_value == 2
    assert by_cost.cut_value == 6  # a-b (cost 5) and one of the two cost-1 edges
    plus, minus = by_cost.partition()
    assert sorted(plus + minus) == ["a", "b", "c"]
    assert ("a" in plus) != ("b" in plus)
    assert maxcut(G, weight=None).cut_value == 2
    labels = dict(zip(by_cost.labels, by_cost.x.tolist()))
    assert labels["a"] != labels["b"]
