"""Numba kernels for Max-Cut rounding: cut values, hyperplane cuts, 1-flip and tabu local search.

Graphs come as the three arrays of a symmetric CSR adjacency with a zero diagonal
(indptr, indices, data); labels are int8 arrays with entries in {-1, +1}.
The cut of labels x is sum_{i<j} w_ij [x_i != x_j] = x^T L x / 4, and flipping vertex i
changes it by gain_i = x_i * sum_j w_ij x_j.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def cut_value(indptr, indices, data, x):
    """Cut value sum_{i<j} w_ij [x_i != x_j] of the labels x (each edge stored twice in CSR)."""
    total = 0.0
    for i in range(x.shape[0]):
        xi = x[i]
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if j > i and x[j] != xi:
                total += data[k]
    return total


@njit(cache=True)
def hyperplane_cut_values(indptr, indices, data, Z):
    """Cut values of the T labelings sign(Z[:, t]) (sign(0) = +1) for Z of shape (n, T).

    Z = Y @ R holds the products of the rows of Y with T random directions. The signs are
    packed to bytes first so the edge loop streams 8x less memory.
    """
    n, T = Z.shape
    S = np.empty((n, T), dtype=np.uint8)
    for i in range(n):
        for t in range(T):
            S[i, t] = 1 if Z[i, t] < 0.0 else 0
    out = np.zeros(T)
    for i in range(n):
        si = S[i]
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if j > i:
                w = data[k]
                sj = S[j]
                for t in range(T):
                    out[t] += w * (si[t] ^ sj[t])
    return out


@njit(cache=True)
def flip_gains(indptr, indices, data, x):
    """gain_i = x_i * sum_j w_ij x_j: the change in the cut when vertex i alone is flipped."""
    n = x.shape[0]
    gains = np.empty(n)
    for i in range(n):
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            s += data[k] * x[indices[k]]
        gains[i] = x[i] * s
    return gains


@njit(cache=True)
def _flip(indptr, indices, data, x, gains, i):
    # Flipping i negates its own gain and moves each neighbour's gain by -2 w_ij x_i x_j
    # (x_i before the flip), so one move costs O(deg i).
    xi = x[i]
    for k in range(indptr[i], indptr[i + 1]):
        j = indices[k]
        gains[j] -= 2.0 * data[k] * xi * x[j]
    gains[i] = -gains[i]
    x[i] = -xi


@njit(cache=True)
def one_flip_search(indptr, indices, data, x, tol):
    """1-flip local search: sweep the vertices, flipping any whose gain exceeds `tol`,
    until a sweep flips nothing. Returns (labels, total gain); `x` is not modified.
    """
    x = x.copy()
    gains = flip_gains(indptr, indices, data, x)
    total = 0.0
    improved = True
    while improved:
        improved = False
        for i in range(x.shape[0]):
            if gains[i] > tol:
                total += gains[i]
                _flip(indptr, indices, data, x, gains, i)
                improved = True
    return x, total


# ------------------------------------------------------------ indexed max-heaps for the gains
# A heap is (heap, pos, size): heap[:size] holds vertex ids ordered by gains (larger first, ties
# to the smaller id, which makes the pick identical to a left-to-right scan), pos[v] is v's slot
# or -1. A gain change moves one vertex up or down in O(log n).


@njit(cache=True)
def _above(gains, a, b):
    return gains[a] > gains[b] or (gains[a] == gains[b] and a < b)


@njit(cache=True)
def _sift_up(heap, pos, gains, k):
    v = heap[k]
    while k > 0:
        parent = (k - 1) >> 1
        u = heap[parent]
        if not _above(gains, v, u):
            break
        heap[k] = u
        pos[u] = k
        k = parent
    heap[k] = v
    pos[v] = k


@njit(cache=True)
def _sift_down(heap, pos, gains, k, size):
    v = heap[k]
    while True:
        child = 2 * k + 1
        if child >= size:
            break
        if child + 1 < size and _above(gains, heap[child + 1], heap[child]):
            child += 1
        u = heap[child]
        if not _above(gains, u, v):
            break
        heap[k] = u
        pos[u] = k
        k = child
    heap[k] = v
    pos[v] = k


@njit(cache=True)
def _heap_push(heap, pos, gains, size, v):
    heap[size] = v
    pos[v] = size
    _sift_up(heap, pos, gains, size)
    return size + 1


@njit(cache=True)
def _heap_remove(heap, pos, gains, size, v):
    k = pos[v]
    pos[v] = -1
    size -= 1
    if k < size:
        heap[k] = heap[size]
        pos[heap[k]] = k
        _sift_up(heap, pos, gains, k)
        _sift_down(heap, pos, gains, pos[heap[k]], size)
    return size


@njit(cache=True)
def _heap_fix(heap, pos, gains, size, v):
    _sift_up(heap, pos, gains, pos[v])
    _sift_down(heap, pos, gains, pos[v], size)


@njit(cache=True)
def tabu_search(indptr, indices, data, x, iterations, tenures, tol, target, stall):
    """Tabu search from x: up to `iterations` moves, each flipping the best non-tabu vertex
    (even when its gain is negative), which then stays tabu for the next tenures[t % len]
    moves; a tabu vertex may still move when that gives a new best cut (aspiration).

    O(deg log n) per move: the gains of the free and of the tabu vertices sit in two indexed
    max-heaps, a flip updates the neighbours' entries, and tabu vertices are released from
    buckets indexed by their release step. Stops early once the gain reaches `target` (pass the
    distance to an upper bound on the cut, or inf) or after `stall` moves without a new best.
    Returns (best labels seen, their gain over x, moves made); `x` is not modified. A 1-flip
    search should run first: tabu search is for escaping its local optima.
    """
    n = x.shape[0]
    cur = x.copy()
    best = x.copy()
    gains = flip_gains(indptr, indices, data, cur)
    free = np.empty(n, dtype=np.int64)
    free_pos = np.full(n, -1, dtype=np.int64)
    taboo = np.empty(n, dtype=np.int64)
    taboo_pos = np.full(n, -1, dtype=np.int64)
    n_free = 0
    n_taboo = 0
    for i in range(n):
        if indptr[i] < indptr[i + 1]:  # isolated vertices never move: their gain is always 0
            n_free = _heap_push(free, free_pos, gains, n_free, i)
    # Release buckets: a ring of doubly linked lists, one per step, longer than any tenure.
    ring = 2
    for k in range(tenures.shape[0]):
        ring = max(ring, tenures[k] + 2)
    head = np.full(ring, -1, dtype=np.int64)
    nxt = np.full(n, -1, dtype=np.int64)
    prv = np.full(n, -1, dtype=np.int64)
    bucket = np.full(n, -1, dtype=np.int64)
    value = 0.0
    best_value = 0.0
    last_best = 0
    n_ten = tenures.shape[0]
    t = 0
    while t < iterations:
        # Release the vertices whose tabu ends now.
        b = t % ring
        v = head[b]
        while v >= 0:
            u = nxt[v]
            n_taboo = _heap_remove(taboo, taboo_pos, gains, n_taboo, v)
            n_free = _heap_push(free, free_pos, gains, n_free, v)
            bucket[v] = -1
            v = u
        head[b] = -1
        pick = -1
        if n_free > 0:
            pick = free[0]
        if n_taboo > 0:
            v = taboo[0]
            if value + gains[v] > best_value + tol and (pick < 0 or _above(gains, v, pick)):
                pick = v
        if pick < 0:
            break
        pick_gain = gains[pick]
        # Flip: its own gain changes sign, each neighbour's by -2 w_ij x_i x_j (x_i before).
        xi = cur[pick]
        for k in range(indptr[pick], indptr[pick + 1]):
            j = indices[k]
            gains[j] -= 2.0 * data[k] * xi * cur[j]
            if free_pos[j] >= 0:
                _heap_fix(free, free_pos, gains, n_free, j)
            elif taboo_pos[j] >= 0:
                _heap_fix(taboo, taboo_pos, gains, n_taboo, j)
        gains[pick] = -pick_gain
        cur[pick] = -xi
        value += pick_gain
        # pick becomes tabu until step t + 1 + tenure (a tabu pick moves to its new bucket).
        if free_pos[pick] >= 0:
            n_free = _heap_remove(free, free_pos, gains, n_free, pick)
            n_taboo = _heap_push(taboo, taboo_pos, gains, n_taboo, pick)
        else:
            _heap_fix(taboo, taboo_pos, gains, n_taboo, pick)
            ob = bucket[pick]
            if prv[pick] >= 0:
                nxt[prv[pick]] = nxt[pick]
            else:
                head[ob] = nxt[pick]
            if nxt[pick] >= 0:
                prv[nxt[pick]] = prv[pick]
        nb = (t + 1 + tenures[t % n_ten]) % ring
        bucket[pick] = nb
        prv[pick] = -1
        nxt[pick] = head[nb]
        if head[nb] >= 0:
            prv[head[nb]] = pick
        head[nb] = pick
        t += 1
        if value > best_value + tol:
            best_value = value
            best[:] = cur
            last_best = t
            if best_value >= target - tol:
                break
        elif t - last_best >= stall:
            break
    return best, best_value, t


# ------------------------------------------------------------ gain buckets (integer weights)
# With integer weights every gain is an integer in [-span, span] (span = the largest weighted
# degree), so the vertices can sit in one doubly linked list per gain value: a gain change is
# O(1) and the best vertex is found by walking a pointer down from the largest key used.


@njit(cache=True)
def _bucket_insert(head, nxt, prv, v, key):
    prv[v] = -1
    nxt[v] = head[key]
    if head[key] >= 0:
        prv[head[key]] = v
    head[key] = v


@njit(cache=True)
def _bucket_remove(head, nxt, prv, v, key):
    if prv[v] >= 0:
        nxt[prv[v]] = nxt[v]
    else:
        head[key] = nxt[v]
    if nxt[v] >= 0:
        prv[nxt[v]] = prv[v]


@njit(cache=True)
def tabu_search_buckets(indptr, indices, data, x, iterations, tenures, tol, target, stall):
    """`tabu_search` for integer weights with O(deg) moves: the gains of the free and of the
    tabu vertices are kept in bucket lists, one per integer gain. Same rules and returns;
    ties between equal gains are broken by bucket order rather than by vertex id.
    """
    n = x.shape[0]
    cur = x.copy()
    best = x.copy()
    gains = flip_gains(indptr, indices, data, cur)
    span = 0
    for i in range(n):
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            s += abs(data[k])
        span = max(span, int(s + 0.5))
    size = 2 * span + 1
    # where[v]: 0 isolated (never moves), 1 free, 2 tabu; key[v] = gain + span.
    where = np.zeros(n, dtype=np.int8)
    key = np.zeros(n, dtype=np.int64)
    head_free = np.full(size, -1, dtype=np.int64)
    head_taboo = np.full(size, -1, dtype=np.int64)
    nxt = np.full(n, -1, dtype=np.int64)
    prv = np.full(n, -1, dtype=np.int64)
    top_free = -1
    top_taboo = -1
    for i in range(n):
        if indptr[i] < indptr[i + 1]:
            where[i] = 1
            key[i] = int(np.rint(gains[i])) + span
            _bucket_insert(head_free, nxt, prv, i, key[i])
            top_free = max(top_free, key[i])
    ring = 2
    for k in range(tenures.shape[0]):
        ring = max(ring, tenures[k] + 2)
    rhead = np.full(ring, -1, dtype=np.int64)
    rnxt = np.full(n, -1, dtype=np.int64)
    rprv = np.full(n, -1, dtype=np.int64)
    rbucket = np.full(n, -1, dtype=np.int64)
    value = 0.0
    best_value = 0.0
    last_best = 0
    n_ten = tenures.shape[0]
    t = 0
    while t < iterations:
        b = t % ring
        v = rhead[b]
        while v >= 0:
            u = rnxt[v]
            _bucket_remove(head_taboo, nxt, prv, v, key[v])
            _bucket_insert(head_free, nxt, prv, v, key[v])
            top_free = max(top_free, key[v])
            where[v] = 1
            rbucket[v] = -1
            v = u
        rhead[b] = -1
        while top_free >= 0 and head_free[top_free] < 0:
            top_free -= 1
        while top_taboo >= 0 and head_taboo[top_taboo] < 0:
            top_taboo -= 1
        pick = -1
        if top_free >= 0:
            pick = head_free[top_free]
        if top_taboo >= 0 and top_taboo > top_free:
            v = head_taboo[top_taboo]
            if value + gains[v] > best_value + tol:
                pick = v
        if pick < 0:
            break
        pick_gain = gains[pick]
        xi = cur[pick]
        for k in range(indptr[pick], indptr[pick + 1]):
            j = indices[k]
            delta = 2.0 * data[k] * xi * cur[j]
            gains[j] -= delta
            kj = key[j] - int(delta)  # delta is an even integer
            if where[j] == 1:
                _bucket_remove(head_free, nxt, prv, j, key[j])
                _bucket_insert(head_free, nxt, prv, j, kj)
                top_free = max(top_free, kj)
            else:
                _bucket_remove(head_taboo, nxt, prv, j, key[j])
                _bucket_insert(head_taboo, nxt, prv, j, kj)
                top_taboo = max(top_taboo, kj)
            key[j] = kj
        gains[pick] = -pick_gain
        cur[pick] = -xi
        value += pick_gain
        kp = 2 * span - key[pick]  # the negated gain
        if where[pick] == 1:
            _bucket_remove(head_free, nxt, prv, pick, key[pick])
        else:
            _bucket_remove(head_taboo, nxt, prv, pick, key[pick])
            _bucket_remove(rhead, rnxt, rprv, pick, rbucket[pick])
        where[pick] = 2
        key[pick] = kp
        _bucket_insert(head_taboo, nxt, prv, pick, kp)
        top_taboo = max(top_taboo, kp)
        nb = (t + 1 + tenures[t % n_ten]) % ring
        rbucket[pick] = nb
        _bucket_insert(rhead, rnxt, rprv, pick, nb)
        t += 1
        if value > best_value + tol:
            best_value = value
            best[:] = cur
            last_best = t
            if best_value >= target - tol:
                break
        elif t - last_best >= stall:
            break
    return best, best_value, t
