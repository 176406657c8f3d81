"""The peer benchmark harness (benchmarks/peers.py) runs, and the solvers it finds agree."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import peer_runners as runners  # noqa: E402
from benchmarks import peers  # noqa: E402


def test_references_parsed_from_the_data_readmes():
    sdplib, gset = peers.sdplib_instances(), peers.gset_instances()
    files = {p.name.removesuffix(".dat-s") for p in (REPO / "data/sdplib").glob("m*.dat-s")}
    assert set(sdplib) == files
    assert {p.name.removesuffix(".txt.gz") for p in (REPO / "data/gset").glob("G*.txt.gz")} == set(
        gset
    )
    for inst in [*sdplib.values(), *gset.values()]:
        lo, hi = inst.reference
        assert 0 < lo <= hi <= lo * (1 + 1e-5), inst
    # The sizes in the tables are those of the files, as the runner reads them.
    for inst in (sdplib["mcp124-1"], sdplib["maxG11"], gset["G14"]):
        g = runners.load_graph(inst.spec())
        assert (g.n, g.m) == (inst.n, inst.edges)


@pytest.mark.parametrize("family", ["er", "torus"])
@pytest.mark.parametrize("n", [100, 800, 1600])
def test_random_graphs(family, n):
    m, i, j, w = runners.random_graph(family, n, seed=3)
    assert m == n and np.all(i < j) and np.all(j < n)
    assert np.unique(i * n + j).size == i.size  # no repeated edge
    deg = np.bincount(np.concatenate([i, j]), minlength=n)
    if family == "er":
        assert i.size == 3 * n and np.all(w == 1)
    else:
        assert np.all(deg == 4) and set(np.unique(w)) == {-1.0, 1.0}
    again = runners.random_graph(family, n, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(again[1:], (i, j, w)))


def test_cost_matrix_is_the_sdplib_objective_block(tmp_path):
    # The runner's L/4 for an SDPLIB file is the file's own F0 (parsed here independently), and
    # a random graph written for CSDP/SDPA reads back as the same matrix.
    path = REPO / "data/sdplib/mcp100.dat-s"
    C = runners.load_graph({"kind": "sdplib", "path": "data/sdplib/mcp100.dat-s"})
    C = C.laplacian_quarter().toarray()
    F0 = np.zeros_like(C)
    for line in path.read_text().splitlines()[4:]:
        mat, _, a, b, v = line.split()
        if mat == "0":
            F0[int(a) - 1, int(b) - 1] = F0[int(b) - 1, int(a) - 1] = float(v)
    assert np.allclose(C, F0, atol=1e-12)
    spec = {"kind": "random", "family": "torus", "n": 64, "seed": 1}
    g = runners.load_graph(spec)
    written = runners.sdpa_file_for(spec, g, tmp_path)
    back = runners.load_graph({"kind": "sdplib", "path": str(written)})
    assert abs(back.laplacian_quarter() - g.laplacian_quarter()).max() == 0


def test_fit_exponent_and_series_sizes():
    xs = [100 * 2**k for k in range(8)]
    assert math.isclose(peers.fit_exponent(xs, [1e-4 * x**1.3 for x in xs]), 1.3, rel_tol=1e-9)
    assert peers.fit_exponent(xs[:2], [1.0, 2.0]) is None  # too few points to fit
    assert peers.series_sizes(10**6) == [*(100 * 2**k for k in range(14)), 10**6]
    assert peers.series_sizes(800) == [100, 200, 400, 800]


def test_disagreement_is_detected():
    rec = {"solver": "csdp", "instance": "x", "status": "OK", "objective": 101.0,
           "reference": [100.0, 100.0]}
    rec["relative_error"] = peers.relative_error(rec["objective"], (100.0, 100.0))
    assert peers.disagreements([rec]) and not peers.disagreements([{**rec, "status": "TIMEOUT"}])
    assert peers.relative_error(100.5, (100.0, 101.0)) == 0.0


def test_quick_benchmark_peers_agree(tmp_path):
    out = tmp_path / "peers.json"
    proc = subprocess.run([sys.executable, "benchmarks/peers.py", "--quick", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    found = [s for s, v in data["found"].items() if v]
    assert "lowrank" in found, "lowrank_sdp.solve must be found by the benchmark"
    records = data["records"]
    by_instance: dict[str, list[dict]] = {}
    for r in records:
        by_instance.setdefault(r["instance"], []).append(r)
    for recs in by_instance.values():
        ours = next(r for r in recs if r["solver"] == "lowrank")
        assert ours["status"] == "OK", ours
        assert ours["bound"] >= ours["objective"] - 1e-9 * abs(ours["objective"])
        for r in recs:
            assert r["status"] in {s.name for s in peers.RunStatus}
            if r["status"] != "OK":
                continue
            # Every solver that claims success is within 1e-4 of every other one: an
            # independent check of the harness (sign, scaling, file format) and of our solver.
            assert abs(r["objective"] - ours["objective"]) <= 1e-4 * abs(ours["objective"]), r
            if r.get("reference") and r["kind"] != "random":
                assert r["relative_error"] <= 1e-4, r
            assert r["seconds"] > 0 and r["peak_mb"] > 0
    peers_ok = {r["solver"] for r in records if r["status"] == "OK"} - {"lowrank"}
    if len(found) > 1:
        assert peers_ok, "no peer reached the optimum on the quick instances"
