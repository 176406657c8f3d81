"""The torch path across processes: C and Y sharded by rows over a torch.distributed group.

Each of the `world` ranks holds a contiguous block of rows of C (a (rows, n) sparse CSR or dense
tensor) and the same rows of Y. One product C Y costs one all-gather of Y (n x r) and a local
product; every scalar the method needs (objective, gradient norm, Barzilai-Borwein inner products)
is an all-reduce of per-row sums; retraction and tangent projection are row-local. The inner method
is the torch path's `rgd_torch`, unchanged: only its reductions go through the group.

The certificate is the numpy one, sound as everywhere else: rank 0 gathers Y and the rows of C
(once) and certifies in float64 on its CPU; the certificate is broadcast so that every rank
returns the same Result. (Gathering C to rank 0 bounds the problem size by one machine's memory
for the certificate; the iterations themselves scale out.)

Launch (CPU: gloo; GPUs: nccl, one GPU per rank)::

    torchrun --nproc_per_node=2 my_script.py

where my_script.py does::

    import torch.distributed as dist
    from lowrank_sdp.torch.distributed import row_block, solve_sharded
    dist.init_process_group("gloo")            # "nccl" on GPUs
    lo, hi = row_block(n, dist.get_rank(), dist.get_world_size())
    C_rows = ...                               # rows lo:hi of C, shape (hi - lo, n)
    res = solve_sharded(C_rows, n, sense="max", tol=1e-5, device="cpu")

The rank is fixed (no staircase; `rank="auto"` takes the front door's start rank).
"""

from __future__ import annotations

import math
import time
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
import torch.distributed as dist

from lowrank_sdp import budget
from lowrank_sdp._interrupt import deferred
from lowrank_sdp.manifold import random_point
from lowrank_sdp.problem import SENSES, make_problem
from lowrank_sdp.result import Result, Status
from lowrank_sdp.solvers._common import Monitor
from lowrank_sdp.torch.backend import DTYPE, as_device, numpy_matrix, rgd_torch
from lowrank_sdp.validation import check_choice, invalid


