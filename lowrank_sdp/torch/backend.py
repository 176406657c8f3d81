"""The torch path of ``lowrank_sdp.solve(C, device=...)``: the same method on torch tensors.

The inner method is the numpy path's Riemannian gradient descent (Barzilai-Borwein step,
nonmonotone Armijo backtracking, the same stall rule) and the same Riemannian staircase, run on
tensors of the requested device (``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a ``torch.device``) in
float64. The certificate is the numpy one (`lowrank_sdp.certificate`), computed in float64 on a
CPU copy of Y against a CPU copy of C (a scipy CSR matrix; for a callable C, a LinearOperator that
applies it on the device): it is exactly as sound as on the numpy path. The Result is the numpy
path's, with Y a CPU numpy array.

C may be a torch sparse CSR tensor, a dense tensor, anything the numpy path takes (moved to the
device as a sparse CSR or dense tensor), or a callable ``C(Y) -> C @ Y`` on (n, r) tensors with a
``shape`` attribute (n, n) or with Y0 given (its rows give n).

Determinism: for a given seed the start is the numpy path's start (drawn by numpy, then moved),
and every operation is a fixed sequence of torch kernels, so a device gives the same answer run
after run (CPU: same thread count; CUDA: cuSPARSE CSR SpMM and the reductions used here are
run-to-run deterministic for fixed shapes). Different devices can differ in the last bits.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import LinearOperator

from lowrank_sdp._interrupt import insisted
from lowrank_sdp.problem import make_problem
from lowrank_sdp.result import IterationRecord, IterationState, Result, Status
from lowrank_sdp.solvers._common import Monitor
from lowrank_sdp.solvers.rgd import descend
from lowrank_sdp.torch import manifold
from lowrank_sdp.validation import check_positive_int, invalid

METHODS = ("rgd",)
DTYPE = torch.float64


def as_device(device, func: str = "solve") -> torch.device:
    """The torch.device for `device` ("cpu", "cuda", "cuda:k" or a torch.device)."""
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        try:
            dev = torch.device(device)
        except RuntimeError:
            raise invalid("device", func, 'None, "cpu", "cuda", "cuda:k" or a torch.device',
                          device) from None
    else:
        raise invalid("device", func, 'None, "cpu", "cuda", "cuda:k" or a torch.device', device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"The 'device' parameter of {func} must name an available device; got "
                         f"{device!r} but torch.cuda.is_available() is False.")
    if dev.type not in ("cpu", "cuda"):
        raise invalid("device", func, 'a "cpu" or "cuda" device', device)
    return dev


class TorchLinear:
    """f(X) = sign * <C, X> on the device: C @ Y by sparse CSR, dense or a callable."""

    def __init__(self, C, sign: float, n: int, dev: torch.device):
        self.n = n
        self.sign = sign
        self.device = dev
        self.fn: Callable | None = None
        self.M: torch.Tensor | None = None
        if isinstance(C, torch.Tensor):
            M = C.to(device=dev, dtype=DTYPE)
            self.M = -M if sign < 0 else M
        elif callable(C) and not isinstance(C, (np.ndarray, LinearOperator)) and not sp.issparse(C):
            self.fn = C
        else:  # numpy / scipy input: the validated copy, moved once
            self.M = _to_torch_matrix(C, dev)
            if sign < 0:
                self.M = -self.M

    def matmat(self, Y: torch.Tensor) -> torch.Tensor:
        if self.fn is not None:
            out = self.fn(Y)
            if not isinstance(out, torch.Tensor) or out.shape != Y.shape:
                raise ValueError(f"C(Y) must return a tensor of shape {tuple(Y.shape)}; got "
                                 f"{type(out).__name__} of shape {getattr(out, 'shape', None)}")
            return -out if self.sign < 0 else out
        if self.M.layout == torch.sparse_csr:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return torch.sparse.mm(self.M, Y)
        return self.M @ Y

    def evaluate(self, Y: torch.Tensor) -> tuple[float, torch.Tensor]:
        CY = self.matmat(Y)
        return self.allsum(torch.vdot(CY.reshape(-1), Y.reshape(-1))), CY

    # Reductions of per-row quantities: plain on one process; `distributed` sums over ranks.
    def allsum(self, x: torch.Tensor) -> float:
        return float(x)

    def allmax(self, x: torch.Tensor) -> float:
        return float(x)


def _to_torch_matrix(C, dev: torch.device) -> torch.Tensor:
    if sp.issparse(C):
        A = sp.csr_matrix(C, dtype=np.float64)
        return _csr(
            torch.from_numpy(A.indptr.astype(np.int64)), torch.from_numpy(A.indices.astype(np.int64)),
            torch.from_numpy(A.data), size=A.shape, dtype=DTYPE, device=dev)
    return torch.as_tensor(np.asarray(C, dtype=np.float64), device=dev)


def _csr(crow, col, values, size, dtype, device) -> torch.Tensor:
    with warnings.catch_warnings():  # "sparse CSR is in beta": it is what we mean to use
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, values, size=size, dtype=dtype, device=device,
                                       check_invariants=False)


def numpy_matrix(C, n_hint: int | None, dev: torch.device, func: str):
    """The CPU float64 counterpart of C that the numpy certificate reads (a scipy CSR matrix, an
    array, or a LinearOperator that applies a callable C on the device)."""
    if isinstance(C, torch.Tensor):
        if C.layout == torch.sparse_csr:
            A = C.detach().to("cpu", DTYPE)
            return sp.csr_matrix((A.values().numpy(), A.col_indices().numpy(),
                                  A.crow_indices().numpy()), shape=tuple(A.shape))
        if C.layout == torch.strided:
            return C.detach().to("cpu", DTYPE).numpy()
        if C.layout == torch.sparse_coo:
            A = C.detach().coalesce().to("cpu", DTYPE)
            i = A.indices().numpy()
            return sp.csr_matrix((A.values().numpy(), (i[0], i[1])), shape=tuple(A.shape))
        raise invalid("C", func, "a strided, sparse CSR or sparse COO tensor", f"<{C.layout}>")
    if callable(C) and not isinstance(C, (np.ndarray, LinearOperator)) and not sp.issparse(C):
        shape = getattr(C, "shape", None)
        n = int(shape[0]) if shape is not None else n_hint
        if n is None:
            raise invalid("C", func, "a callable with a shape attribute (n, n), or given with Y0",
                          "<a callable without shape>")

        def mm(x):
            x2 = np.asarray(x, dtype=np.float64).reshape(n, -1)
            out = C(torch.from_numpy(np.ascontiguousarray(x2)).to(dev))
            return out.detach().to("cpu", DTYPE).numpy().reshape(x2.shape)

        return LinearOperator((n, n), matvec=mm, matmat=mm, dtype=np.float64)
    if isinstance(C, LinearOperator):
        raise invalid("C", func, "a tensor, an array, a scipy.sparse matrix or a callable on "
                      "tensors (on the torch path)", "<a scipy LinearOperator>")
    return C


def _initial(n: int, rank, max_rank, Y0, rng: np.random.Generator, func: str) -> np.ndarray:
    from lowrank_sdp.solve import check_Y0, initial_point

    Y0_array = check_Y0(Y0.detach().cpu().numpy() if isinstance(Y0, torch.Tensor) else Y0, func)
    return initial_point(n, rank, max_rank, Y0_array, rng, func)


def _gradient(obj, CY: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, float]:
    """(Riemannian gradient, its squared norm summed over every process) at Y from C Y."""
    grad = manifold.project(Y, 2.0 * CY)
    return grad, obj.allsum(torch.vdot(grad.reshape(-1), grad.reshape(-1)))


def _bb_products(obj, grad: torch.Tensor, grad_new: torch.Tensor, Y_new: torch.Tensor):
    gy = (grad * Y_new).sum(dim=1)
    a = obj.allsum(torch.vdot(grad.reshape(-1), grad_new.reshape(-1)))
    b = obj.allsum(torch.vdot(grad.reshape(-1), grad.reshape(-1)) - torch.dot(gy, gy))
    return a, b


class _TorchMonitor(Monitor):
    """The numpy Monitor, with the callback handed a read-only CPU numpy copy of Y."""

    def __init__(self, sign, callback, time_limit, max_iterations, start):
        super().__init__(sign, None, time_limit, max_iterations, start)
        self.user_callback = callback

    def step(self, Y, f, grad_norm, products: float = 1.0) -> bool:
        if self.user_callback is not None:
            record = IterationRecord(self.iterations + 1, self.sign * f, grad_norm, Y.shape[1],
                                     self.elapsed())
            try:
                self.user_callback(IterationState.at(record, Y.detach().cpu().numpy()))
            except StopIteration:
                self.stop = Status.CALLBACK
        return super().step(Y, f, grad_norm, products)


class TorchSpace:
    """The oblique manifold on `obj`'s device tensors, for `lowrank_sdp.solvers.rgd.descend`:
    every sum goes through ``obj.allsum``/``obj.allmax`` (one process, or all of a sharded run)."""

    def __init__(self, obj) -> None:
        self.obj = obj
        self.evaluate = obj.evaluate
        self.retract = manifold.retract

    def gradient(self, Y: torch.Tensor, CY: torch.Tensor) -> tuple[torch.Tensor, float]:
        return _gradient(self.obj, CY, Y)

    def first_step(self, grad: torch.Tensor) -> float:
        """A unit move of the row with the largest gradient (as the numpy path's first step)."""
        row = math.sqrt(self.obj.allmax((grad * grad).sum(dim=1).max())) if grad.numel() else 0.0
        return 1.0 / row if row > 0 else 1.0

    def transported_inner_products(self, grad, grad_new, Y_new) -> tuple[float, float]:
        return _bb_products(self.obj, grad, grad_new, Y_new)


def rgd_torch(obj, Y: torch.Tensor, grad_tol: float, monitor: Monitor):
    """The numpy `rgd` step for step, on tensors: (Y, f, grad_norm, converged, stop)."""
    return descend(TorchSpace(obj), Y, grad_tol, monitor)


def _escape(obj: TorchLinear, Y: torch.Tensor, u_np: np.ndarray, columns: int,
            rng: np.random.Generator) -> torch.Tensor:
    """`lowrank_sdp.solve.escape` on tensors (the random columns drawn by numpy, then moved)."""
    n, r = Y.shape
    base = torch.zeros((n, r + columns), dtype=DTYPE, device=Y.device)
    base[:, :r] = Y
    if columns > 1:
        base[:, r + 1:] = torch.from_numpy(1e-3 * rng.standard_normal((n, columns - 1))).to(Y.device)
        base = manifold.normalize_rows(base)
    f0, _ = obj.evaluate(base)
    u = torch.from_numpy(np.asarray(u_np, dtype=np.float64)).to(Y.device)
    direction = torch.zeros_like(base)
    direction[:, r] = u
    alpha = 1.0 / max(float(torch.max(torch.abs(u))), 1e-300)
    for _ in range(40):
        candidate = manifold.retract(base, direction, alpha)
        if obj.evaluate(candidate)[0] < f0:
            return candidate
        alpha *= 0.5
    direction[:, r] = torch.from_numpy(1e-3 * rng.standard_normal(n)).to(Y.device)
    return manifold.retract(base, direction, 1.0)


def exactly_symmetric(C) -> bool:
    """Is the numpy/scipy matrix C exactly symmetric (so that a torch copy of it is the matrix
    the certificate reads)? Operators count as symmetric (validation symmetrises or refuses)."""
    if sp.issparse(C):
        return (sp.csr_matrix(C) != sp.csr_matrix(C.T)).nnz == 0
    if isinstance(C, np.ndarray):
        return bool(np.array_equal(C, C.T))
    return True


CPU_THREADS = 1
"""Torch CPU threads during a solve (restored after). Like BLAS on the numpy path: on this shared
2-core machine two threads made a G1-sized CSR product 28x slower (25 ms against 0.9 ms, load 10)."""


def solve_torch(C, *, device, sense="min", rank="auto", method="auto", tol=1e-6, time_limit=None,
                seed=0, callback=None, Y0=None, max_iterations=None, max_rank=None,
                rigorous=False, verbose=False) -> Result:
    """`lowrank_sdp.solve` on torch tensors; see the module docstring."""
    threads = torch.get_num_threads()
    torch.set_num_threads(CPU_THREADS)
    try:
        return _solve_torch(C, device=device, sense=sense, rank=rank, method=method, tol=tol,
                            time_limit=time_limit, seed=seed, callback=callback, Y0=Y0,
                            max_iterations=max_iterations, max_rank=max_rank, rigorous=rigorous,
                            verbose=verbose)
    finally:
        torch.set_num_threads(threads)


def _solve_torch(C, *, device, sense, rank, method, tol, time_limit, seed, callback, Y0,
                 max_iterations, max_rank, rigorous, verbose) -> Result:
    from lowrank_sdp.solve import (
        INITIAL_GRAD_FACTOR,
        check_options,
        expect_certificate,
        final_certificate,
        next_rank,
        staircase_move,
        step_certificate,
        tighter,
    )

    start = time.perf_counter()
    func = "solve"
    dev = as_device(device, func)
    if method not in ("auto", *METHODS):
        raise invalid("method", func, '"auto" or "rgd" (on the torch path)', method)
    tol, time_limit, max_iterations, seed, rigorous, verbose = check_options(
        rank=rank, tol=tol, time_limit=time_limit, seed=seed, callback=callback,
        max_iterations=max_iterations, rigorous=rigorous, verbose=verbose, func=func)
    n_hint = None if Y0 is None else int(Y0.shape[0])
    # The certificate's problem: validated (finite, square, symmetric) by the numpy front door.
    C_numpy = numpy_matrix(C, n_hint, dev, func)
    problem = make_problem(C_numpy, sense, func, n=n_hint)
    n = problem.n
    if max_rank is not None:
        max_rank = min(check_positive_int(max_rank, "max_rank", func, " or None"), n)
    if _is_callable_C(C) or (isinstance(C, torch.Tensor) and exactly_symmetric(C_numpy)):
        obj = TorchLinear(C, problem.sign, n, dev)
    else:  # the validated (symmetric part; for "max" already negated) numpy matrix, moved once
        obj = TorchLinear(problem.objective.C, 1.0, n, dev)

    rng = np.random.default_rng(seed)
    Y = torch.from_numpy(_initial(n, rank, max_rank, Y0, rng, func)).to(dev)
    r_max = Y.shape[1] if rank != "auto" else (max_rank or n)
    staircase = rank == "auto"
    monitor = _TorchMonitor(problem.sign, callback, time_limit, max_iterations, start)
    expect_certificate(monitor, problem)  # the time limit's reserve for the final certificate
    grad_tol = INITIAL_GRAD_FACTOR * tol / math.sqrt(n * Y.shape[1])
    rank_history = [Y.shape[1]]
    cert = None
    best = None  # the tightest bound met: kept if time runs out at the end
    cert_seconds = None  # what `cert` took, where the loop stopped at its point
    status = None
    grad_norm = float("nan")
    Y_np = None
    warm = None  # the last eigenvector: the next certificate's Lanczos starts near it
    try:
        while True:
            Y, _, grad_norm, converged, stop = rgd_torch(obj, Y, grad_tol, monitor)
            Y_np = None
            if stop is not None:
                status = stop
                break
            checkpoint = monitor.checkpoint
            t_cert = time.perf_counter()
            Y_np = Y.detach().cpu().numpy()
            cert = step_certificate(problem, Y_np, seed=seed, rigorous=rigorous, tol=tol,
                                    start=start, warm=warm)
            warm = cert.eigenvector
            best = tighter(best, cert, problem.sign)
            monitor.certified_at(time.perf_counter() - t_cert)
            if verbose:
                print(f"[lowrank_sdp:{dev}] rank {Y.shape[1]:4d}  it {monitor.iterations:6d}  "
                      f"f {cert.objective:.12g}  gap {cert.relative_gap:.2e}  "
                      f"lambda_min {cert.lambda_min:.2e}  |grad| {grad_norm:.2e}  "
                      f"{monitor.elapsed():.2f}s")
            if cert.relative_gap > tol and monitor.out_of_time(Y.shape[1]):
                status = Status.TIME_LIMIT  # the certificate ran into the reserve: stop here
                cert_seconds = monitor.certificate_cost
                break
            move, grad_tol = staircase_move(problem, Y_np, cert, tol=tol, grad_tol=grad_tol,
                                            grad_norm=grad_norm, converged=converged,
                                            checkpoint=checkpoint, staircase=staircase, r_max=r_max)
            if isinstance(move, Status):
                status = move
                break
            if move == "climb":
                Y = _escape(obj, Y, cert.eigenvector,
                            next_rank(Y.shape[1], r_max) - Y.shape[1], rng)
                rank_history.append(Y.shape[1])
    except KeyboardInterrupt:
        if insisted():  # a second Ctrl-C: the user wants out now, without a result
            raise
        # Raised by user code (a callback or C): stop as for a Ctrl-C.
        status = Status.INTERRUPTED
    if status is Status.INTERRUPTED:  # Ctrl-C (a flag, see solve) or KeyboardInterrupt
        Y, cert, Y_np = monitor.stop_point(status, Y), None, None

    if Y_np is None:
        Y_np = Y.detach().cpu().numpy()
    cert = final_certificate(problem, Y_np, cert, status, seed=seed, rigorous=rigorous, tol=tol,
                             start=start, warm=warm, best=best, seconds_at_Y=cert_seconds)
    return Result(
        Y=np.ascontiguousarray(Y_np, dtype=np.float64), objective=cert.objective, bound=cert.bound,
        gap=cert.gap, status=status, rank=Y_np.shape[1], iterations=monitor.iterations,
        seconds=time.perf_counter() - start, method="rgd", sense=problem.sense, certificate=cert,
        rank_history=tuple(rank_history), history=tuple(monitor.history), grad_norm=grad_norm,
    )


def _is_callable_C(C) -> bool:
    return (callable(C) and not isinstance(C, (np.ndarray, LinearOperator, torch.Tensor))
            and not sp.issparse(C))


__all__ = ["TorchLinear", "as_device", "numpy_matrix", "rgd_torch", "solve_torch"]
