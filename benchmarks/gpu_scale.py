"""One GPU run in one go: a 10^7-vertex Max-Cut SDP generated on the GPU, solved, certified.

    python benchmarks/gpu_scale.py                     # n = 1e7, average degree 10, tol 1e-5
    python benchmarks/gpu_scale.py --n 1000000 --tol 1e-5 --time-limit 300
    python benchmarks/gpu_scale.py --device cpu --n 20000   # the same script on CPU torch

NOT RUN YET: it was written on a machine without a GPU (issue 13's session had none lent), and
only its --device cpu form has been exercised there. What it does:
1. draws an Erdos-Renyi-type multigraph on the device (m = n * degree / 2 endpoint pairs drawn
   uniformly, loops dropped; a repeated pair adds its weights, which keeps C symmetric), and
   builds C = L/4 as a torch sparse CSR tensor there;
2. `lowrank_sdp.solve(C, sense="max", tol=..., device=...)`: the torch path (rgd, Barzilai-Borwein,
   the staircase) on the device, in float64;
3. the certificate is the numpy one in float64 on CPU copies of Y and C (sound, and on this scale
   CPU-bound: its Lanczos matvecs run on the host);
4. prints one JSON line: n, edges, status, seconds (solve, certificate included), iterations, rank,
   relative gap, peak GPU memory (torch.cuda.max_memory_allocated) and peak host RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def er_cost_on_device(n: int, degree: float, seed: int, device):
    """C = L/4 of a random multigraph with about n * degree / 2 edges, as sparse CSR on `device`."""
    import torch

    g = torch.Generator(device=device).manual_seed(seed)
    m = int(n * degree / 2)
    i = torch.randint(0, n, (m,), generator=g, device=device)
    j = torch.randint(0, n, (m,), generator=g, device=device)
    keep = i != j
    i, j = i[keep], j[keep]
    deg = torch.bincount(torch.cat([i, j]), minlength=n).to(torch.float64)
    diag = torch.arange(n, device=device)
    rows = torch.cat([i, j, diag])
    cols = torch.cat([j, i, diag])
    vals = torch.cat([torch.full((2 * i.numel(),), -0.25, dtype=torch.float64, device=device),
                      deg / 4.0])
    C = torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, (n, n)).coalesce()
    return C.to_sparse_csr(), int(i.numel())


def main(argv: list[str] | None = None) -> int:
    import torch

    import lowrank_sdp as ls

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--degree", type=float, default=10.0)
    parser.add_argument("--tol", type=float, default=1e-5)
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    # Warm-up: compile nothing, but initialise the CUDA context and cuSPARSE handles.
    small, _ = er_cost_on_device(2000, args.degree, 1, dev)
    ls.solve(small, sense="max", tol=1e-4, device=dev)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    C, edges = er_cost_on_device(args.n, args.degree, args.seed, dev)
    if cuda:
        torch.cuda.synchronize()
    build_s = time.perf_counter() - t
    res = ls.solve(C, sense="max", tol=args.tol, time_limit=args.time_limit, device=dev,
                   seed=args.seed)
    out = {
        "n": args.n, "edges": edges, "device": str(dev),
        "gpu": torch.cuda.get_device_name(dev) if cuda else None,
        "build_seconds": build_s, "status": res.status.name, "seconds": res.seconds,
        "iterations": res.iterations, "rank": res.rank, "rank_history": list(res.rank_history),
        "relative_gap": res.relative_gap, "objective": res.objective, "bound": res.bound,
        "peak_gpu_gib": torch.cuda.max_memory_allocated(dev) / 2**30 if cuda else None,
        "peak_host_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
