"""lowrank_sdp: certified Burer-Monteiro solver for SDPs with a unit diagonal.

    minimize (or maximize) f(X)  subject to  diag(X) = 1,  X PSD,   X = Y Y^T,  Y in R^{n x r}, unit rows
"""

from lowrank_sdp.result import Certificate, IterationRecord, Result, Status

__all__ = ["Certificate", "IterationRecord", "Result", "Status"]
__version__ = "0.1.0"
