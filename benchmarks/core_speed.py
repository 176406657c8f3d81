"""Time to a certified relative gap of 1e-6 on G-set graphs, peak memory, and cvxpy/SCS as a ratio.

    python benchmarks/core_speed.py                    # G1, G22, G81 (the issue's targets)
    python benchmarks/core_speed.py --only G1 --scs-time-limit 60

One process; every kernel is compiled (warm-up solve) before timing; the median of --repeats solves.
Peak memory is measured in a separate solve under tracemalloc (NumPy reports its buffers to it), so
it counts the solver's arrays, not the interpreter. cvxpy+SCS runs in a child process with a wall
time limit; when it does not finish, the ratio is a lower bound ("> x").
Results: benchmarks/results/core_speed.json and the "core-speed" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lowrank_sdp as ls
from benchmarks._report import REPO, machine_info, machine_line, write_section
from lowrank_sdp.io import read_graph

TOL = 1e-6
TARGETS = {"G1": 0.3, "G22": 1.0, "G81": 10.0}

SCS_CHILD = r"""
import sys, time, json
import cvxpy as cp
from lowrank_sdp.io import read_graph
C = read_graph(sys.argv[1]).laplacian_quarter().toarray()
n = C.shape[0]
X = cp.Variable((n, n), PSD=True)
prob = cp.Problem(cp.Maximize(cp.trace(C @ X)), [cp.diag(X) == 1])
t = time.perf_counter()
prob.solve(solver="SCS", eps=1e-6)
print(json.dumps({"seconds": time.perf_counter() - t, "value": prob.value, "status": prob.status}))
"""


def run_scs(path: Path, limit: float) -> dict:
    t = time.perf_counter()
    try:
        out = subprocess.run([sys.executable, "-c", SCS_CHILD, str(path)], capture_output=True,
                             text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "seconds": time.perf_counter() - t}
    if out.returncode != 0:
        return {"status": "failed", "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--only", default="G1,G22,G81", help="comma-separated G-set names")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=300.0, help="per solve")
    parser.add_argument("--scs-time-limit", type=float, default=300.0,
                        help="wall limit for cvxpy+SCS per instance (0: skip SCS)")
    parser.add_argument("--scs-max-n", type=int, default=2000,
                        help="skip cvxpy+SCS above this n (its dense n x n variable)")
    parser.add_argument("--method", default="auto")
    parser.add_argument("--merge", action="store_true",
                        help="keep the rows of instances not run this time from the last results")
    args = parser.parse_args(argv)

    warm = read_graph(REPO / "data" / "gset" / "G11.txt.gz").laplacian_quarter()
    for m in ls.METHODS:
        ls.solve(warm, sense="max", method=m, max_iterations=20)
    ls.solve(warm, sense="max")

    rows = []
    for name in args.only.split(","):
        path = REPO / "data" / "gset" / f"{name}.txt.gz"
        graph = read_graph(path)
        C = graph.laplacian_quarter()
        times, res = [], None
        for rep in range(args.repeats):
            t0 = time.perf_counter()
            res = ls.solve(C, sense="max", tol=TOL, seed=rep, method=args.method,
                           time_limit=args.time_limit)
            times.append(time.perf_counter() - t0)
        tracemalloc.start()
        ls.solve(C, sense="max", tol=TOL, seed=0, method=args.method, time_limit=args.time_limit)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        row = {
            "measured": machine_info()["date"],
            "instance": name, "n": graph.n, "edges": graph.m, "median_seconds": statistics.median(times),
            "seconds": times, "status": res.status.name, "relative_gap": res.relative_gap,
            "objective": res.objective, "bound": res.bound, "rank": res.rank,
            "rank_history": list(res.rank_history), "iterations": res.iterations, "method": res.method,
            "peak_traced_mb": peak / 2**20, "target_seconds": TARGETS.get(name),
        }
        if args.scs_time_limit > 0 and graph.n <= args.scs_max_n:
            row["scs"] = run_scs(path, args.scs_time_limit)
        elif args.scs_time_limit > 0:
            row["scs"] = {"status": "not_attempted", "reason": f"n > {args.scs_max_n}"}
        rows.append(row)
        print(json.dumps(row), flush=True)

    info = machine_info(("numpy", "scipy", "numba", "cvxpy", "scs"))
    out = REPO / "benchmarks" / "results" / "core_speed.json"
    out.parent.mkdir(exist_ok=True)
    if args.merge and out.exists():  # keep earlier rows of instances not run this time
        ran = {r["instance"] for r in rows}
        earlier = [r for r in json.loads(out.read_text())["rows"] if r["instance"] not in ran]
        for r in earlier:
            r.setdefault("measured", json.loads(out.read_text())["machine"]["date"])
        rows = earlier + rows
    out.write_text(json.dumps({"machine": info, "tol": TOL, "rows": rows}, indent=1))
    lines = [
        "## Time to a certified gap (issue 2 targets)",
        "",
        f"Written by `python benchmarks/core_speed.py`. {machine_line(info)}",
        f"Median of the solves listed in benchmarks/results/core_speed.json to relative gap <= {TOL:g}"
        " (status CERTIFIED unless said; each row carries its measurement time),"
        " after JIT warm-up; peak = largest traced allocation during one solve (tracemalloc).",
        "",
        "| graph | n | edges | method | median s | target s | status | rel. gap | rank | peak MB |"
        " cvxpy+SCS s | SCS / ours |",
        "|---|---:|---:|---|---:|---:|---|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        scs = r.get("scs", {})
        if scs.get("status") == "timeout":
            limit = scs["seconds"]
            scs_s, ratio = f"> {limit:.0f} (time-out)", f"> {limit / r['median_seconds']:.0f}"
        elif "seconds" in scs:
            scs_s, ratio = f"{scs['seconds']:.1f}", f"{scs['seconds'] / r['median_seconds']:.0f}"
        elif scs.get("status") == "not_attempted":
            scs_s, ratio = f"not run ({scs['reason']})", ""
        else:
            scs_s, ratio = scs.get("status", "not run"), ""
        target = r["target_seconds"]
        lines.append(
            f"| {r['instance']} | {r['n']} | {r['edges']} | {r['method']} | {r['median_seconds']:.3f} | "
            f"{target if target is not None else ''} | {r['status']} | {r['relative_gap']:.1e} | "
            f"{'→'.join(map(str, r['rank_history']))} | {r['peak_traced_mb']:.1f} | {scs_s} | {ratio} |"
        )
    write_section("benchmarks.md", "core-speed", "\n".join(lines), title="Benchmarks")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
