"""Kernels of general linear constraints on X = Y Y^T, stored on one sparsity pattern.

Every matrix of a general SDP (the cost C and all constraint matrices A_k) lives on one symmetric
pattern given by its upper-triangle positions (pi[p], pj[p]), pi[p] <= pj[p]. The work per solver
iteration is then linear in (pattern size) x r:

    x_p = <Y_{pi[p]}, Y_{pj[p]}>            (X on the pattern: `pattern_dots`)
    A(X) = Aw @ x                            (a sparse matvec, Aw with weight 2 off the diagonal)
    (S Y) for S symmetric with values s_p    (`pattern_matmat`)
"""

from numba import njit

from lowrank_sdp.kernels import FASTMATH


@njit(cache=True, fastmath=FASTMATH)
def pattern_dots(pi, pj, Y, out):
    """out[p] = <Y[pi[p]], Y[pj[p]]>: the entries of Y Y^T on the pattern."""
    r = Y.shape[1]
    for p in range(pi.shape[0]):
        i = pi[p]
        j = pj[p]
        s = 0.0
        for k in range(r):
            s += Y[i, k] * Y[j, k]
        out[p] = s
    return out


@njit(cache=True, fastmath=FASTMATH)
def pattern_matmat(pi, pj, vals, Y, out):
    """out = S @ Y for the symmetric S with S[pi, pj] = S[pj, pi] = vals (upper-triangle pattern)."""
    n, r = out.shape
    for i in range(n):
        for k in range(r):
            out[i, k] = 0.0
    for p in range(pi.shape[0]):
        i = pi[p]
        j = pj[p]
        v = vals[p]
        if v == 0.0:
            continue
        if i == j:
            for k in range(r):
                out[i, k] += v * Y[i, k]
        else:
            for k in range(r):
                out[i, k] += v * Y[j, k]
                out[j, k] += v * Y[i, k]
    return out
