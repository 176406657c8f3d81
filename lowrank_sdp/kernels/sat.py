"""Numba kernel for MAX-SAT local search: WalkSAT moves, then greedy flips to a local optimum.

Clauses come as CSR arrays (indptr, literals: +v / -v for variable v, 1-based) with weights w;
occurrences as CSR arrays (occ_ptr, occ: the clauses of each variable, 0-based variables).
x is an int8 array, 1 = true. A clause is satisfied when one of its literals is true.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _true(lit, x):
    v = abs(lit) - 1
    return (x[v] == 1) == (lit > 0)


@njit(cache=True)
def _literal(v, c, indptr, literals):
    """The literal of variable v (0-based) in clause c (normalised clauses hold it once)."""
    for p in range(indptr[c], indptr[c + 1]):
        if abs(literals[p]) - 1 == v:
            return literals[p]
    return 0


@njit(cache=True)
def _flip_delta(v, x, indptr, literals, w, occ_ptr, occ, ntrue):
    """Change of the satisfied weight if variable v flips."""
    delta = 0.0
    for k in range(occ_ptr[v], occ_ptr[v + 1]):
        c = occ[k]
        if _true(_literal(v, c, indptr, literals), x):
            if ntrue[c] == 1:
                delta -= w[c]
        elif ntrue[c] == 0:
            delta += w[c]
    return delta


@njit(cache=True)
def _flip(v, x, indptr, literals, occ_ptr, occ, ntrue):
    for k in range(occ_ptr[v], occ_ptr[v + 1]):
        c = occ[k]
        ntrue[c] += -1 if _true(_literal(v, c, indptr, literals), x) else 1
    x[v] = 1 - x[v]


@njit(cache=True)
def walksat(indptr, literals, w, occ_ptr, occ, x0, noise, uniforms):
    """The best assignment met by WalkSAT from x0 (a random unsatisfied clause; with probability
    `noise` a random variable of it flips, else the one whose flip loses the least weight),
    each best point polished by greedy improving flips. One WalkSAT move per row of `uniforms`
    (an (flips, 3) array of uniform [0, 1) numbers: the caller's generator, so the kernel needs
    no random state of its own). Returns (x, satisfied weight)."""
    max_flips = uniforms.shape[0]
    m = indptr.shape[0] - 1
    n = x0.shape[0]
    x = x0.copy()
    ntrue = np.zeros(m, np.int64)
    for c in range(m):
        for p in range(indptr[c], indptr[c + 1]):
            if _true(literals[p], x):
                ntrue[c] += 1
    value = 0.0
    for c in range(m):
        if ntrue[c] > 0:
            value += w[c]
    best_x = x.copy()
    best = value
    for step in range(max_flips + 1):
        # greedy: flip improving variables until none improves (then record)
        improved = True
        while improved:
            improved = False
            for v in range(n):
                d = _flip_delta(v, x, indptr, literals, w, occ_ptr, occ, ntrue)
                if d > 1e-12 * (1.0 + abs(value)):
                    _flip(v, x, indptr, literals, occ_ptr, occ, ntrue)
                    value += d
                    improved = True
        if value > best:
            best = value
            best_x[:] = x
        if step == max_flips:
            break
        # one WalkSAT move from a random unsatisfied clause
        count = 0
        for c in range(m):
            if ntrue[c] == 0 and indptr[c + 1] > indptr[c]:
                count += 1
        if count == 0:
            break
        pick = min(int(uniforms[step, 0] * count), count - 1)
        clause = -1
        for c in range(m):
            if ntrue[c] == 0 and indptr[c + 1] > indptr[c]:
                if pick == 0:
                    clause = c
                    break
                pick -= 1
        lo, hi = indptr[clause], indptr[clause + 1]
        if uniforms[step, 1] < noise:
            v = abs(literals[lo + min(int(uniforms[step, 2] * (hi - lo)), hi - lo - 1)]) - 1
        else:
            v = abs(literals[lo]) - 1
            best_d = -np.inf
            for p in range(lo, hi):
                u = abs(literals[p]) - 1
                d = _flip_delta(u, x, indptr, literals, w, occ_ptr, occ, ntrue)
                if d > best_d:
                    best_d = d
                    v = u
        value += _flip_delta(v, x, indptr, literals, w, occ_ptr, occ, ntrue)
        _flip(v, x, indptr, literals, occ_ptr, occ, ntrue)
    return best_x, best
