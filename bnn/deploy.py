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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bnn.layers import BinaryLayer, SignActivation, binary_layers
from lowrank_sdp.validation import check_choice, check_int, invalid

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


# ---------------------------------------------------------------------------------------------
# Export: packed 1-bit weights plus float parts, and a NumPy reference forward pass.


@dataclass(frozen=True)
class Op:
    """One step of an exported network: its kind, arrays and settings."""

    kind: str
    arrays: dict[str, np.ndarray]
    attrs: dict[str, object]


@dataclass(frozen=True)
class Exported:
    """A deployable network: binary weights packed 8 to a byte (``np.packbits`` of w >= 0, in
    row-major order of the weight shape) and the float parts (float32 unless the model is
    float64)."""

    ops: tuple[Op, ...]
    dtype: str

    @property
    def binary_weights(self) -> int:
        return sum(int(np.prod(op.attrs["shape"])) for op in self.ops if "bits" in op.arrays)

    @property
    def nbytes(self) -> int:
        """Bytes of all arrays (packed bits + float parts)."""
        return sum(a.nbytes for op in self.ops for a in op.arrays.values())

    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` (arrays) with a JSON header (kinds and settings)."""
        import json

        arrays = {f"{i}/{k}": v for i, op in enumerate(self.ops) for k, v in op.arrays.items()}
        header = json.dumps({"dtype": self.dtype, "ops": [
            {"kind": op.kind, "arrays": sorted(op.arrays), "attrs": op.attrs} for op in self.ops]})
        path = Path(path)
        with open(path, "wb") as f:
            np.savez_compressed(f, __header__=np.frombuffer(header.encode(), np.uint8), **arrays)
        return path


def load_export(path: str | Path) -> Exported:
    """Read what :meth:`Exported.save` wrote."""
    import json

    with np.load(path, allow_pickle=False) as z:
        header = json.loads(bytes(z["__header__"]).decode())
        ops = tuple(
            Op(o["kind"], {k: z[f"{i}/{k}"] for k in o["arrays"]},
               {k: tuple(v) if isinstance(v, list) else v for k, v in o["attrs"].items()})
            for i, o in enumerate(header["ops"]))
    return Exported(ops, header["dtype"])


def _leaves(module: nn.Module) -> list[nn.Module]:
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in _leaves(child)]
    return [module]


def _np(t: torch.Tensor | None, dtype: np.dtype) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().numpy().astype(dtype)


def _pack(w: torch.Tensor) -> np.ndarray:
    return np.packbits((w.detach().cpu().numpy() >= 0).reshape(-1))


def _binary_weight(m: nn.Module) -> torch.Tensor | None:
    """The ±1 weights `m` deploys, or None for a full-precision layer: a binary layer's (its
    current eval mode), a baseline's (a layer flagged ``binary`` with ``binary_weight()``, e.g.
    STE's sign(latent), BayesBiNN's sign(λ)), or a Linear/Conv2d whose weights are all exactly ±1
    (a deployed network built of plain layers), packed without loss."""
    if isinstance(m, BinaryLayer) or (getattr(m, "binary", False) and hasattr(m, "binary_weight")):
        return m.binary_weight().detach()
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        w = m.weight.detach()
        if bool(((w == 1) | (w == -1)).all()):
            return w
    return None


def _conv_attrs(m: nn.Module) -> dict:
    if isinstance(m, nn.Conv2d) and (m.groups != 1 or m.padding_mode != "zeros"
                                     or isinstance(m.padding, str)):
        raise invalid("model", "export", "Conv2d layers with groups=1 and numeric zero padding",
                      f"<{m}>")
    return {k: _two(getattr(m, k, 1 if k != "padding" else 0))
            for k in ("stride", "padding", "dilation")}


def export(model: nn.Module) -> Exported:
    """Export an ``nn.Sequential`` (nested allowed) of binary layers, ``nn.Linear``,
    ``nn.Conv2d``, BatchNorm1d/2d, :class:`SignActivation`, ReLU, Hardtanh, MaxPool2d, Flatten,
    Dropout and Identity. Binary weights are packed 1 bit each: those of binary layers (their
    current eval mode; a model from :func:`harden` exports its fixed weights), of layers flagged
    ``binary`` that have ``binary_weight()`` (the STE and BayesBiNN baselines), and of any
    Linear/Conv2d whose weights are all exactly ±1 (the baselines' deployed networks). The model
    should be in eval mode's state (running BatchNorm statistics are used)."""
    dtype = np.float64 if _dtype(model) == torch.float64 else np.float32
    ops = []
    for m in _leaves(model):
        w = _binary_weight(m)
        if w is not None:
            arrays = {"bits": _pack(w)}
            bias = getattr(m, "bias", None)
            if isinstance(bias, torch.Tensor):
                arrays["bias"] = _np(bias, dtype)
            attrs = {"shape": tuple(w.shape), "binary_input": bool(getattr(m, "binary_input", False))}
            if w.dim() == 4:
                attrs.update(_conv_attrs(m))
                ops.append(Op("binary_conv2d", arrays, attrs))
            else:
                ops.append(Op("binary_linear", arrays, attrs))
        elif isinstance(m, (nn.Linear, nn.Conv2d)):
            arrays = {"weight": _np(m.weight, dtype)}
            if m.bias is not None:
                arrays["bias"] = _np(m.bias, dtype)
            if isinstance(m, nn.Linear):
                ops.append(Op("linear", arrays, {}))
            else:
                ops.append(Op("conv2d", arrays, _conv_attrs(m)))
        elif isinstance(m, _BN):
            if not m.track_running_stats:
                raise invalid("model", "export", "BatchNorm with running statistics", f"<{m}>")
            ones = torch.ones_like(m.running_mean)
            arrays = {"mean": _np(m.running_mean, dtype), "var": _np(m.running_var, dtype),
                      "weight": _np(m.weight if m.affine else ones, dtype),
                      "bias": _np(m.bias if m.affine else 0 * ones, dtype)}
            ops.append(Op("batchnorm", arrays, {"eps": float(m.eps)}))
        elif isinstance(m, SignActivation):
            ops.append(Op("sign", {}, {}))
        elif isinstance(m, nn.ReLU):
            ops.append(Op("relu", {}, {}))
        elif isinstance(m, nn.Hardtanh):
            ops.append(Op("hardtanh", {}, {"min": float(m.min_val), "max": float(m.max_val)}))
        elif isinstance(m, nn.MaxPool2d):
            if m.dilation not in (1, (1, 1)) or m.ceil_mode:
                raise invalid("model", "export", "MaxPool2d without dilation or ceil_mode",
                              f"<{m}>")
            ops.append(Op("maxpool2d", {}, {"kernel": _two(m.kernel_size),
                                            "stride": _two(m.stride or m.kernel_size),
                                            "padding": _two(m.padding)}))
        elif isinstance(m, nn.Flatten):
            if m.end_dim != -1:
                raise invalid("model", "export", "Flatten with end_dim=-1", f"<{m}>")
            ops.append(Op("flatten", {}, {"start_dim": int(m.start_dim)}))
        elif isinstance(m, (nn.Dropout, nn.Identity)):
            continue
        else:
            raise invalid("model", "export", "an nn.Sequential of supported layers (see "
                          "bnn.export)", f"<{type(m).__name__}>")
    return Exported(tuple(ops), np.dtype(dtype).name)


def _two(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _unpack(op: Op, dtype) -> np.ndarray:
    shape = op.attrs["shape"]
    bits = np.unpackbits(op.arrays["bits"], count=int(np.prod(shape))).reshape(shape)
    return bits.astype(dtype) * 2 - 1


def _fma(a: np.ndarray, b: np.ndarray, c: np.ndarray, dtype) -> np.ndarray:
    """a·b + c rounded once to `dtype` (float32: the product of two float32 is exact in float64,
    so only the final rounding remains, as in a fused multiply-add)."""
    if np.dtype(dtype) == np.float64:
        return a * b + c  # no exact emulation needed in this path: float64 models
    wide = a.astype(np.float64) * b.astype(np.float64) + c.astype(np.float64)
    return wide.astype(np.float32)


def _is_integral(x: np.ndarray, fan_in: int) -> bool:
    # Sums of integers below 2**24 are exact in float32 whatever the order: the binary path.
    return bool(np.all(x == np.round(x)) and np.abs(x).max(initial=0) * fan_in < 2**24)


def _windows(x: np.ndarray, kh: int, kw: int, stride, padding, dilation) -> np.ndarray:
    """(N, C, H, W) -> (N, Ho, Wo, C, kh, kw) patches with zero padding."""
    x = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    ekh, ekw = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    win = np.lib.stride_tricks.sliding_window_view(x, (ekh, ekw), axis=(2, 3))
    win = win[:, :, ::stride[0], ::stride[1], ::dilation[0], ::dilation[1]]
    return win.transpose(0, 2, 3, 1, 4, 5)


def _matmul(x: np.ndarray, w: np.ndarray, dtype) -> np.ndarray:
    """x @ w.T over the last axis; exact integer arithmetic when the inputs allow it."""
    if _is_integral(x, w.shape[1]):
        return (x.astype(np.int64) @ w.astype(np.int64).T).astype(dtype)
    return (x.astype(dtype) @ w.astype(dtype).T).astype(dtype)


def reference_forward(exported: Exported, x: np.ndarray) -> np.ndarray:
    """Run `exported` on `x` with NumPy only; returns the logits.

    Binary layers compute with exact integer arithmetic whenever their input is integral (±1
    activations, zero padding), so on the ±1 path the result equals PyTorch's bit for bit;
    BatchNorm follows PyTorch's CPU kernel (α = γ/√(σ² + ε), β = b − μα, y = xα + β with fused
    multiply-adds). Full-precision layers on real inputs agree with PyTorch to rounding only.
    """
    dtype = np.dtype(exported.dtype)
    x = np.asarray(x, dtype=dtype)
    for op in exported.ops:
        a, kind = op.arrays, op.kind
        if kind in ("binary_linear", "linear", "binary_conv2d", "conv2d"):
            w = _unpack(op, dtype) if "bits" in a else a["weight"]
            if op.attrs.get("binary_input"):
                x = np.where(x >= 0, 1, -1).astype(dtype)
            if kind.endswith("linear"):
                x = _matmul(x, w, dtype)
            else:
                o, _, kh, kw = w.shape
                win = _windows(x, kh, kw, op.attrs["stride"], op.attrs["padding"],
                               op.attrs["dilation"])
                n, ho, wo = win.shape[:3]
                x = _matmul(win.reshape(n * ho * wo, -1), w.reshape(o, -1), dtype)
                x = x.reshape(n, ho, wo, o).transpose(0, 3, 1, 2)
            if "bias" in a:
                shape = (1, -1) + (1,) * (x.ndim - 2)
                x = (x + a["bias"].reshape(shape)).astype(dtype)
        elif kind == "batchnorm":
            shape = (1, -1) + (1,) * (x.ndim - 2)
            invstd = (dtype.type(1) / np.sqrt(a["var"] + dtype.type(op.attrs["eps"])))
            alpha = (a["weight"] * invstd).astype(dtype)
            beta = _fma(-a["mean"], alpha, a["bias"], dtype)
            x = _fma(x, alpha.reshape(shape), beta.reshape(shape), dtype)
        elif kind == "sign":
            x = np.where(x >= 0, 1, -1).astype(dtype)
        elif kind == "relu":
            x = np.maximum(x, 0).astype(dtype)
        elif kind == "hardtanh":
            x = np.clip(x, op.attrs["min"], op.attrs["max"]).astype(dtype)
        elif kind == "maxpool2d":
            (kh, kw), stride, pad = op.attrs["kernel"], op.attrs["stride"], op.attrs["padding"]
            xp = np.pad(x, ((0, 0), (0, 0), (pad[0],) * 2, (pad[1],) * 2),
                        constant_values=-np.inf)
            win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
            x = win[:, :, ::stride[0], ::stride[1]].max(axis=(-2, -1)).astype(dtype)
        elif kind == "flatten":
            x = x.reshape(*x.shape[:op.attrs["start_dim"]], -1)
    return x
