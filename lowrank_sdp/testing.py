"""Independent references for tests: the same SDP solved by cvxpy (interior point / SCS).

Only for small n (cvxpy builds a dense n x n PSD variable). Needs the ``cvxpy`` extra.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from lowrank_sdp.problem import validate_matrix
from lowrank_sdp.validation import check_choice


def solve_cvxpy(C, sense: str = "min", solver: str | None = None, eps: float = 1e-9) -> float:
    """Optimal value of min/max <C, X> s.t. diag(X) = 1, X PSD, computed by cvxpy.

    `solver` defaults to Clarabel (interior point, accurate) and falls back to SCS.
    """
    import cvxpy as cp

    check_choice(sense, ("min", "max"), "sense", "solve_cvxpy")
    C = validate_matrix(C, "solve_cvxpy")
    C = C.toarray() if sp.issparse(C) else np.asarray(C, dtype=np.float64)
    n = C.shape[0]
    X = cp.Variable((n, n), PSD=True)
    objective = cp.trace(C @ X)
    problem = cp.Problem(cp.Minimize(objective) if sense == "min" else cp.Maximize(objective),
                         [cp.diag(X) == 1])
    chosen = solver or ("CLARABEL" if "CLARABEL" in cp.installed_solvers() else "SCS")
    kwargs = {"eps": eps} if chosen == "SCS" else {}
    problem.solve(solver=chosen, **kwargs)
    if problem.status not in ("optimal", "optimal_inaccurate"):
        raise RuntimeError(f"cvxpy/{chosen} did not solve the reference problem: {problem.status}")
    return float(problem.value)


def brute_force_maxcut(W: np.ndarray) -> float:
    """Maximum cut of a small weighted graph (n <= 20) by enumeration."""
    W = np.asarray(W, dtype=np.float64)
    n = W.shape[0]
    if n > 20:
        raise ValueError(f"The 'W' parameter of brute_force_maxcut must have n <= 20; got n = {n}.")
    L = np.diag(W.sum(axis=1)) - W
    best = 0.0
    for mask in range(1 << max(n - 1, 0)):  # vertex n-1 fixed on one side (symmetry)
        x = np.array([1.0 if mask >> i & 1 else -1.0 for i in range(n - 1)] + [1.0])
        best = max(best, float(x @ L @ x) / 4.0)
    return best
