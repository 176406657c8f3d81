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


# ------------------------------------------------------------ gain queues
# The local search keeps the non-isolated vertices in two priority queues keyed by gain: queue 0
# the free vertices, queue 1 the tabu ones. A queue is either an indexed max-heap (any weights,
# O(log n) per change, ties to the smaller id, which makes the pick that of a left-to-right
# scan) or gain buckets (integer weights: every gain is an integer in [-span, span], span the
# largest weighted degree, so a queue keeps one doubly linked list per gain and a pointer to the
# largest key used that walks down when that list empties: O(1) per change, ties by list
# order). `buckets` selects the kind; the _q_* functions are the only places where they differ.
#
# Both kinds live in one int64 array qa (one argument, so that the calls in the inner loop pay
# no reference counting per array), laid out for n vertices and nk = 2 span + 1 keys as
#   [0, 2n) heap q at q n | [2n, 3n) heap slot of v | [3n, 5n) list next, prev of v |
#   [5n, 6n) key of v | 6n + q: heap size | 6n + 2 + q: top key | 6n + 4 + q nk + key: list head.


@njit(cache=True)
def _queue_array(n, span):
    qa = np.full(6 * n + 4 + 2 * (2 * span + 1), -1, dtype=np.int64)
    qa[6 * n] = 0
    qa[6 * n + 1] = 0
    return qa


@njit(cache=True)
def _above(gains, a, b):
    return gains[a] > gains[b] or (gains[a] == gains[b] and a < b)


@njit(cache=True)
def _sift_up(qa, n, q, gains, k):
    base, pos = q * n, 2 * n
    v = qa[base + k]
    while k > 0:
        parent = (k - 1) >> 1
        u = qa[base + parent]
        if not _above(gains, v, u):
            break
        qa[base + k] = u
        qa[pos + u] = k
        k = parent
    qa[base + k] = v
    qa[pos + v] = k


@njit(cache=True)
def _sift_down(qa, n, q, gains, k):
    base, pos, size = q * n, 2 * n, qa[6 * n + q]
    v = qa[base + k]
    while True:
        child = 2 * k + 1
        if child >= size:
            break
        if child + 1 < size and _above(gains, qa[base + child + 1], qa[base + child]):
            child += 1
        u = qa[base + child]
        if not _above(gains, u, v):
            break
        qa[base + k] = u
        qa[pos + u] = k
        k = child
    qa[base + k] = v
    qa[pos + v] = k


@njit(cache=True)
def _list_insert(qa, head, nxt, prv, v):
    """Put v first in the list whose head is qa[head] (links at qa[nxt + v], qa[prv + v])."""
    qa[prv + v] = -1
    first = qa[head]
    qa[nxt + v] = first
    if first >= 0:
        qa[prv + first] = v
    qa[head] = v


@njit(cache=True)
def _list_remove(qa, head, nxt, prv, v):
    a, b = qa[prv + v], qa[nxt + v]
    if a >= 0:
        qa[nxt + a] = b
    else:
        qa[head] = b
    if b >= 0:
        qa[prv + b] = a


@njit(cache=True)
def _q_push(qa, n, span, buckets, q, v, gains):
    if buckets:
        k = int(gains[v]) + span  # integer weights: the gains are exact integers
        qa[5 * n + v] = k
        _list_insert(qa, 6 * n + 4 + q * (2 * span + 1) + k, 3 * n, 4 * n, v)
        if k > qa[6 * n + 2 + q]:
            qa[6 * n + 2 + q] = k
    else:
        s = qa[6 * n + q]
        qa[q * n + s] = v
        qa[2 * n + v] = s
        qa[6 * n + q] = s + 1
        _sift_up(qa, n, q, gains, s)


@njit(cache=True)
def _q_remove(qa, n, span, buckets, q, v, gains):
    if buckets:
        _list_remove(qa, 6 * n + 4 + q * (2 * span + 1) + qa[5 * n + v], 3 * n, 4 * n, v)
    else:
        k = qa[2 * n + v]
        qa[2 * n + v] = -1
        size = qa[6 * n + q] - 1
        qa[6 * n + q] = size
        if k < size:
            u = qa[q * n + size]
            qa[q * n + k] = u
            qa[2 * n + u] = k
            _sift_up(qa, n, q, gains, k)
            _sift_down(qa, n, q, gains, qa[2 * n + u])


