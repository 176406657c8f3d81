"""MAX-SAT (and MAX-2SAT) through a unit-diagonal SDP: a certified upper bound and an assignment.

The relaxation of the mixing method's paper (Wang, Chang, Kolter, "The Mixing method: low-rank
coordinate descent for semidefinite programming with diagonal constraints", 2017, section on
MAXSAT; for two literals per clause it is Goemans-Williamson's MAX-2SAT relaxation): a truth
vector v_0 and one unit vector v_i per variable, and for clause j its sign vector s_j in
{-1, 0, 1}^{n+1} (s_j0 = -1, s_ji = +1 for the literal x_i, -1 for its negation, |s_j| = the
number of literals):

    maximize  sum_j w_j [1 - (||V s_j||^2 - (|s_j| - 1)^2) / (4 |s_j|)]   s.t.  ||v_i|| = 1,

i.e.  minimize <C, X>,  C = sum_j w_j s_j s_j^T / (4 |s_j|),  diag(X) = 1,  X PSD  (the fast
oblique path of `lowrank_sdp.solve`). Why it bounds the satisfied weight: at v_i = x_i v_0
(x_i = +1 true) a clause with t true literals of k scores ((k+1)^2 - (2t-k-1)^2) / (4k): 0 at t = 0,
1 at t = 1 and t = k, more in between; so every assignment's satisfied weight is at most the
relaxation's value, hence at most const - (certified lower bound on min <C, X>).

Clauses are normalised first: repeated literals count once, a clause with x and not-x is always
satisfied (its weight is added to both sides), an empty clause never is. Hard clauses weigh
H = (sum of soft weights) + 1 in the SDP: an assignment that breaks one then scores less than any
that keeps them all, so (bound on the total) - H * (number of hard clauses) bounds the soft weight
of every assignment satisfying the hard clauses (a negative value proves there is none).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from lowrank_sdp.io._text import MAX_BYTES
from lowrank_sdp.io.wcnf import WCNF, read_wcnf
from lowrank_sdp.kernels.sat import walksat
from lowrank_sdp.result import RoundedResult, Status
from lowrank_sdp.validation import check_nonnegative, check_positive_int, check_seed, invalid

__all__ = ["MaxSATResult", "maxsat", "round_assignment"]

EPS = np.finfo(np.float64).eps


@dataclass(frozen=True)
class MaxSATResult(RoundedResult):
    """What `maxsat` returns. In soft-clause weight: satisfied_weight <= OPT <= bound, where OPT
    is the best soft weight of an assignment satisfying every hard clause."""

    EXTRA_KEYS: ClassVar[tuple[str, ...]] = (
        "name", "m", "satisfied_weight", "hard_satisfied", "soft_total", "evidence",
    )

    name: str
    n: int
    """Number of variables."""
    m: int
    """Number of clauses (hard and soft)."""
    objective: float
    """The relaxation's value at the solver's point (soft-weight units)."""
    bound: float
    """Certified upper bound on the soft weight of any assignment satisfying the hard clauses."""
    gap: float
    satisfied_weight: float
    """Soft weight satisfied by `assignment`, recomputed from it."""
    hard_satisfied: bool
    """Whether `assignment` satisfies every hard clause."""
    soft_total: float
    assignment: np.ndarray = field(repr=False)
    """bool per variable (variable v at index v - 1)."""
    rank: int
    status: Status
    seconds: float
    sdp: Any = field(repr=False)
    """The `lowrank_sdp.Result` of the SDP (dimension n + 1; row 0 is the truth vector v_0)."""


@dataclass(frozen=True)
class _Clauses:
    """Normalised clauses: CSR literals, weights (hard ones at H), and what was set aside."""

    indptr: np.ndarray
    literals: np.ndarray
    weights: np.ndarray
    always: float
    """Weight of the tautologies (satisfied by every assignment), soft units."""
    hard_weight: float
    n_hard: int


def _normalise(f: WCNF) -> _Clauses:
    soft = ~f.hard
    soft_total = math.fsum(f.weights[soft])
    H = soft_total + 1.0
    ptr, lits, ws = [0], [], []
    always = 0.0
    for j in range(f.m):
        clause = np.unique(f.clause(j))
        w = H if f.hard[j] else float(f.weights[j])
        if np.intersect1d(clause, -clause).size:
            always += w  # x or not-x: every assignment satisfies it
            continue
        if clause.size == 0:
            continue  # never satisfied (a hard one: no assignment keeps every hard clause)
        lits.extend(clause.tolist())
        ptr.append(len(lits))
        ws.append(w)
    return _Clauses(np.asarray(ptr, np.int64), np.asarray(lits, np.int64),
                    np.asarray(ws, np.float64), always, H, int(f.hard.sum()))


def _cost(cl: _Clauses, n: int) -> tuple[sp.csr_matrix, float]:
    """C = sum_j w_j s_j s_j^T / (4 |s_j|) on n + 1 rows, and const = sum_j w_j (1 + (|s_j|-1)^2
    / (4 |s_j|)): the relaxation's value is const - <C, X>."""
    k = np.diff(cl.indptr)
    rows, cols, vals = [], [], []
    for j in range(k.size):
        s = np.concatenate([[0], np.abs(cl.literals[cl.indptr[j]: cl.indptr[j + 1]])])
        sign = np.concatenate([[-1.0], np.sign(cl.literals[cl.indptr[j]: cl.indptr[j + 1]])])
        c = cl.weights[j] / (4.0 * k[j])
        rows.append(np.repeat(s, s.size))
        cols.append(np.tile(s, s.size))
        vals.append(c * np.outer(sign, sign).reshape(-1))
    if rows:
        C = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(n + 1, n + 1))
    else:
        C = sp.csr_matrix((n + 1, n + 1))
    C.sum_duplicates()
    const = math.fsum(cl.weights * (1.0 + (k - 1.0) ** 2 / (4.0 * np.maximum(k, 1))))
    return C, const


