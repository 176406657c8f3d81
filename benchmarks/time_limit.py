"""Does a solve respect its time limit? Wall seconds (around the call) against Result.seconds and
the limit, with the status and gap, on Erdos-Renyi Max-Cut (benchmarks/scale.py's graphs).

    python benchmarks/time_limit.py --n 100000 --limits 20,60 [--maxcut] [--verbose]

Prints one JSON object per solve (run it under flock on a shared machine; the load is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lowrank_sdp as ls
from benchmarks.scale import cost, erdos_renyi


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--limits", default="20,60")
    p.add_argument("--tol", type=float, default=1e-5)
    p.add_argument("--maxcut", action="store_true", help="ls.maxcut on the graph instead of ls.solve")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    W = erdos_renyi(args.n)
    C = cost(W)
    ls.solve(cost(erdos_renyi(300)), sense="max", tol=1e-6)  # compile the kernels
    for limit in (float(x) for x in args.limits.split(",")):
        load0 = os.getloadavg()[0]
        t = time.perf_counter()
        if args.maxcut:
            res = ls.maxcut(W, tol=args.tol, time_limit=limit, verbose=args.verbose)
        else:
            res = ls.solve(C, sense="max", tol=args.tol, time_limit=limit, verbose=args.verbose)
        wall = time.perf_counter() - t
        row = {"n": args.n, "front_door": "maxcut" if args.maxcut else "solve", "limit": limit,
               "wall_s": round(wall, 2), "result_seconds": round(res.seconds, 2),
               "status": res.status.name, "relative_gap": res.relative_gap,
               "iterations": res.iterations, "rank": int(res.rank),
               "evidence": getattr(getattr(res, "certificate", None) or getattr(res, "sdp", None),
                                   "evidence", None),
               "load": f"{load0:.1f}-{os.getloadavg()[0]:.1f}"}
        if args.maxcut:
            row["evidence"] = res.sdp.certificate.evidence.name
        else:
            row["evidence"] = res.certificate.evidence.name
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