@njit(cache=True)
def _q_changed(qa, n, span, buckets, q, v, gains):
    """gains[v] has just changed: move v to its new place in queue q."""
    if buckets:
        k = int(gains[v]) + span
        old = qa[5 * n + v]
        if k != old:
            head = 6 * n + 4 + q * (2 * span + 1)
            _list_remove(qa, head + old, 3 * n, 4 * n, v)
            qa[5 * n + v] = k
            _list_insert(qa, head + k, 3 * n, 4 * n, v)
            if k > qa[6 * n + 2 + q]:
                qa[6 * n + 2 + q] = k
    else:
        _sift_up(qa, n, q, gains, qa[2 * n + v])
        _sift_down(qa, n, q, gains, qa[2 * n + v])


@njit(cache=True)
def _q_top(qa, n, span, buckets, q):
    """The vertex of largest gain in queue q, or -1 when it is empty."""
    if buckets:
        head = 6 * n + 4 + q * (2 * span + 1)
        t = qa[6 * n + 2 + q]
        while t >= 0 and qa[head + t] < 0:
            t -= 1
        qa[6 * n + 2 + q] = t
        return qa[head + t] if t >= 0 else -1
    return qa[q * n] if qa[6 * n + q] > 0 else -1


@njit(cache=True)
def _xorshift(state):
    """Next value of a 32-bit xorshift generator kept in state[0] (the same stream compiled or
    not: every intermediate is masked to 32 bits)."""
    s = state[0]
    s ^= (s << 13) & 0xFFFFFFFF
    s ^= s >> 17
    s ^= (s << 5) & 0xFFFFFFFF
    state[0] = s
    return s


@njit(cache=True)
def _xorshift_u64(s):
    """`_xorshift`'s step on a uint64 value held in a local (the int kernel's generator: the same
    stream as `_xorshift` on state[0])."""
    s ^= (s << np.uint64(13)) & np.uint64(0xFFFFFFFF)
    s ^= s >> np.uint64(17)
    s ^= (s << np.uint64(5)) & np.uint64(0xFFFFFFFF)
    return s


