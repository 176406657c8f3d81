"""bnn: binary-weight neural networks trained as a low-rank SDP relaxation (VISPA).

Each weight i of a binary layer owns a unit row y_i = (mu_i, z_i) of the layer's factor; the
forward pass uses sign(Y xi), xi = (1, g), g ~ N(0, I_K). See docs/bnn.md.

    model = nn.Sequential(bnn.BinaryLinear(784, 512, rank=4), nn.BatchNorm1d(512),
                          bnn.SignActivation(), bnn.BinaryLinear(512, 10, rank=4))
    opt = bnn.RiemannianAdam(bnn.param_groups(model, lr=1e-3, factor_lr=1e-2))
"""

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
    "NonFiniteError",
    "RiemannianAdam",
    "RiemannianSGD",
    "SignActivation",
    "binarize",
    "binary_layers",
    "is_factor",
    "param_groups",
    "resample",
    "set_mode",
]
from bnn.deploy import (  # noqa: E402
    Candidate,
    Evaluation,
    Hardened,
    evaluate,
    harden,
    recalibrate_bn,
)

__all__ += ["Candidate", "Evaluation", "Hardened", "evaluate", "harden", "recalibrate_bn"]
from bnn.checkpoint import Checkpoint, load_checkpoint, save_checkpoint  # noqa: E402

__all__ += ["Checkpoint", "load_checkpoint", "save_checkpoint"]
from bnn.deploy import Exported, export, load_export, reference_forward  # noqa: E402

__all__ += ["Exported", "export", "load_export", "reference_forward"]
