"""Growth at scale: Max-Cut SDPs on Erdos-Renyi graphs (average degree 10) and 2-D +-1 tori.

    python benchmarks/scale.py                          # ER and torus, n = 1e3 .. until one fails
    python benchmarks/scale.py --series er --max-n 100000 --time-limit 300
    python benchmarks/scale.py --quick                  # n = 1e3 .. 1e4, for a smoke run

For every n of a series (1e3, 3e3, 1e4, 3e4, 1e5, ...) and every tolerance (1e-5, 1e-6): one solve
of `lowrank_sdp.solve(L/4, sense="max", tol=...)` after a JIT warm-up, its time (`Result.seconds`,
certificates included), iterations, final rank, status, and the peak of traced allocations
(tracemalloc: NumPy reports its buffers to it) during the solve; plus the cost of one certificate
at the final point. A series stops at the first n whose solve is not CERTIFIED within
--time-limit (the row says so) or past --max-n. Growth exponents are least-squares slopes of
log(seconds) against log(edges x rank) over the certified rows. The load (`os.getloadavg`) is
recorded before and after every solve: on a shared machine the numbers move with it.
Results: benchmarks/results/scale.json, docs/img/scale.png and docs/scale.md (written here).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lowrank_sdp as ls
from benchmarks._report import REPO, machine_info, machine_line

TOLS = (1e-5, 1e-6)
SIZES = (1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000)


def erdos_renyi(n: int, degree: float = 10.0, seed: int = 0) -> sp.csr_matrix:
    """Adjacency of G(n, m) with m = n * degree / 2 distinct edges, unit weights."""
    rng = np.random.default_rng(seed)
    m = int(n * degree / 2)
    edges = np.empty(0, dtype=np.int64)
    while edges.size < m:  # draw, drop loops and repeats, top up
        i, j = rng.integers(0, n, 2 * m), rng.integers(0, n, 2 * m)
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        key = lo[lo != hi] * n + hi[lo != hi]
        edges = np.unique(np.concatenate([edges, key]))
    edges = rng.permutation(edges)[:m]
    i, j = edges // n, edges % n
    W = sp.coo_matrix((np.ones(m), (i, j)), shape=(n, n))
    return sp.csr_matrix(W + W.T)


def torus(side: int, seed: int = 0) -> sp.csr_matrix:
    """Adjacency of the side x side 2-D torus with independent +-1 weights (G-set's toroidal kind)."""
    rng = np.random.default_rng(seed)
    n = side * side
    idx = np.arange(n).reshape(side, side)
    a = np.concatenate([idx.ravel(), idx.ravel()])
    b = np.concatenate([np.roll(idx, -1, 0).ravel(), np.roll(idx, -1, 1).ravel()])
    W = sp.coo_matrix((rng.choice([-1.0, 1.0], a.size), (a, b)), shape=(n, n))
    return sp.csr_matrix(W + W.T)


def cost(W: sp.csr_matrix) -> sp.csr_matrix:
    """L / 4 (Max-Cut: maximise <L/4, X>)."""
    degrees = np.asarray(W.sum(axis=1)).ravel()
    return sp.csr_matrix((sp.diags(degrees) - W) / 4.0)


def graph(series: str, n: int) -> tuple[sp.csr_matrix, int]:
    """(L/4, n actually used): tori use side = round(sqrt(n))."""
    if series == "er":
        return cost(erdos_renyi(n)), n
    side = max(3, round(math.sqrt(n)))
    return cost(torus(side)), side * side


def _plain(x):
    """numpy scalars as Python numbers, for json."""
    return x.item()


def one_solve(C, tol: float, time_limit: float) -> dict:
    load0 = os.getloadavg()[0]
    tracemalloc.start()
    res = ls.solve(C, sense="max", tol=tol, time_limit=time_limit)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    t = time.perf_counter()
    ls.certify(C, res.Y, sense="max")
    cert_s = time.perf_counter() - t
    return {
        "tol": tol, "status": res.status.name, "seconds": res.seconds, "iterations": res.iterations,
        "rank": int(res.rank), "rank_history": [int(k) for k in res.rank_history],
        "relative_gap": res.relative_gap,
        "objective": res.objective, "bound": res.bound, "peak_mb": peak / 2**20,
        "certificate_seconds": cert_s, "method": res.method,
        "load_before": load0, "load_after": os.getloadavg()[0],
    }


DIST_ITERATIONS = 60


def _dist_worker(rank: int, world: int, init_file: str, n: int, r: int, out: str) -> None:
    import torch
    import torch.distributed as dist

    from lowrank_sdp.torch.distributed import row_block, solve_sharded

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world)
    try:
        lo, hi = row_block(n, rank, world)
        rows = cost(erdos_renyi(n))[lo:hi]
        C_rows = torch.sparse_csr_tensor(
            torch.from_numpy(rows.indptr.astype(np.int64)),
            torch.from_numpy(rows.indices.astype(np.int64)), torch.from_numpy(rows.data),
            size=rows.shape, dtype=torch.float64)
        dist.barrier()
        t = time.perf_counter()
        res = solve_sharded(C_rows, n, sense="max", rank=r, tol=1e-12,
                            max_iterations=DIST_ITERATIONS)
        seconds = time.perf_counter() - t
        if rank == 0:
            Path(out).write_text(json.dumps({"seconds": seconds, "iterations": res.iterations}))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def distributed_measure(n: int, r: int = 32) -> dict:
    """Seconds for DIST_ITERATIONS iterations (plus the final certificate) on 1 and 2 gloo ranks."""
    import tempfile

    import torch.multiprocessing as mp

    out = {"n": n, "rank": r, "iterations": DIST_ITERATIONS, "load_before": os.getloadavg()[0]}
    for world in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "out.json")
            mp.spawn(_dist_worker, args=(world, str(Path(tmp) / "init"), n, r, path),
                     nprocs=world, join=True)
            out[f"seconds_{world}"] = json.loads(Path(path).read_text())["seconds"]
    out["load_after"] = os.getloadavg()[0]
    return out