@njit(cache=True)
def breakout_search(indptr, indices, data, x, moves, floor, state, tenure_lo, tenure_hi,
                    jump_lo, jump_hi, patience, p_directed, tol, target, buckets, span=0):
    """Breakout local search (Benlic & Hao 2013) from x for at most `moves` flips.

    Steepest descent (flip the vertex of largest gain while it is positive) to a local optimum,
    then a perturbation of L flips and descent again. The perturbation is directed (the best
    non-tabu flip, even a losing one; a tabu flip that gives a new best is allowed) with
    probability max(exp(-w / patience), p_directed) and random (random non-tabu vertices)
    otherwise, w counting the local optima since the last new best; after `patience` of them
    one strong random perturbation of jump_hi flips. L grows by one each time the descent
    returns to the previous optimum's value and goes back to jump_lo otherwise. Every flipped
    vertex stays tabu for a tenure drawn in [tenure_lo, tenure_hi].

    O(deg) per flip with gain buckets (`buckets`: integer weights), O(deg log n) with heaps.
    `floor`: the gain over x a cut must beat to count as a new best (a caller's best so far);
    `state` = [rng, w, L] (int64) carries the generator and the schedule between calls.
    Stops early once a best reaches `target` (a gain over x). Returns (best labels, their gain
    over x, or `floor` and x when nothing beat it; end labels, their gain over x; flips made).
    `x` is not modified. `span` (buckets only): the largest weighted degree sum_j |w_ij|, rounded;
    0 computes it here (a caller that runs many episodes on one graph passes it once computed).
    """
    n = x.shape[0]
    cur = x.copy()
    best = x.copy()
    gains = flip_gains(indptr, indices, data, cur)
    if not buckets:
        span = 1
    elif span <= 0:
        span = 1
        for i in range(n):
            s = 0.0
            for k in range(indptr[i], indptr[i + 1]):
                s += abs(data[k])
            span = max(span, int(s + 0.5))
    qa = _queue_array(n, span)
    where = np.zeros(n, dtype=np.int8)  # 0 isolated (never moves), 1 free, 2 tabu
    active = np.empty(n, dtype=np.int64)
    n_active = 0
    for i in range(n):
        if indptr[i] < indptr[i + 1]:
            where[i] = 1
            _q_push(qa, n, span, buckets, 0, i, gains)
            active[n_active] = i
            n_active += 1
    # Release ring: one doubly linked list per step, longer than any tenure; in one array as the
    # queues, ra = [next of v (n) | prev of v (n) | head of step s (ring)].
    ring = tenure_hi + 2
    ra = np.full(2 * n + ring, -1, dtype=np.int64)
    rslot = np.full(n, -1, dtype=np.int64)
    value = 0.0
    best_value = floor
    prev_optimum = -np.inf
    t = 0
    phase = 0  # 0 descent; 1 directed, 2 random perturbation (left = flips still to make)
    left = 0
    while t < moves and n_active > 0:
        # Release the vertices whose tabu ends now.
        b = t % ring
        v = ra[2 * n + b]
        while v >= 0:
            u = ra[v]
            _q_remove(qa, n, span, buckets, 1, v, gains)
            _q_push(qa, n, span, buckets, 0, v, gains)
            where[v] = 1
            rslot[v] = -1
            v = u
        ra[2 * n + b] = -1
        pick = -1
        if phase == 0:
            pick = _q_top(qa, n, span, buckets, 0)
            v = _q_top(qa, n, span, buckets, 1)
            if v >= 0 and (pick < 0 or gains[v] > gains[pick]):
                pick = v
            if pick < 0 or gains[pick] <= tol:
                # A local optimum: record it, then choose the perturbation.
                if value > best_value + tol:
                    best_value = value
                    best[:] = cur
                    state[1] = 0
                    if best_value >= target - tol:
                        break
                else:
                    state[1] += 1
                if abs(value - prev_optimum) <= tol:
                    state[2] = min(state[2] + 1, jump_hi)
                else:
                    state[2] = jump_lo
                prev_optimum = value
                if state[1] > patience:
                    phase, left = 2, jump_hi
                    state[1] = 0
                else:
                    p = max(np.exp(-state[1] / patience), p_directed)
                    phase = 1 if _xorshift(state) / 4294967296.0 < p else 2
                    left = state[2]
                continue
        elif phase == 1:
            pick = _q_top(qa, n, span, buckets, 0)
            v = _q_top(qa, n, span, buckets, 1)
            if v >= 0 and value + gains[v] > best_value + tol and (
                    pick < 0 or gains[v] > gains[pick]):
                pick = v  # aspiration: a tabu flip that gives a new best
        else:
            for _ in range(32):  # a random non-tabu vertex (any vertex if none is found)
                pick = active[_xorshift(state) % n_active]
                if where[pick] == 1:
                    break
        if pick < 0:
            break
        if phase != 0:
            left -= 1
            if left <= 0:
                phase = 0
        # Flip: its own gain changes sign, each neighbour's by -2 w_ij x_i x_j (x_i before).
        xi = cur[pick]
        for k in range(indptr[pick], indptr[pick + 1]):
            j = indices[k]
            gains[j] -= 2.0 * data[k] * xi * cur[j]
            _q_changed(qa, n, span, buckets, where[j] - 1, j, gains)
        g = gains[pick]
        _q_remove(qa, n, span, buckets, where[pick] - 1, pick, gains)
        gains[pick] = -g
        cur[pick] = -xi
        value += g
        # pick becomes tabu until step t + 1 + tenure (a tabu pick moves to its new slot).
        if where[pick] == 2:
            _list_remove(ra, 2 * n + rslot[pick], 0, n, pick)
        where[pick] = 2
        _q_push(qa, n, span, buckets, 1, pick, gains)
        tenure = tenure_lo + _xorshift(state) % (tenure_hi - tenure_lo + 1)
        s = (t + 1 + tenure) % ring
        rslot[pick] = s
        _list_insert(ra, 2 * n + s, 0, n, pick)
        t += 1
        if phase == 1 and value > best_value + tol:
            # A directed flip reached a new best: descend from it.
            phase = 0
    if value > best_value + tol:
        best_value = value
        best[:] = cur
    return best, best_value, cur, value, t


