"""What a proof of the certificate costs, and where the sparse factorisation fits (issue 10).

    PYTHONPATH=. python benchmarks/certificate_proof.py envelopes            # every G-set graph
    PYTHONPATH=. python benchmarks/certificate_proof.py solve G1 G22 G55 G81  # estimate vs proof

`envelopes` needs no solve: the LDL^T proof factorises S - sigma I (S has the pattern of the
graph's Laplacian plus the diagonal) in the reverse Cuthill-McKee order without pivoting, so its fill
stays inside the envelope and its memory and flops are known from the pattern alone. A graph
"fits" when the envelope is within SPARSE_PROOF_BYTES; the default proof also needs the flops within
the solve's time at PROOF_FLOP_RATE (or a dense Cholesky, n^3/3 flops, if cheaper).

`solve` runs ls.solve(L/4, sense="max") (tol 1e-6), then at the returned point times the Lanczos
estimate alone and the proof alone (rigorous, so it runs whatever its cost), and prints the solve's
own evidence. Threads are pinned to one (NUMBA_NUM_THREADS, OMP_NUM_THREADS); the load average is
printed with every row, since the machine may be shared.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import glob
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

import lowrank_sdp as ls
from lowrank_sdp import certificate
from lowrank_sdp.io import read_graph
from lowrank_sdp.problem import make_problem

HERE = os.path.dirname(os.path.abspath(__file__))
GSET = os.path.join(HERE, "..", "data", "gset")


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def _graph(name: str):
    return read_graph(os.path.join(GSET, f"{name}.txt.gz")).laplacian_quarter()


def envelopes() -> None:
    """The LDL^T envelope (memory, flops) of every G-set graph, from certificate's private
    `_envelope`: the internal whose cost the default proof budget predicts."""
    names = sorted((os.path.basename(p).split(".")[0] for p in glob.glob(os.path.join(GSET, "G*.txt.gz"))),
                   key=lambda s: int(s[1:]))
    print("graph      n      nnz  width  envelope_MiB  LDLt_Gflop  dense_Gflop  fits  cheaper")
    for name in names:
        C = _graph(name)
        n = C.shape[0]
        env = certificate._envelope(C, np.zeros(n))
        dense = n**3 / 3.0
        fits = env.bytes <= certificate.SPARSE_PROOF_BYTES
        cheaper = "LDLt" if fits and (n > certificate.RIGOROUS_LIMIT or env.flops <= dense) else (
            "dense" if n <= certificate.RIGOROUS_LIMIT else "none")
        print(f"{name:6s} {n:6d} {C.nnz:8d} {env.width:6d} {env.bytes / 2**20:13.1f} "
              f"{env.flops / 1e9:11.2f} {dense / 1e9:12.2f}  {'yes' if fits else 'no':4s}  {cheaper}"
              f"   ({_load()})", flush=True)


def solve(names: list[str]) -> None:
    print("graph      n  solve_s status       evidence        lanczos_s  proof_s  proof/solve  "
          "lambda_est     lambda_proved")
    for name in names:
        C = _graph(name)
        n = C.shape[0]
        with threadpool_limits(limits=1, user_api="blas"):
            res = ls.solve(C, sense="max")
            problem = make_problem(C, "max", n=n)
            objective = problem.objective
            f, GY = objective.evaluate(res.Y)
            lam = np.einsum("ij,ij->i", GY, res.Y)
            G = objective.gradient_operator(res.Y)
            target = 0.1 * 1e-6 * (1.0 + abs(f)) / n
            t0 = time.perf_counter()
            eig = certificate.smallest_eigenvalue(G, lam, res.Y, target=target)
            t1 = time.perf_counter()
            proved = certificate.settle(G, lam, eig, target, rigorous=True, seconds=np.inf)
            t2 = time.perf_counter()
        print(f"{name:6s} {n:6d} {res.seconds:8.1f} {res.status.name:12s} {res.evidence.name:15s} "
              f"{t1 - t0:9.2f} {t2 - t1:8.2f} {(t2 - t1) / res.seconds:12.3f}  {eig.theta:+.3e}  "
              f"{proved.lower:+.3e} ({proved.evidence.name})   ({_load()})", flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("envelopes", "solve"):
        sys.exit(__doc__)
    if sys.argv[1] == "envelopes":
        envelopes()
    else:
        solve(sys.argv[2:] or ["G1", "G22", "G55", "G81"])
