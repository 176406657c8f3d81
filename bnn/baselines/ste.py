"""STE / BinaryConnect (Courbariaux, Bengio, David 2015) in the shared harness.

Each binary layer keeps real latent weights ``weight`` in [-1, 1]; the forward pass uses
``sign(weight)`` (sign(0) = +1, so weights are exactly ±1) and the backward pass is the
straight-through estimator (the gradient with respect to the sign is handed to the latent weight
unchanged). Adam updates the latent weights, which are clipped back to [-1, 1] after every step.
The deployed network is the sign of the latent weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from bnn.layers import sign_pm1


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w):
        return sign_pm1(w)

    @staticmethod
    def backward(ctx, grad):
        return grad  # straight through: the latent weights are clipped, so no cancellation needed


def sign_ste(w: torch.Tensor) -> torch.Tensor:
    """sign(w) in {-1, +1} forward, identity backward."""
    return _SignSTE.apply(w)


def _init_latent(weight: torch.Tensor, fan_in: int) -> None:
    # Glorot-style uniform init, clipped into the latent box (the scale is immaterial under sign
    # + BatchNorm, but it sets how many Adam steps a flip takes).
    bound = min(1.0, math.sqrt(6.0 / fan_in))
    nn.init.uniform_(weight, -bound, bound)


class STELinear(nn.Linear):
    """Linear layer, no bias, with ±1 weights sign(latent) and a straight-through backward."""

    binary = True

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(in_features, out_features, bias=False)
        with torch.no_grad():
            _init_latent(self.weight, in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, sign_ste(self.weight))

    def binary_weight(self) -> torch.Tensor:
        """The deployed ±1 weights."""
        return sign_pm1(self.weight)


class STEConv2d(nn.Conv2d):
    """Conv2d, no bias, with ±1 weights sign(latent) and a straight-through backward."""

    binary = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 padding: int = 0) -> None:
        super().__init__(in_channels, out_channels, kernel_size, padding=padding, bias=False)
        with torch.no_grad():
            _init_latent(self.weight, in_channels * kernel_size * kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, sign_ste(self.weight), None)

    def binary_weight(self) -> torch.Tensor:
        """The deployed ±1 weights."""
        return sign_pm1(self.weight)


def _clip_marked_groups(param_groups) -> None:
    """Clip the parameters of the groups marked ``clip=True`` to [-1, 1] (BinaryConnect's box)."""
    for group in param_groups:
        if group.get("clip", False):
            for p in group["params"]:
                p.clamp_(-1.0, 1.0)


class ClippedAdam(torch.optim.Adam):
    """Adam that clips the parameters of groups marked ``clip=True`` to [-1, 1] after each step."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = super().step(closure)
        _clip_marked_groups(self.param_groups)
        return loss


class ClippedSGD(torch.optim.SGD):
    """SGD that clips the parameters of groups marked ``clip=True`` to [-1, 1] after each step."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = super().step(closure)
        _clip_marked_groups(self.param_groups)
        return loss


def ste_optimizer(model: nn.Module, lr: float, lr_fp: float = 1e-3) -> ClippedAdam:
    """Adam on the latent weights (lr, clipped to [-1, 1]) and on full-precision parameters (lr_fp)."""
    latent = [m.weight for m in model.modules() if getattr(m, "binary", False)]
    ids = {id(p) for p in latent}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return ClippedAdam([
        {"params": latent, "lr": lr, "clip": True},
        {"params": rest, "lr": lr_fp, "clip": False},
    ])
