"""SDPLIB end to end: every .dat-s file, our value vs the published optimum, and SDPA in the same run.

    NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 python -m benchmarks.sdplib --time-limit 60
    python -m benchmarks.sdplib --only theta1 gpp100 --time-limit 30

Per file: read with `ls.read_sdpa` (unit-diagonal files, mcp/maxG, take the unit-diagonal path as
the CLI does), `ls.solve(tol=1e-6, time_limit=...)`, then SDPA at its defaults (wall seconds, its
objValPrimal and phase) with the same time limit. Writes benchmarks/results/sdplib.json and the
table of docs/sdplib.md, with the machine and its load (`uptime`) before and after: the machine may be
shared, so seconds are indicative. "rel. err" is |value - published| / (1 + |published|); where the
SDPLIB table prints fewer digits the published value carries that rounding (see references.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

import lowrank_sdp as ls
from benchmarks._report import REPO, machine_info, machine_line, write_section
from benchmarks.references import sdplib_optima
from lowrank_sdp.io import read_sdpa as read_sdpa_file
from lowrank_sdp.io.sdpa import sdpa_to_sdp

# The whole collection lives in the project's shared data directory beside the repository (or
# beside the worktree's parent); the repository's data/sdplib holds a subset.
SHARED = next((p for p in (REPO.parent / "shared" / "data" / "sdplib",
                           REPO.parent.parent / "shared" / "data" / "sdplib") if p.is_dir()),
              REPO / "data" / "sdplib")
RESULTS = REPO / "benchmarks" / "results" / "sdplib.json"


def _uptime() -> str:
    try:
        return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()
    except OSError:
        return "unknown"


def run_ours(path: Path, time_limit: float, tol: float) -> dict:
    start, cpu = time.perf_counter(), time.process_time()
    raw = read_sdpa_file(path)
    try:
        C, offset, sense = raw.unit_diagonal_cost()
    except ValueError:
        sdp = sdpa_to_sdp(raw)  # what ls.read_sdpa(path) returns, without parsing the file again
        res = ls.solve(sdp, tol=tol, time_limit=time_limit)
        out = {"value": res.objective, "bound": res.bound, "infeasibility": res.infeasibility,
               "path": "general", "n": sdp.n, "m": sdp.m, "sense": sdp.sense}
    else:
        res = ls.solve(C, sense=sense, tol=tol, time_limit=time_limit)
        out = {"value": res.objective + offset, "bound": res.bound + offset, "infeasibility": 0.0,
               "path": "unit-diagonal", "n": int(C.shape[0]), "m": int(C.shape[0]),
               "sense": sense}
    out.update(status=res.status.name, gap=res.gap, relative_gap=res.relative_gap, rank=res.rank,
               seconds=time.perf_counter() - start, cpu_seconds=time.process_time() - cpu)
    return out


def warm_up(tol: float) -> float:
    """Seconds spent solving a few tiny problems, one per path of `run_ours` (unit diagonal,
    bisection, the augmented Lagrangian with and without inequalities, an LP block), untimed:
    Numba loads its compiled kernels once per process (~0.25 s, most of it the first dispatch),
    which would otherwise be charged to whichever file a run happens to start with (gpp250-1,
    first of its chunk: 0.26 s, against 0.04 s for gpp250-2..4 and for itself when run later)."""
    import scipy.sparse as sp

    start = time.perf_counter()
    rng = np.random.default_rng(0)
    n = 12
    W = sp.random(n, n, density=0.4, random_state=1)
    W = sp.csr_matrix(W + W.T)
    ls.solve(W, sense="max", tol=tol)
    ls.solve(W, sense="max", tol=tol, A_eq=[np.ones((n, n))], b_eq=[0.0])
    edges = [(i, j) for i in range(n) for j in range(i + 1, n) if W[i, j] == 0][:10]
    E = [sp.coo_matrix(([1.0, 1.0], ([i, j], [j, i])), shape=(n, n)) for i, j in edges]
    theta = [sp.identity(n, format="csr"), *E]
    ls.solve(np.ones((n, n)), sense="max", tol=tol, A_eq=theta, b_eq=[1.0] + [0.0] * len(E),
             unit_diagonal=False)
    ls.solve(np.ones((n, n)), sense="max", tol=tol, A_eq=theta[:1], b_eq=[1.0], A_ub=E,
             b_ub=[0.0] * len(E), unit_diagonal=False)
    G = rng.standard_normal((n, n))
    C = sp.csr_matrix(sp.block_diag([G + G.T, sp.diags([1.0, 2.0])]))
    ls.solve(C, sense="min", tol=tol, A_eq=[sp.identity(n + 2, format="csr")], b_eq=[1.0],
             blocks=[n, -2], unit_diagonal=False)
    return time.perf_counter() - start


def run_sdpa(path: Path, time_limit: float) -> dict:
    exe = shutil.which("sdpa")
    if exe is None:
        return {"sdpa_status": "not installed"}
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [exe, "-ds", str(path), "-o", str(Path(tmp) / "out.txt")]
        start = time.perf_counter()
        before = os.times()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=time_limit,
                                  env={**os.environ, "OMP_NUM_THREADS": "1",
                                       "OPENBLAS_NUM_THREADS": "1"})
            text = proc.stdout
        except subprocess.TimeoutExpired:
            return {"sdpa_status": "timeout", "sdpa_seconds": time.perf_counter() - start}
        seconds = time.perf_counter() - start
        after = os.times()
    cpu = (after.children_user - before.children_user
           + after.children_system - before.children_system)
    value = re.search(r"objValPrimal\s*=\s*(\S+)", text)
    phase = re.search(r"phase\.value\s*=\s*(\S+)", text)
    return {"sdpa_seconds": seconds, "sdpa_cpu_seconds": cpu,
            "sdpa_value": float(value.group(1)) if value else None,
            "sdpa_status": phase.group(1) if phase else "no phase"}


def _fmt(x, spec: str = ".6g") -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "-" if x is None else str(x)
    return format(x, spec)


def table(rows: list[dict]) -> str:
    lines = ["| file | n | m | value | published | rel. err | rel. gap | infeas. | status | s (cpu) | "
             "SDPA s (cpu) | SDPA phase |", "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|"]
    for r in rows:
        lines.append(
            f"| {r['file']} | {r.get('n', '-')} | {r.get('m', '-')} | {_fmt(r.get('value'), '.10g')} | "
            f"{_fmt(r.get('published'), '.10g')} | {_fmt(r.get('rel_err'), '.1e')} | "
            f"{_fmt(r.get('relative_gap'), '.1e')} | {_fmt(r.get('infeasibility'), '.1e')} | "
            f"{r.get('status', '-')} | {_fmt(r.get('seconds'), '.2f')} "
            f"({_fmt(r.get('cpu_seconds'), '.2f')}) | "
            f"{_fmt(r.get('sdpa_seconds'), '.2f')} ({_fmt(r.get('sdpa_cpu_seconds'), '.2f')}) | "
            f"{r.get('sdpa_status', '-')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=SHARED)
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per file and solver")
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--only", nargs="*", default=None, help="file names without .dat-s")
    parser.add_argument("--max-bytes", type=int, default=None, help="skip files larger than this")
    parser.add_argument("--min-bytes", type=int, default=None, help="skip files smaller than this")
    parser.add_argument("--merge", action="store_true",
                        help="replace (or add) this run's files in benchmarks/results/sdplib.json "
                        "instead of starting a new one: a long run in chunks")
    parser.add_argument("--no-sdpa", action="store_true")
    parser.add_argument("--no-warm-up", action="store_true",
                        help="charge Numba's one-time kernel loading to the first file")
    parser.add_argument("--render", action="store_true",
                        help="only rewrite docs/sdplib.md from benchmarks/results/sdplib.json")
    args = parser.parse_args(argv)
    if args.render:
        render(json.loads(RESULTS.read_text()))
        return
    files = sorted(args.dir.glob("*.dat-s"), key=lambda p: p.stat().st_size)
    if args.only:
        files = [f for f in files if f.name.removesuffix(".dat-s") in set(args.only)]
    if args.max_bytes:
        files = [f for f in files if f.stat().st_size <= args.max_bytes]
    if args.min_bytes:
        files = [f for f in files if f.stat().st_size >= args.min_bytes]
    optima = sdplib_optima()
    load_before = _uptime()
    warm = None if args.no_warm_up else warm_up(args.tol)
    rows = []
    for path in files:
        name = path.name.removesuffix(".dat-s")
        row: dict = {"file": name}
        try:
            row.update(run_ours(path, args.time_limit, args.tol))
        except (ValueError, MemoryError) as err:
            row.update(status=f"error: {err}"[:80])
        if not args.no_sdpa:
            row.update(run_sdpa(path, args.time_limit))
        _compare(row, optima.get(name), args.tol)
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items()}, default=str), flush=True)
    info = machine_info()
    info["load_before"], info["load_after"] = load_before, _uptime()
    info["warm_up_seconds"] = warm
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    data = {"machine": info, "time_limit": args.time_limit, "tol": args.tol, "rows": rows,
            "command": _command(args), "dir": _shown(args.dir)}
    if args.merge and RESULTS.exists():
        data = _merged(json.loads(RESULTS.read_text()), data, args.dir)
    RESULTS.write_text(json.dumps(data, indent=1, default=str))
    render(data)


def _merged(old: dict, new: dict, directory: Path) -> dict:
    """`old` with the rows of `new` in place of its rows of the same files, in file-size order;
    the machine lines, commands and time limits of both runs are kept (one per chunk)."""
    if old.get("tol") != new["tol"]:
        raise SystemExit(f"--merge: the results were made at tol {old.get('tol')}, this run at "
                         f"{new['tol']}: run them together or without --merge")
    rows = {r["file"]: r for r in old["rows"]} | {r["file"]: r for r in new["rows"]}
    size = {p.name.removesuffix(".dat-s"): p.stat().st_size for p in directory.glob("*.dat-s")}
    chunks = old.get("chunks") or [{k: old[k] for k in ("machine", "time_limit", "command")}]
    chunks = [*chunks, {k: new[k] for k in ("machine", "time_limit", "command")}]
    return {**new, "rows": sorted(rows.values(), key=lambda r: size.get(r["file"], 0)),
            "chunks": chunks}


def _compare(row: dict, ref, tol: float) -> None:
    """The published optimum into `row`: rel_err, off_published (the value farther than the
    printed digits and 1e-6 relative) and, for a CERTIFIED row, certificate_contradicts: the
    certified interval misses [published - half a digit, published + half a digit]. The bound is
    proven; the value is that of a point feasible up to its residual, and CERTIFIED allows a
    relative feasibility gap of tol, so that side is widened by tol (1 + |value|)."""
    if ref is None or row.get("value") is None:
        return
    value, bound = row["value"], row.get("bound")
    row["published"] = ref.value
    row["published_source"] = ref.source
    row["rel_err"] = abs(value - ref.value) / (1.0 + abs(ref.value))
    row["off_published"] = bool(abs(value - ref.value)
                                > max(ref.tolerance, 1e-6 * (1.0 + abs(ref.value))))
    if row.get("status") != "CERTIFIED" or bound is None or not np.isfinite(bound):
        row.pop("certificate_contradicts", None)
        return
    slack = tol * (1.0 + abs(value))
    maximise = row.get("sense", "max" if bound >= value else "min") == "max"
    lo, hi = (value - slack, bound) if maximise else (bound, value + slack)
    row["certificate_contradicts"] = bool(hi < ref.value - ref.tolerance
                                          or lo > ref.value + ref.tolerance)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def _command(args: argparse.Namespace) -> str:
    return (f"python -m benchmarks.sdplib --time-limit {args.time_limit:g}"
            f"{' --only ' + ' '.join(args.only) if args.only else ''}"
            f"{f' --min-bytes {args.min_bytes}' if args.min_bytes else ''}"
            f"{f' --max-bytes {args.max_bytes}' if args.max_bytes else ''}"
            f"{' --merge' if args.merge else ''}")


def _warm_note(info: dict) -> str:
    w = info.get("warm_up_seconds")
    if w is None:
        return ""  # older chunks, and --no-warm-up: the first file paid Numba's loading
    return (f"; before the first file, tiny problems of each path were solved untimed ({w:.2f} s: "
            "Numba's one-time kernel loading, see `warm_up`)")


def render(data: dict) -> None:
    """docs/sdplib.md's table from a results file (what `main` wrote)."""
    rows = data["rows"]
    optima = sdplib_optima()
    for r in rows:  # against today's references (corrections apply to earlier chunks too)
        _compare(r, optima.get(r["file"]), data["tol"])
    certified = [r for r in rows if r.get("status") == "CERTIFIED"]
    false_cert = [r["file"] for r in certified
                  if r.get("certificate_contradicts") or r["file"].startswith(("infp", "infd"))]
    unpublished = [r["file"] for r in certified if r.get("published") is None
                   and not r["file"].startswith(("infp", "infd"))]
    off = [r["file"] for r in certified if r.get("off_published")
           and r["file"] not in false_cert]
    counts = ", ".join(f"{n} {s}" for s, n in sorted(
        Counter(str(r.get("status", "-")) for r in rows).items(), key=lambda kv: -kv[1]))
    runs = data.get("chunks") or [data]
    md = "".join(
        f"{machine_line(run['machine'])} Load average (1, 5, 15 min) before "
        f"{run['machine']['load_before']}, after {run['machine']['load_after']}. "
        f"Command: `{run.get('command', 'python -m benchmarks.sdplib')}` (time limit "
        f"{run['time_limit']:g} s per file and solver){_warm_note(run['machine'])}.\n\n"
        for run in runs)
    md += (f"The machine was shared with other jobs: seconds are indicative. Files of "
          f"`{data.get('dir', '?')}`, tol {data['tol']:g}; SDPA at its defaults with the same "
          "limit.\n\n"
          "Seconds are wall clock, in parentheses the CPU seconds of the process (SDPA: of its child "
          "process) where recorded, which the sharing affects less. The time limit is wall clock.\n\n"
          f"{len(rows)} files: {counts}.\n\n"
          "A false certificate is a CERTIFIED file whose proven interval (the bound, and the value "
          "widened by tol (1 + |value|) for its infeasibility) misses the published optimum "
          "(widened by half a unit of its last printed digit), or a CERTIFIED infeasible problem: "
          f"{', '.join(false_cert) or 'none'}. CERTIFIED without a published optimum to check it "
          f"against: {', '.join(unpublished) or 'none'}.\n\n"
          "CERTIFIED with a value farther from the published optimum than its printed digits "
          f"and 1e-6 relative (a target missed, no contradiction): {', '.join(off) or 'none'}.\n\n"
          + table(rows))
    write_section("sdplib.md", "sdplib-table", md, title="SDPLIB: the whole collection")
    print(f"wrote docs/sdplib.md from {RESULTS.name}")


if __name__ == "__main__":
    main()
