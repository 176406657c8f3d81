"""Max-Cut on G-set and SDPLIB's max-cut family: SDP value, certified gap, cut vs best known.

    .venv/bin/python benchmarks/maxcut_gset.py                  # everything (a long run: use nice)
    .venv/bin/python benchmarks/maxcut_gset.py --only G1,G14    # a subset, merged into the results
    .venv/bin/python benchmarks/maxcut_gset.py --time-limit 30  # seconds per graph, SDP + rounding
    .venv/bin/python benchmarks/maxcut_gset.py --jobs 2         # two workers at once (one core each)

Each graph gets `maxcut(graph, time_limit=T, rounding_moves=None)`: T covers the SDP solve and
the rounding, and the rounding searches until T is spent (--rounding-moves auto stops it at the
default move budget instead). The same SDP factor is then rounded again with the settings of
VARIANTS (the default move budget among them), for the ablation table and the default's seconds.
Rows measured with other settings are dropped from the results when a run merges into them.

Writes benchmarks/results/maxcut_gset.json, the `gset-table` section of docs/maxcut.md and
docs/img/maxcut_time_vs_edges.png. Each instance runs in a fresh worker process (this script
with --worker), which warms up the kernels, then reads and solves the instance; its memory is
the peak resident set size of that process (getrusage ru_maxrss: exact, Numba and BLAS
included), reported both in total and above the RSS the warmed-up process held before the instance.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._report import machine_info, machine_line, write_section  # noqa: E402
from benchmarks.references import gset_references, sdplib_references  # noqa: E402
from lowrank_sdp import rounding  # noqa: E402
from lowrank_sdp.io import read_graph, read_sdpa  # noqa: E402
from lowrank_sdp.maxcut import maxcut  # noqa: E402

GSET = REPO / "data" / "gset"
SDPLIB = REPO / "data" / "sdplib"
RESULTS = REPO / "benchmarks" / "results" / "maxcut_gset.json"
PLOT = REPO / "docs" / "img" / "maxcut_time_vs_edges.png"
VARIANTS = {
    "hyperplanes": ("1000 hyperplanes, no local search", {"local_search": False}),
    "one_flip": ("1000 hyperplanes, 1-flip search on the best 8", {"moves": 0}),
    "default": ("1-flip + breakout local search from the best 8, then from the best cut: "
                "moves=\"auto\" (the default)", {}),
}
"""Rounding settings compared on the same SDP factor (the ablation table)."""
SAME_GRAPH = {"maxG11": "G11", "maxG32": "G32", "maxG51": "G51", "maxG60": "G60"}
"""SDPLIB files that are G-set graphs edge for edge (data/sdplib/README.md); maxG55 is not G55."""


def references() -> dict[str, dict]:
    """Best known cut and reference SDP value per instance, from the two data READMEs."""
    refs: dict[str, dict] = {}
    for name, g in gset_references().items():
        lo, hi = g.sdp_interval
        refs[name] = {"best_cut": g.best_cut, "best_cut_source": g.best_cut_source,
                      "sdp_reference": lo, "sdp_interval": [lo, hi]}
    for name, f in sdplib_references().items():
        same = SAME_GRAPH.get(name)
        refs[name] = {"best_cut": refs[same]["best_cut"] if same else None,
                      "best_cut_source": f"{same} (same graph)" if same else None,
                      "sdp_reference": f.optimum[0], "sdp_interval": list(f.certified)}
    return refs


def instances() -> list[tuple[str, Path]]:
    gset = sorted(GSET.glob("G*.txt.gz"), key=lambda p: int(re.findall(r"\d+", p.name)[0]))
    sdplib = sorted(p for p in SDPLIB.glob("*.dat-s") if p.name.startswith(("mcp", "maxG")))
    return [(p.name.split(".")[0], p) for p in gset] + [(p.name[:-6], p) for p in sdplib]


def rss_mib() -> float:
    return psutil.Process().memory_info().rss / 2**20


def run_one(name: str, path: Path, ref: dict, time_limit: float | None,
            rounding_moves: str) -> dict:
    """Solve and round one instance in this process (the worker's job)."""
    maxcut(read_graph(GSET / "G14.txt.gz"))  # compile/load the kernels outside the timings
    before = rss_mib()
    load_before = os.getloadavg()[0]
    # SDPLIB max-cut files: F0 = L/4 of a graph, which the SDPA reader recovers.
    graph = read_sdpa(path).maxcut_graph() if path.name.endswith(".dat-s") else read_graph(path)
    moves = None if rounding_moves == "none" and time_limit is not None else "auto"
    res = maxcut(graph, time_limit=time_limit, rounding_moves=moves)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    out = res.to_dict()
    out["sdp_value"], out["upper_bound"] = res.sdp_value, res.upper_bound  # Max-Cut names
    out["name"] = name
    out["file"] = str(path.relative_to(REPO))
    out["sdp_reference"] = ref["sdp_reference"]
    out["sdp_relative_error"] = abs(res.sdp_value - ref["sdp_reference"]) / ref["sdp_reference"]
    out["best_cut"] = ref["best_cut"]
    out["best_cut_source"] = ref["best_cut_source"]
    out["cut_deficit_percent"] = (
        100.0 * (ref["best_cut"] - res.cut_value) / ref["best_cut"] if ref["best_cut"] else None
    )
    out["peak_rss_mib"] = peak
    out["rss_above_warm_mib"] = max(0.0, peak - before)
    out["rounding_variants"] = rounding_variants(res.sdp.Y, graph, res.n)
    out["load_1min_before"] = load_before
    out["load_1min_after"] = os.getloadavg()[0]
    out["date"] = machine_info(())["date"]
    return out


def rounding_variants(Y: np.ndarray, graph, n: int) -> dict:
    """Cut value and seconds of each rounding setting in VARIANTS on the same factor Y."""
    W = graph.adjacency
    out = {}
    for key, (_, options) in VARIANTS.items():
        start = time.perf_counter()
        _, value = rounding.round_cut(Y, W, seed=0, **options)
        out[key] = {"cut_value": value, "seconds": time.perf_counter() - start}
    return out


def gset_number(name: str) -> int | None:
    m = re.fullmatch(r"G(\d+)", name)
    return int(m.group(1)) if m else None


def _deficits(rows: list[dict], prefix: str) -> dict:
    deficits = [r["cut_deficit_percent"] for r in rows]
    return {f"{prefix}_count": len(rows),
            f"{prefix}_mean_cut_deficit_percent": float(np.mean(deficits)),
            f"{prefix}_max_cut_deficit_percent": float(np.max(deficits)),
            f"{prefix}_within_0.2_percent": int(sum(d <= 0.2 for d in deficits)),
            f"{prefix}_max_seconds": float(max(r["seconds"] for r in rows))}


def summary(rows: list[dict], time_limit: float = 30.0) -> dict:
    gset = [r for r in rows if gset_number(r["name"]) is not None]
    core = [r for r in gset if gset_number(r["name"]) <= 54]
    small = [r for r in rows if r["n"] <= 3000]
    out = {"instances": len(rows),
           "certified": sum(r["status"] == "CERTIFIED" for r in rows),
           "total_seconds": sum(r["seconds"] for r in rows)}
    if gset:
        out.update(_deficits(gset, "gset"))
        # Over the limit by more than a second: the time checks themselves overrun by ms.
        slow = [r for r in gset if r["seconds"] > time_limit + 1.0]
        out["gset_over_limit_plus_1s"] = len(slow)
        out["gset_over_limit_plus_1s_solve_past_its_share"] = int(sum(
            r["solve_seconds"] > 0.8 * time_limit for r in slow))
    if core:
        out.update(_deficits(core, "G1_G54"))
    if small:
        default = [r["rounding_variants"]["default"]["seconds"] for r in small]
        out["default_rounding_seconds_n_le_3000_mean"] = float(np.mean(default))
        out["default_rounding_seconds_n_le_3000_max"] = float(np.max(default))
    loads = [r[k] for r in rows for k in ("load_1min_before", "load_1min_after") if k in r]
    if loads:
        out["load_1min_min"], out["load_1min_max"] = float(min(loads)), float(max(loads))
    return out


def markdown(data: dict) -> str:
    s = data["summary"]
    settings = data["settings"]
    lines = [machine_line(data["machine"]), ""]
    lines.append(
        f"`maxcut(graph, tol={settings['tol']}, trials={settings['trials']}, seed=0, "
        f"time_limit={settings['time_limit']}, rounding_moves="
        f"{'None' if settings['rounding_moves'] == 'none' else chr(34) + 'auto' + chr(34)})`"
        f" per graph (the limit covers SDP + rounding); {s['instances']} instances, "
        f"{s['certified']} certified, {s['total_seconds']:.0f} s in all. "
        f"The machine was shared: 1-minute load {s.get('load_1min_min', float('nan')):.1f}"
        f"-{s.get('load_1min_max', float('nan')):.1f} on its {data['machine']['cores']} cores."
    )
    for prefix, label in (("gset", "G-set graphs run"), ("G1_G54", "G1-G54 graphs run")):
        if f"{prefix}_count" in s:
            lines.append(
                f"On the {s[f'{prefix}_count']} {label} the cut is on average "
                f"{s[f'{prefix}_mean_cut_deficit_percent']:.3f}% below the best known cut "
                f"(worst {s[f'{prefix}_max_cut_deficit_percent']:.3f}%; "
                f"{s[f'{prefix}_within_0.2_percent']} within 0.2%); the slowest took "
                f"{s[f'{prefix}_max_seconds']:.1f} s."
            )
    if "gset_over_limit_plus_1s" in s:
        lines.append(f"{s['gset_over_limit_plus_1s']} G-set graphs took more than "
                     f"{settings['time_limit'] + 1:g} s (SDP + rounding); in "
                     f"{s['gset_over_limit_plus_1s_solve_past_its_share']} of them the SDP solve "
                     "alone took more than its share (0.8 of the limit).")
    if "default_rounding_seconds_n_le_3000_mean" in s:
        lines.append(
            f"The default rounding (moves=\"auto\", no time limit) on the same factors, "
            f"n <= 3000: mean {s['default_rounding_seconds_n_le_3000_mean']:.2f} s, max "
            f"{s['default_rounding_seconds_n_le_3000_max']:.2f} s."
        )
    lines += [
        "",
        "| name | n | m | SDP value | upper bound | rel. gap | status | cut | best known | "
        "deficit | cut / bound | solve s | rounding s | default rounding: cut, deficit, s | "
        "peak RSS MiB | load |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["instances"]:
        best = f"{r['best_cut']:.0f}" if r["best_cut"] else "-"
        deficit = (f"{r['cut_deficit_percent']:.2f}%" if r["cut_deficit_percent"] is not None
                   else "-")
        d = r["rounding_variants"]["default"]
        d_def = (f"{100 * (r['best_cut'] - d['cut_value']) / r['best_cut']:.2f}%"
                 if r["best_cut"] else "-")
        lines.append(
            f"| {r['name']} | {r['n']} | {r['m']} | {r['sdp_value']:.4f} | "
            f"{r['upper_bound']:.4f} | {r['relative_gap']:.1e} | {r['status']} | "
            f"{r['cut_value']:.0f} | {best} | {deficit} | {r['ratio']:.4f} | "
            f"{r['solve_seconds']:.2f} | {r['rounding_seconds']:.2f} | "
            f"{d['cut_value']:.0f}, {d_def}, {d['seconds']:.2f} | {r['peak_rss_mib']:.0f} | "
            f"{r.get('load_1min_before', float('nan')):.1f} |"
        )
    lines += ["", "![time against edges](img/maxcut_time_vs_edges.png)"]
    return "\n".join(lines)


def ablation_markdown(rows: list[dict]) -> str:
    gset = [r for r in rows if gset_number(r["name"]) is not None and "rounding_variants" in r]
    small = [r for r in gset if r["n"] <= 3000]
    lines = [
        f"Rounding settings on the same SDP factors, the {len(gset)} G-set graphs of the table "
        "below: mean and worst cut deficit against the best known cut; seconds per graph "
        "(mean and max over those with n <= 3000, and max over all).",
        "",
        "| rounding | mean deficit | worst deficit | mean s (n <= 3000) | max s (n <= 3000) | "
        "max s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, (label, _) in VARIANTS.items():
        deficits = [100 * (r["best_cut"] - r["rounding_variants"][key]["cut_value"])
                    / r["best_cut"] for r in gset]
        secs = [r["rounding_variants"][key]["seconds"] for r in small] or [float("nan")]
        every = [r["rounding_variants"][key]["seconds"] for r in gset]
        lines.append(f"| {label} | {np.mean(deficits):.2f}% | {np.max(deficits):.2f}% | "
                     f"{np.mean(secs):.2f} | {np.max(secs):.2f} | {np.max(every):.2f} |")
    return "\n".join(lines)


def plot(rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    certified = [r for r in rows if r["status"] == "CERTIFIED"]
    stopped = [r for r in rows if r["status"] != "CERTIFIED"]
    for subset, key, label, style in [
        (certified, "solve_seconds", "SDP solve + certificate", "C0o"),
        (stopped, "solve_seconds", "SDP solve, not certified (time limit)", "C3x"),
        (rows, "rounding_seconds", "rounding + local search", "C1s"),
    ]:
        if subset:
            ax.loglog([max(r["m"], 1) for r in subset], [max(r[key], 1e-3) for r in subset],
                      style, label=label, alpha=0.75)
    ax.set_xlabel("edges m")
    ax.set_ylabel("seconds")
    ax.set_title("lowrank_sdp.maxcut on G-set and SDPLIB max-cut")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated names, e.g. G1,G14,mcp100")
    parser.add_argument("--time-limit", type=float, default=30.0,
                        help="seconds per graph, SDP + rounding (default 30)")
    parser.add_argument("--rounding-moves", choices=("none", "auto"), default="none",
                        help="none: the rounding searches until the time limit; auto: it stops "
                             "at the default move budget")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the docs table and plot from the results file, run nothing")
    parser.add_argument("--jobs", type=int, default=1,
                        help="instances solved at once, one single-threaded worker process each "
                             "(default 1; more than the free cores inflates the seconds)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: run one instance
    args = parser.parse_args(argv)

    refs = references()
    if args.worker:
        path = dict(instances())[args.worker]
        print(json.dumps(run_one(args.worker, path, refs[args.worker], args.time_limit,
                                 args.rounding_moves)))
        return
    todo = instances()
    if args.only:
        wanted = args.only.split(",")
        unknown = set(wanted) - {name for name, _ in todo}
        if unknown:
            parser.error(f"unknown instances: {', '.join(sorted(unknown))}")
        todo = [(name, path) for name, path in todo if name in wanted]

    if args.report_only:
        data = json.loads(RESULTS.read_text())
        data["summary"] = summary(data["instances"], data["settings"]["time_limit"])
        RESULTS.write_text(json.dumps(data, indent=1) + "\n")
        write_outputs(data)
        return

    # Merge into earlier results so that --only refreshes a few rows without losing the rest.
    threads = {k: os.environ.get(k) for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS",
                                              "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    settings = {"tol": 1e-6, "trials": 1000, "seed": 0, "time_limit": args.time_limit,
                "rounding_moves": args.rounding_moves, "threads": threads,
                "memory": "peak RSS of a fresh worker process per instance (ru_maxrss); "
                          "also the part above the warmed-up RSS before the instance"}
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"instances": []}
    same = old.get("settings") == settings
    if args.only and old["instances"] and not same:
        # --only refreshes rows; under other settings it would silently drop all the others.
        before = old.get("settings", {})
        changed = ", ".join(f"{k}: {before.get(k)!r} -> {settings.get(k)!r}"
                            for k in sorted(settings.keys() | before.keys())
                            if settings.get(k) != before.get(k))
        parser.error(f"--only merges into {RESULTS.name}, whose rows were measured with other "
                     f"settings ({changed}); run with the same settings (thread variables "
                     "included) or without --only")
    rows = {r["name"]: r for r in old["instances"]} if same else {}
    if same:  # rows of an older rounding (other ablation settings) are measured again
        rows = {k: r for k, r in rows.items() if set(r["rounding_variants"]) == set(VARIANTS)}
    order = [name for name, _ in instances()]
    if args.jobs < 1:
        parser.error(f"the 'jobs' parameter must be a positive integer; got {args.jobs}")

    def work(name: str) -> subprocess.CompletedProcess:
        command = [sys.executable, __file__, "--worker", name, "--time-limit",
                   str(args.time_limit), "--rounding-moves", args.rounding_moves]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    # Workers are separate processes; threads here only wait on them, and the rows are saved
    # from this thread alone, so the results file has one writer.
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(work, name): name for name, _ in todo}
        for future in as_completed(futures):
            name, done = futures[future], future.result()
            if done.returncode != 0:
                print(f"{name}: worker failed\n{done.stderr}", file=sys.stderr, flush=True)
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows[name] = row
            deficit = row["cut_deficit_percent"]
            print(f"{name:9s} n={row['n']:6d} m={row['m']:6d} sdp={row['sdp_value']:.6f} "
                  f"gap={row['relative_gap']:.1e} {row['status']:10s} cut={row['cut_value']:.0f} "
                  f"deficit={'-' if deficit is None else f'{deficit:.2f}%'} "
                  f"solve={row['solve_seconds']:.2f}s round={row['rounding_seconds']:.2f}s "
                  f"load={row['load_1min_before']:.1f} "
                  f"rss={row['peak_rss_mib']:.0f}MiB (+{row['rss_above_warm_mib']:.0f})", flush=True)
            save(rows, order, settings)  # after every instance: a stopped run keeps its rows

    print(json.dumps(save(rows, order, settings)["summary"], indent=1))


def save(rows: dict, order: list[str], settings: dict) -> dict:
    """Write the results file, the docs sections and the plot from the rows so far."""
    ordered = [rows[name] for name in order if name in rows]
    data = {"machine": machine_info(), "settings": settings,
            "summary": summary(ordered, settings["time_limit"]), "instances": ordered}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=1) + "\n")
    write_outputs(data)
    return data


def write_outputs(data: dict) -> None:
    """The docs sections and the plot, from a results dictionary."""
    write_section("maxcut.md", "gset-table", markdown(data), title="Max-Cut")
    write_section("maxcut.md", "rounding-ablation", ablation_markdown(data["instances"]),
                  title="Max-Cut")
    plot(data["instances"])


if __name__ == "__main__":
    main()
