"""Baselines for the VISPA adapter, in the same harness and models: STE/BinaryConnect, BayesBiNN."""

from bnn.baselines.bayesbinn import BayesBiNN, BayesConv2d, BayesLinear
from bnn.baselines.ste import ClippedAdam, ClippedSGD, STEConv2d, STELinear, sign_ste, ste_optimizer

__all__ = [
    "BayesBiNN",
    "BayesConv2d",
    "BayesLinear",
    "ClippedAdam",
    "ClippedSGD",
    "STEConv2d",
    "STELinear",
    "sign_ste",
    "ste_optimizer",
]