def row_block(n: int, rank: int, world: int) -> tuple[int, int]:
    """Rows [lo, hi) of rank `rank` out of `world`: contiguous, sizes differing by at most one."""
    base, extra = divmod(n, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


class ShardedLinear:
    """sign * <C, X> with this rank's rows of C; C Y by an all-gather of Y."""

    def __init__(self, C_rows: torch.Tensor, sign: float, n: int, world: int, dev: torch.device):
        M = C_rows.to(device=dev, dtype=DTYPE)
        self.M = -M if sign < 0 else M
        self.n, self.world = n, world
        self.sizes = [row_block(n, k, world)[1] - row_block(n, k, world)[0] for k in range(world)]

    def gather(self, Y_local: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty((s, Y_local.shape[1]), dtype=DTYPE, device=Y_local.device)
                 for s in self.sizes]
        dist.all_gather(parts, Y_local.contiguous())
        return torch.cat(parts)

    def matmat(self, Y_local: torch.Tensor) -> torch.Tensor:
        Y = self.gather(Y_local)
        if self.M.layout == torch.sparse_csr:
            return torch.sparse.mm(self.M, Y)
        return self.M @ Y

    def evaluate(self, Y_local: torch.Tensor) -> tuple[float, torch.Tensor]:
        CY = self.matmat(Y_local)
        return self.allsum(torch.vdot(CY.reshape(-1), Y_local.reshape(-1))), CY

    def allsum(self, x: torch.Tensor) -> float:
        t = x.detach().reshape(1).to(DTYPE).clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return float(t)

    def allmax(self, x: torch.Tensor) -> float:
        t = x.detach().reshape(1).to(DTYPE).clone()
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return float(t)


class _SyncMonitor(Monitor):
    """Monitor whose clock-driven decisions (time limit, checkpoints) are rank 0's, broadcast every
    iteration: all ranks leave the inner loop at the same iteration, so collectives stay matched."""

    STATUSES: ClassVar[list[Status]] = list(Status)

    def step(self, Y, f, grad_norm, products: float = 1.0) -> bool:
        super().step(Y, f, grad_norm, products)
        code = 0 if self.stop is None else 1 + self.STATUSES.index(self.stop)
        t = torch.tensor([code, int(self.checkpoint)], dtype=torch.int64)
        dist.broadcast(t, src=0)
        self.stop = None if int(t[0]) == 0 else self.STATUSES[int(t[0]) - 1]
        self.checkpoint = bool(t[1])
        return self.stop is not None or self.checkpoint


def _gather_rows_cpu(C_rows: torch.Tensor, n: int, world: int):
    """The whole C on rank 0 (scipy CSR or dense numpy), None elsewhere."""
    local = numpy_matrix(C_rows, None, torch.device("cpu"), "solve_sharded")
    parts = [None] * world if dist.get_rank() == 0 else None
    dist.gather_object(local, parts, dst=0)
    if dist.get_rank() != 0:
        return None
    if any(sp.issparse(p) for p in parts):
        return sp.csr_matrix(sp.vstack([sp.csr_matrix(p) for p in parts]))
    return np.vstack(parts)


def solve_sharded(C_rows: torch.Tensor, n: int, *, sense: str = "min", rank="auto",
                  tol: float = 1e-6, seed: int = 0, device="cpu", time_limit: float | None = None,
                  max_iterations: int | None = None) -> Result:
    """Solve the unit-diagonal SDP with C sharded by rows over the default process group.

    Every rank passes its rows ``row_block(n, rank, world)`` of C and gets the same Result (Y the
    whole n x r factor). The start is the single-process start for the seed, so the answer agrees
    with `solve(C, device=..., rank=r)` to the tolerance (the sums are split differently, so the
    last bits, and hence the iteration count, may differ). The options are checked as `solve`
    checks them (`lowrank_sdp.solve.check_options`), and the decisions after each certificate are
    `solve`'s (`lowrank_sdp.solve.staircase_move`, at a fixed rank).
    """
    func = "solve_sharded"
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError(f"{func} needs an initialised torch.distributed process group "
                           "(dist.init_process_group, e.g. under torchrun)")
    # Ctrl-C sets a flag, as in `lowrank_sdp.solve`, from the start (a SIGINT during the gather
    # of C raised KeyboardInterrupt); rank 0's monitor decides for every rank.
    with deferred(), budget.until(budget.hard_deadline(time.perf_counter(),
                                                       budget.as_limit(time_limit))):
        return _solve_sharded(C_rows, n, sense=sense, rank=rank, tol=tol, seed=seed,
                              device=device, time_limit=time_limit,
                              max_iterations=max_iterations, func=func)


def _solve_sharded(C_rows, n, *, sense, rank, tol, seed, device, time_limit, max_iterations,
                   func) -> Result:
    from lowrank_sdp.solve import (
        INITIAL_GRAD_FACTOR,
        auto_start_rank,
        check_options,
        final_certificate,
        staircase_move,
        step_certificate,
        tighter,
    )

    start = time.perf_counter()
    dev = as_device(device, func)
    me, world = dist.get_rank(), dist.get_world_size()
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < world:
        raise invalid("n", func, f"an int >= the number of processes ({world})", n)
    lo, hi = row_block(n, me, world)
    if not isinstance(C_rows, torch.Tensor) or tuple(C_rows.shape) != (hi - lo, n):
        raise invalid("C_rows", func, f"a tensor of shape ({hi - lo}, {n}) (rows {lo}:{hi})",
                      f"<{type(C_rows).__name__} of shape {tuple(getattr(C_rows, 'shape', ()))}>")
    tol, time_limit, max_iterations, seed, _, _ = check_options(
        rank=rank, tol=tol, time_limit=time_limit, seed=seed, callback=None,
        max_iterations=max_iterations, rigorous=False, verbose=False, func=func)
    check_choice(sense, SENSES, "sense", func)
    sign = 1.0 if sense == "min" else -1.0
    r = min(auto_start_rank(n) if rank == "auto" else int(rank), n)

    C_full = _gather_rows_cpu(C_rows, n, world)
    problem = make_problem(C_full, sense, func) if me == 0 else None  # validated on rank 0
    obj = ShardedLinear(C_rows, sign, n, world, dev)
    Y_all = random_point(n, r, np.random.default_rng(seed))  # the front door's start
    Y = torch.from_numpy(np.ascontiguousarray(Y_all[lo:hi])).to(dev)
    monitor = _SyncMonitor(sign, None, time_limit, max_iterations, start)
    grad_tol = INITIAL_GRAD_FACTOR * tol / math.sqrt(n * Y.shape[1])
    status = cert = warm = best = None
    while True:
        Y, _, grad_norm, converged, stop = rgd_torch(obj, Y, grad_tol, monitor)
        if stop is not None:
            status = stop
            break
        checkpoint = monitor.checkpoint
        Y_full = obj.gather(Y).cpu().numpy()
        t_cert = time.perf_counter()
        box = [None, None, None]
        if me == 0:  # the certificate and the move are rank 0's, broadcast
            cert = step_certificate(problem, Y_full, seed=seed, rigorous=False, tol=tol,
                                    start=start, warm=warm)
            best = tighter(best, cert, problem.sign)
            move, grad_tol = staircase_move(problem, Y_full, cert, tol=tol, grad_tol=grad_tol,
                                            grad_norm=grad_norm, converged=converged,
                                            checkpoint=checkpoint, staircase=False, r_max=r)
            box = [cert, move, grad_tol]
        dist.broadcast_object_list(box, src=0)
        cert, move, grad_tol = box
        warm = cert.eigenvector
        monitor.certified_at(time.perf_counter() - t_cert)
        if isinstance(move, Status):
            status = move
            break
    # After a Ctrl-C every rank takes its rows of the best point (the same iteration on all
    # ranks: f is all-reduced), and the certificate is at that point.
    if status is Status.INTERRUPTED:
        Y, cert = monitor.stop_point(status, Y), None
    Y_full = obj.gather(Y).cpu().numpy()
    box = [cert]
    if me == 0:
        box = [final_certificate(problem, Y_full, cert, status, seed=seed, rigorous=False,
                                 tol=tol, start=start, warm=warm, best=best)]
    dist.broadcast_object_list(box, src=0)
    cert = box[0]
    return Result(
        Y=Y_full, objective=cert.objective, bound=cert.bound, gap=cert.gap, status=status,
        rank=Y_full.shape[1], iterations=monitor.iterations, seconds=time.perf_counter() - start,
        method="rgd", sense=sense, certificate=cert, rank_history=(Y_full.shape[1],),
        history=tuple(monitor.history), grad_norm=grad_norm,
    )


__all__ = ["ShardedLinear", "row_block", "solve_sharded"]
