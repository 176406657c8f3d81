"""The front door: ``solve`` = a local method + the certificate + the Riemannian staircase."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from lowrank_sdp import _interrupt, budget, manifold
from lowrank_sdp.certificate import (
    DEFAULT_PROOF_SECONDS,
    RANGE_RTOL,
    certify_problem,
    check_rigorous_possible,
)
from lowrank_sdp.problem import Problem, make_problem
from lowrank_sdp.result import Certificate, IterationState, Result, Status
from lowrank_sdp.solvers import InnerOptions, MethodFunction, Monitor, resolve_method
from lowrank_sdp.validation import (
    as_numeric_array,
    check_bool,
    check_nonnegative,
    check_positive_int,
    check_seed,
    invalid,
)

PROBLEM_PARAMETERS = ("A_eq", "b_eq", "A_ub", "b_ub", "blocks", "unit_diagonal", "trace_bound")
"""Parameters of `solve` that define the problem (general SDPs) rather than how to solve it."""

GRAD_TOL_FLOOR = 1e-15
INITIAL_GRAD_FACTOR = 10.0
"""First gradient tolerance: INITIAL_GRAD_FACTOR * tol / sqrt(n r), relative to 1 + |f|."""


def barvinok_pataki_rank(n: int) -> int:
    """ceil(sqrt(2n)): some optimal X has rank r with r(r+1)/2 <= n, so this rank always suffices."""
    return min(n, math.ceil(math.sqrt(2 * n)))


AUTO_START_RANK_CAP = 32
RANK_GROWTH = 0.25
"""A staircase step adds max(1, ceil(RANK_GROWTH * r)) columns. One column per step made large
sparse problems climb for minutes (ER n = 3e4: 9 climbs from 32 to 41, ~80 iterations each, and
still short of the rank the optimum needs); geometric growth needs a few climbs at a per-iteration
cost at most 25% above the smallest sufficient rank."""


def next_rank(r: int, r_max: int) -> int:
    """The rank after one staircase step from r (never above r_max)."""
    return min(r_max, r + max(1, math.ceil(RANK_GROWTH * r)))


START_RANK_SCALE = 1.25
START_RANK_POWER = 0.4
AUTO_START_RANK_MAX = 128
START_RANK_MIN_DEGREE = 8.0
"""Large sparse problems with at least START_RANK_MIN_DEGREE off-diagonal entries per row start at
START_RANK_SCALE * n^START_RANK_POWER columns (at most AUTO_START_RANK_MAX). Measured on
Erdos-Renyi Max-Cut (average degree 10, tol 1e-5): the rank the staircase needs grows like n^0.4
(32 at n = 1e4, 50 at 3e4), and RGD converges in far fewer iterations with room above it (n = 1e4:
653 iterations at rank 32, 227 at 48, 235 at 50; n = 3e4: 3711 climbing 32 -> 40 -> 50, 333 at 78).
Not on the 2-D torus (degree 4): G81 to 1e-6 took 14979 iterations at rank 66 (579 Gflop
counted), where rank 32 had reached gap 1.5e-6 after 10127 (190 Gflop); G-set's graphs above
n = 3300 have degree <= 5 and keep the small rule."""


def auto_start_rank(n: int, degree: float | None = None) -> int:
    """Where rank="auto" starts: half the Barvinok-Pataki rank, at most 32; for a sparse C with
    `degree` >= START_RANK_MIN_DEGREE off-diagonal entries per row, 1.25 n^0.4 (at most 128)
    where that is larger (n above about 3300). Then the staircase climbs.
    """
    small = min(max(2, -(-barvinok_pataki_rank(n) // 2)), AUTO_START_RANK_CAP)
    if degree is None or degree < START_RANK_MIN_DEGREE:
        return min(n, small)
    grown = min(math.ceil(START_RANK_SCALE * n**START_RANK_POWER), AUTO_START_RANK_MAX)
    return min(n, max(small, grown))


def average_degree(problem: Problem) -> float | None:
    """Off-diagonal entries per row of a sparse linear C (None for anything else)."""
    csr = getattr(problem.objective, "offdiag", None)
    if not problem.objective.linear or getattr(problem.objective, "csr", None) is None or csr is None:
        return None
    return csr.nnz / max(problem.n, 1)


def _fitting_start_rank(n: int, degree: float | None = None) -> int:
    """`auto_start_rank(n, degree)`, less where its factor arrays would not fit in the memory
    available now (never below the small rule's at most 32 columns: the memory check judges it)."""
    r = auto_start_rank(n, degree)
    floor = min(n, AUTO_START_RANK_CAP)
    return r if r <= floor else max(floor, min(r, _rank_that_fits(n)))


def solve(
    C,
    *,
    sense: str = "min",
    rank: int | str = "auto",
    method: str | MethodFunction = "auto",
    tol: float = 1e-6,
    time_limit: float | None = None,
    seed: int = 0,
    callback: Callable[[IterationState], None] | None = None,
    Y0: np.ndarray | None = None,
    max_iterations: int | None = None,
    max_rank: int | None = None,
    rigorous: bool = False,
    verbose: bool = False,
    device=None,
    A_eq=None,
    b_eq=None,
    A_ub=None,
    b_ub=None,
    blocks=None,
    unit_diagonal: bool | Sequence[bool] = True,
    trace_bound=None,
) -> Result:
    """Solve  min (or max) f(X)  s.t.  diag(X) = 1, X PSD  with X = Y Y^T, Y with unit rows;
    or, with constraints, the general SDP

        min (or max) <C, X>  s.t.  <A_k, X> = b_eq[k],  <A_k, X> <= b_ub[k],  X = blockdiag PSD

    (see `lowrank_sdp.SDP`; `C` may also be an `SDP`, e.g. from `lowrank_sdp.read_sdpa`).

    Parameters
    ----------
    C : ndarray, scipy.sparse matrix, symmetric LinearOperator, or Objective
        The cost matrix of f(X) = <C, X>, or an `Objective` giving f and its X-space gradient.
    sense : "min" or "max"
    rank : positive int or "auto"
        "auto" starts at `auto_start_rank` (ceil(sqrt(2n)) / 2, at least 2 and at most 32; for a
        sparse C with 8 or more entries per row off the diagonal and n above ~3300, 1.25 n^0.4,
        at most 128) and climbs the Riemannian staircase when the certificate finds a negative
        eigenvalue; an int fixes the rank.
    method : "auto", "rgd", "lbfgs", "mixing", "tr", or a callable
        "rgd": Riemannian gradient descent (BB steps); "lbfgs": Riemannian L-BFGS; "mixing": the
        block-coordinate mixing method, over-relaxed (successive over-relaxation with a factor
        chosen from the measured convergence; linear objectives with C an explicit array or
        sparse matrix); "tr": Riemannian trust region with truncated CG (linear objectives, operators
        too). "auto" takes the method measured fastest for this kind of problem (the table in
        `lowrank_sdp.solvers.method_table`, measured by benchmarks/methods.py). A callable
        ``method(problem, Y, options, monitor) -> InnerResult`` is a custom method (the contract
        is in `lowrank_sdp.solvers`; `Result.method` is its ``__name__``).
    tol : relative gap to certify: stop when gap <= tol * (1 + |objective|).
    time_limit : seconds, or None. The solve returns within time_limit + max(1 s, 5% of it)
        (`lowrank_sdp.budget`): the iterations stop early enough to leave the final certificate
        about twice what the last one took, and every certificate stops at that deadline. A
        certificate the deadline cuts short claims only what it proved (Gershgorin's bound, or
        the tightest bound an earlier certificate of the solve proved); the status is TIME_LIMIT.
    seed : seeds the random start and the eigensolver: the same seed gives the same answer.
    callback : called after every iteration with an `IterationState` (iteration, objective,
        grad_norm, rank, seconds, Y read-only; float32 during the single-precision start of a
        large sparse problem, see `SINGLE_PRECISION_MIN_ENTRIES`); raising StopIteration stops
        the solve with status CALLBACK.
    Y0 : warm start (n x r); rows are normalised (a zero row is an error).
    max_iterations : total iterations over all ranks, or None.
    max_rank : cap of the staircase (default n).
    rigorous : insist on a proof of lambda_min (a factorisation whatever it costs, else
        Gershgorin's theorem); an error where none is possible (a large LinearOperator). By
        default a proof is made whenever it costs at most about the solve, and
        ``Result.certificate.evidence`` says what the bound rests on.
    verbose : print one line per staircase step.
    device : None, "cpu", "cuda", "cuda:k" or a torch.device
        None (the default) runs the numpy/Numba path. A device runs the same method (rgd, the same
        staircase) on torch tensors there (needs the ``torch`` extra); C may then also be a torch
        sparse CSR or dense tensor, or a callable ``C(Y) -> C @ Y`` on tensors with a ``shape``.
        The certificate is the numpy one, in float64 on a CPU copy of Y. A torch tensor C without
        a device runs on C's device. See `lowrank_sdp.torch.backend`.
    A_eq, b_eq, A_ub, b_ub : linear constraints <A_k, X> = b_k and <A_k, X> <= b_k: a list of
        (n, n) arrays or sparse matrices, an (m, n, n) array, or an (m, n*n) matrix of flattened
        matrices, with 1-D right-hand sides. Any of them (or `blocks`, `unit_diagonal=False`,
        `trace_bound`) selects the general method (an augmented Lagrangian, method "alm").
    blocks : block sizes of X (negative: a diagonal LP block, as in SDPA files); default one block.
    unit_diagonal : keep diag(X) = 1 (True, the default, as without constraints), drop it
        (False), or one bool per block.
    trace_bound : T >= trace(X) for some optimal X (or one per block), for the certificate
        where the constraints imply none; without any the gap may be unknown (Status.NO_BOUND).

    Returns
    -------
    Result
        Every return (early stops too) carries a certified bound computed at the returned point.
        General SDPs return an `SDPResult`: also the infeasibility (DIMACS err1) and the DIMACS
        errors; CERTIFIED needs both the gap and the infeasibility within tol.

    Notes
    -----
    Ctrl-C (SIGINT, main thread) stops the solve at the next iteration: it returns the best point
    seen with status INTERRUPTED and that point's certificate (computing it may take a moment on
    large problems). A second Ctrl-C before it returns aborts at once with KeyboardInterrupt and no
    result. A SIGINT handler set to SIG_IGN or SIG_DFL is left alone.
    """
    # Every certificate of the solve runs under its deadline: time_limit plus the slack.
    with budget.until(budget.hard_deadline(time.perf_counter(), budget.as_limit(time_limit))):
        return _solve_any(C, sense=sense, rank=rank, method=method, tol=tol, time_limit=time_limit,
                          seed=seed, callback=callback, Y0=Y0, max_iterations=max_iterations,
                          max_rank=max_rank, rigorous=rigorous, verbose=verbose, device=device,
                          A_eq=A_eq, b_eq=b_eq, A_ub=A_ub, b_ub=b_ub, blocks=blocks,
                          unit_diagonal=unit_diagonal, trace_bound=trace_bound)


def _solve_any(C, *, sense, rank, method, tol, time_limit, seed, callback, Y0, max_iterations,
               max_rank, rigorous, verbose, device, A_eq, b_eq, A_ub, b_ub, blocks, unit_diagonal,
               trace_bound) -> Result:
    """`solve` after its deadline is set: the general, torch or numpy path."""
    from lowrank_sdp.sdp import SDP

    general = isinstance(C, SDP) or any(a is not None for a in (A_eq, b_eq, A_ub, b_ub, blocks,
                                                                 trace_bound))
    if general or unit_diagonal is not True:
        if device is not None:
            raise invalid("device", "solve", "None for a problem with constraints (the general "
                          "method runs on numpy)", device)
        return _solve_general(C, sense=sense, rank=rank, method=method, tol=tol,
                              time_limit=time_limit, seed=seed, callback=callback, Y0=Y0,
                              max_iterations=max_iterations, max_rank=max_rank, rigorous=rigorous,
                              verbose=verbose, A_eq=A_eq, b_eq=b_eq, A_ub=A_ub, b_ub=b_ub,
                              blocks=blocks, unit_diagonal=unit_diagonal, trace_bound=trace_bound)
    # Ctrl-C sets a flag the monitor reads (a KeyboardInterrupt inside a Numba call crashes it), on
    # both paths: the torch monitor is the numpy one, and its certificate runs the same kernels.
    with _interrupt.deferred():
        if device is not None or type(C).__module__.split(".")[0] == "torch":
            try:
                from lowrank_sdp.torch.backend import solve_torch
            except ImportError as exc:
                raise ImportError("solve(..., device=...) needs PyTorch: pip install "
                                  "lowrank_sdp[torch]") from exc
            return solve_torch(C, device=C.device if device is None else device, sense=sense,
                               rank=rank, method=method, tol=tol, time_limit=time_limit,
                               seed=seed, callback=callback, Y0=Y0,
                               max_iterations=max_iterations, max_rank=max_rank,
                               rigorous=rigorous, verbose=verbose)
        # The hot loops are serial kernels and vector-sized BLAS calls: a multi-threaded BLAS only
        # adds synchronisation (measured 25x slower on a loaded 2-core machine): one BLAS thread.
        with threadpool_limits(limits=1, user_api="blas"):
            return _solve(C, sense=sense, rank=rank, method=method, tol=tol, time_limit=time_limit,
                          seed=seed, callback=callback, Y0=Y0,
                          max_iterations=max_iterations, max_rank=max_rank, rigorous=rigorous,
                          verbose=verbose)


def check_options(*, rank, tol, time_limit, seed, callback, max_iterations, rigorous, verbose,
                  func: str = "solve") -> tuple[float, float | None, int | None, int, bool, bool]:
    """The options every solve path (numpy, general SDP, torch) takes, checked in one place.

    Returns ``(tol, time_limit, max_iterations, seed, rigorous, verbose)`` converted (floats, ints,
    bools); `rank` and `callback` are checked only. Raises the library's ValueError.
    """
    tol = check_nonnegative(tol, "tol", func)
    time_limit = check_nonnegative(time_limit, "time_limit", func, allow_none=True)
    if max_iterations is not None:
        max_iterations = check_positive_int(max_iterations, "max_iterations", func, " or None")
    seed = check_seed(seed, func)
    rigorous = check_bool(rigorous, "rigorous", func)
    verbose = check_bool(verbose, "verbose", func)
    if callback is not None and not callable(callback):
        raise invalid("callback", func, "a callable or None", callback)
    if not (rank == "auto" or (isinstance(rank, (int, np.integer)) and not isinstance(rank, bool)
                               and rank >= 1)):
        raise invalid("rank", func, 'a positive int or "auto"', rank)
    return tol, time_limit, max_iterations, seed, rigorous, verbose


def _solve_general(C, *, sense, rank, method, tol, time_limit, seed, callback, Y0,
                   max_iterations, max_rank, rigorous, verbose, A_eq, b_eq, A_ub, b_ub, blocks,
                   unit_diagonal, trace_bound) -> Result:
    """Checks the common arguments, builds the `SDP` and hands it to `lowrank_sdp.general`."""
    from lowrank_sdp.general import solve_sdp
    from lowrank_sdp.sdp import SDP

    func = "solve"
    tol, time_limit, max_iterations, seed, rigorous, verbose = check_options(
        rank=rank, tol=tol, time_limit=time_limit, seed=seed, callback=callback,
        max_iterations=max_iterations, rigorous=rigorous, verbose=verbose, func=func)
    if rigorous:
        raise invalid("rigorous", func, "False for general SDPs (the Cholesky proof covers the "
                      "unit-diagonal path only)", rigorous)
    if method not in ("auto", "alm"):
        raise invalid("method", func, '"auto" or "alm" for a problem with constraints', method)
    if max_rank is not None:
        max_rank = check_positive_int(max_rank, "max_rank", func, " or None")
    Y0_array = None
    if Y0 is not None:
        try:
            Y0_array = np.array(Y0, dtype=np.float64, order="C", copy=True)
        except (TypeError, ValueError):
            raise invalid("Y0", func, "a numeric (n, r) array", f"<{type(Y0).__name__}>") from None
        if Y0_array.ndim != 2 or not np.all(np.isfinite(Y0_array)) or 0 in Y0_array.shape:
            raise invalid("Y0", func, "a finite 2-D (n, r) array", f"<shape {Y0_array.shape}>")
    if isinstance(C, SDP):
        given = [p for p, a in (("A_eq", A_eq), ("b_eq", b_eq), ("A_ub", A_ub), ("b_ub", b_ub),
                                ("blocks", blocks), ("trace_bound", trace_bound)) if a is not None]
        if given:
            raise invalid(given[0], func, "None when C is an SDP (its constraints are in it)",
                          "<given>")
        problem = C
    else:
        problem = SDP(C, sense=sense, A_eq=A_eq, b_eq=b_eq, A_ub=A_ub, b_ub=b_ub, blocks=blocks,
                      unit_diagonal=unit_diagonal, trace_bound=trace_bound, func=func)
    return solve_sdp(problem, rank=rank, tol=tol, time_limit=time_limit, seed=seed,
                     callback=callback, Y0=Y0_array, max_iterations=max_iterations,
                     max_rank=max_rank, verbose=verbose)


def _solve(C, *, sense, rank, method, tol, time_limit, seed, callback, Y0, max_iterations,
           max_rank, rigorous, verbose) -> Result:
    start = time.perf_counter()
    func = "solve"
    tol, time_limit, max_iterations, seed, rigorous, verbose = check_options(
        rank=rank, tol=tol, time_limit=time_limit, seed=seed, callback=callback,
        max_iterations=max_iterations, rigorous=rigorous, verbose=verbose, func=func)
    Y0_array = check_Y0(Y0, func)
    # Before anything of size n is allocated (validation probes an operator with n-vectors).
    declared = _declared_size(C, Y0_array)
    if declared is not None:
        start_rank = rank if rank != "auto" else _fitting_start_rank(declared)
        if Y0_array is not None:
            start_rank = max(start_rank, Y0_array.shape[1])
        _check_memory(declared, int(start_rank), func)
    problem = make_problem(C, sense, func, n=None if Y0_array is None else Y0_array.shape[0])
    n = problem.n
    if rigorous and not problem.objective.convex:
        raise invalid("rigorous", func, "False for an objective not declared convex (concave when "
                      "maximising): no bound is claimed for it", rigorous)
    if rigorous and problem.objective.linear:
        check_rigorous_possible(problem.objective.gradient_operator(None), n, func)
    if max_rank is not None:
        max_rank = min(check_positive_int(max_rank, "max_rank", func, " or None"), n)
    name, run = resolve_method(method, problem, func)

    rng = np.random.default_rng(seed)
    Y = initial_point(problem.n, rank, max_rank, Y0_array, rng, func,
                      degree=average_degree(problem))
    r_max = Y.shape[1] if rank != "auto" else (max_rank or n)
    r_max = max(Y.shape[1], min(r_max, _rank_that_fits(n)))  # the staircase stops where memory does
    staircase = rank == "auto"
    if single_precision_start(problem, name, Y):
        Y = Y.astype(np.float32)

    monitor = Monitor(problem.sign, callback, time_limit, max_iterations, start)
    monitor.count_iterations(problem.objective)  # checkpoints by counted flops, not the clock
    expect_certificate(monitor, problem)  # the time limit's reserve for the final certificate
    # The gate reads the method's grad_norm: only the built-in methods that report |2 S Y| at Y.
    slack_bound = slack_norm_bound(problem) if name in GATED_METHODS else None
    grad_tol = INITIAL_GRAD_FACTOR * tol / math.sqrt(n * Y.shape[1])
    rank_history = [Y.shape[1]]
    cert: Certificate | None = None
    best: Certificate | None = None  # the tightest bound met: kept if time runs out at the end
    status: Status | None = None
    cert_seconds = None  # what `cert` took, where the loop stopped at its point
    grad_norm = float("nan")
    warm = None  # the last eigenvector: the next certificate's Lanczos starts near it
    try:
        while True:
            single = Y.dtype == np.float32
            inner = run(problem, Y, InnerOptions(grad_tol=grad_tol), monitor)
            Y, grad_norm = inner.Y, inner.grad_norm
            if inner.stop is not None:
                status = inner.stop
                break
            checkpoint = monitor.checkpoint
            if single and not checkpoint and not inner.converged:
                # float32 stalled (its grid of points): go on in float64 from here
                Y = full_precision(Y)
                if verbose:
                    print(f"[lowrank_sdp] float32 stalled at it {monitor.iterations} "
                          f"(|grad| {grad_norm:.2e}): float64 from here")
                continue
            if checkpoint and not inner.converged and gap_out_of_reach(
                    grad_norm, inner.objective, tol, slack_bound):
                monitor.skip_certificate()  # a periodic look that could not certify: go on
                continue
            t_cert = time.perf_counter()
            point = full_precision(Y)  # Y itself in float64; a float32 Y resumes after the look
            cert = step_certificate(problem, point, seed=seed, rigorous=rigorous, tol=tol,
                                    start=start, warm=warm,
                                    periodic=checkpoint and not inner.converged)
            warm = cert.eigenvector
            best = tighter(best, cert, problem.sign)
            monitor.certified_at(time.perf_counter() - t_cert, cert.work)
            if verbose:
                print(
                    f"[lowrank_sdp] rank {Y.shape[1]:4d}  it {monitor.iterations:6d}  "
                    f"f {cert.objective:.12g}  gap {cert.relative_gap:.2e}  "
                    f"lambda_min {cert.lambda_min:.2e}  |grad| {grad_norm:.2e}  "
                    f"{monitor.elapsed():.2f}s"
                )
            if cert.relative_gap > tol and monitor.out_of_time(Y.shape[1]):
                status = Status.TIME_LIMIT  # the certificate ran into the reserve: stop here
                cert_seconds = monitor.certificate_cost
                Y = point
                break
            move, grad_tol = staircase_move(problem, point, cert, tol=tol, grad_tol=grad_tol,
                                            grad_norm=grad_norm, converged=inner.converged,
                                            checkpoint=checkpoint, staircase=staircase, r_max=r_max)
            if isinstance(move, Status):
                status = move
                Y = point
                break
            if move == "climb":
                Y = escape(problem, point, cert, rng,
                           columns=next_rank(Y.shape[1], r_max) - Y.shape[1]).astype(Y.dtype)
                rank_history.append(Y.shape[1])
    except KeyboardInterrupt:
        if _interrupt.insisted():  # a second Ctrl-C: the user wants out now, without a result
            raise
        # Raised by user code (a callback or an Objective): stop as for a Ctrl-C.
        status = Status.INTERRUPTED
        cert = None
    if status is Status.INTERRUPTED:
        Y, cert = monitor.stop_point(status, Y), None
    Y = full_precision(Y)  # the answer is a float64 point (the same object where cert is at it)

    cert = final_certificate(problem, Y, cert, status, seed=seed, rigorous=rigorous, tol=tol,
                             start=start, warm=warm, best=best, seconds_at_Y=cert_seconds)
    return Result(
        Y=Y,
        objective=cert.objective,
        bound=cert.bound,
        gap=cert.gap,
        status=status,
        rank=Y.shape[1],
        iterations=monitor.iterations,
        seconds=time.perf_counter() - start,
        method=name,
        sense=problem.sense,
        certificate=cert,
        rank_history=tuple(rank_history),
        history=tuple(monitor.history),
        grad_norm=grad_norm,
    )


SINGLE_PRECISION_MIN_ENTRIES = 2_000_000
"""The built-in "rgd" on a sparse linear C starts in float32 where Y has at least this many
entries (n x rank), and continues in float64 once float32 stalls: its product moves half the bytes
(ER n = 1e5, rank 126: 55 ms against 128 ms); near an optimum it keeps the float32 storage
but computes in float64 (`lowrank_sdp.solvers.rgd.SinglePrecisionSpace`). Certificates, the
escape and the answer are float64 (`full_precision`)."""


def single_precision_start(problem: Problem, method_name: str, Y: np.ndarray) -> bool:
    """Does this solve start in float32 (`SINGLE_PRECISION_MIN_ENTRIES`)?"""
    objective = problem.objective
    return (method_name == "rgd" and objective.linear and getattr(objective, "csr", None)
            is not None and Y.size >= SINGLE_PRECISION_MIN_ENTRIES)


def full_precision(Y: np.ndarray) -> np.ndarray:
    """Y itself when float64; a float32 Y as a float64 copy with its rows scaled to unit norm in
    float64 (its own rows are unit only to float32 rounding): the point certified and returned."""
    if Y.dtype == np.float64:
        return Y
    return manifold.normalize_rows(Y)


def certify(
    C, Y: np.ndarray, *, sense: str = "min", seed: int = 0, rigorous: bool = False
) -> Certificate:
    """The certificate (objective, dual bound, gap) of any point Y; its rows are normalised first."""
    seed = check_seed(seed, "certify")
    rigorous = check_bool(rigorous, "rigorous", "certify")
    if Y is None:
        raise invalid("Y", "certify", "a numeric (n, r) array", None)
    Y = check_Y0(Y, "certify", param="Y")
    problem = make_problem(C, sense, "certify", n=Y.shape[0])
    if Y.shape[0] != problem.n:
        raise invalid("Y", "certify", f"an array with n = {problem.n} rows", f"<{Y.shape[0]} rows>")
    with threadpool_limits(limits=1, user_api="blas"):  # as in solve: threads only contend
        return certify_problem(problem, Y, seed=seed, rigorous=rigorous, func="certify")


def _proof_seconds(start: float) -> float:
    """A default proof may cost about what the solve has cost so far (at least a few seconds)."""
    return max(DEFAULT_PROOF_SECONDS, time.perf_counter() - start)


CHECKPOINT_MATVECS = 1000
"""Lanczos's budget at a periodic look (the inner method paused, not converged): a look is meant
to cost a fraction of the iterations around it. G70 (n = 1e4) at tol 1e-6 had looks of 2000
products (1.4-1.8 s each, no bound: Gershgorin) in a 7-8 s solve; a converged inner run and the
final certificate keep the full budget. Raised from 500 once looks that cannot certify end early
(`certificate._deflated_lanczos`'s futile exit): ER n = 1e5 at tol 1e-5 certified at the look of
sweep 315 with 532 thick-restart products, where 500 ran out and the solve went on to sweep 457."""


def step_certificate(problem: Problem, Y: np.ndarray, *, seed: int, rigorous: bool, tol: float,
                     start: float, warm: np.ndarray | None,
                     periodic: bool = False) -> Certificate:
    """The certificate the staircase reads after an inner run: early exit (a clear direction is
    enough), a proof budget of what the solve has cost so far, Lanczos started near `warm` (the
    previous certificate's eigenvector), at most CHECKPOINT_MATVECS products at a `periodic`
    look. One call for the numpy, torch and sharded paths."""
    return certify_problem(problem, Y, seed=seed, rigorous=rigorous, tol=tol, early_exit=True,
                           proof_seconds=_proof_seconds(start), warm=warm,
                           max_matvecs=CHECKPOINT_MATVECS if periodic else None)


def final_certificate(problem: Problem, Y: np.ndarray, cert: Certificate | None,
                      status: Status | None, *, seed: int, rigorous: bool, tol: float,
                      start: float, warm: np.ndarray | None,
                      best: Certificate | None = None,
                      seconds_at_Y: float | None = None) -> Certificate:
    """The certificate a solve returns at Y: `cert` where it certified, else a full one. After a
    stop the user asked for (Ctrl-C, time limit, callback) a default proof gets only its minimum
    budget: the answer is wanted now. It runs under the solve's deadline (`lowrank_sdp.budget`);
    after a time limit, where that cut it short, the tightest bound `best` of an earlier
    certificate of the solve is reported instead when it is tighter (`keep_best_bound`).
    `seconds_at_Y`: what `cert` took where it was computed at this very Y (the loop stopped right
    after it); with less time than that left it is returned as it is (a new one would be cut
    short). Shared by the numpy, torch and sharded paths."""
    if cert is not None and status is Status.CERTIFIED:
        return cert
    if (cert is not None and status is Status.TIME_LIMIT and seconds_at_Y is not None
            and budget.remaining() < seconds_at_Y):
        return keep_best_bound(cert, best, problem.sign)
    hurry = status in (Status.INTERRUPTED, Status.TIME_LIMIT, Status.CALLBACK)
    final = certify_problem(problem, Y, seed=seed, rigorous=rigorous, tol=tol,
                            proof_seconds=DEFAULT_PROOF_SECONDS if hurry else _proof_seconds(start),
                            warm=warm)
    if status is Status.TIME_LIMIT:
        final = keep_best_bound(final, best, problem.sign)
    return final


def tighter(best: Certificate | None, cert: Certificate, sign: float) -> Certificate:
    """Of two certificates of one problem, the one with the tighter bound (`sign` = problem.sign:
    the internal problem minimises, so the larger internal bound sign * bound is tighter)."""
    if best is None or not sign * cert.bound <= sign * best.bound:
        return cert
    return best


def keep_best_bound(final: Certificate, best: Certificate | None, sign: float) -> Certificate:
    """`final` (the certificate at the returned point), with the bound of `best` where that is
    tighter: any multipliers give a valid bound on the optimum (for a convex objective, the
    linearisation at any point does), so a bound proved at an earlier point of the solve still
    holds. The objective stays that of the returned point; the bound's own fields (lambda_min,
    evidence, multipliers, residual) are `best`'s, since they are what the bound rests on."""
    if best is None or best is final or not sign * best.bound > sign * final.bound:
        return final
    gap = max(sign * final.objective - sign * best.bound, 0.0)
    return dataclasses.replace(best, objective=final.objective, gap=float(gap),
                               eigenvector=final.eigenvector, work=final.work)


def expect_certificate(monitor: Monitor, problem: Problem) -> None:
    """Tell `monitor` the sizes of the certificate's eigensolver, for its time-limit reserve: C's
    stored entries (n^2 for a dense array; an operator or a custom objective: none, the reserve
    then rests on the certificates measured). Shared by the numpy and torch paths."""
    objective = problem.objective
    csr, dense = getattr(objective, "csr", None), getattr(objective, "dense", None)
    if csr is not None:
        monitor.expect_certificate(problem.n, float(csr.nnz))
    elif dense is not None:
        monitor.expect_certificate(problem.n, float(problem.n) ** 2)


def slack_norm_bound(problem: Problem) -> float | None:
    """An upper bound on ||S||_2 = ||C - Diag(lambda)||_2 at every point with unit rows, for a
    linear objective with C stored as a sparse or dense matrix (None otherwise): 2 max_i
    sum_j |C_ij|, since ||C||_2 is at most the largest absolute row sum of the symmetric C and
    |lambda_i| = |<(C Y)_i, Y_i>| <= ||(C Y)_i|| <= sum_j |C_ij|."""
    objective = problem.objective
    if not objective.linear:
        return None
    if getattr(objective, "csr", None) is not None:
        c = objective.csr
        rows = np.bincount(np.repeat(np.arange(problem.n), np.diff(c.indptr)),
                           weights=np.abs(c.data), minlength=problem.n)
        return 2.0 * float(np.max(rows, initial=0.0))
    if getattr(objective, "dense", None) is not None:
        return 2.0 * float(np.max(np.sum(np.abs(objective.dense), axis=1)))
    return None


GATED_METHODS = ("rgd", "lbfgs", "tr")
"""Methods whose InnerResult.grad_norm is the Riemannian gradient norm at the returned Y (the
mixing sweep's is measured along the sweep; a custom method's is its own)."""
GATE_MARGIN = 2.0
"""`gap_out_of_reach` skips a checkpoint only when the gap it proves is GATE_MARGIN times the
target (the gradient norm the method reports carries rounding)."""


def gap_lower_bound(grad_norm: float, slack_bound: float) -> float:
    """A lower bound on the gap -n min(lambda_min(S), 0) of any certificate at a point with unit
    rows whose Riemannian gradient 2 S Y has norm `grad_norm`, given ||S||_2 <= slack_bound.

    With S = S+ - S- (its positive and negative parts), X = Y Y^T and mu = -lambda_min(S):
    <S, X> = sum_i ((C Y)_i . Y_i - lambda_i) = 0, so <S+, X> = <S-, X> <= mu trace(X) = mu n,
    and ||S Y||^2 = tr(Y^T S+^2 Y) + tr(Y^T S-^2 Y) <= (||S+|| + mu) <S-, X> <= 2 ||S|| mu n.
    Hence n mu >= ||S Y||^2 / (2 ||S||) = grad_norm^2 / (8 ||S||)."""
    if not (slack_bound > 0 and math.isfinite(grad_norm)):
        return 0.0
    return grad_norm * grad_norm / (8.0 * slack_bound)


def gap_out_of_reach(grad_norm: float, objective: float, tol: float,
                     slack_bound: float | None) -> bool:
    """Can no certificate at this point reach `tol` (`gap_lower_bound` above GATE_MARGIN times
    tol (1 + |f|))? Then a periodic checkpoint skips its eigensolver: at n = 1e5 one costs ~10 s,
    and the first checkpoint fell on iteration 2 (|grad| 381: a gap of at least ~1e3 against a
    target of 4). Skipping claims nothing: the certificate would not have certified."""
    if slack_bound is None:
        return False
    return gap_lower_bound(grad_norm, slack_bound) > GATE_MARGIN * tol * (1.0 + abs(objective))


def staircase_move(problem: Problem, Y: np.ndarray, cert: Certificate, *, tol: float,
                   grad_tol: float, grad_norm: float, converged: bool, checkpoint: bool,
                   staircase: bool, r_max: int) -> tuple[Status | str, float]:
    """What the Riemannian staircase does after the certificate `cert` of the inner method's Y.

    Returns ``(move, grad_tol)``: a `Status` to stop with (CERTIFIED, STATIONARY, MAX_RANK),
    ``"climb"`` (add columns along the certificate's eigenvector: `escape`) or ``"resume"``
    (call the inner method again), and the gradient tolerance for that next call. `converged`:
    the inner method met grad_tol; `checkpoint`: it only paused for a periodic look (the
    monitor's); `staircase`: rank="auto", climbing up to `r_max` columns. Shared by the numpy and
    the torch paths.
    """
    if cert.relative_gap <= tol:
        return Status.CERTIFIED, grad_tol
    climb = staircase and Y.shape[1] < r_max and needs_escape(problem, Y, cert, grad_norm, tol)
    if checkpoint and not converged and not climb:
        return "resume", grad_tol  # a periodic look, not a stationary point: same tolerance
    if climb:
        return "climb", grad_tol
    if grad_tol <= GRAD_TOL_FLOOR or (not converged and grad_norm <= GRAD_TOL_FLOOR):
        capped = negative_curvature(problem, cert, tol) and Y.shape[1] >= r_max
        return (Status.MAX_RANK if capped else Status.STATIONARY), grad_tol
    # Tighten the gradient tolerance: near an optimum the gap shrinks like |grad|^2.
    target = tol * (1.0 + abs(cert.objective))
    achieved = grad_norm / (1.0 + abs(cert.objective))
    factor = min(0.5, max(1e-3, 0.7 * math.sqrt(target / cert.gap)))
    return "resume", max(GRAD_TOL_FLOOR, min(grad_tol, achieved) * factor)


def negative_curvature(problem: Problem, cert: Certificate, tol: float) -> bool:
    """Does the eigensolver see curvature below what the tolerance allows?"""
    return problem.n * cert.lambda_estimate < -tol * (1.0 + abs(cert.objective))


def smallest_singular_value(Y: np.ndarray) -> float:
    """The smallest singular value of Y above RANGE_RTOL (1e-7) of the largest (1.0 if Y = 0),
    from the eigenvalues of the r x r Gram matrix: one n r^2 product where an SVD of Y cost ~1 s
    per certificate at n = 1e5, rank 126 (it resolves singular values down to about sqrt(eps) of
    the largest, which the threshold respects)."""
    Y = np.asarray(Y, dtype=np.float64)
    w = np.linalg.eigvalsh(Y.T @ Y) if Y.size else np.zeros(0)
    if not (w.size and w[-1] > 0):
        return 1.0
    return float(np.sqrt(w[w > RANGE_RTOL ** 2 * w[-1]][0]))


def needs_escape(problem: Problem, Y: np.ndarray, cert: Certificate, grad_norm: float,
                 tol: float) -> bool:
    """Is the negative curvature real (a saddle of this rank) rather than unfinished convergence?

    Near a first-order point S Y = grad / 2, so an eigenvalue of size ~ ||grad|| / sigma_min(Y) is
    explained by the residual; one well beyond it means the rank is too small.
    """
    if not negative_curvature(problem, cert, tol) or cert.eigenvector is None:
        return False
    sig = smallest_singular_value(Y)
    explained = 0.5 * grad_norm / sig
    return -cert.lambda_estimate > 10.0 * explained


def escape(problem: Problem, Y: np.ndarray, cert: Certificate, rng: np.random.Generator,
           columns: int = 1):
    """Add columns and step along the eigenvector u of lambda_min: Y <- R([Y, 0] + alpha u e^T).

    With columns > 1 the further new columns get a small random start (1e-3 per entry, the same
    kick as the fallback below) that the inner method grows along the remaining negative curvature.
    """
    n, r = Y.shape
    u = np.asarray(cert.eigenvector, dtype=np.float64)
    base = manifold.pad_columns(Y, r + columns)
    if columns > 1:
        base[:, r + 1:] = 1e-3 * rng.standard_normal((n, columns - 1))
        base = manifold.normalize_rows(base)
    f0, _ = problem.objective.evaluate(base)
    direction = np.zeros_like(base)
    direction[:, r] = u
    alpha = 1.0 / max(float(np.max(np.abs(u))), 1e-300)
    for _ in range(40):
        candidate = manifold.retract(base, direction, alpha)
        if problem.objective.evaluate(candidate)[0] < f0:
            return candidate
        alpha *= 0.5
    # No decrease found along u (inexact eigenvector): a small random kick keeps the new column alive.
    direction[:, r] = 1e-3 * rng.standard_normal(n)
    return manifold.retract(base, direction, 1.0)


def check_Y0(Y0, func: str, param: str = "Y0") -> np.ndarray | None:
    """A start (or a point to certify) as a C-contiguous float64 copy with unit rows, or None."""
    if Y0 is None:
        return None
    Y = np.array(as_numeric_array(Y0, param, func), dtype=np.float64, order="C", copy=True)
    if Y.ndim != 2 or Y.shape[0] == 0 or Y.shape[1] == 0:
        raise invalid(param, func, "a 2-D (n, r) array with n, r >= 1", f"<shape {Y.shape}>")
    if not np.all(np.isfinite(Y)):
        raise invalid(param, func, "finite (no NaN or inf)", "<an array with NaN or inf>")
    # Rows are scaled by their largest entry first: the norm of a row of 1e200s overflows.
    peak = np.max(np.abs(Y), axis=1)
    Y /= np.where(peak > 0, peak, 1.0)[:, None]
    norms = np.linalg.norm(Y, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise invalid(param, func, "an array without zero rows (rows are normalised)",
                      f"<an array whose row {zero[0]} is zero>")
    return Y / norms[:, None]


FACTOR_ARRAYS = 24
"""n x r float64 arrays a solve may hold at once: Y, G Y, gradients and trial points, the 2 x 8
L-BFGS pairs, the best point. The memory check counts these plus the certificate's Lanczos basis
(at most certificate.LANCZOS_MEMORY_BYTES)."""
LANCZOS_BYTES = 256 * 2**20


def _available_memory() -> int | None:
    """Bytes of memory available now (Linux MemAvailable, else physical memory), or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def _rank_that_fits(n: int) -> int:
    """The largest rank whose factor arrays fit in the memory available now (n if unknown)."""
    available = _available_memory()
    if available is None:
        return n
    return max(1, (available - LANCZOS_BYTES) // (FACTOR_ARRAYS * 8 * n))


def _check_memory(n: int, r: int, func: str) -> None:
    """Refuse, with the numbers, a solve whose n x r factor arrays cannot fit in memory."""
    available = _available_memory()
    need = FACTOR_ARRAYS * 8 * n * r + LANCZOS_BYTES
    if available is not None and need > available:
        raise invalid(
            "rank", func,
            f"small enough for memory: n = {n} with rank {r} needs about {need / 2**30:.3g} GiB "
            f"({FACTOR_ARRAYS} arrays of n x r float64), more than the "
            f"{available / 2**30:.3g} GiB available; pass a smaller rank (and max_rank), or "
            "solve a smaller problem",
            r,
        )


def _declared_size(C, Y0) -> int | None:
    """n as C declares it (shape, Objective.n, or Y0), without touching its entries."""
    shape = getattr(C, "shape", None)
    if isinstance(shape, tuple) and len(shape) == 2 and all(
        isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k > 0 for k in shape
    ):
        return int(shape[0])
    size = getattr(C, "n", None)
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool) and size > 0:
        return int(size)
    return None if Y0 is None else int(Y0.shape[0])


def initial_point(n: int, rank, max_rank, Y0: np.ndarray | None, rng: np.random.Generator,
                  func: str, degree: float | None = None) -> np.ndarray:
    """The staircase's start: Y0 (from `check_Y0`; padded to `rank` columns), else a random point
    of rank `rank` ("auto": `auto_start_rank(n, degree)`, less where memory is short), at most
    `max_rank`."""
    if Y0 is not None:
        if Y0.shape[0] != n:
            raise invalid("Y0", func, f"an array with n = {n} rows", f"<an array with {Y0.shape[0]} rows>")
        if rank != "auto":
            if Y0.shape[1] > rank:
                raise invalid("Y0", func, f"an array with at most rank = {rank} columns",
                              f"<{Y0.shape[1]} columns>")
            if Y0.shape[1] < rank:  # same X, more room: zero columns plus a tiny kick
                Y = manifold.pad_columns(Y0, rank)
                Y[:, Y0.shape[1]:] = 1e-6 * rng.standard_normal((n, rank - Y0.shape[1]))
                return manifold.normalize_rows(Y)
        return Y0
    r = int(rank) if rank != "auto" else _fitting_start_rank(n, degree)
    r = min(r, n, max_rank or n)
    return manifold.random_point(n, r, rng)
