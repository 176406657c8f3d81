"""The `lowrank-sdp` command line.

    lowrank-sdp maxcut data/gset/G1.txt.gz            # SDP bound + rounded cut, readable summary
    lowrank-sdp maxcut G14.txt.gz --json              # one JSON object as the last line
    lowrank-sdp solve data/sdplib/mcp100.dat-s        # an SDPA file with unit-diagonal constraints
    lowrank-sdp maxsat data/maxsat/small.wcnf         # MAX-SAT bound + an assignment

Exit codes: 0 success (whatever the solver status), 2 bad input, 130 Ctrl-C before any result,
141 (quietly) when the reader of stdout went away (`lowrank-sdp maxcut G1 --json | head -c 10`).
A Ctrl-C during the solve stops it at the next iteration; the best point so far is still certified,
rounded and printed (status INTERRUPTED, exit 0). A second Ctrl-C aborts at once (exit 130).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

EXIT_OK, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 2, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a reader that quit early


class Progress:
    """Solver callback that shows iteration, objective, gap (when the solver's state has one),
    gradient norm and rank on stderr.

    Silent for the first `delay` seconds so quick runs print nothing; on a terminal one line is
    redrawn in place (at most 10 times a second), otherwise a line is written every 5 s.
    """

    def __init__(self, stream: TextIO | None = None, delay: float = 1.0):
        self.stream = stream if stream is not None else sys.stderr
        self.delay = delay
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = 0.1 if self.tty else 5.0
        self.start = time.perf_counter()
        self.last = -math.inf
        self.width = 0

    def __call__(self, state: Any) -> None:
        now = time.perf_counter() - self.start
        if now < self.delay or now - self.last < self.every:
            return
        self.last = now
        gap = getattr(state, "gap", None)  # the last certificate's gap, where the solver gives it
        line = (
            f"  iteration {state.iteration:7d}  objective {state.objective:.10g}  "
            + (f"gap {gap:.2e}  " if gap is not None else "")
            + f"|grad| {state.grad_norm:.2e}  rank {state.rank}  {now:6.1f} s"
        )
        if self.tty:
            self.stream.write("\r" + line.ljust(self.width))
            self.width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Erase the in-place line so the summary starts on a clean line."""
        if self.tty and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0


METHOD_NAMES = ("auto", "rgd", "lbfgs", "mixing", "tr")
"""The names --method accepts (kept equal to ("auto", *lowrank_sdp.METHODS) by a test; listed here so
that --help does not load the solver kernels)."""
GRAPH_FORMATS = ("gset", "rudy", "mtx", "sdpa", "edgelist")
"""The `fmt` values of `lowrank_sdp.io.read_graph` (kept equal by a test)."""
MAX_BYTES = 1 << 30
"""Default of --max-bytes: `lowrank_sdp.io.MAX_BYTES` (kept equal by a test)."""


def _positive_int(text: str, message: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(message) from None
    if value < 1:
        raise argparse.ArgumentTypeError(message)
    return value


def _rank(text: str) -> int | str:
    if text == "auto":
        return text
    return _positive_int(text, f'must be a positive int or "auto"; got {text!r}')


def _max_bytes(text: str) -> int | None:
    if text.lower() == "none":
        return None
    return _positive_int(text, f"must be a positive int or 'none'; got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lowrank-sdp",
        description="Certified low-rank SDP solver: the Max-Cut of a graph, MAX-SAT of a WCNF file, "
        "or an SDPA sparse file "
        "(unit-diagonal ones by the fast path, any other by the augmented Lagrangian).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    formatter = argparse.ArgumentDefaultsHelpFormatter  # every option's --help shows its default

    def subcommand(name: str, summary: str, description: str, path_help: str):
        """A subcommand reading one file, with the options both subcommands share."""
        p = sub.add_parser(name, help=summary, description=description, formatter_class=formatter)
        p.add_argument("path", help=path_help)
        p.add_argument("--rank", type=_rank, default="auto",
                       help='factor rank, or "auto" (start low and climb the rank staircase)')
        p.add_argument("--method", default="auto", choices=METHOD_NAMES,
                       help="local method: rgd (Riemannian gradient descent), lbfgs (Riemannian "
                       "L-BFGS), mixing (block-coordinate mixing, over-relaxed), tr (Riemannian "
                       "trust region), or auto (the one measured fastest for the problem class)")
        p.add_argument("--tol", type=float, default=1e-6, help="relative gap to certify")
        p.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                       help="stop the solve after this many seconds (None: no limit)")
        p.add_argument("--max-iterations", type=int, default=None, metavar="N",
                       help="stop after N iterations over all ranks (None: no limit)")
        p.add_argument("--seed", type=int, default=0, help="seed of the random start")
        p.add_argument("--rigorous", action="store_true",
                       help="prove lambda_min by a dense Cholesky factorisation (n <= 6000)")
        p.add_argument("--json", action="store_true",
                       help="print one JSON object (the result's to_dict()) instead of a summary")
        p.add_argument("--save-y", default=None, metavar="PATH",
                       help="also write the factor Y (n x rank) to PATH as a .npy file")
        p.add_argument("--quiet", action="store_true", help="no progress display on stderr")
        p.add_argument("--verbose", action="store_true", help="solver log, one line per rank step")
        p.add_argument("--max-bytes", type=_max_bytes, default=MAX_BYTES, metavar="BYTES",
                       help="refuse a file holding more text than this, counted after gzip "
                       "decompression ('none': no limit)")
        return p

    p = subcommand("maxcut", "Max-Cut: SDP upper bound and a rounded cut of a graph",
                   "Solve the Max-Cut SDP of a graph file (G-set/rudy, Matrix Market, SDPA max-cut, "
                   "edge list; .gz allowed) and round it to a cut.", "graph file")
    p.add_argument("--format", default=None, choices=GRAPH_FORMATS, dest="fmt",
                   help="file format (None: guessed from the file name and banner)")
    p.add_argument("--trials", type=int, default=1000, help="random hyperplanes of the rounding")
    p.add_argument("--output", default=None, metavar="PATH",
                   help="write the partition to PATH: one line 'vertex side' per vertex (side +1 "
                   "or -1; vertices numbered as in the file)")

    p = subcommand("maxsat", "MAX-SAT: SDP upper bound and an assignment of a (W)CNF file",
                   "Solve the MAX-SAT SDP relaxation (the mixing method's) of a DIMACS .cnf / "
                   ".wcnf file (pre-2022 'p wcnf' or 2022 format; .gz allowed) and round it to "
                   "an assignment.", "(W)CNF file")
    p.add_argument("--trials", type=int, default=1000, help="random hyperplanes of the rounding")
    p.add_argument("--output", default=None, metavar="PATH",
                   help="write the assignment to PATH as a DIMACS 'v' line (v 1 -2 3 ...)")

    subcommand("solve", "solve an SDPA sparse file (.dat-s)",
               "Solve an SDPA sparse file (.dat-s): unit-diagonal ones (SDPLIB mcp*, maxG*) by the "
               "fast path, any other by the augmented Lagrangian.", "SDPA sparse file (.dat-s)")
    return parser


def _finite(value: Any) -> Any:
    """JSON has no NaN or inf: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json(out: dict[str, Any]) -> str:
    return json.dumps({k: _finite(v) for k, v in out.items()}, default=str)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.10g}"


def _summary(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)


def _solve_options(args: argparse.Namespace, progress: Progress | None) -> dict[str, Any]:
    return dict(rank=args.rank, method=args.method, tol=args.tol, seed=args.seed,
                time_limit=args.time_limit, max_iterations=args.max_iterations,
                rigorous=args.rigorous, callback=progress, verbose=args.verbose)


def _save_y(args: argparse.Namespace, Y: Any) -> None:
    if args.save_y is not None:
        import numpy as np

        with open(args.save_y, "wb") as f:  # np.save would append .npy to another suffix
            np.save(f, Y)


def _run_maxcut(args: argparse.Namespace, progress: Progress | None) -> int:
    from lowrank_sdp.io import read_graph
    from lowrank_sdp.maxcut import maxcut

    graph = read_graph(args.path, fmt=args.fmt, max_bytes=args.max_bytes)
    res = maxcut(graph, trials=args.trials, **_solve_options(args, progress))
    if progress is not None:
        progress.close()
    plus, minus = res.partition()
    if args.output is not None:
        side = dict.fromkeys(plus, "+1") | dict.fromkeys(minus, "-1")
        lines = [f"# {res.name}: Max-Cut partition, cut value {_number(res.cut_value)}, "
                 f"'vertex side'"] + [f"{v} {side[v]}" for v in res.labels]
        Path(args.output).write_text("\n".join(lines) + "\n")
    _save_y(args, res.sdp.Y)
    if args.json:
        print(_json(res.to_dict() | {"partition": [plus, minus]}))
        return EXIT_OK
    sdp = res.sdp
    print(f"{res.name}: Max-Cut, n = {res.n} vertices, m = {res.m} edges")
    print(_summary([
        ("SDP value", f"{res.objective:.10g}   (rank {res.rank}, {sdp.method}, "
                      f"{sdp.iterations} iterations)"),
        ("upper bound", f"{res.bound:.10g}   (certified: no cut is larger)"),
        ("gap", f"{res.gap:.3g}   (relative {res.relative_gap:.2g})"),
        ("cut", f"{_number(res.cut_value)}   (best of {args.trials} random hyperplanes, "
                "then local search)"),
        ("ratio", f"{res.ratio:.4f}   (cut / upper bound, a lower bound on cut / max cut)"),
        ("status", res.status.name),
        ("seconds", f"{res.seconds:.2f}   (solve {res.solve_seconds:.2f}, "
                    f"rounding {res.rounding_seconds:.2f})"),
    ]))
    return EXIT_OK


def _run_maxsat(args: argparse.Namespace, progress: Progress | None) -> int:
    from lowrank_sdp.io import read_wcnf
    from lowrank_sdp.maxsat import maxsat

    instance = read_wcnf(args.path, max_bytes=args.max_bytes)
    res = maxsat(instance, trials=args.trials, **_solve_options(args, progress))
    if progress is not None:
        progress.close()
    values = [v if res.assignment[v - 1] else -v for v in range(1, res.n + 1)]
    if args.output is not None:
        Path(args.output).write_text("v " + " ".join(map(str, values)) + " 0\n")
    _save_y(args, res.sdp.Y)
    if args.json:
        print(_json(res.to_dict() | {"assignment": values}))
        return EXIT_OK
    sdp = res.sdp
    hard = int(instance.hard.sum())
    print(f"{res.name}: MAX-SAT, {res.n} variables, {res.m} clauses ({hard} hard)")
    print(_summary([
        ("SDP value", f"{res.objective:.10g}   (rank {res.rank}, {sdp.method}, "
                      f"{sdp.iterations} iterations)"),
        ("upper bound", f"{res.bound:.10g}   (certified: no assignment keeping the hard clauses "
                        "satisfies more soft weight)"),
        ("satisfied", f"{_number(res.satisfied_weight)} of {_number(res.soft_total)} soft weight"
                      f"{'' if res.hard_satisfied else ', some hard clause violated'}"),
        ("status", res.status.name),
        ("seconds", f"{res.seconds:.2f}"),
    ]))
    return EXIT_OK


def _run_solve(args: argparse.Namespace, progress: Progress | None) -> int:
    import lowrank_sdp
    from lowrank_sdp.io import read_sdpa

    start = time.perf_counter()
    problem = read_sdpa(args.path, max_bytes=args.max_bytes)
    try:
        C, offset, sense = problem.unit_diagonal_cost()
    except ValueError:  # not diag(X) = 1 alone: the general path (any SDPA file)
        return _run_general(args, problem, progress, start)
    res = lowrank_sdp.solve(C, sense=sense, **_solve_options(args, progress))
    if progress is not None:
        progress.close()
    seconds = time.perf_counter() - start
    _save_y(args, res.Y)
    name = Path(args.path).name.removesuffix(".gz").removesuffix(".dat-s")
    # The file's objective is <C, X> + offset: report it, not the solver's <C, X>.
    out = {"name": name, **res.to_dict(), "offset": offset, "seconds": seconds}
    out["objective"] = float(res.objective) + offset
    out["bound"] = float(res.bound) + offset
    out["relative_gap"] = float(res.gap) / (1.0 + abs(out["objective"]))
    if args.json:
        print(_json(out))
        return EXIT_OK
    side = "upper" if sense == "max" else "lower"
    print(f"{name}: SDPA, n = {out['n']}, constraints diag(X) = 1, {sense}imize")
    print(_summary([
        ("optimal value", f"{out['objective']:.10g}   (rank {res.rank}, {res.method}, "
                          f"{res.iterations} iterations)"),
        ("bound", f"{out['bound']:.10g}   (certified {side} bound on the optimum)"),
        ("gap", f"{out['gap']:.3g}   (relative {out['relative_gap']:.2g})"),
        ("status", out["status"]),
        ("seconds", f"{seconds:.2f}"),
    ]))
    return EXIT_OK


def _run_general(args: argparse.Namespace, problem: Any, progress: Progress | None,
                 start: float) -> int:
    import lowrank_sdp
    from lowrank_sdp.io.sdpa import sdpa_to_sdp

    sdp = sdpa_to_sdp(problem)
    res = lowrank_sdp.solve(sdp, **_solve_options(args, progress))
    if progress is not None:
        progress.close()
    _save_y(args, res.Y)
    out = {"name": sdp.name, **res.to_dict(), "m": sdp.m, "blocks": list(sdp.blocks),
           "seconds": time.perf_counter() - start}
    if args.json:
        print(_json(out))
        return EXIT_OK
    side = "upper" if sdp.sense == "max" else "lower"
    print(f"{sdp.name}: SDPA, n = {sdp.n} in {len(sdp.blocks)} blocks, m = {sdp.m} constraints, "
          f"{sdp.sense}imize")
    print(_summary([
        ("value", f"{out['objective']:.10g}   (rank {res.rank}, {res.method}, {res.iterations} "
                  "iterations)"),
        ("bound", f"{out['bound']:.10g}   (certified {side} bound on the optimum; nan: unknown)"),
        ("gap", f"{out['gap']:.3g}   (relative {out['relative_gap']:.2g})"),
        ("infeasibility", f"{out['infeasibility']:.2g}   (DIMACS err1)"),
        ("status", out["status"]),
        ("seconds", f"{out['seconds']:.2f}"),
    ]))
    return EXIT_OK


def _quiet_broken_pipe() -> None:
    """The reader went away (`... | head`): send the rest of stdout nowhere, with no traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (a test's StringIO)
        pass


def main(argv: list[str] | None = None) -> int:
    """Entry point of `lowrank-sdp`; returns the exit code."""
    args = build_parser().parse_args(argv)
    progress = None if args.quiet or args.verbose else Progress()
    run = {"maxcut": _run_maxcut, "maxsat": _run_maxsat, "solve": _run_solve}[args.command]
    try:
        code = run(args, progress)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        _quiet_broken_pipe()
        return EXIT_BROKEN_PIPE
    except (ValueError, OSError) as err:
        if progress is not None:
            progress.close()
        print(f"lowrank-sdp {args.command}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (KeyboardInterrupt, SystemError) as err:
        # A second Ctrl-C aborts the solve; inside a Numba call it surfaces as a SystemError whose
        # cause is the KeyboardInterrupt (lowrank_sdp._interrupt). Any other SystemError is a bug.
        if isinstance(err, SystemError) and not isinstance(err.__cause__, KeyboardInterrupt):
            raise
        if progress is not None:
            progress.close()
        print(f"lowrank-sdp {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
