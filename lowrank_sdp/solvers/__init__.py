"""Local methods at a fixed rank, behind one registry.

Each method is a function ``(problem, Y0, options, monitor) -> InnerResult``. The front door
(`lowrank_sdp.solve`) wraps them with the certificate and the rank staircase.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lowrank_sdp.solvers._common import InnerOptions, InnerResult, Monitor
from lowrank_sdp.solvers.lbfgs import lbfgs
from lowrank_sdp.solvers.mixing import mixing
from lowrank_sdp.solvers.rgd import rgd
from lowrank_sdp.solvers.trust_region import trust_region


@dataclass(frozen=True)
class Method:
    name: str
    run: Callable
    linear_only: bool
    summary: str


METHODS: dict[str, Method] = {
    "rgd": Method("rgd", rgd, False, "Riemannian gradient descent, BB step, nonmonotone Armijo"),
    "lbfgs": Method("lbfgs", lbfgs, False, "Riemannian L-BFGS with Armijo backtracking"),
    "mixing": Method("mixing", mixing, True, "block-coordinate mixing sweep (linear objectives)"),
    "tr": Method("tr", trust_region, True, "Riemannian trust region, truncated CG (linear objectives)"),
}

MEASURED_CHOICE = Path(__file__).with_name("method_choice.json")
"""Written by benchmarks/methods.py: the fastest method per problem class, with its timings."""

FALLBACK = {"sparse": "rgd", "dense": "rgd", "operator": "rgd", "nonlinear": "rgd"}


def problem_class(problem) -> str:
    objective = problem.objective
    if not objective.linear:
        return "nonlinear"
    if objective.csr is not None:
        return "sparse"
    if objective.dense is not None:
        return "dense"
    return "operator"


def choose_method(problem) -> str:
    """The method that measured fastest for this class of problem (benchmarks/methods.py)."""
    kind = problem_class(problem)
    try:
        table = json.loads(MEASURED_CHOICE.read_text())["choice"]
        name = table[kind]
    except (OSError, KeyError, ValueError):
        name = FALLBACK[kind]
    if METHODS[name].linear_only and kind in ("operator", "nonlinear"):
        name = FALLBACK[kind]
    return name


__all__ = ["METHODS", "InnerOptions", "InnerResult", "Method", "Monitor", "choose_method"]