@njit(cache=True)
def breakout_search_int(indptr, indices, data, x, moves, floor, state, tenure_lo, tenure_hi,
                 jump_lo, jump_hi, patience, p_directed, tol, target, span):
    """breakout_search with gain buckets, for integer weights, in one function: the same moves,
    schedule and random draws as breakout_search(..., buckets=True, span) (and the same returns),
    3.5-6x faster per flip (no helper calls, int32 gains, links and weights, the tops of both
    queues in registers, the release slot t % ring kept incrementally). A vertex's list links,
    gain and queue sit side by side in one int32 record (rec[4v:4v+4]) and each neighbour's
    index and weight side by side (adj[2k:2k+2]), so that a neighbour's update touches one
    record instead of four arrays.

    `indices` int32 (n < 2**31), `data` int32 integer weights whose weighted degrees
    sum_j |w_ij| are at most `span` (>= 1; gains and bucket keys then fit int32); `indptr`
    int64. Gains are exact integers, compared with `tol`, `floor` and `target` as floats.
    """
    n = x.shape[0]
    cur = x.copy()
    best = x.copy()
    nk = 2 * span + 1
    nnz = indptr[n]
    adj = np.empty(2 * nnz, dtype=np.int32)  # neighbour at 2k, weight at 2k + 1
    for k in range(nnz):
        adj[2 * k] = indices[k]
        adj[2 * k + 1] = data[k]
    # rec[4v]: next in v's bucket, rec[4v + 1]: previous, rec[4v + 2]: gain of v,
    # rec[4v + 3]: v's queue (0 free, nk tabu: the offset of its buckets in head; -1 no edges)
    rec = np.full(4 * n, -1, dtype=np.int32)
    for i in range(n):
        s = 0
        for k in range(indptr[i], indptr[i + 1]):
            s += data[k] * cur[indices[k]]
        rec[4 * i + 2] = cur[i] * s
    head = np.full(2 * nk, -1, dtype=np.int32)
    top0 = -1
    top1 = -1
    active = np.empty(n, dtype=np.int32)
    n_active = 0
    for i in range(n):
        if indptr[i] < indptr[i + 1]:
            rec[4 * i + 3] = 0
            kk = rec[4 * i + 2] + span
            f = head[kk]
            rec[4 * i] = f
            rec[4 * i + 1] = -1
            if f >= 0:
                rec[4 * f + 1] = i
            head[kk] = i
            if kk > top0:
                top0 = kk
            active[n_active] = i
            n_active += 1
    ring = tenure_hi + 2
    rlink = np.full(2 * n, -1, dtype=np.int32)
    rhead = np.full(ring, -1, dtype=np.int32)
    rslot = np.full(n, -1, dtype=np.int32)
    value = 0.0
    best_value = floor
    prev_optimum = -np.inf
    rng = np.uint64(state[0])
    trange = np.uint64(tenure_hi - tenure_lo + 1)
    t = 0
    b = 0  # t % ring
    phase = 0
    left = 0
    U1, U2, U4 = np.uint64(1), np.uint64(2), np.uint64(4)
    while t < moves and n_active > 0:
        v = rhead[b]
        while v >= 0:
            u = rlink[2 * v]
            # tabu queue -> free queue
            r = U4 * np.uint64(v)
            kk = rec[r + U2] + span
            a = rec[r + U1]
            c = rec[r]
            if a >= 0:
                rec[U4 * np.uint64(a)] = c
            else:
                head[nk + kk] = c
            if c >= 0:
                rec[U4 * np.uint64(c) + U1] = a
            f = head[kk]
            rec[r] = f
            rec[r + U1] = -1
            if f >= 0:
                rec[U4 * np.uint64(f) + U1] = v
            head[kk] = v
            if kk > top0:
                top0 = kk
            rec[r + np.uint64(3)] = 0
            v = u
        rhead[b] = -1
        pick = -1
        if phase != 2:
            while top0 >= 0 and head[top0] < 0:
                top0 -= 1
            while top1 >= 0 and head[nk + top1] < 0:
                top1 -= 1
            pick = head[top0] if top0 >= 0 else -1
            v = head[nk + top1] if top1 >= 0 else -1
            if phase == 0:
                if v >= 0 and (pick < 0 or top1 > top0):
                    pick = v
                if pick < 0 or rec[4 * pick + 2] <= tol:
                    if value > best_value + tol:
                        best_value = value
                        best[:] = cur
                        state[1] = 0
                        if best_value >= target - tol:
                            break
                    else:
                        state[1] += 1
                    if abs(value - prev_optimum) <= tol:
                        state[2] = min(state[2] + 1, jump_hi)
                    else:
                        state[2] = jump_lo
                    prev_optimum = value
                    if state[1] > patience:
                        phase, left = 2, jump_hi
                        state[1] = 0
                    else:
                        p = max(np.exp(-state[1] / patience), p_directed)
                        rng = _xorshift_u64(rng)
                        phase = 1 if rng / 4294967296.0 < p else 2
                        left = state[2]
                    continue
            else:
                if v >= 0 and value + rec[4 * v + 2] > best_value + tol and (
                        pick < 0 or top1 > top0):
                    pick = v
        else:
            for _ in range(32):
                rng = _xorshift_u64(rng)
                pick = active[rng % np.uint64(n_active)]
                if rec[4 * pick + 3] == 0:
                    break
        if pick < 0:
            break
        if phase != 0:
            left -= 1
            if left <= 0:
                phase = 0
        xi = cur[pick]
        # unsigned indices (U1, U2, U4; also in the release loop above and for the pick below):
        # numba then emits no negative-index wraparound on these loads and stores (G64 10.1 ->
        # 11.3-12.1 Mflips/cpu-s); every index here is >= 0
        for k in range(np.uint64(indptr[pick]), np.uint64(indptr[pick + 1])):
            j = adj[U2 * k]
            r = U4 * np.uint64(j)
            old = rec[r + U2]
            new = old - 2 * adj[U2 * k + U1] * xi * cur[np.uint64(j)]
            rec[r + U2] = new
            hb = rec[r + np.uint64(3)]
            a = rec[r + U1]
            c = rec[r]
            if a >= 0:
                rec[U4 * np.uint64(a)] = c
            else:
                head[np.uint64(hb + old + span)] = c
            if c >= 0:
                rec[U4 * np.uint64(c) + U1] = a
            kn = new + span
            ukn = np.uint64(hb + kn)
            f = head[ukn]
            rec[r] = f
            rec[r + U1] = -1
            if f >= 0:
                rec[U4 * np.uint64(f) + U1] = j
            head[ukn] = j
            if hb == 0:
                if kn > top0:
                    top0 = kn
            elif kn > top1:
                top1 = kn
        r = U4 * np.uint64(pick)
        g = rec[r + U2]
        hb = rec[r + np.uint64(3)]
        a = rec[r + U1]
        c = rec[r]
        if a >= 0:
            rec[U4 * np.uint64(a)] = c
        else:
            head[hb + g + span] = c
        if c >= 0:
            rec[U4 * np.uint64(c) + U1] = a
        rec[r + U2] = -g
        cur[pick] = -xi
        value += g
        if hb != 0:
            s = rslot[pick]
            a = rlink[2 * pick + 1]
            c = rlink[2 * pick]
            if a >= 0:
                rlink[2 * a] = c
            else:
                rhead[s] = c
            if c >= 0:
                rlink[2 * c + 1] = a
        rec[r + np.uint64(3)] = nk
        kn = span - g
        f = head[nk + kn]
        rec[r] = f
        rec[r + U1] = -1
        if f >= 0:
            rec[U4 * np.uint64(f) + U1] = pick
        head[nk + kn] = pick
        if kn > top1:
            top1 = kn
        rng = _xorshift_u64(rng)
        s = b + 1 + tenure_lo + np.int64(rng % trange)
        if s >= ring:
            s -= ring
        rslot[pick] = s
        f = rhead[s]
        rlink[2 * pick] = f
        rlink[2 * pick + 1] = -1
        if f >= 0:
            rlink[2 * f + 1] = pick
        rhead[s] = pick
        t += 1
        b += 1
        if b == ring:
            b = 0
        if phase == 1 and value > best_value + tol:
            phase = 0
    state[0] = np.int64(rng)
    if value > best_value + tol:
        best_value = value
        best[:] = cur
    return best, best_value, cur, value, t