def _occurrences(cl: _Clauses, n: int) -> tuple[np.ndarray, np.ndarray]:
    var = np.abs(cl.literals) - 1
    clause = np.repeat(np.arange(cl.weights.size), np.diff(cl.indptr))
    order = np.argsort(var, kind="stable")
    occ_ptr = np.concatenate([[0], np.cumsum(np.bincount(var, minlength=n))]).astype(np.int64)
    return occ_ptr, clause[order].astype(np.int64)


def round_assignment(Y: np.ndarray, f: WCNF, *, trials: int = 1000, seed: int = 0,
                     flips: int | None = None, noise: float = 0.2) -> np.ndarray:
    """An assignment from the SDP factor Y (row 0 = v_0, row v = variable v): random hyperplanes
    relative to v_0 (x_v true when y_v falls on v_0's side), the best by weight (hard clauses at
    H) improved by WalkSAT moves and greedy flips (`lowrank_sdp.kernels.sat.walksat`)."""
    n = f.n_vars
    cl = _normalise(f)
    rng = np.random.default_rng(seed)
    var = np.abs(cl.literals) - 1
    pos = cl.literals > 0
    clause_of = np.repeat(np.arange(cl.weights.size), np.diff(cl.indptr))
    best_x, best_v = None, -np.inf
    chunk = max(1, min(trials, (1 << 22) // max(cl.literals.size, n, 1)))
    done = 0
    while done < trials:
        t = min(chunk, trials - done)
        Z = Y @ rng.standard_normal((Y.shape[1], t))
        X = (Z[1:] >= 0) == (Z[:1] >= 0)  # (n, t): on v_0's side = true
        true = X[var] == pos[:, None]
        sat = np.zeros((cl.weights.size, t), dtype=bool)
        np.logical_or.at(sat, clause_of, true)
        vals = cl.weights @ sat
        j = int(np.argmax(vals))
        if vals[j] > best_v:
            best_v, best_x = float(vals[j]), X[:, j].copy()
        done += t
    x = best_x.astype(np.int8) if best_x is not None else np.ones(n, np.int8)
    if cl.weights.size:
        occ_ptr, occ = _occurrences(cl, n)
        budget = 10 * max(cl.weights.size, n) if flips is None else flips
        x, _ = walksat(cl.indptr, cl.literals, cl.weights, occ_ptr, occ, x, noise,
                       rng.random((budget, 3)))
    return x.astype(bool)


def maxsat(
    instance,
    *,
    rank: int | str = "auto",
    method: str | Callable = "auto",
    tol: float = 1e-6,
    seed: int = 0,
    time_limit: float | None = None,
    callback: Callable | None = None,
    max_iterations: int | None = None,
    rigorous: bool = False,
    verbose: bool = False,
    trials: int = 1000,
    flips: int | None = None,
    max_bytes: int | None = None,
) -> MaxSATResult:
    """MAX-SAT of a (W)CNF instance: a certified upper bound on the satisfiable soft weight, and
    an assignment (see the module docstring for the relaxation).

    Parameters
    ----------
    instance : a path to a .cnf / .wcnf file (`lowrank_sdp.io.read_wcnf`) or a `WCNF`.
    rank, method, tol, seed, time_limit, callback, max_iterations, rigorous, verbose :
        of the SDP solve (`lowrank_sdp.solve`, the unit-diagonal path: n + 1 rows).
    trials : random hyperplanes of the rounding; flips: WalkSAT moves (None: 10 max(m, n)).
    max_bytes : the reader's limit (None: its default).
    """
    import lowrank_sdp

    func = "maxsat"
    start = time.perf_counter()
    trials = check_positive_int(trials, "trials", func)
    seed = check_seed(seed, func)
    check_nonnegative(tol, "tol", func)
    if isinstance(instance, (str, os.PathLike)):
        f = read_wcnf(instance, max_bytes=MAX_BYTES if max_bytes is None else max_bytes)
    elif isinstance(instance, WCNF):
        f = instance
    else:
        raise invalid("instance", func, "a path to a .wcnf / .cnf file or a WCNF",
                      f"<{type(instance).__name__}>")
    if f.n_vars < 1:
        raise invalid("instance", func, "an instance with at least one variable", "<none>")
    cl = _normalise(f)
    C, const = _cost(cl, f.n_vars)
    res = lowrank_sdp.solve(C, sense="min", rank=rank, method=method, tol=tol, seed=seed,
                            time_limit=time_limit, callback=callback,
                            max_iterations=max_iterations, rigorous=rigorous, verbose=verbose)
    # Soft units: subtract what every hard clause contributes at H; rounding of the sums
    # (const is a correctly rounded fsum; the rest a few operations) goes to the safe side.
    shift = cl.n_hard * cl.hard_weight - cl.always
    bound = const - float(res.bound) - shift
    bound += 8.0 * EPS * (abs(const) + abs(float(res.bound)) + abs(shift))
    objective = const - float(res.objective) - shift
    x = round_assignment(res.Y, f, trials=trials, seed=seed, flips=flips)
    sat = f.satisfied(x)
    soft = ~f.hard
    return MaxSATResult(
        name=f.name or "instance", n=f.n_vars, m=f.m, objective=objective, bound=bound,
        gap=max(bound - objective, 0.0), satisfied_weight=float(f.weights[sat & soft].sum()),
        hard_satisfied=bool(sat[f.hard].all()), soft_total=float(f.weights[soft].sum()),
        assignment=x, rank=int(res.rank), status=res.status,
        seconds=time.perf_counter() - start, sdp=res,
    )
