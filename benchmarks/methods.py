"""Which method is fastest for which kind of problem: the measurements behind method="auto".

    python benchmarks/methods.py                 # benchmarks/results/methods.json and the
                                                 # "methods" section of docs/benchmarks.md
    python benchmarks/methods.py --write-table   # also lowrank_sdp/solvers/method_table.py, the
                                                 # table method="auto" ships with

Each method solves each instance to a certified relative gap of 1e-6 (after a JIT warm-up), several
times; the median wall time per instance is recorded and, per problem class, the method with the
smallest geometric-mean time wins. A method that fails to certify an instance cannot win its class.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lowrank_sdp as ls
from benchmarks._report import REPO, machine_info, machine_line, write_section
from lowrank_sdp.io import read_graph
from lowrank_sdp.problem import make_problem
from lowrank_sdp.solvers import method_table, problem_class

TOL = 1e-6


def _gset(name: str) -> sp.csr_matrix:
    return read_graph(REPO / "data" / "gset" / f"{name}.txt.gz").laplacian_quarter()


def _dense(n: int, seed: int) -> np.ndarray:
    A = np.random.default_rng(seed).standard_normal((n, n))
    return (A + A.T) / 2


def _smooth(n: int, seed: int) -> ls.Objective:
    """f(X) = <C, X> + 0.5 ||X - A||_F^2 / n: convex, nonlinear (a nearest-correlation flavour)."""
    rng = np.random.default_rng(seed)
    C = _dense(n, seed) / np.sqrt(n)
    B = rng.standard_normal((n, 3))
    A = B @ B.T / 3

    def fun(Y):
        D = Y @ Y.T - A
        return float(np.vdot(C, Y @ Y.T) + 0.5 * np.vdot(D, D) / n), C + D / n

    return ls.Objective(fun, n=n, convex=True)


def instances(quick: bool):
    """(name, C, sense) triples, labelled by problem class."""
    # Random (G1, G22, G43, G55), planar-like (G14) and toroidal (G11, G57) graphs, n 800-5000.
    graphs = ["G1", "G14"] if quick else ["G1", "G14", "G22", "G43", "G11", "G55", "G57"]
    for g in graphs:
        yield g, _gset(g), "max"
    for n in ([200] if quick else [200, 500]):
        yield f"dense{n}", _dense(n, n), "min"
    C = _gset("G14")
    yield "G14-operator", aslinearoperator(C), "max"
    for n in ([60] if quick else [60, 120]):
        yield f"smooth{n}", _smooth(n, n), "min"


def write_table(choice: dict[str, str], date: str) -> None:
    """Rewrite the module that method="auto" reads (shipped in the wheel as code)."""
    path = Path(method_table.__file__)
    head = path.read_text().split("MEASURED = ", 1)[0]
    body = json.dumps({"choice": dict(sorted(choice.items())), "measured": date,
                       "source": "benchmarks/methods.py"}, indent=4)
    path.write_text(head + "MEASURED = " + body + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer, smaller instances")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--no-write", action="store_true", help="print only; change no files")
    parser.add_argument("--write-table", action="store_true",
                        help="also rewrite lowrank_sdp/solvers/method_table.py (what auto uses)")
    args = parser.parse_args(argv)

    ls.solve(_dense(30, 0))  # JIT warm-up of every kernel used below
    for m in ls.METHODS:
        ls.solve(_gset("G11")[:60, :60].tocsr(), sense="max", method=m, max_iterations=5)

    rows = []
    for name, C, sense in instances(args.quick):
        problem = make_problem(C, sense)
        kind = problem_class(problem)
        for method, spec in ls.METHODS.items():
            if spec.refusal(problem) is not None:
                continue
            times, res = [], None
            for rep in range(args.repeats):
                t0 = time.perf_counter()
                res = ls.solve(C, sense=sense, method=method, tol=TOL, seed=rep,
                               time_limit=args.time_limit)
                times.append(time.perf_counter() - t0)
            row = {
                "instance": name, "class": kind, "method": method,
                "median_seconds": statistics.median(times), "seconds": times,
                "status": res.status.name, "relative_gap": res.relative_gap,
                "iterations": res.iterations, "rank": res.rank,
            }
            rows.append(row)
            print(f"{name:14s} {kind:9s} {method:7s} {row['median_seconds']:8.3f} s  "
                  f"{res.status.name:10s} gap {res.relative_gap:.1e}  it {res.iterations}", flush=True)

    choice, scores = {}, {}
    for kind in sorted({r["class"] for r in rows}):
        per_method: dict[str, list[float]] = {}
        for r in rows:
            if r["class"] == kind:
                ok = r["status"] == "CERTIFIED"
                per_method.setdefault(r["method"], []).append(r["median_seconds"] if ok else np.inf)
        geo = {m: float(np.exp(np.mean(np.log(v)))) for m, v in per_method.items()}
        scores[kind] = geo
        choice[kind] = min(geo, key=geo.get)
    info = machine_info()
    payload = {"machine": info, "tol": TOL, "repeats": args.repeats, "choice": choice,
               "geometric_mean_seconds": scores, "rows": rows}
    print(json.dumps({"choice": choice, "geometric_mean_seconds": scores}, indent=1))
    if args.no_write:
        return 0
    (REPO / "benchmarks" / "results").mkdir(exist_ok=True)
    (REPO / "benchmarks" / "results" / "methods.json").write_text(json.dumps(payload, indent=1))
    if args.write_table:
        write_table(choice, info["date"])
    lines = [
        "## Which method `method=\"auto\"` picks",
        "",
        f"Written by `python benchmarks/methods.py`. {machine_line(info)}",
        f"Median wall seconds of {args.repeats} solves to a certified relative gap of {TOL:g}"
        " (a dash: not certified within the time limit).",
        "",
        "| instance | class | " + " | ".join(ls.METHODS) + " |",
        "|---|---|" + "---:|" * len(ls.METHODS),
    ]
    for name in dict.fromkeys(r["instance"] for r in rows):
        cells = []
        for m in ls.METHODS:
            r = next((r for r in rows if r["instance"] == name and r["method"] == m), None)
            if r is None:
                cells.append("n/a")
            elif r["status"] != "CERTIFIED":
                cells.append("-")
            else:
                cells.append(f"{r['median_seconds']:.3f}")
        kind = next(r["class"] for r in rows if r["instance"] == name)
        lines.append(f"| {name} | {kind} | " + " | ".join(cells) + " |")
    lines += ["", "Choice per class (smallest geometric mean): "
              + ", ".join(f"{k}: **{v}**" for k, v in choice.items()) + "."]
    write_section("benchmarks.md", "methods", "\n".join(lines), title="Benchmarks")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
