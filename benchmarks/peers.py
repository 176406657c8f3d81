"""Benchmark lowrank_sdp against cvxpy (SCS, Clarabel), pymanopt, CSDP and SDPA on Max-Cut SDPs.

    python benchmarks/peers.py --quick     # seconds: small instances, checks objectives agree
    python benchmarks/peers.py             # the full run (long): JSON, docs tables, plots
    python benchmarks/peers.py --only mcp250-1,G1 --solvers lowrank,pymanopt-tr --merge

Every solver runs in its own process (benchmarks/peer_runners.py) under a wall time limit and a
memory limit; this process measures the child's peak memory (ru_maxrss from wait4: the largest
resident set of the child and its reaped children) and writes the results to
benchmarks/results/peers.json, to the "peers" and "growth" sections of docs/benchmarks.md, and
to docs/img/peers_growth_<family>.png. Peers that are not installed are reported and skipped;
the benchmark installs nothing.
"""

from __future__ import annotations

import argparse
import enum
import importlib.metadata
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks._report import machine_info, machine_line, write_section  # noqa: E402
from benchmarks.references import gset_references, sdplib_references  # noqa: E402

RUNNER = REPO / "benchmarks" / "peer_runners.py"
RESULTS = REPO / "benchmarks" / "results" / "peers.json"
IMG = REPO / "docs" / "img"

SOLVERS = ("lowrank", "pymanopt-tr", "pymanopt-cg", "cvxpy-scs", "cvxpy-clarabel", "csdp", "sdpa")
LABELS = {
    "lowrank": "lowrank_sdp",
    "pymanopt-tr": "pymanopt TR",
    "pymanopt-cg": "pymanopt CG",
    "cvxpy-scs": "cvxpy+SCS",
    "cvxpy-clarabel": "cvxpy+Clarabel",
    "csdp": "CSDP",
    "sdpa": "SDPA",
}
SDPLIB = ("mcp100", "mcp124-1", "mcp124-2", "mcp124-3", "mcp124-4", "mcp250-1", "mcp250-2",
          "mcp250-3", "mcp250-4", "mcp500-1", "mcp500-2", "mcp500-3", "mcp500-4", "maxG11")
GSET = ("G1", "G11", "G14", "G22", "G43", "G55")
FAMILIES = ("er", "torus")
QUICK_N = 50  # Clarabel's interior point needs ~1.4 GB and a minute already at n = 100
# cvxpy's interior-point and splitting solvers take minutes already at n = 124-250 (and Clarabel
# gigabytes), so among the named instances they get only these; the random series go as far as
# their time limit lets them.
CVXPY_INSTANCES = ("mcp100", "mcp124-1", "mcp250-1")
# The torus series is there for the growth of the scalable solvers (and the 10^6-vertex target);
# the other peers' growth is measured on the `er` series.
SERIES_SOLVERS = {"er": SOLVERS, "torus": ("lowrank", "pymanopt-tr")}
AGREE_RTOL = 1e-4  # objectives of solvers that claim success must lie this close to the optimum


class RunStatus(enum.Enum):
    """How one solver run on one instance ended (written by name in the JSON)."""

    OK = "reached the requested accuracy"
    INACCURATE = "finished without reaching the requested accuracy"
    TIMEOUT = "hit the wall time limit"
    MEMORY = "killed at the memory limit"
    FAILED = "crashed or produced no result"
    SKIPPED = "not run: above the solver's size cap, or it failed on a smaller size of a series"


STOPS_SERIES = (RunStatus.TIMEOUT, RunStatus.MEMORY, RunStatus.FAILED)


# ---------------------------------------------------------------------------------------------
# Instances and their reference optima.


@dataclass(frozen=True)
class Instance:
    name: str
    kind: str  # "sdplib" | "gset" | "random"
    n: int
    edges: int
    path: str | None = None
    family: str | None = None
    seed: int = 0
    reference: tuple[float, float] | None = None  # the optimum lies in [lo, hi]

    def spec(self) -> dict:
        return {"kind": self.kind, "path": self.path, "family": self.family, "n": self.n,
                "seed": self.seed}


def sdplib_instances() -> dict[str, Instance]:
    """The max-cut files of data/sdplib with the optimum from its README (SDPA-GMP where given,
    else the certified interval)."""
    return {name: Instance(name, "sdplib", f.n, f.edges, f"data/sdplib/{name}.dat-s",
                           reference=f.optimum)
            for name, f in sdplib_references().items()}


