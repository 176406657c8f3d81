"""lowrank_sdp: certified Burer-Monteiro solver for SDPs with a unit diagonal.

    minimize (or maximize) f(X)  subject to  diag(X) = 1,  X PSD,   X = Y Y^T,  Y in R^{n x r}, unit rows
"""

from lowrank_sdp.general import SDPResult
from lowrank_sdp.io.sdpa import read_sdpa_sdp as read_sdpa
from lowrank_sdp.io.wcnf import read_wcnf
from lowrank_sdp.maxcut import MaxCutResult, maxcut
from lowrank_sdp.maxsat import MaxSATResult, maxsat
from lowrank_sdp.objective import LinearObjective, Objective
from lowrank_sdp.partition import MaxKCutResult, max_bisection, max_k_cut
from lowrank_sdp.result import (
    BaseResult,
    Certificate,
    Evidence,
    IterationRecord,
    IterationState,
    Result,
    Status,
)
from lowrank_sdp.sdp import SDP
from lowrank_sdp.solve import barvinok_pataki_rank, certify, solve
from lowrank_sdp.solvers import METHODS

__all__ = [
    "METHODS",
    "SDP",
    "BaseResult",
    "Certificate",
    "Evidence",
    "IterationRecord",
    "IterationState",
    "LinearObjective",
    "MaxCutResult",
    "MaxKCutResult",
    "MaxSATResult",
    "Objective",
    "Result",
    "SDPResult",
    "Status",
    "barvinok_pataki_rank",
    "certify",
    "max_bisection",
    "max_k_cut",
    "maxcut",
    "maxsat",
    "read_sdpa",
    "read_wcnf",
    "solve",
]
__version__ = "0.1.0"
