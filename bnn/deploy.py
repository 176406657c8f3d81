"""From a trained factor model to the binary network that gets deployed.

Eval modes (always named in what is reported, see :class:`Evaluation`):

- ``"mean"``: sign(mu), one deterministic binary network;
- ``"sample"``: one sampled binary network sign(Y xi);
- ``"ensemble"``: logits averaged over L sampled networks;
- ``"harden"``: the network :func:`harden` chose (best of k sampled networks on held-out data,
  BatchNorm statistics recalibrated for its binary weights).

:func:`export` turns a hardened (or any all-binary-weights) model into packed 1-bit weights plus the
float parts, and :func:`reference_forward` runs it with NumPy alone.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bnn._checks import check_choice, check_int, invalid
from bnn.layers import BinaryLayer, SignActivation, binary_layers

EVAL_MODES = ("mean", "sample", "ensemble", "harden")

_BN = (nn.BatchNorm1d, nn.BatchNorm2d)


def _device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    return torch.device("cpu")


def _dtype(model: nn.Module) -> torch.dtype:
    for t in model.parameters():
        if t.is_floating_point():
            return t.dtype
    return torch.get_default_dtype()


def _inputs(x: torch.Tensor, model: nn.Module) -> torch.Tensor:
    x = torch.as_tensor(x)
    return x.to(_device(model), _dtype(model) if x.is_floating_point() else None)


@torch.no_grad()
def recalibrate_bn(
    model: nn.Module, batches: Iterable, max_batches: int | None = None
) -> nn.Module:
    """Recompute every BatchNorm's running statistics for the model's current binary weights.

    Runs the inputs of `batches` (an iterable of ``(inputs, targets)`` or of inputs) through the
    model with only the BatchNorm layers in training mode and cumulative averaging; binary layers
    in mode ``"train"`` use sign(mu) meanwhile. Returns `model` (changed in place), in eval mode.
    """
    bns = [m for m in model.modules() if isinstance(m, _BN) and m.track_running_stats]
    saved_momentum = [m.momentum for m in bns]
    saved_modes = [(layer, layer.mode) for layer in binary_layers(model)]
    for layer, mode in saved_modes:
        if mode in ("train", "relaxed"):
            layer.mode = "mean"
    model.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batches
        m.train()
    try:
        for i, batch in enumerate(batches):
            if max_batches is not None and i >= max_batches:
                break
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            model(_inputs(x, model))
    finally:
        for m, mom in zip(bns, saved_momentum):
            m.momentum = mom
            m.eval()
        for layer, mode in saved_modes:
            layer.mode = mode
    return model


@dataclass(frozen=True)
class Evaluation:
    """Accuracy and mean cross-entropy of one eval mode on a data set."""

    mode: str
    accuracy: float
    loss: float
    samples: int  # networks whose logits were averaged (1 except for "ensemble")
    count: int  # examples evaluated


def _network(model: nn.Module, kind: str, stream: int, calibration: Iterable | None) -> nn.Module:
    """A copy of `model` whose binary layers use the mean (kind "mean") or sampled weights."""
    net = copy.deepcopy(model)
    for j, layer in enumerate(binary_layers(net)):
        if kind == "mean":
            layer.mode = "mean"
        else:
            layer.resample(stream * 7919 + j)
            layer.mode = "sample"
    if calibration is not None:
        recalibrate_bn(net, calibration)
    return net.eval()


@torch.no_grad()
def _logits(net: nn.Module, batches: Iterable) -> tuple[torch.Tensor, torch.Tensor]:
    outs, targets = [], []
    for x, y in batches:
        outs.append(net(_inputs(x, net)).double().cpu())
        targets.append(torch.as_tensor(y).cpu())
    return torch.cat(outs), torch.cat(targets)


def _score(logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    acc = float((logits.argmax(1) == y).double().mean())
    return acc, float(F.cross_entropy(logits, y))


def evaluate(
    model: nn.Module,
    batches: Iterable,
    mode: str = "mean",
    samples: int = 8,
    seed: int = 0,
    calibration: Iterable | None = None,
) -> Evaluation:
    """Accuracy of `model` on `batches` (re-iterable ``(inputs, targets)``) in eval `mode`.

    ``"sample"`` uses sampled network `seed`; ``"ensemble"`` averages the logits of `samples`
    networks (streams seed, seed + 1, ...); ``"harden"`` needs a model whose binary layers are
    all in mode ``"fixed"`` (from :func:`harden`). With `calibration` batches, BatchNorm
    statistics are recalibrated for each network first. The model itself is not changed.
    """
    check_choice(mode, EVAL_MODES, "mode", "evaluate")
    samples = check_int(samples, "samples", "evaluate", 1)
    batches = list(batches) if not isinstance(batches, (list, tuple)) else batches
    if mode == "harden":
        layers = list(binary_layers(model))
        if not layers or any(layer.mode != "fixed" for layer in layers):
            raise invalid("model", "evaluate", 'a hardened model (bnn.harden(...).model) for '
                          'mode "harden"', "<a model whose binary layers are not all fixed>")
        net = copy.deepcopy(model)
        if calibration is not None:
            recalibrate_bn(net, calibration)
        logits, y = _logits(net.eval(), batches)
        return Evaluation(mode, *_score(logits, y), 1, len(y))
    if mode == "mean":
        logits, y = _logits(_network(model, "mean", 0, calibration), batches)
        return Evaluation(mode, *_score(logits, y), 1, len(y))
    count = samples if mode == "ensemble" else 1
    total = None
    for j in range(count):
        logits, y = _logits(_network(model, "sample", seed + j, calibration), batches)
        total = logits if total is None else total + logits
    return Evaluation(mode, *_score(total / count, y), count, len(y))


@dataclass(frozen=True)
class Candidate:
    """One network considered by :func:`harden` and its held-out score."""

    label: str  # "mean" or "sample <stream>"
    accuracy: float
    loss: float


@dataclass(frozen=True)
class Hardened:
    """The result of :func:`harden`: the chosen network and every candidate's score."""

    model: nn.Module  # a copy with every binary layer in mode "fixed"
    chosen: Candidate
    candidates: tuple[Candidate, ...]