def fit(rows: list[dict], tol: float) -> float | None:
    pts = [(math.log(r["edges"] * r["rank"]), math.log(r["seconds"])) for r in rows
           if r["tol"] == tol and r["status"] == "CERTIFIED"]
    if len(pts) < 2:
        return None
    x, y = np.array(pts).T
    return float(np.polyfit(x, y, 1)[0])


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for series, marker in (("er", "o"), ("torus", "s")):
        for tol, style in zip(TOLS, ("-", "--")):
            pts = [(r["edges"] * r["rank"], r["seconds"]) for r in rows if r["series"] == series
                   and r["tol"] == tol and r["status"] == "CERTIFIED"]
            if pts:
                x, y = zip(*pts)
                ax.loglog(x, y, marker=marker, linestyle=style, label=f"{series}, tol {tol:g}")
    ax.set_xlabel("edges x final rank")
    ax.set_ylabel("seconds to certified gap")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(rows: list[dict], stops: dict, info: dict, argv: list[str],
           dist_row: dict | None = None) -> str:
    lines = [
        "# Scale: Max-Cut SDPs from 10^3 vertices up",
        "",
        "Written by `python benchmarks/scale.py " + " ".join(argv) + "` (do not edit by hand). "
        + machine_line(info),
        f"Threads: NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS', 'default')}, BLAS 1 "
        "(the solver pins it). The machine was shared with other engineers' jobs while this ran: "
        "the load average (1 min) is given with every row, and times move with it.",
        "",
        "Graphs: Erdos-Renyi G(n, m) with m = 5n (average degree 10, unit weights) and the "
        "side x side 2-D torus with +-1 weights. Each row is one solve of "
        '`ls.solve(L/4, sense="max", tol=tol, time_limit=...)` after a JIT warm-up; seconds are '
        "`Result.seconds` (certificates included); peak = largest traced allocation (tracemalloc); "
        "cert s = one more certificate at the final point.",
        "",
        "| series | n | edges | tol | status | seconds | iterations | rank (history) | rel. gap | "
        "peak MB | cert s | load |",
        "|---|---:|---:|---:|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        hist = ",".join(str(k) for k in r["rank_history"])
        lines.append(
            f"| {r['series']} | {r['n']} | {r['edges']} | {r['tol']:g} | {r['status']} | "
            f"{r['seconds']:.2f} | {r['iterations']} | {r['rank']} ({hist}) | "
            f"{r['relative_gap']:.1e} | {r['peak_mb']:.0f} | {r['certificate_seconds']:.2f} | "
            f"{r['load_before']:.1f}-{r['load_after']:.1f} |")
    lines += ["", "Growth exponents (slope of log seconds against log(edges x rank), certified rows):",
              ""]
    for series in ("er", "torus"):
        for tol in TOLS:
            e = fit([r for r in rows if r["series"] == series], tol)
            lines.append(f"- {series}, tol {tol:g}: " + ("not enough certified rows" if e is None
                                                         else f"{e:.2f}"))
    lines += ["", "Where each series stopped:", ""]
    for series, why in stops.items():
        lines.append(f"- {series}: {why}")
    if dist_row is not None:
        d = dist_row
        lines += ["", "## Two processes (torch.distributed, gloo, C sharded by rows)", "",
                  f"ER n = {d['n']}, rank {d['rank']}, {d['iterations']} RGD iterations plus the "
                  "final certificate, `lowrank_sdp.torch.distributed.solve_sharded` (one torch "
                  "thread per process): "
                  f"1 process {d['seconds_1']:.2f} s, 2 processes {d['seconds_2']:.2f} s "
                  f"(ratio {d['seconds_1'] / d['seconds_2']:.2f}x; load "
                  f"{d['load_before']:.1f}-{d['load_after']:.1f} on {os.cpu_count()} cores)."]
    lines += ["", "![time against edges x rank](img/scale.png)", ""]
    lines += [
        "## The torch path and more processes", "",
        "`lowrank_sdp.solve(C, device=\"cpu\" | \"cuda\" | torch.device)` runs the same method "
        "(rgd with the Barzilai-Borwein step, the same staircase) on torch tensors in float64; C "
        "may be a torch sparse CSR or dense tensor, anything the numpy path takes, or a callable "
        "`C(Y)` with a `shape`. The certificate is the numpy one on a CPU copy of Y (sound, "
        "CPU-bound at large n). `benchmarks/gpu_scale.py` generates a 10^7-vertex graph on a GPU, "
        "solves and certifies in one go; it has not been run (no GPU was lent to this work).", "",
        "Row sharding: `lowrank_sdp.torch.distributed.solve_sharded(C_rows, n, ...)`, launched "
        "with `torchrun --nproc_per_node=2 script.py` after `dist.init_process_group(\"gloo\")` "
        "(\"nccl\" on GPUs); each process holds rows `row_block(n, rank, world)` of C and Y, one "
        "all-gather of Y per product, all-reduced scalars, certificate on rank 0. Fixed rank.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--series", choices=("er", "torus", "both"), default="both")
    parser.add_argument("--max-n", type=int, default=SIZES[-1])
    parser.add_argument("--time-limit", type=float, default=300.0)
    parser.add_argument("--tols", type=float, nargs="+", default=list(TOLS))
    parser.add_argument("--quick", action="store_true", help="n = 1e3 .. 1e4 only")
    parser.add_argument("--no-docs", action="store_true", help="results JSON only")
    parser.add_argument("--from-json", action="store_true",
                        help="rewrite docs/scale.md and the plot from results/scale.json only")
    parser.add_argument("--distributed-n", type=int, default=20_000,
                        help="n of the 1- against 2-process gloo measurement (0: skip it and "
                             "keep the last measured one from results/scale.json)")
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    if args.from_json:
        saved = json.loads((REPO / "benchmarks" / "results" / "scale.json").read_text())
        plot(saved["rows"], REPO / "docs" / "img" / "scale.png")
        (REPO / "docs" / "scale.md").write_text(report(saved["rows"], saved["stops"],
                                                       saved["machine"], saved["argv"],
                                                       saved.get("distributed")))
        return 0
    max_n = 10_000 if args.quick else args.max_n
    ls.solve(cost(erdos_renyi(300)), sense="max", tol=1e-6)  # compile the kernels
    ls.solve(cost(torus(15)), sense="max", tol=1e-6)
    rows, stops = [], {}
    for series in (("er", "torus") if args.series == "both" else (args.series,)):
        stops[series] = f"reached --max-n {max_n}"
        for size in [s for s in SIZES if s <= max_n]:
            C, n = graph(series, size)
            offdiag = C - sp.diags(C.diagonal())
            edges = int(sp.csr_matrix(offdiag).count_nonzero() // 2)
            failed = False
            for tol in args.tols:
                row = {"series": series, "n": int(n), "edges": edges, **one_solve(C, tol, args.time_limit)}
                rows.append(row)
                print(json.dumps(row, default=_plain), flush=True)
                if row["status"] != "CERTIFIED":
                    failed = True
                    stops[series] = (f"n = {n}, tol {tol:g}: {row['status']} after "
                                     f"{row['seconds']:.0f} s (--time-limit {args.time_limit:g})")
                    break
            if failed:
                break
    dist_row = distributed_measure(args.distributed_n) if args.distributed_n else None
    saved_json = REPO / "benchmarks" / "results" / "scale.json"
    if dist_row is None and saved_json.exists():
        # --distributed-n 0: the last measured row stays (it carries its own loads and n)
        dist_row = json.loads(saved_json.read_text()).get("distributed")
    if dist_row is not None:
        print(json.dumps(dist_row), flush=True)
    info = machine_info(("numpy", "scipy", "numba", "torch"))
    out = REPO / "benchmarks" / "results" / "scale.json"
    out.write_text(json.dumps({"machine": info, "argv": argv, "rows": rows, "stops": stops,
                               "distributed": dist_row}, indent=1, default=_plain) + "\n")
    if not args.no_docs:
        plot(rows, REPO / "docs" / "img" / "scale.png")
        (REPO / "docs" / "scale.md").write_text(report(rows, stops, info, argv, dist_row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
