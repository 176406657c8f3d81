"""The two benchmark architectures, built for a given method.

Every Linear and Conv2d layer is binary (±1 weights, no bias), the first and the last included;
what stays full precision is the same for every method: the BatchNorm layers (affine; a BatchNorm1d
after the last layer scales the logits) and the network's input (standardised pixels). With
``activations="binary"`` (W1A1) every hidden activation is sign(x) with a straight-through
(hardtanh) surrogate gradient; with ``"real"`` (W1A32) it is ReLU.

- ``mlp``: input → 512 → 512 → classes (784-512-512-10 on 28x28 images).
- ``cnn``: conv3x3(16) → maxpool2 → conv3x3(32) → maxpool2 → 256 → classes, each binary layer
  followed by BatchNorm and the activation (pooling before BatchNorm, as usual for BNNs).
- ``cnn-small``: the same at half the width, conv3x3(8) → maxpool2 → conv3x3(16) → maxpool2 →
  128 → classes (a grid of benchmarks that fits one CPU thread).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from lowrank_sdp.validation import check_choice, check_int

ARCHITECTURES = ("mlp", "cnn", "cnn-small")
METHODS = ("vispa", "ste", "bayesbinn")
ACTIVATIONS = ("binary", "real")


def _activation_factory(activations: str) -> Callable[[], nn.Module]:
    # The adapter's binary activation (sign, hardtanh surrogate) for every method alike.
    from bnn.layers import SignActivation

    return nn.ReLU if activations == "real" else SignActivation


def layer_factories(method: str, rank: int = 0, **options) -> tuple[Callable, Callable]:
    """(linear(in, out), conv(in, out, kernel, padding)) constructors of `method`'s binary layers."""
    if method == "ste":
        from bnn.baselines.ste import STEConv2d, STELinear

        return (lambda i, o: STELinear(i, o)), (lambda i, o, k, p: STEConv2d(i, o, k, padding=p))
    if method == "bayesbinn":
        from bnn.baselines.bayesbinn import BayesConv2d, BayesLinear

        return (
            lambda i, o: BayesLinear(i, o, **options),
            lambda i, o, k, p: BayesConv2d(i, o, k, padding=p, **options),
        )
    from bnn.layers import BinaryConv2d, BinaryLinear

    return (
        lambda i, o: BinaryLinear(i, o, rank=rank, **options),
        lambda i, o, k, p: BinaryConv2d(i, o, k, padding=p, rank=rank, **options),
    )


def build_model(
    arch: str,
    method: str,
    input_shape: tuple[int, int, int],
    num_classes: int,
    activations: str = "real",
    rank: int = 0,
    **layer_options,
) -> nn.Sequential:
    """`arch` ("mlp" | "cnn" | "cnn-small") with `method`'s binary layers ("vispa" | "ste" | "bayesbinn")."""
    check_choice(arch, ARCHITECTURES, "arch", "build_model")
    check_choice(method, METHODS, "method", "build_model")
    check_choice(activations, ACTIVATIONS, "activations", "build_model")
    check_int(rank, "rank", "build_model", 0)
    linear, conv = layer_factories(method, rank, **layer_options)
    act = _activation_factory(activations)
    c, h, w = input_shape
    if arch == "mlp":
        return nn.Sequential(
            nn.Flatten(),
            linear(c * h * w, 512), nn.BatchNorm1d(512), act(),
            linear(512, 512), nn.BatchNorm1d(512), act(),
            linear(512, num_classes), nn.BatchNorm1d(num_classes),
        )
    c1, c2, hidden = (8, 16, 128) if arch == "cnn-small" else (16, 32, 256)
    flat = c2 * (h // 4) * (w // 4)
    return nn.Sequential(
        conv(c, c1, 3, 1), nn.MaxPool2d(2), nn.BatchNorm2d(c1), act(),
        conv(c1, c2, 3, 1), nn.MaxPool2d(2), nn.BatchNorm2d(c2), act(),
        nn.Flatten(),
        linear(flat, hidden), nn.BatchNorm1d(hidden), act(),
        linear(hidden, num_classes), nn.BatchNorm1d(num_classes),
    )


def is_binary(module: nn.Module) -> bool:
    """True for a binary layer of any method (VISPA's BinaryLayer, STE's, BayesBiNN's)."""
    from bnn.layers import BinaryLayer

    return isinstance(module, BinaryLayer) or getattr(module, "binary", False)


def binary_layers(model: nn.Module) -> list[nn.Module]:
    """The model's binary layers, in order."""
    return [m for m in model.modules() if is_binary(m)]
