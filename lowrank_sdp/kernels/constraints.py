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


# No fastmath here: these two replace numpy/scipy calls of the augmented Lagrangian (scipy's
# csr_matvec, np.outer then +=) operation for operation, so the iterates stay bit for bit the same.
@njit(cache=True)
def csr_matvec(indptr, indices, data, x, out):
    """out = A @ x for A in CSR form, each row summed in storage order (as scipy's csr_matvec)."""
    for i in range(indptr.shape[0] - 1):
        s = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            s += data[p] * x[indices[p]]
        out[i] = s
    return out


@njit(cache=True)
def add_outer_doubled(out, a, b):
    """out <- 2 (out + a b^T) in place, in one pass (the gradient's rank-one cost term)."""
    n, r = out.shape
    for i in range(n):
        ai = a[i]
        for k in range(r):
            out[i, k] = (out[i, k] + ai * b[k]) * 2.0
    return out