def gset_instances() -> dict[str, Instance]:
    """The G-set graphs with the certified interval of data/gset/README.md."""
    return {name: Instance(name, "gset", g.n, g.m, f"data/gset/{name}.txt.gz",
                           reference=g.sdp_interval)
            for name, g in gset_references().items()}


def series_sizes(max_n: int, min_n: int = 100) -> list[int]:
    """n doubling from min_n; max_n itself closes the list when the doubling misses it."""
    sizes = [min_n << k for k in range(64) if min_n << k <= max_n]
    if max_n >= min_n and sizes[-1] != max_n:
        sizes.append(max_n)
    return sizes


def random_instance(family: str, n: int, seed: int = 0) -> Instance:
    edges = 3 * n if family == "er" else 2 * n  # nominal; the runner reports the exact count
    return Instance(f"{family}-n{n}", "random", n, edges, family=family, seed=seed)


# ---------------------------------------------------------------------------------------------
# Which peers are here.


def find_solvers() -> dict[str, str | None]:
    """Version string of every solver found, None for the missing (checked without importing
    them here, so this process stays small: a child starts with its parent's resident pages)."""
    probe = (
        "import importlib.util as u, json, lowrank_sdp as ls\n"
        "print(json.dumps({'lowrank': hasattr(ls, 'solve'), "
        "'pymanopt': u.find_spec('pymanopt') is not None, "
        "'scs': u.find_spec('cvxpy') is not None and u.find_spec('scs') is not None, "
        "'clarabel': u.find_spec('cvxpy') is not None and u.find_spec('clarabel') is not None}))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=False, cwd=REPO)
    have = json.loads(proc.stdout) if proc.returncode == 0 else {}

    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "?"

    def deb(pkg: str, exe: str) -> str | None:
        if shutil.which(exe) is None:
            return None
        q = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True,
                           text=True, check=False) if shutil.which("dpkg-query") else None
        return q.stdout.strip() if q is not None and q.returncode == 0 else "?"

    return {
        "lowrank": version("lowrank_sdp") if have.get("lowrank") else None,
        "pymanopt-tr": version("pymanopt") if have.get("pymanopt") else None,
        "pymanopt-cg": version("pymanopt") if have.get("pymanopt") else None,
        "cvxpy-scs": f"cvxpy {version('cvxpy')}, scs {version('scs')}" if have.get("scs") else None,
        "cvxpy-clarabel": (f"cvxpy {version('cvxpy')}, clarabel {version('clarabel')}"
                           if have.get("clarabel") else None),
        "csdp": deb("coinor-csdp", "csdp"),
        "sdpa": deb("sdpa", "sdpa"),
    }


# ---------------------------------------------------------------------------------------------
# One run in a child process.


@dataclass
class Limits:
    seconds: float  # solve time limit handed to the solver; the child is killed a grace later
    memory_mb: float
    grace: float = 60.0  # interpreter start, imports, JIT warm-up, reading the graph


def _tree_rss_mb(pid: int) -> float:
    import psutil

    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for q in procs:
        try:
            total += q.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def run_child(spec: dict, limits: Limits, env: dict[str, str]) -> dict:
    """Run the runner on `spec`; its JSON plus status, wall seconds and peak memory."""
    cmd = [sys.executable, str(RUNNER), json.dumps(spec)]
    killed: list[RunStatus] = []
    done = threading.Event()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=REPO, env=env,
                                start_new_session=True)

        def watch() -> None:
            # Kill the whole process group (CSDP/SDPA are grandchildren) on either limit.
            while not done.wait(0.05):
                if time.perf_counter() - t0 > limits.seconds + limits.grace:
                    killed.append(RunStatus.TIMEOUT)
                elif _tree_rss_mb(proc.pid) > limits.memory_mb:
                    killed.append(RunStatus.MEMORY)
                else:
                    continue
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        _, wstatus, usage = os.wait4(proc.pid, 0)
        done.set()
        watcher.join()
        proc.returncode = os.waitstatus_to_exitcode(wstatus)  # reaped here, not by Popen
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    record: dict[str, Any] = {"wall_seconds": wall, "peak_mb": usage.ru_maxrss / 1024.0,
                              "exit_code": proc.returncode}
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if lines:
        record.update(json.loads(lines[-1]))
    if killed:
        status = killed[0]
    elif not lines or proc.returncode != 0:
        status = RunStatus.MEMORY if "MemoryError" in stderr else RunStatus.FAILED
        record["error"] = stderr.strip().splitlines()[-1][:300] if stderr.strip() else ""
    elif record.get("timed_out") or record.get("seconds", 0.0) > limits.seconds:
        status = RunStatus.TIMEOUT  # some solvers overrun their own time limit
    else:
        status = RunStatus.OK if record.get("ok") else RunStatus.INACCURATE
    record["status"] = status.name
    return record


