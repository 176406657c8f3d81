"""bnn: binary-weight neural networks trained as a low-rank SDP relaxation (VISPA).

Each weight i of a binary layer owns a unit row y_i = (mu_i, z_i) of the layer's factor; the
forward pass uses sign(Y xi), xi = (1, g), g ~ N(0, I_K). See docs/bnn.md.

    model = nn.Sequential(bnn.BinaryLinear(784, 512, rank=4), nn.BatchNorm1d(512),
                          bnn.SignActivation(), bnn.BinaryLinear(512, 10, rank=4))
    opt = bnn.RiemannianAdam(bnn.param_groups(model, lr=1e-3, factor_lr=1e-2))

bnn needs PyTorch (the ``torch`` extra); the Riemannian optimizers and the torch oblique manifold
are the core's (:mod:`lowrank_sdp.torch`), re-exported here.
"""

try:
    import torch as _torch  # noqa: F401  (only to fail early, with the extra to install)
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without torch
    raise ImportError(
        "bnn needs PyTorch, which is not installed: pip install lowrank_sdp[torch] (for a CPU-only "
        "build, install torch first from https://download.pytorch.org/whl/cpu)") from exc

from bnn import relaxation
from bnn.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from bnn.deploy import (
    Candidate,
    Evaluation,
    Exported,
    Hardened,
    evaluate,
    export,
    harden,
    load_export,
    recalibrate_bn,
    reference_forward,
)
from bnn.layers import (
    BinaryConv2d,
    BinaryLayer,
    BinaryLinear,
    SignActivation,
    binarize,
    binary_layers,
    resample,
    set_mode,
)
from bnn.optim import (
    NonFiniteError,
    RiemannianAdam,
    RiemannianSGD,
    is_factor,
    param_groups,
)

__all__ = [
    "BinaryConv2d",
    "BinaryLayer",
    "BinaryLinear",
    "Candidate",
    "Checkpoint",
    "Evaluation",
    "Exported",
    "Hardened",
    "NonFiniteError",
    "RiemannianAdam",
    "RiemannianSGD",
    "SignActivation",
    "binarize",
    "binary_layers",
    "evaluate",
    "export",
    "harden",
    "is_factor",
    "load_checkpoint",
    "load_export",
    "param_groups",
    "recalibrate_bn",
    "reference_forward",
    "relaxation",
    "resample",
    "save_checkpoint",
    "set_mode",
]
