"""The child side of benchmarks/peers.py: one solver on one instance, one JSON line on stdout.

    python benchmarks/peer_runners.py '{"solver": "csdp", "instance": {...}, "tol": 1e-6, ...}'

Every solver solves the Max-Cut SDP  maximize <C, X>  s.t.  diag(X) = 1, X PSD  with C = L/4.
The parent process owns the time limit and the memory measurement; this side times only the
solve itself (after a warm-up on a tiny instance for the in-process solvers, so that JIT
compilation and lazy imports are not counted), and repeats cheap solves to report a median.
"""

from __future__ import annotations

import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from lowrank_sdp.io import Graph, read_graph, write_sdpa_maxcut

REPO = Path(__file__).resolve().parent.parent

# A runner returns these keys (and solver-specific extras); the parent adds wall time and memory.
#   solver_status: the solver's own word for how it ended (free text, the solver's vocabulary)
#   ok: whether the solver claims the requested accuracy;  objective: <C, X> at its answer
#   bound: a certified (or solver-reported dual) value on the other side of the optimum
#   gap_kind: "certified" (our certificate on the solver's factor) or "reported" (solver's own)


# ---------------------------------------------------------------------------------------------
# Instances: the library's Graph (lowrank_sdp.io), read from a file or made up.


def random_graph(family: str, n: int, seed: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Seeded random sparse graphs whose size can double from 100 to 10^6.

    "er": Erdős–Rényi G(n, m) with m = 3n distinct edges (average degree 6), unit weights.
    "torus": an a x b toroidal grid (a*b = n, as square as a doubling allows) with random
    ±1 weights, like the G-set graphs G11-G13, G32-G34, G57, G62 ... G81.
    """
    rng = np.random.default_rng(seed)
    if family == "er":
        m = 3 * n
        i = rng.integers(0, n, size=int(m * 1.1) + 16)
        j = rng.integers(0, n, size=i.size)
        keep = i != j
        lo, hi = np.minimum(i, j)[keep], np.maximum(i, j)[keep]
        # First occurrences in sampling order, so the kept edges are uniform, not the low ones.
        _, first = np.unique(lo * n + hi, return_index=True)
        first = np.sort(first)[:m]
        return n, lo[first], hi[first], np.ones(first.size)
    if family == "torus":
        a = 1 << (int(math.log2(n)) // 2)
        while n % a or a * a > n:
            a -= 1
        b = n // a
        grid = np.arange(n).reshape(a, b)
        right = np.stack([grid.ravel(), np.roll(grid, -1, axis=1).ravel()])
        down = np.stack([grid.ravel(), np.roll(grid, -1, axis=0).ravel()])
        e = np.concatenate([right, down], axis=1)
        e = np.unique(np.sort(e, axis=0), axis=1)  # a or b < 3 would repeat edges
        e = e[:, e[0] != e[1]]
        w = rng.choice([-1.0, 1.0], size=e.shape[1])
        return n, e[0], e[1], w
    raise ValueError(f"The 'family' parameter of random_graph must be \"er\" or \"torus\"; "
                     f"got {family!r}.")


def as_graph(n: int, i: np.ndarray, j: np.ndarray, w: np.ndarray) -> Graph:
    """The library's Graph for an edge list (i < j, 0-based)."""
    W = sp.coo_matrix((np.concatenate([w, w]), (np.concatenate([i, j]), np.concatenate([j, i]))),
                      shape=(n, n)).tocsr()
    return read_graph(W)


def load_graph(inst: dict) -> Graph:
    """The graph of an instance spec (see peers.py for the spec's keys)."""
    if inst["kind"] == "random":
        return as_graph(*random_graph(inst["family"], int(inst["n"]), int(inst["seed"])))
    return read_graph(REPO / inst["path"])  # G-set (rudy) or an SDPLIB max-cut file


def sdpa_file_for(inst: dict, graph: Graph, tmp: Path) -> Path:
    """SDPLIB files go to CSDP/SDPA as they are; other graphs are written out first."""
    if inst["kind"] == "sdplib":
        return REPO / inst["path"]
    path = tmp / "problem.dat-s"
    write_sdpa_maxcut(path, graph)
    return path


def tiny() -> sp.csr_matrix:
    """L/4 of a 40-vertex random graph, for warm-up solves."""
    return as_graph(*random_graph("er", 40, 1)).laplacian_quarter()


# ---------------------------------------------------------------------------------------------
# Timing helpers.


def timed_repeats(run: Callable[[float], dict], spec: dict) -> dict:
    """Call run(time_left) once, then again while single solves are cheap; median seconds.

    The last run's answer is kept (all runs are deterministic for a given seed); `seconds` is
    the median over the repeats and `all_seconds` lists them.
    """
    limit = float(spec["time_limit"])
    repeats = int(spec.get("repeats", 1))
    times: list[float] = []
    out: dict = {}
    start = time.perf_counter()
    while True:
        left = limit - (time.perf_counter() - start)
        t0 = time.perf_counter()
        out = run(max(left, 1e-3))
        times.append(out.pop("seconds", time.perf_counter() - t0))
        spent = time.perf_counter() - start
        if len(times) >= repeats or times[0] > spec.get("repeat_below", 2.0):
            break
        if spent + times[-1] > 0.5 * limit:
            break
    out["seconds"] = float(np.median(times))
    out["all_seconds"] = times
    return out


def rss_mb() -> float:
    """This process's peak resident set so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---------------------------------------------------------------------------------------------
# Certificates for factors returned by other solvers (pymanopt): our own, measured the same way.


def certify(C: sp.csr_matrix, Y: np.ndarray) -> dict:
    """Our certificate for max <C, YY^T> at Y (unit rows): bound, gap, relative gap."""
    import lowrank_sdp as ls

    if hasattr(ls, "certify"):
        cert = ls.certify(C, Y, sense="max")
        return {"objective": float(cert.objective), "bound": float(cert.bound),
                "gap": float(cert.gap), "relative_gap": float(cert.relative_gap)}
    # Fallback until ls.certify lands: S = Diag(lambda) - C must be PSD for the bound
    # sum(lambda) + n * max(0, -lambda_min(S)) >= optimum (weak duality).
    CY = C @ Y
    lam = np.einsum("ij,ij->i", CY, Y)
    f = float(lam.sum())
    S = sp.diags(lam) - C
    n = C.shape[0]
    if n <= 3000:
        lmin = float(np.linalg.eigvalsh(S.toarray())[0])
    else:
        from scipy.sparse.linalg import eigsh

        lmin = float(eigsh(S.tocsc(), k=1, which="SA", tol=1e-10)[0][0])
    bound = f + n * max(0.0, -lmin)
    return {"objective": f, "bound": bound, "gap": bound - f,
            "relative_gap": (bound - f) / (1.0 + abs(f))}


# ---------------------------------------------------------------------------------------------
# The solvers.


def run_lowrank(spec: dict, g: Graph, C: sp.csr_matrix) -> dict:
    import lowrank_sdp as ls

    tol = float(spec["tol"])
    extra = {"max_rank": int(spec["max_rank"])} if spec.get("max_rank") else {}
    ls.solve(tiny(), sense="max", tol=tol)  # JIT warm-up, not counted

    def run(left: float) -> dict:
        t0 = time.perf_counter()
        res = ls.solve(C, sense="max", tol=tol, time_limit=left, seed=0, **extra)
        return {"seconds": time.perf_counter() - t0, "res": res}  # wall around the call

    out = timed_repeats(run, spec)
    res = out.pop("res")
    return {**out, "solver_status": res.status.name, "ok": bool(res.certified),
            "objective": float(res.objective), "bound": float(res.bound), "gap": float(res.gap),
            "relative_gap": float(res.relative_gap), "gap_kind": "certified",
            "rank": int(res.rank), "iterations": int(res.iterations), "method": str(res.method),
            "solver_seconds": float(res.seconds), "max_rank": extra.get("max_rank"),
            "timed_out": res.status.name == "TIME_LIMIT"}


def run_pymanopt(spec: dict, g: Graph, C: sp.csr_matrix) -> dict:
    """Trust regions or conjugate gradient on Oblique(r, n): pymanopt's oblique manifold has
    unit COLUMNS, so its point is Y^T (r x n). Euclidean gradient and Hessian by hand.

    Minimises -<C, Y Y^T> with pymanopt's default gradient-norm stop (1e-6); if our certificate
    on the answer is above the target gap, continues from there with a 100x tighter gradient
    tolerance (at most 4 rounds). `seconds` counts pymanopt's time only, not the certificates.
    """
    import pymanopt
    from pymanopt.manifolds import Oblique
    from pymanopt.optimizers import ConjugateGradient, TrustRegions

    target, n = float(spec["tol"]), g.n
    rank = int(spec.get("rank") or math.ceil(math.sqrt(2 * n)))
    Optimizer = TrustRegions if spec["solver"] == "pymanopt-tr" else ConjugateGradient

    def problem_for(Cm: sp.csr_matrix, r: int, m: int) -> pymanopt.Problem:
        manifold = Oblique(r, m)
        CT = Cm.T.tocsr()  # (Y^T C)^T = C^T Y; C is symmetric, kept general for clarity

        @pymanopt.function.numpy(manifold)
        def cost(Yt: np.ndarray) -> float:
            return -float(np.sum((CT @ Yt.T).T * Yt))

        @pymanopt.function.numpy(manifold)
        def egrad(Yt: np.ndarray) -> np.ndarray:
            return -2.0 * (Cm @ Yt.T).T

        @pymanopt.function.numpy(manifold)
        def ehess(Yt: np.ndarray, E: np.ndarray) -> np.ndarray:
            return -2.0 * (Cm @ E.T).T

        return pymanopt.Problem(manifold, cost, euclidean_gradient=egrad,
                                euclidean_hessian=ehess)

    def solve(Cm: sp.csr_matrix, r: int, m: int, x0: np.ndarray, gtol: float, left: float):
        opt = Optimizer(min_gradient_norm=gtol, max_time=left, verbosity=0,
                        max_iterations=100_000)
        return opt.run(problem_for(Cm, r, m), initial_point=x0)

    def start(m: int, r: int) -> np.ndarray:
        x = np.random.default_rng(0).standard_normal((r, m))
        return x / np.linalg.norm(x, axis=0)

    solve(tiny(), 9, 40, start(40, 9), 1e-6, 10.0)  # warm-up, not counted

    def run(left: float) -> dict:
        x, gtol, seconds, rounds = start(n, rank), 1e-6, 0.0, 0
        cert: dict = {}
        reason = ""
        while True:
            t0 = time.perf_counter()
            res = solve(C, rank, n, x, gtol, max(left - seconds, 1e-3))
            seconds += time.perf_counter() - t0
            rounds += 1
            x = res.point
            reason = str(res.stopping_criterion)
            cert = certify(C, np.ascontiguousarray(x.T))
            if cert["relative_gap"] <= target or rounds >= 4 or seconds >= left:
                break
            gtol *= 1e-2
        return {"seconds": seconds, "cert": cert, "rounds": rounds, "reason": reason}

    out = timed_repeats(run, spec)
    cert, reason = out.pop("cert"), out.pop("reason")
    ok = cert["relative_gap"] <= target
    return {**out, "solver_status": reason, "ok": ok, **cert, "gap_kind": "certified",
            "rank": rank, "timed_out": not ok and "time" in reason.lower()}


def run_cvxpy(spec: dict, g: Graph, C: sp.csr_matrix) -> dict:
    """X PSD (n x n), diag(X) = 1, maximise <C, X>: how a Python user writes it in cvxpy."""
    import cvxpy as cp

    name = {"cvxpy-scs": "SCS", "cvxpy-clarabel": "CLARABEL"}[spec["solver"]]
    eps = float(spec.get("cvxpy_eps", 1e-6))

    def options(left: float) -> dict:
        if name == "SCS":
            return {"eps_abs": eps, "eps_rel": eps, "time_limit_secs": left}
        return {"tol_gap_abs": eps, "tol_gap_rel": eps, "tol_feas": eps, "time_limit": left}

    def problem_for(Cm: sp.csr_matrix) -> cp.Problem:
        X = cp.Variable(Cm.shape, PSD=True)
        return cp.Problem(cp.Maximize(cp.trace(Cm @ X)), [cp.diag(X) == 1])

    problem_for(tiny()).solve(solver=name)  # warm-up

    def run(left: float) -> dict:
        prob = problem_for(C)
        t0 = time.perf_counter()
        prob.solve(solver=name, **options(left))
        return {"seconds": time.perf_counter() - t0, "prob": prob}

    out = timed_repeats(run, spec)
    prob = out.pop("prob")
    left = float(spec["time_limit"])
    stats = prob.solver_stats
    obj = float(prob.value) if prob.value is not None else float("nan")
    # The solver's own dual objective: sum(y) for the multipliers y of diag(X) = 1.
    y = prob.constraints[0].dual_value
    bound = float(np.sum(y)) if y is not None else float("nan")
    gap = abs(bound - obj)
    return {**out, "solver_status": str(prob.status), "ok": prob.status == "optimal",
            "timed_out": prob.status != "optimal" and out["all_seconds"][-1] >= 0.95 * left,
            "objective": obj, "bound": bound, "gap": gap, "relative_gap": gap / (1 + abs(obj)),
            "gap_kind": "reported", "solver_seconds": stats.solve_time,
            "iterations": stats.num_iters, "eps": eps}


def run_binary(cmd: list[str], left: float) -> tuple[str, float, float, int | None]:
    """Run an external solver: its output, wall seconds, peak RSS (MiB) and return code
    (None when it ran past `left` seconds and was killed).

    The peak is the child's VmHWM polled from /proc every 20 ms: ru_maxrss of a child started
    from Python would count this interpreter's pages too (Linux carries them over at exec).
    """
    with tempfile.TemporaryFile("w+") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True)
        peak = 0.0
        while True:
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) / 1024.0)
            except (OSError, ValueError, IndexError):
                pass
            try:
                code = proc.wait(timeout=0.02)
                break
            except subprocess.TimeoutExpired:
                if time.perf_counter() - t0 > left:
                    proc.kill()
                    proc.wait()
                    code = None  # timed out
                    break
        seconds = time.perf_counter() - t0
        log.seek(0)
        return log.read(), seconds, peak, code


def _num(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    return float(m.group(1)) if m else float("nan")


def run_sdpa_binary(spec: dict, g: Graph,
                    command: Callable[[Path, Path], list[str]]) -> tuple[dict, str, int | None, float]:
    """Write the instance as an SDPA file and run ``command(file, tmp_dir)`` under `timed_repeats`:
    (the timing fields, the last run's output, its exit code (None: timed out), peak MB)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = sdpa_file_for(spec["instance"], g, Path(tmp))
        peaks: list[float] = []

        def run(left: float) -> dict:
            text, seconds, peak, code = run_binary(command(path, Path(tmp)), left)
            peaks.append(peak)
            return {"seconds": seconds, "text": text, "code": code}

        out = timed_repeats(run, spec)
    text, code = out.pop("text"), out.pop("code")
    return out, text, code, max(peaks)


def run_csdp(spec: dict, g: Graph, C: sp.csr_matrix) -> dict:
    """CSDP reads SDPA files and solves max tr(F0 X) s.t. tr(F_k X) = c_k: the SDP value."""
    exe = shutil.which("csdp")
    out, text, code, peak = run_sdpa_binary(spec, g, lambda path, tmp: [exe, str(path)])
    obj = _num(r"Primal objective value:\s*(\S+)", text)
    dual = _num(r"Dual objective value:\s*(\S+)", text)
    rel = _num(r"Real Relative Gap:\s*(\S+)", text)
    word = re.search(r"^(Success|Partial Success|Failure)[^\n]*", text, re.M)
    return {**out, "solver_status": word.group(0).strip() if word else f"exit code {code}",
            "ok": code == 0, "timed_out": code is None, "objective": obj, "bound": dual,
            "gap": abs(dual - obj),
            "relative_gap": rel, "gap_kind": "reported", "solver_peak_mb": peak,
            "iterations": len(re.findall(r"^Iter:", text, re.M)) - 1}


def run_sdpa(spec: dict, g: Graph, C: sp.csr_matrix) -> dict:
    """SDPA's primal (min c^T x) and dual (max <F0, Y>) both equal the SDP value here."""
    exe = shutil.which("sdpa")
    out, text, code, peak = run_sdpa_binary(
        spec, g, lambda path, tmp: [exe, "-ds", str(path), "-o", str(tmp / "out.txt")])
    obj = _num(r"objValDual\s*=\s*(\S+)", text)  # <F0, Y> at a feasible Y: our objective
    bound = _num(r"objValPrimal\s*=\s*(\S+)", text)
    phase = re.search(r"phase\.value\s*=\s*(\S+)", text)
    word = phase.group(1) if phase else "no phase"
    return {**out, "solver_status": word, "ok": word == "pdOPT", "timed_out": code is None,
            "objective": obj,
            "bound": bound, "gap": abs(bound - obj),
            "relative_gap": _num(r"relative gap\s*=\s*(\S+)", text), "gap_kind": "reported",
            "solver_peak_mb": peak,
            "iterations": int(it.group(1)) if (it := re.search(r"Iteration\s*=\s*(\d+)", text))
            else None}


RUNNERS: dict[str, Callable[[dict, Graph, sp.csr_matrix], dict]] = {
    "lowrank": run_lowrank,
    "pymanopt-tr": run_pymanopt,
    "pymanopt-cg": run_pymanopt,
    "cvxpy-scs": run_cvxpy,
    "cvxpy-clarabel": run_cvxpy,
    "csdp": run_csdp,
    "sdpa": run_sdpa,
}


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    # Solvers print; keep stdout for the one JSON line by pointing fd 1 at stderr meanwhile.
    result_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    t0 = time.perf_counter()
    g = load_graph(spec["instance"])
    C = g.laplacian_quarter()
    info: dict[str, Any] = {"n": g.n, "edges": g.m, "load_seconds": time.perf_counter() - t0,
                            "baseline_mb": rss_mb()}
    info.update(RUNNERS[spec["solver"]](spec, g, C))
    info["process_peak_mb"] = rss_mb()
    result_out.write(json.dumps(info) + "\n")
    result_out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