# ---------------------------------------------------------------------------------------------
# The benchmark loop.


@dataclass
class Config:
    solvers: list[str]
    instances: list[Instance]
    series: list[list[Instance]]  # one list per family, sizes doubling
    tol: float = 1e-6  # our solver's tolerance and pymanopt's certified-gap target
    series_tol: float = 1e-4
    cvxpy_eps: float = 1e-6
    limits: Limits = field(default_factory=lambda: Limits(180.0, 8192.0))
    series_limits: Limits = field(default_factory=lambda: Limits(60.0, 8192.0))
    ours_limits: Limits = field(default_factory=lambda: Limits(600.0, 8192.0))
    repeats: int = 3
    threads: int | None = None
    max_n: dict[str, int] = field(default_factory=dict)  # per-solver size caps


def _env(threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    if threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS"):
            env[var] = str(threads)
    return env


def run_one(cfg: Config, solver: str, inst: Instance, tol: float, rank: int | None) -> dict:
    spec = {"solver": solver, "instance": inst.spec(), "tol": tol, "repeats": cfg.repeats,
            "cvxpy_eps": tol if inst.kind == "random" else cfg.cvxpy_eps, "rank": rank}
    limits = (cfg.ours_limits if solver == "lowrank"
              else cfg.series_limits if inst.kind == "random" else cfg.limits)
    spec["time_limit"] = limits.seconds
    rec = run_child(spec, limits, _env(cfg.threads))
    rec.update(solver=solver, instance=inst.name, kind=inst.kind, family=inst.family,
               tol=tol, time_limit=limits.seconds,
               date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    rec.setdefault("n", inst.n)
    rec.setdefault("edges", inst.edges)
    if inst.reference is not None:
        rec["reference"] = list(inst.reference)
    rel = relative_error(rec.get("objective"), inst.reference)
    if rel is not None:
        rec["relative_error"] = rel
    shown = f"{rec.get('seconds', rec['wall_seconds']):9.3f} s"
    extra = f"  rel.err {rel:.1e}" if rel is not None else ""
    print(f"  {LABELS[solver]:15s} {inst.name:14s} {rec['status']:10s} {shown}"
          f"  {rec['peak_mb']:8.0f} MiB  obj {rec.get('objective', float('nan')):.8g}{extra}",
          flush=True)
    return rec


def relative_error(obj: float | None, ref: tuple[float, float] | None) -> float | None:
    """Distance from obj to the interval holding the optimum, relative to the optimum."""
    if obj is None or ref is None or not math.isfinite(obj):
        return None
    lo, hi = ref
    return max(lo - obj, obj - hi, 0.0) / abs(lo)


def run_all(cfg: Config) -> list[dict]:
    """Named instances by size, then each random series; in a series, a solver that times out
    (or runs out of memory, or fails) is not run on the larger sizes."""
    records = []
    for group in [sorted(cfg.instances, key=lambda i: (i.n, i.edges)), *cfg.series]:
        stopped: dict[str, str] = {}
        for inst in group:
            for solver, cap in cfg.max_n.items():
                if inst.n > cap and solver not in stopped:
                    stopped[solver] = f"n > {cap}, the cap for this run"
            tol = cfg.series_tol if inst.kind == "random" else cfg.tol
            rank = None
            for solver in cfg.solvers:
                if solver.startswith("cvxpy") and inst.kind != "random" and (
                        inst.name not in CVXPY_INSTANCES):
                    continue
                if inst.kind == "random" and solver not in SERIES_SOLVERS[inst.family]:
                    continue
                if solver in stopped:
                    records.append({"solver": solver, "instance": inst.name, "kind": inst.kind,
                                    "family": inst.family, "n": inst.n, "edges": inst.edges,
                                    "status": RunStatus.SKIPPED.name,
                                    "reason": stopped[solver]})
                    continue
                rec = run_one(cfg, solver, inst, tol, rank)
                records.append(rec)
                if solver == "lowrank" and rec["status"] == RunStatus.OK.name:
                    rank = rec.get("rank")  # pymanopt then runs at the rank ours settled on
                if inst.kind == "random" and RunStatus[rec["status"]] in STOPS_SERIES:
                    stopped[solver] = f"{rec['status']} on {inst.name}"
    for rec in records:
        ref = series_reference(records, rec)
        if ref is not None and "relative_error" not in rec:
            rel = relative_error(rec.get("objective"), ref)
            if rel is not None:
                rec["reference"], rec["relative_error"] = list(ref), rel
    return records


def series_reference(records: list[dict], rec: dict) -> tuple[float, float] | None:
    """For random graphs (no published optimum): our certified [objective, bound]."""
    if rec.get("kind") != "random":
        return None
    for r in records:
        if (r["instance"] == rec["instance"] and r["solver"] == "lowrank"
                and r["status"] == RunStatus.OK.name):
            return (r["objective"], r["bound"])
    return None


def disagreements(records: list[dict], rtol: float = AGREE_RTOL) -> list[str]:
    """Runs that claim success but whose objective is off the reference optimum."""
    bad = []
    for r in records:
        if r["status"] == RunStatus.OK.name and r.get("relative_error") is not None:
            if r["relative_error"] > rtol:
                bad.append(f"{r['solver']} on {r['instance']}: objective {r['objective']!r}, "
                           f"reference {r['reference']}, relative error {r['relative_error']:.2e}")
    return bad


# ---------------------------------------------------------------------------------------------
# Reporting: ratios for the targets, tables, growth exponents, plots.


def _get(records: list[dict], solver: str, instance: str) -> dict | None:
    for r in records:
        if r["solver"] == solver and r["instance"] == instance:
            return r
    return None


def _fmt_s(r: dict | None) -> str:
    if r is None:
        return ""
    if r["status"] == RunStatus.SKIPPED.name:
        return "skipped"
    if r["status"] in ("TIMEOUT", "MEMORY", "FAILED"):
        lim = f" (> {r.get('time_limit', 0):g} s)" if r["status"] == "TIMEOUT" else ""
        return r["status"].lower() + lim
    s = f"{r['seconds']:.3g}"
    return s if r["status"] == RunStatus.OK.name else f"{s} ({r['status'].lower()})"


def target_rows(records: list[dict]) -> list[str]:
    """The issue's three targets as ratios measured in this run (misses included)."""
    rows = ["| target | measured | met |", "|---|---|---|"]
    ours = _get(records, "lowrank", "mcp250-1")
    peers = [r for s in ("cvxpy-scs", "cvxpy-clarabel") if (r := _get(records, s, "mcp250-1"))]
    if ours and ours["status"] == "OK" and peers:
        done = [r for r in peers if r["status"] in ("OK", "INACCURATE")]
        if done:
            best = min(done, key=lambda r: r["seconds"])
            ratio = best["seconds"] / ours["seconds"]
            text = (f"{ratio:.0f}× ({LABELS[best['solver']]} {best['seconds']:.3g} s, rel.err "
                    f"{best.get('relative_error', float('nan')):.1e}; ours {ours['seconds']:.3g} s,"
                    f" rel.err {ours.get('relative_error', float('nan')):.1e})")
            rows.append(f"| ≥ 100× faster than the fastest cvxpy solver on mcp250-1 | {text} | "
                        f"{'yes' if ratio >= 100 else 'no'} |")
        else:
            lim = max(r.get("time_limit", 0) for r in peers)
            how = ", ".join(f"{LABELS[r['solver']]} {r['status'].lower()}" for r in peers)
            rows.append(f"| ≥ 100× faster than the fastest cvxpy solver on mcp250-1 | > "
                        f"{lim / ours['seconds']:.0f}× (no cvxpy solver finished: {how}; ours "
                        f"{ours['seconds']:.3g} s, rel.err "
                        f"{ours.get('relative_error', float('nan')):.1e}) | yes |")
    for g in ("G1", "G14"):
        ours = _get(records, "lowrank", g)
        pm = [r for s in ("pymanopt-tr", "pymanopt-cg") if (r := _get(records, s, g))]
        if not (ours and ours["status"] == "OK" and pm):
            continue
        good = [r for r in pm if r["status"] == "OK"]
        if good:
            best = min(good, key=lambda r: r["seconds"])
            ratio = best["seconds"] / ours["seconds"]
            text = (f"{ratio:.1f}× ({LABELS[best['solver']]} {best['seconds']:.3g} s, certified "
                    f"gap {best['relative_gap']:.1e}; ours {ours['seconds']:.3g} s, "
                    f"{ours['relative_gap']:.1e})")
            met = "yes" if ratio >= 10 else "no"
        else:
            slowest = max(pm, key=lambda r: r.get("seconds", 0))
            text = (f"> {slowest.get('seconds', 0) / ours['seconds']:.1f}× (pymanopt did not "
                    "reach a certified gap ≤ 1e-6)")
            met = "yes"
        rows.append(f"| ≥ 10× faster than pymanopt's best method on {g} (gap ≤ 1e-6) | {text} |"
                    f" {met} |")
    big = [r for r in records if r["solver"] == "lowrank" and r.get("kind") == "random"
           and r["n"] >= 10**6]
    for r in big:
        if r["status"] == RunStatus.SKIPPED.name:
            rows.append(f"| 10^6 vertices ({r['instance']}) | skipped ({r['reason']}) | no |")
            continue
        gap = r.get("relative_gap", float("nan"))
        secs = r.get("seconds", r["wall_seconds"])
        met = (r["status"] == "OK" and gap <= 1e-4 and secs < 600 and r["peak_mb"] < 4096)
        rows.append(f"| 10^6 vertices, gap ≤ 1e-4, < 10 min, < 4 GB ({r['instance']}, "
                    f"{r['edges']} edges) | {r['status']}, {secs:.0f} s, peak "
                    f"{r['peak_mb']:.0f} MiB, relative gap {gap:.1e}, rank {r.get('rank')} | "
                    f"{'yes' if met else 'no'} |")
    for fam in FAMILIES:
        pts = series_points(records, fam, "lowrank")
        e = fit_exponent([p["edges"] * p.get("rank", 1) for p in pts], [p["seconds"] for p in pts])
        if e is not None:
            rows.append(f"| growth close to linear in edges × rank (`{fam}` series) | exponent "
                        f"{e:.2f} over n = {pts[0]['n']}..{pts[-1]['n']} | "
                        f"{'yes' if e <= 1.25 else 'no'} |")
    return rows


def instance_table(records: list[dict], solvers: list[str]) -> list[str]:
    named = [r for r in records if r.get("kind") in ("sdplib", "gset")]
    names = list(dict.fromkeys(r["instance"] for r in named))
    head = "| instance | n | edges | " + " | ".join(LABELS[s] for s in solvers) + " |"
    rows = [head, "|---|---:|---:|" + "---:|" * len(solvers)]
    for name in names:
        first = next(r for r in named if r["instance"] == name)
        ours = _get(records, "lowrank", name)
        cells = []
        for s in solvers:
            r = _get(records, s, name)
            cell = _fmt_s(r)
            if (r and s != "lowrank" and ours and ours["status"] == "OK"
                    and r["status"] in ("OK", "INACCURATE")):
                cell += f" [{r['seconds'] / ours['seconds']:.3g}×]"
            cells.append(cell)
        rows.append(f"| {name} | {first['n']} | {first['edges']} | " + " | ".join(cells) + " |")
    return rows


def detail_table(records: list[dict]) -> list[str]:
    rows = ["| instance | solver | status | solver's word | seconds | peak MiB | objective | "
            "rel. error | gap (rel.) | gap kind |",
            "|---|---|---|---|---:|---:|---:|---:|---:|---|"]
    for r in records:
        if r["status"] == RunStatus.SKIPPED.name:
            rows.append(f"| {r['instance']} | {LABELS[r['solver']]} | SKIPPED | {r['reason']} "
                        "| | | | | | |")
            continue
        peak = r.get("solver_peak_mb", r["peak_mb"])
        rel = r.get("relative_error")
        rows.append(
            f"| {r['instance']} | {LABELS[r['solver']]} | {r['status']} | "
            f"{r.get('solver_status', r.get('error', ''))[:40]} | "
            f"{r.get('seconds', r['wall_seconds']):.3g} | {peak:.0f} | "
            f"{r.get('objective', float('nan')):.10g} | "
            f"{'' if rel is None else f'{rel:.1e}'} | {r.get('relative_gap', float('nan')):.1e} | "
            f"{r.get('gap_kind', '')} |")
    return rows


MIN_FIT_SECONDS = 0.1  # below this, process and call overheads hide the growth


def fit_exponent(xs: list[float], ts: list[float]) -> float | None:
    """Least-squares slope of log t against log x over the points above MIN_FIT_SECONDS."""
    pts = [(math.log(x), math.log(t)) for x, t in zip(xs, ts) if t >= MIN_FIT_SECONDS and x > 0]
    if len(pts) < 3:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx if sxx > 0 else None


def series_points(records: list[dict], family: str, solver: str) -> list[dict]:
    return sorted((r for r in records if r.get("family") == family and r["solver"] == solver
                   and r["status"] in ("OK", "INACCURATE")), key=lambda r: r["n"])


def growth_section(records: list[dict], solvers: list[str]) -> tuple[list[str], list[Path]]:
    lines, pngs = [], []
    families = [f for f in FAMILIES if any(r.get("family") == f for r in records)]
    for fam in families:
        recs = [r for r in records if r.get("family") == fam]
        here = [s for s in solvers if any(r["solver"] == s for r in recs)]
        lines += [f"### Random family `{fam}`", ""]
        ns = sorted({r["n"] for r in recs})
        lines.append("| n | edges | " + " | ".join(LABELS[s] for s in here) + " |")
        lines.append("|---:|---:|" + "---:|" * len(here))
        for n in ns:
            row = [r for r in recs if r["n"] == n]
            edges = next((r["edges"] for r in row if r.get("status") != "SKIPPED"), row[0]["edges"])
            cells = [_fmt_s(next((r for r in row if r["solver"] == s), None)) for s in here]
            lines.append(f"| {n} | {edges} | " + " | ".join(cells) + " |")
        lines += ["", "| solver | exponent vs n | exponent vs edges | largest n solved |",
                  "|---|---:|---:|---:|"]
        for s in here:
            pts = series_points(records, fam, s)
            if not pts:
                continue
            en = fit_exponent([p["n"] for p in pts], [p["seconds"] for p in pts])
            ee = fit_exponent([p["edges"] for p in pts], [p["seconds"] for p in pts])
            lines.append(f"| {LABELS[s]} | {_fmt_e(en)} | {_fmt_e(ee)} | {pts[-1]['n']} |")
        ours = series_points(records, fam, "lowrank")
        if ours:
            er = fit_exponent([p["edges"] * p.get("rank", 1) for p in ours],
                              [p["seconds"] for p in ours])
            lines += ["", f"lowrank_sdp's time against edges × rank (the rank it returned) grows "
                      f"with exponent {_fmt_e(er)}."]
        png = plot_family(records, fam, here)
        if png is not None:
            pngs.append(png)
            lines += ["", f"![time against n and edges, {fam}](img/{png.name})"]
        lines.append("")
    return lines, pngs


def _fmt_e(e: float | None) -> str:
    return "n/a" if e is None else f"{e:.2f}"


def plot_family(records: list[dict], family: str, solvers: list[str]) -> Path | None:
    """Log-log time against n and against edges, one line per solver, slope in the legend."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for s in solvers:
        pts = series_points(records, family, s)
        if not pts:
            continue
        ts = [p["seconds"] for p in pts]
        for ax, key in zip(axes, ("n", "edges")):
            xs = [p[key] for p in pts]
            e = fit_exponent(xs, ts)
            ax.loglog(xs, ts, "o-", label=f"{LABELS[s]} (slope {_fmt_e(e)})")
    for ax, key in zip(axes, ("n (vertices)", "edges")):
        ax.set_xlabel(key)
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=8)
    axes[0].set_ylabel("seconds (median of repeats)")
    fig.suptitle(f"Max-Cut SDP, random family '{family}': time against size "
                 f"(slopes fitted over runs ≥ {MIN_FIT_SECONDS:g} s)")
    fig.tight_layout()
    IMG.mkdir(parents=True, exist_ok=True)
    path = IMG / f"peers_growth_{family}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _span(records: list[dict]) -> str:
    dates = sorted(r["date"] for r in records if "date" in r)
    return f"Runs from {dates[0]} to {dates[-1]} (UTC)." if dates else ""


def write_docs(data: dict) -> None:
    records, solvers = data["records"], [s for s in SOLVERS if s in data["found"]]
    found = data["found"]
    have = ", ".join(f"{LABELS[s]} ({v})" for s, v in found.items() if v)
    missing = ", ".join(LABELS[s] for s, v in found.items() if not v) or "none"
    st = data["settings"]
    ran = [s for s in solvers if found.get(s) and any(r["solver"] == s for r in records)]
    peers = [
        "## Against other SDP solvers (benchmarks/peers.py)",
        "",
        machine_line(data["machine"]),
        _span(records),
        "",
        f"Solvers found: {have}. Not found (skipped): {missing}.",
        "",
        f"Every solver runs in its own process, killed after its time limit "
        f"({st['time_limit']:g} s, {st['series_time_limit']:g} s in the random series, "
        f"{st['ours_time_limit']:g} s for lowrank_sdp, plus "
        f"{st['grace']:g} s for start-up) or at {st['memory_mb']:g} MiB resident. Seconds are "
        "wall time around the solve call only (after a warm-up solve on a tiny graph in the same "
        f"process for the in-process solvers), the median of up to {st['repeats']} repeats when "
        "a solve takes under 2 s. Peak memory is ru_maxrss of the child process from wait4 "
        "(interpreter and imports included); for CSDP and SDPA it is the binary's own VmHWM. "
        f"lowrank_sdp runs `solve(L/4, sense=\"max\", tol={st['tol']:g})`; pymanopt runs on "
        "Oblique(r, n) (its points have unit columns, so they are Yᵀ) at the rank lowrank_sdp "
        "returned, with hand-written Euclidean gradient and Hessian, and tightens its gradient "
        "tolerance until our certificate (`lowrank_sdp.certify`) on its factor reaches the same "
        f"relative gap ({st['tol']:g}); cvxpy uses eps {st['cvxpy_eps']:g}; CSDP and SDPA run "
        "with their default parameters on the SDPA file. `rel. error` is the distance of the "
        "objective to the reference optimum (data/sdplib/README.md, data/gset/README.md); the "
        "gap is certified (lowrank_sdp, pymanopt) or the solver's own reported one. cvxpy runs "
        f"only on {', '.join(CVXPY_INSTANCES)} among these (minutes and gigabytes beyond).",
        "",
        "### Targets (ratios of times measured in this run)",
        "",
        *target_rows(records),
        "",
        "### Seconds per instance [peer time / lowrank_sdp time]",
        "",
        *instance_table(records, ran),
        "",
        "<details><summary>All runs: status, memory, objective, error, gap</summary>",
        "",
        *detail_table([r for r in records if r.get("kind") != "random"]),
        "",
        "</details>",
    ]
    write_section("benchmarks.md", "peers", "\n".join(peers), title="Benchmarks")
    growth, _ = growth_section(records, ran)
    if growth:
        head = [
            "## How cost grows (benchmarks/peers.py)",
            "",
            machine_line(data["machine"]),
            _span([r for r in records if r.get("kind") == "random"]),
            "",
            f"Random sparse graphs, n doubling from 100 (seed 0): `er` is G(n, m = 3n) with unit "
            "weights; `torus` a toroidal grid with random ±1 weights (like G11). lowrank_sdp runs "
            f"at tol={st['series_tol']:g}, pymanopt to the same certified gap, cvxpy at eps "
            f"{st['series_tol']:g}. A time-out, memory kill or failure ends that solver's series. "
            "Exponents are least-squares slopes of log time against log size over the runs that "
            f"took at least {MIN_FIT_SECONDS:g} s.",
            "",
        ]
        detail = detail_table([r for r in records if r.get("kind") == "random"])
        write_section("benchmarks.md", "growth",
                      "\n".join([*head, *growth, "<details><summary>All runs</summary>", "",
                                 *detail, "", "</details>"]), title="Benchmarks")


# ---------------------------------------------------------------------------------------------
# Command line.


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="small instances only (seconds); checks that objectives agree")
    p.add_argument("--only", help="comma-separated instance names (mcp250-1,G1,er,torus,...)")
    p.add_argument("--solvers", help=f"comma-separated subset of {','.join(SOLVERS)}")
    p.add_argument("--time-limit", type=float, default=180.0,
                   help="seconds per peer run on the named instances")
    p.add_argument("--series-time-limit", type=float, default=60.0,
                   help="seconds per peer run in the random series")
    p.add_argument("--ours-time-limit", type=float, default=600.0,
                   help="seconds per lowrank_sdp run")
    p.add_argument("--memory-limit", type=float, default=8192.0, help="MiB per run")
    p.add_argument("--max-n", type=int, default=10**6, help="largest n of the random series")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cvxpy-eps", type=float, default=1e-6,
                   help="SCS eps_abs/eps_rel and Clarabel gap/feasibility tolerances")
    p.add_argument("--threads", type=int, help="set OMP/OpenBLAS/MKL/Numba threads in children")
    p.add_argument("--out", type=Path, help="JSON path (default: benchmarks/results/peers.json; "
                   "with --quick, none)")
    p.add_argument("--merge", action="store_true",
                   help="keep the records of --out that this run does not redo")
    p.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    p.add_argument("--report-only", action="store_true",
                   help="rewrite docs and plots from the JSON without running anything")
    p.add_argument("--merge-from", type=Path, action="append", default=[],
                   help="with --report-only: first take the records of this JSON (from a run "
                   "with --only, say) into --out, replacing those of the same solver/instance")
    return p.parse_args(argv)


def build_config(args: argparse.Namespace, found: dict[str, str | None]) -> Config:
    named = {**sdplib_instances(), **gset_instances()}
    if args.quick:  # an SDPLIB file with a published optimum and a tiny random graph
        names, families, sizes = ["mcp100"], ["er"], [QUICK_N]
    else:
        names, families, sizes = [*SDPLIB, *GSET], list(FAMILIES), series_sizes(args.max_n)
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in named and w not in FAMILIES]
        if unknown:
            raise SystemExit(f"unknown instance(s): {', '.join(unknown)}")
        names = [w for w in wanted if w in named]
        families = [w for w in wanted if w in FAMILIES]
    solvers = list(SOLVERS)
    if args.solvers:
        solvers = [s.strip() for s in args.solvers.split(",")]
        unknown = [s for s in solvers if s not in SOLVERS]
        if unknown:
            raise SystemExit(f"unknown solver(s): {', '.join(unknown)}")
    solvers = [s for s in SOLVERS if s in solvers and found.get(s)]
    series = [[random_instance(f, n) for n in sizes] for f in families]
    limit = min(args.time_limit, 60.0) if args.quick else args.time_limit
    return Config(solvers=solvers, instances=[named[n] for n in names], series=series,
                  limits=Limits(limit, args.memory_limit),
                  series_limits=Limits(min(args.series_time_limit, limit),
                                       args.memory_limit),
                  ours_limits=Limits(min(args.ours_time_limit, limit) if args.quick
                                     else args.ours_time_limit, args.memory_limit),
                  repeats=1 if args.quick else args.repeats, threads=args.threads,
                  cvxpy_eps=args.cvxpy_eps,
                  max_n={"cvxpy-clarabel": QUICK_N} if args.quick else {})


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out or (None if args.quick else RESULTS)
    if args.report_only:
        path = out or RESULTS
        data = json.loads(path.read_text())
        for other in args.merge_from:
            new = json.loads(other.read_text())["records"]
            keys = {(r["solver"], r["instance"]) for r in new}
            data["records"] = [r for r in data["records"]
                               if (r["solver"], r["instance"]) not in keys] + new
        if args.merge_from:
            path.write_text(json.dumps(data, indent=1) + "\n")
        write_docs(data)
        return 0
    found = find_solvers()
    print("solvers found:", ", ".join(f"{s} ({v})" for s, v in found.items() if v) or "none")
    print("not found (skipped):", ", ".join(s for s, v in found.items() if not v) or "none")
    cfg = build_config(args, found)
    records = run_all(cfg)
    if args.merge and out is not None and out.exists():
        redone = {(r["solver"], r["instance"]) for r in records}
        old = json.loads(out.read_text())["records"]
        records = [r for r in old if (r["solver"], r["instance"]) not in redone] + records
    data = {
        "machine": machine_info(("numpy", "scipy", "numba", "lowrank_sdp", "cvxpy", "scs",
                                 "clarabel", "pymanopt")),
        "found": found,
        "settings": {"tol": cfg.tol, "series_tol": cfg.series_tol, "cvxpy_eps": cfg.cvxpy_eps,
                     "time_limit": cfg.limits.seconds, "ours_time_limit": cfg.ours_limits.seconds,
                     "series_time_limit": cfg.series_limits.seconds,
                     "grace": cfg.limits.grace, "memory_mb": cfg.limits.memory_mb,
                     "repeats": cfg.repeats, "threads": cfg.threads, "quick": args.quick,
                     "memory_measure": "ru_maxrss of the child from os.wait4 (KiB / 1024); "
                                       "CSDP/SDPA: the binary's VmHWM polled every 20 ms"},
        "records": records,
    }
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {out}")
        if not args.quick and not args.no_docs:
            write_docs(data)
            print("wrote docs/benchmarks.md (sections peers, growth)")
    bad = disagreements(records)
    for line in bad:
        print("DISAGREE:", line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
