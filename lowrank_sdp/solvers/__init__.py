"""Local methods at a fixed rank, behind one registry and one contract.

Each method is a function ``(problem, Y0, options, monitor) -> InnerResult`` (the contract is spelled
out in `lowrank_sdp.solvers._common`, and a callable with this signature may be passed as
``solve(method=...)``, after scipy.optimize's custom methods). The front door (`lowrank_sdp.solve`)
wraps them with the certificate and the rank staircase.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lowrank_sdp.problem import Problem
from lowrank_sdp.solvers._common import InnerOptions, InnerResult, Monitor
from lowrank_sdp.solvers.lbfgs import lbfgs
from lowrank_sdp.solvers.method_table import MEASURED
from lowrank_sdp.solvers.mixing import mixing
from lowrank_sdp.solvers.rgd import rgd
from lowrank_sdp.solvers.trust_region import trust_region
from lowrank_sdp.validation import invalid

MethodFunction = Callable[[Problem, np.ndarray, InnerOptions, Monitor], InnerResult]
"""The signature of a method, built in or passed as ``solve(method=...)``."""


@dataclass(frozen=True)
class Method:
    name: str
    run: Callable[..., InnerResult]
    needs_linear: bool
    """Only for f(X) = <C, X> (a `LinearObjective`, or C itself)."""
    needs_matrix: bool
    """Only for C given as an explicit dense array or sparse matrix (not a LinearOperator)."""
    summary: str

    def refusal(self, problem: Problem) -> str | None:
        """Why this method cannot run `problem`, or None when it can."""
        if self.needs_linear and not problem.objective.linear:
            return f"needs a linear objective <C, X>; for a nonlinear Objective use {_general()}"
        if self.needs_matrix and getattr(problem.objective, "operator", None) is not None:
            return ("needs C as an explicit array or sparse matrix; for a LinearOperator use "
                    f"{_linear_ok()}")
        return None


METHODS: dict[str, Method] = {
    "rgd": Method("rgd", rgd, False, False, "Riemannian gradient descent, BB step, nonmonotone Armijo"),
    "lbfgs": Method("lbfgs", lbfgs, False, False, "Riemannian L-BFGS with Armijo backtracking"),
    "mixing": Method("mixing", mixing, True, True,
                     "block-coordinate mixing sweep, over-relaxed (linear objectives, explicit C)"),
    "tr": Method("tr", trust_region, True, False,
                 "Riemannian trust region, truncated CG, exact Hessian (linear objectives)"),
}


def _quoted(names) -> str:
    return ", ".join(f'"{m}"' for m in names)


def _general() -> str:
    return _quoted(m for m, spec in METHODS.items() if not spec.needs_linear)


def _linear_ok() -> str:
    return _quoted(m for m, spec in METHODS.items() if not spec.needs_matrix)


FALLBACK = {"sparse": "rgd", "dense": "rgd", "operator": "rgd", "nonlinear": "rgd"}


def problem_class(problem: Problem) -> str:
    """"sparse", "dense", "operator" or "nonlinear": the classes the method choice is measured on."""
    objective = problem.objective
    if not objective.linear:
        return "nonlinear"
    if objective.csr is not None:
        return "sparse"
    if objective.dense is not None:
        return "dense"
    return "operator"


def choose_method(problem: Problem, table: dict | None = None) -> str:
    """The method that measured fastest for this class of problem (`method_table.MEASURED`)."""
    kind = problem_class(problem)
    name = ((table or MEASURED).get("choice") or {}).get(kind, FALLBACK[kind])
    if name not in METHODS or METHODS[name].refusal(problem) is not None:
        name = FALLBACK[kind]
    return name


def resolve_method(method, problem: Problem, func: str = "solve") -> tuple[str, Callable[..., InnerResult]]:
    """(name, function) for `method`: "auto", a registered name, or a callable (custom method)."""
    if callable(method):
        return getattr(method, "__name__", type(method).__name__), method
    if not isinstance(method, str) or (method != "auto" and method not in METHODS):
        names = _quoted(("auto", *METHODS))
        raise invalid("method", func, f"one of {names}, or a callable (problem, Y, options, monitor) "
                      "-> InnerResult", method)
    name = choose_method(problem) if method == "auto" else method
    why = METHODS[name].refusal(problem)
    if why is not None:
        raise invalid("method", func, f"a method that can run this problem ({name!r} {why})", name)
    return name, METHODS[name].run


__all__ = [
    "METHODS",
    "InnerOptions",
    "InnerResult",
    "Method",
    "MethodFunction",
    "Monitor",
    "choose_method",
    "problem_class",
    "resolve_method",
]
