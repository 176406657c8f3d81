"""How many torch threads the small bnn models want: the docs/bnn.md example, timed per thread count.

Each run is a fresh process (``torch.set_num_threads(t)`` before the example's code), run in turn,
so the thread counts see the same machine load; the 1-minute load average is recorded with every
number. Writes the section ``bnn-threads`` of docs/bnn.md.

    python benchmarks/bnn_threads.py                 # threads 1, 2 and the machine's cores
    python benchmarks/bnn_threads.py --threads 1 2 4 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

try:
    from benchmarks._report import REPO, machine_info, machine_line, write_section
except ImportError:  # run as a script from benchmarks/
    from _report import REPO, machine_info, machine_line, write_section

DOC = REPO / "docs" / "bnn.md"


def example() -> str:
    match = re.search(r"<!-- example -->\n```python\n(.*?)```", DOC.read_text(), re.S)
    if not match:
        raise SystemExit("docs/bnn.md has no <!-- example --> block")
    # the example pins one thread itself; the benchmark sets the count instead
    return re.sub(r"^torch\.set_num_threads\(.*$", "", match.group(1), flags=re.M)


def run(threads: int, code: str) -> float:
    prog = (f"import time, torch\ntorch.set_num_threads({threads})\nt0 = time.perf_counter()\n"
            f"{code}\nprint('SECONDS', time.perf_counter() - t0)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, env=env,
                         cwd=REPO, check=True).stdout
    return float(out.split("SECONDS")[-1])


def main() -> None:
    cores = os.cpu_count() or 1
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=sorted({1, 2, cores}))
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    code = example()
    rows = []
    for rep in range(args.repeats):
        for t in args.threads:
            load = os.getloadavg()[0]
            seconds = run(t, code)
            rows.append((t, rep, seconds, load))
            print(f"threads {t} repeat {rep}: {seconds:.2f} s (load {load:.2f})", flush=True)
    lines = [
        "The docs/bnn.md example (100 training steps, then evaluate, harden, export), one fresh "
        "process per run; written by `python benchmarks/bnn_threads.py "
        + " ".join(sys.argv[1:]) + "`. " + machine_line(machine_info(("numpy", "torch")))
        + " `load` is the 1-minute load average when the run started (the machine was shared).",
        "",
        "| torch threads | run | seconds | load |",
        "|---|---|---|---|",
        *(f"| {t} | {rep + 1} | {s:.2f} | {load:.2f} |" for t, rep, s, load in rows),
    ]
    write_section("bnn.md", "bnn-threads", "\n".join(lines))
    print(f"wrote {DOC} at {time.strftime('%H:%M:%S')}")


if __name__ == "__main__":
    main()