def harden(
    model: nn.Module,
    calibration: Iterable,
    validation: Iterable,
    k: int = 8,
    seed: int = 0,
    include_mean: bool = True,
) -> Hardened:
    """Choose the deployed binary network: the best of `k` sampled networks (and the mean one
    when `include_mean`) by accuracy on `validation` (ties: lower loss), each with its BatchNorm
    statistics recalibrated on `calibration` for its own binary weights.

    Both data arguments are re-iterable ``(inputs, targets)`` batches. `model` is not changed;
    the returned model is a copy whose binary layers hold the chosen ±1 weights (mode "fixed").
    """
    k = check_int(k, "k", "harden", 0 if include_mean else 1)
    if not any(True for _ in binary_layers(model)):
        raise invalid("model", "harden", "a model with binary layers", "<a model without any>")
    calibration = list(calibration)
    validation = list(validation)
    best, best_key, candidates = None, None, []
    plans = ([("mean", 0)] if include_mean else []) + [("sample", seed * 1_000_003 + j)
                                                       for j in range(k)]
    for kind, stream in plans:
        net = _network(model, kind, stream, None)
        for layer in binary_layers(net):
            layer.fix()
        recalibrate_bn(net, calibration)
        acc, loss = _score(*_logits(net, validation))
        cand = Candidate("mean" if kind == "mean" else f"sample {stream}", acc, loss)
        candidates.append(cand)
        key = (acc, -loss)
        if best_key is None or key > best_key:
            best, best_key, chosen = net, key, cand
    return Hardened(best, chosen, tuple(candidates))
