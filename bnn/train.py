"""Train a binary network with VISPA or a baseline: ``python -m bnn.train`` and :func:`train`.

    python -m bnn.train --dataset fashion-mnist --model mlp --method vispa --rank 4 --epochs 5 --json

One harness for every method: the same data splits, models (bnn.models), minibatch order, cosine
learning-rate schedule, Adam for the full-precision (BatchNorm) parameters, and evaluation. The
validation split chooses the epoch (the best validation accuracy of the most probable binary
network, eval mode "mean"); the test set is evaluated once, at the end, for each reported number
(``--eval-mode``, default the deployed network, and any ``--extra-eval-modes``).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from bnn.checkpoint import load_checkpoint, save_checkpoint
from bnn.data import Splits, load_dataset
from bnn.models import (
    ACTIVATIONS,
    ARCHITECTURES,
    METHODS,
    binary_layers,
    build_model,
    is_binary,
)
from lowrank_sdp.validation import check_choice, check_int, invalid

EVAL_MODES = ("harden", "ensemble", "mean", "sample")

#: Each method's default learning rate for its binary weights (chosen on the validation split).
DEFAULT_LR = {"ste": 1e-2, "bayesbinn": 1e-2, "vispa": 1e-2}
#: VISPA's recipes: "adapter" (this package's, RiemannianAdam on the oblique manifold); "paper"
#: (the published recipe as its code behaves) and "sphere" (the same, rows kept on the sphere):
#: see bnn.layers. The last two train every parameter with one SGD (momentum 0.9, weight decay).
RECIPES = ("adapter", "paper", "sphere")
#: The paper recipe's learning rate (not stated by the issue; chosen on validation, see
#: benchmarks/bnn_tune.py), and the published batch size, warm-up epochs,
#: ensemble size and weight decay per setting.
PAPER_LR = 1.0
PAPER_BATCH = 256
PAPER_WARMUP = 5
PAPER_SAMPLES = 40
PAPER_WEIGHT_DECAY = {"real": 5e-4, "binary": 1e-5}


@dataclass
class TrainConfig:
    """Everything that defines a run (the command's options, one to one)."""

    dataset: str = "digits"
    data_dir: str | None = None
    model: str = "mlp"
    method: str = "vispa"
    rank: int = 4
    recipe: str = "adapter"  # VISPA only: "adapter" | "paper" | "sphere" (see RECIPES)
    epochs: int = 5
    batch_size: int | None = None  # None: 256 for the paper/sphere recipes, else 100
    lr: float | None = None  # None: DEFAULT_LR[method] (PAPER_LR for the paper/sphere recipes)
    lr_fp: float = 1e-3  # Adam's rate for the full-precision (BatchNorm) parameters
    seed: int = 0
    activations: str = "real"
    eval_mode: str = "harden"
    eval_samples: int | None = None  # None: 40 for the paper/sphere recipes, else 8
    # paper/sphere recipes: SGD weight decay (None: PAPER_WEIGHT_DECAY) and warm-up epochs
    # (None: PAPER_WARMUP; the other recipes and methods: 0)
    weight_decay: float | None = None
    warmup_epochs: int | None = None
    # STE only: "adam" (ClippedAdam on the latent weights, Adam on the rest) or "sgd" (the paper
    # recipe's schedule: one SGD, momentum 0.9, weight decay, warm-up cosine, batch 256)
    ste_optimizer: str = "adam"
    extra_eval_modes: tuple[str, ...] = ()  # also evaluate these (test set: once each)
    select: str = "best"  # "best": the epoch of best validation accuracy; "last": the last epoch
    train_limit: int | None = None
    val_size: int | None = None
    bayesbinn_temperature: float = 1e-10
    bayesbinn_numerics: str = "stable"
    bayesbinn_beta: float = 0.0
    bayesbinn_lam_init: float = 10.0
    # bnn.BinaryLinear's `noise`, `init_mu`, `init_z`, `samples`; None: the adapter's default
    vispa_noise: float | None = None
    vispa_init_mu: float | None = None
    vispa_init_z: float | None = None
    vispa_samples: int | None = None
    checkpoint: str | None = None
    resume: str | None = None
    progress: bool | None = None  # None: a progress bar when stderr is a terminal
    verbose: bool = True

    def validate(self) -> TrainConfig:
        check_choice(self.model, ARCHITECTURES, "model", "train")
        check_choice(self.method, METHODS, "method", "train")
        check_choice(self.activations, ACTIVATIONS, "activations", "train")
        check_choice(self.eval_mode, EVAL_MODES, "eval_mode", "train")
        for mode in self.extra_eval_modes:
            check_choice(mode, EVAL_MODES, "extra_eval_modes", "train")
        check_choice(self.select, ("best", "last"), "select", "train")
        check_choice(self.recipe, RECIPES, "recipe", "train")
        check_choice(self.ste_optimizer, ("adam", "sgd"), "ste_optimizer", "train")
        if self.recipe != "adapter" and self.method != "vispa":
            raise invalid("recipe", "train", '"adapter" unless method="vispa"', self.recipe)
        check_int(self.rank, "rank", "train", 0)
        check_int(self.epochs, "epochs", "train", 1)
        if self.batch_size is not None:
            check_int(self.batch_size, "batch_size", "train", 1)
        if self.eval_samples is not None:
            check_int(self.eval_samples, "eval_samples", "train", 1)
        if self.warmup_epochs is not None:
            check_int(self.warmup_epochs, "warmup_epochs", "train", 0)
        if self.lr is not None and not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise invalid("lr", "train", "a positive number or None", self.lr)
        if self.weight_decay is not None and not (
                isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise invalid("weight_decay", "train", "a non-negative number or None",
                          self.weight_decay)
        return self

    # The effective values of the options whose default depends on the method and recipe.
    @property
    def paper(self) -> bool:
        """The paper recipe's schedule (VISPA paper/sphere, or STE with ste_optimizer="sgd")."""
        return (self.method == "vispa" and self.recipe != "adapter") or (
            self.method == "ste" and self.ste_optimizer == "sgd")

    @property
    def batch(self) -> int:
        return self.batch_size or (PAPER_BATCH if self.paper else 100)

    @property
    def samples(self) -> int:
        return self.eval_samples or (PAPER_SAMPLES if self.paper else 8)

    @property
    def warmup(self) -> int:
        if self.warmup_epochs is not None:
            return self.warmup_epochs
        return PAPER_WARMUP if self.paper else 0

    @property
    def rate(self) -> float:
        if self.lr is not None:
            return self.lr
        return PAPER_LR if self.paper else DEFAULT_LR[self.method]


@dataclass
class TrainResult:
    """What a run measured. Accuracies are fractions in [0, 1]."""

    config: TrainConfig
    test_accuracy: float  # of config.eval_mode, at the selected epoch
    val_accuracy: float  # of config.eval_mode, at the selected epoch
    best_epoch: int
    seconds_per_epoch: float  # training passes only (no evaluation), averaged over epochs run
    history: list[dict] = field(default_factory=list)
    extra_test: dict[str, float] = field(default_factory=dict)  # other eval modes, if asked
    train_memory_bytes: int = 0  # parameters + buffers + optimizer state while training
    deployed_memory_bytes: int = 0  # 1 bit per binary weight + the float32 BatchNorm state
    model: nn.Module | None = None  # the trained model at the selected epoch
    deployed: nn.Module | None = None  # its deployed network, weights exactly ±1

    def summary(self) -> dict:
        """The JSON line of the command."""
        c = self.config
        return {
            "method": c.method,
            "rank": c.rank if c.method == "vispa" else None,
            "recipe": c.recipe if c.method == "vispa" else None,
            "optimizer": c.ste_optimizer if c.method == "ste" else None,
            "model": c.model,
            "dataset": c.dataset,
            "activations": c.activations,
            "epochs": c.epochs,
            "best_epoch": self.best_epoch,
            "eval_mode": c.eval_mode,
            "test_accuracy": self.test_accuracy,
            "val_accuracy": self.val_accuracy,
            "seconds_per_epoch": self.seconds_per_epoch,
            "seed": c.seed,
            **{f"test_accuracy_{k}": v for k, v in self.extra_test.items()},
            "train_memory_bytes": self.train_memory_bytes,
            "deployed_memory_bytes": self.deployed_memory_bytes,
        }


# ---------------------------------------------------------------------------------------------
# Methods: how each one steps and how each one evaluates.


class _Joint:
    """Several optimizers stepped together (a method's binary-weight rule + Adam for the rest)."""

    def __init__(self, *optimizers: torch.optim.Optimizer) -> None:
        self.optimizers = [o for o in optimizers if o is not None]

    @property
    def param_groups(self) -> list[dict]:
        return [g for o in self.optimizers for g in o.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.optimizers:
            o.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for o in self.optimizers:
            o.step()

    def state_dict(self) -> dict:
        return {"optimizers": [o.state_dict() for o in self.optimizers]}

    def load_state_dict(self, state: dict) -> None:
        for o, s in zip(self.optimizers, state["optimizers"]):
            o.load_state_dict(s)

    def state_tensors(self):
        for o in self.optimizers:
            for s in o.state.values():
                yield from (v for v in s.values() if torch.is_tensor(v))


def _full_precision_params(model: nn.Module) -> list[nn.Parameter]:
    binary = {id(p) for m in binary_layers(model) for p in m.parameters()}
    return [p for p in model.parameters() if id(p) not in binary]


def make_optimizer(model: nn.Module, config: TrainConfig, n_train: int) -> _Joint:
    """The method's optimizer for the binary layers and Adam for the full-precision parameters."""
    lr = config.rate
    if config.paper:  # the published recipe: one SGD, weight decay on every parameter
        wd = (config.weight_decay if config.weight_decay is not None
              else PAPER_WEIGHT_DECAY[config.activations])
        if config.method == "ste":  # latent weights clipped to [-1, 1] after each step
            from bnn.baselines.ste import ClippedSGD

            latent = {id(m.weight) for m in binary_layers(model)}
            groups = [{"params": [p for p in model.parameters() if id(p) in latent],
                       "clip": True},
                      {"params": [p for p in model.parameters() if id(p) not in latent]}]
            joint = _Joint(ClippedSGD(groups, lr=lr, momentum=0.9, weight_decay=wd))
        else:
            joint = _Joint(torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9,
                                           weight_decay=wd))
        for g in joint.param_groups:
            g["base_lr"] = g["lr"]
        return joint
    if config.method == "vispa":  # one optimizer: Riemannian Adam on factors, Adam on the rest
        from bnn.optim import RiemannianAdam, param_groups

        joint = _Joint(RiemannianAdam(param_groups(model, lr=config.lr_fp, factor_lr=lr)))
        for m in binary_layers(model):  # the sampled weights' gradients as outer products
            m.outer_grad = True
        for g in joint.param_groups:
            g["base_lr"] = g["lr"]
        return joint
    fp = _full_precision_params(model)
    adam = torch.optim.Adam(fp, lr=config.lr_fp) if fp else None
    if config.method == "ste":
        from bnn.baselines.ste import ClippedAdam

        latent = [m.weight for m in binary_layers(model)]
        binary = ClippedAdam([{"params": latent, "lr": lr, "clip": True}])
    else:
        from bnn.baselines.bayesbinn import BayesBiNN

        binary = BayesBiNN(binary_layers(model), train_set_size=n_train, lr=lr,
                           temperature=config.bayesbinn_temperature,
                           beta=config.bayesbinn_beta,
                           numerics=config.bayesbinn_numerics)
    joint = _Joint(binary, adam)
    for g in joint.param_groups:
        g["base_lr"] = g["lr"]
    return joint


def set_lr(optimizer: Any, step: int, total: int, warmup: int = 0) -> None:
    """Set every param group's ``lr`` to its ``base_lr`` times the schedule at global `step`
    (`optimizer`: what `make_optimizer` returns, or any optimizer whose groups carry ``base_lr``).

    Linear warm-up over `warmup` steps, then cosine decay to zero over the rest of the `total`
    steps: a function of the global step only, so resume is exact.
    """
    if step < warmup:
        factor = (step + 1) / warmup
    else:
        span = max(total - warmup, 1)
        factor = 0.5 * (1.0 + math.cos(math.pi * min(step - warmup, span) / span))
    for g in optimizer.param_groups:
        g["lr"] = g["base_lr"] * factor


def deployed_network(model: nn.Module, method: str, calibration: torch.Tensor | None = None,
                     validation: tuple[torch.Tensor, torch.Tensor] | None = None) -> nn.Module:
    """The deployed deterministic network, every binary layer's weights exactly ±1.

    STE: sign of the latent weights; BayesBiNN: the posterior mode sign(λ) (both as plain
    Linear/Conv2d layers); VISPA: ``bnn.deploy.harden`` (the best on `validation` of sign(mu)
    and 8 sampled networks). With `calibration` inputs, BatchNorm statistics are recomputed for
    the ±1 weights (bnn.deploy.recalibrate_bn), for every method alike.
    """
    from bnn.deploy import harden, recalibrate_bn

    calib = None if calibration is None else list(calibration.split(_EVAL_BATCH))
    if method == "vispa":
        if calib is None or validation is None:
            raise invalid("calibration", "deployed_network",
                          "inputs (and validation data) for VISPA's harden", calibration)
        val = list(zip(validation[0].split(_EVAL_BATCH), validation[1].split(_EVAL_BATCH)))
        net = harden(model, calib, val, k=HARDEN_K).model.eval()
        fold_alpha(net)
        return net
    layers = []
    for m in model:
        if is_binary(m):
            w = m.binary_weight().detach().clone()
            if w.dim() == 2:
                plain = nn.Linear(w.shape[1], w.shape[0], bias=False)
            else:
                plain = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], padding=m.padding,
                                  bias=False)
            plain.weight = nn.Parameter(w, requires_grad=False)
            layers.append(plain)
        else:
            layers.append(copy.deepcopy(m))
    net = nn.Sequential(*layers)
    if calib is not None:
        recalibrate_bn(net, calib)
    return net.eval()


@torch.no_grad()
def fold_alpha(net: nn.Module) -> None:
    """Fold the paper recipe's per-channel scales alpha into the deployed network, exactly:
    sign(alpha) into the ±1 weights (a flipped output channel), |alpha| into the BatchNorm that
    follows (through max-pooling, which commutes with a positive scale) in eval mode:
    BN(|a| h) = gamma |a| (h - mean / |a|) / sqrt(var + eps) + beta. The deployed network is then
    ±1 weights and BatchNorm only, as for every other method."""
    from bnn.layers import BinaryLayer, sign_pm1

    mods = list(net.modules())
    for i, m in enumerate(mods):
        if not isinstance(m, BinaryLayer) or getattr(m, "alpha", None) is None:
            continue
        bn = next((b for b in mods[i + 1:] if isinstance(b, (nn.BatchNorm1d, nn.BatchNorm2d))),
                  None)
        between = mods[i + 1:mods.index(bn)] if bn is not None else []
        if bn is None or not bn.affine or bn.running_mean is None or any(
                not isinstance(b, (nn.MaxPool2d, nn.Flatten)) for b in between):
            raise invalid("net", "deployed_network", "a BatchNorm after each binary layer of "
                          "the paper recipe (to fold alpha into)", f"<{type(m).__name__}>")
        a = m.alpha.detach()
        sign = sign_pm1(a)
        shape = (-1,) + (1,) * (m.fixed_weight.dim() - 1)
        m.fixed_weight.mul_(sign.view(shape))
        mag = a.abs().clamp_min(torch.finfo(a.dtype).tiny)
        bn.running_mean.div_(mag)
        bn.weight.mul_(mag)
        m.alpha = None


_EVAL_BATCH = 1000
#: Sampled networks that VISPA's harden weighs (with sign(mu)); bnn.deploy.harden's default.
HARDEN_K = 8
#: Training images (a fixed slice) that recalibrate BatchNorm for the deployed ±1 network.
CALIBRATION_SIZE = 2000


@torch.no_grad()
def _logits(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([net(c) for c in x.split(_EVAL_BATCH)])


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(1) == y).double().mean())


@torch.no_grad()
def evaluate(model: nn.Module, method: str, x: torch.Tensor, y: torch.Tensor,
             mode: str = "mean", samples: int = 8, seed: int = 0,
             deployed: nn.Module | None = None,
             calibration: torch.Tensor | None = None) -> float:
    """Accuracy on (x, y) of `model` evaluated as `mode`, the same for every method:

    - ``"mean"``: the most probable binary network (VISPA sign(mu), BayesBiNN sign(λ), STE
      sign(latent)) with the BatchNorm statistics of training;
    - ``"sample"``: one sampled binary network (sampled network `seed`);
    - ``"ensemble"``: logits averaged over `samples` sampled networks;
    - ``"harden"``: the `deployed` network (from :func:`deployed_network`).

    With `calibration` inputs, each sampled network gets BatchNorm statistics recomputed for its
    own weights (bnn.deploy.recalibrate_bn). STE has no distribution: its "sample" and
    "ensemble" are its sign network (recalibrated likewise).
    """
    from bnn.deploy import recalibrate_bn

    check_choice(mode, EVAL_MODES, "mode", "evaluate")
    model.eval()
    calib = None if calibration is None else list(calibration.split(_EVAL_BATCH))
    if method == "ste" and mode in ("sample", "ensemble"):
        mode = "harden" if deployed is not None and calib is not None else "mean"
    if mode == "harden":
        if deployed is None:
            raise invalid("deployed", "evaluate", 'a network for mode "harden"', deployed)
        return _accuracy(_logits(deployed.eval(), x), y)
    if method == "vispa":
        from bnn.deploy import evaluate as vispa_evaluate

        batches = list(zip(x.split(_EVAL_BATCH), y.split(_EVAL_BATCH)))
        if any(getattr(m, "recipe", "adapter") != "adapter" for m in binary_layers(model)):
            calib = None  # the published test: BatchNorm statistics of training, not recomputed
        return vispa_evaluate(model, batches, mode=mode, samples=samples, seed=seed,
                              calibration=calib if mode != "mean" else None).accuracy
    if mode == "mean":
        return _accuracy(_logits(model, x), y)  # eval_weights "mode": the sign network
    gen_state = torch.get_rng_state()
    torch.manual_seed(10_000 + seed)  # sampled networks that do not disturb the training stream
    try:
        total = 0.0
        for _ in range(samples if mode == "ensemble" else 1):
            net = copy.deepcopy(model)
            for m in binary_layers(net):
                m.eval_weights = "sample"
                m.resample()
            if calib is not None:
                recalibrate_bn(net, calib)
            total = total + _logits(net.eval(), x).double()
        return _accuracy(total, y)
    finally:
        torch.set_rng_state(gen_state)


def memory_bytes(model: nn.Module, optimizer: _Joint | None = None) -> tuple[int, int]:
    """(training state bytes: parameters, buffers, optimizer state; deployed bytes)."""
    tensors = list(model.parameters()) + list(model.buffers())
    if optimizer is not None:
        tensors += list(optimizer.state_tensors())
    train = sum(t.numel() * t.element_size() for t in tensors)
    n_binary = sum(m.binary_weight().numel() for m in binary_layers(model)) \
        if all(hasattr(m, "binary_weight") for m in binary_layers(model)) else 0
    binary_ids = {id(t) for m in binary_layers(model) for t in (*m.parameters(), *m.buffers())}
    rest = [t for t in (*model.parameters(), *model.buffers())
            if id(t) not in binary_ids and t.is_floating_point()]
    # (the paper recipe's per-channel scales fold into BatchNorm when deployed: no bytes)
    deployed = (n_binary + 7) // 8 + sum(4 * t.numel() for t in rest)
    return train, deployed


# ---------------------------------------------------------------------------------------------
# The loop.


def train(config: TrainConfig, data: Splits | None = None,
          callback: Callable[[dict], bool | None] | None = None) -> TrainResult:
    """Train `config.model` with `config.method` and evaluate it; see :class:`TrainConfig`.

    `data` replaces the dataset the config names (the benchmark loads it once). `callback` sees
    each epoch's record (epoch, loss, train and validation accuracy, seconds) after the
    checkpoint is written; returning True stops training there, as an interruption would
    (the selected epoch is then evaluated as usual).
    """
    config.validate()
    if data is None:
        data = load_dataset(config.dataset, data_dir=config.data_dir, val_size=config.val_size,
                            train_limit=config.train_limit)
    torch.manual_seed(config.seed)
    options = {}
    if config.method == "bayesbinn":
        options["lam_init"] = config.bayesbinn_lam_init
    elif config.method == "vispa":
        given = {"noise": config.vispa_noise, "init_mu": config.vispa_init_mu,
                 "init_z": config.vispa_init_z, "samples": config.vispa_samples}
        options.update({k: v for k, v in given.items() if v is not None})
        if config.recipe != "adapter":
            options["recipe"] = config.recipe
    model = build_model(config.model, config.method, data.input_shape, data.num_classes,
                        activations=config.activations, rank=config.rank, **options)
    if config.paper and config.method == "vispa":  # the published W1A1 surrogate: (2 - 2|x|)_+
        from bnn.layers import SignActivation

        for m in model.modules():
            if isinstance(m, SignActivation):
                m.surrogate = "approxsign"
    n = len(data.y_train)
    batch_size = config.batch
    optimizer = make_optimizer(model, config, n)
    gen = torch.Generator().manual_seed(config.seed)
    steps_per_epoch = math.ceil(n / batch_size)
    total = steps_per_epoch * config.epochs
    warmup = steps_per_epoch * config.warmup
    history: list[dict] = []
    best = {"val": -1.0, "epoch": 0, "state": None}
    start = 0
    if config.resume:
        ck = load_checkpoint(config.resume, model, optimizer)  # also the global random states
        gen.set_state(ck.extra["shuffle"])
        history, best, start = ck.extra["history"], ck.extra["best"], ck.epoch
    progress = sys.stderr.isatty() if config.progress is None else config.progress
    say = print if config.verbose else (lambda *a, **k: None)
    for epoch in range(start + 1, config.epochs + 1):
        model.train()
        perm = torch.randperm(n, generator=gen)
        batches = range(steps_per_epoch)
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc=f"epoch {epoch}/{config.epochs}", leave=False,
                           file=sys.stderr)
        loss_sum, correct = 0.0, 0
        t0 = time.perf_counter()
        for b in batches:
            idx = perm[b * batch_size:(b + 1) * batch_size]
            x, y = data.x_train[idx], data.y_train[idx]
            set_lr(optimizer, (epoch - 1) * steps_per_epoch + b, total, warmup)
            optimizer.zero_grad()
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach()) * len(y)
            correct += int((logits.argmax(1) == y).sum())
        seconds = time.perf_counter() - t0
        val = evaluate(model, config.method, data.x_val, data.y_val, "mean")
        history.append({"epoch": epoch, "loss": loss_sum / n, "train_accuracy": correct / n,
                        "val_accuracy": val, "seconds": seconds})
        if config.select == "last" or val > best["val"]:
            best = {"val": val, "epoch": epoch, "state": copy.deepcopy(model.state_dict())}
        say(f"epoch {epoch:3d}  loss {loss_sum / n:.4f}  train {correct / n:.4f}  "
            f"val {val:.4f}  {seconds:.1f} s", flush=True)
        if config.checkpoint:
            save_checkpoint(config.checkpoint, model, optimizer, step=epoch * steps_per_epoch,
                            epoch=epoch, extra={"history": history, "best": best,
                                                "shuffle": gen.get_state(),
                                                "config": asdict(config)})
        if callback is not None and callback(history[-1]):
            break
    model.load_state_dict(best["state"])
    model.eval()
    # The deployed network: BatchNorm recalibrated on a fixed slice of the training set.
    calibration = data.x_train[:CALIBRATION_SIZE]
    deployed = deployed_network(model, config.method, calibration, (data.x_val, data.y_val))
    kw = {"samples": config.samples, "deployed": deployed, "calibration": calibration}
    val_acc = evaluate(model, config.method, data.x_val, data.y_val, config.eval_mode, **kw)
    test_acc = {}
    for mode in (config.eval_mode, *config.extra_eval_modes):  # the test set: once per number
        if mode not in test_acc:
            test_acc[mode] = evaluate(model, config.method, data.x_test, data.y_test, mode, **kw)
    train_mem, deployed_mem = memory_bytes(model, optimizer)
    return TrainResult(
        config=config,
        test_accuracy=test_acc[config.eval_mode],
        val_accuracy=val_acc,
        best_epoch=best["epoch"],
        seconds_per_epoch=sum(h["seconds"] for h in history) / len(history),
        history=history,
        extra_test={m: a for m, a in test_acc.items() if m != config.eval_mode},
        train_memory_bytes=train_mem,
        deployed_memory_bytes=deployed_mem,
        model=model,
        deployed=deployed,
    )


# ---------------------------------------------------------------------------------------------
# The command.


def _parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m bnn.train", description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default=d.dataset,
                   help="digits (default, needs nothing) | fashion-mnist | a folder of IDX files")
    p.add_argument("--data-dir", default=None,
                   help="where to look for Fashion-MNIST first (then $BNN_DATA, then "
                        "/usr/share/datasets/fashion-mnist)")
    p.add_argument("--model", choices=ARCHITECTURES, default=d.model)
    p.add_argument("--method", choices=METHODS, default=d.method)
    p.add_argument("--rank", type=int, default=d.rank, help="VISPA's K (0: the diagonal case)")
    p.add_argument("--recipe", choices=RECIPES, default=d.recipe,
                   help="VISPA: adapter (RiemannianAdam on the sphere, default) | paper (the "
                        "published recipe: SGD, warm-up cosine, batch 256, 40-draw ensemble) | "
                        "sphere (paper, rows kept on the sphere)")
    p.add_argument("--ste-optimizer", choices=("adam", "sgd"), default=d.ste_optimizer,
                   help="STE: adam (default) | sgd (the paper recipe's SGD and schedule)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=None,
                   help="default 100 (256 for the paper/sphere recipes)")
    p.add_argument("--weight-decay", type=float, default=None,
                   help="paper/sphere recipes: SGD weight decay on every parameter (default "
                        "5e-4 W1A32, 1e-5 W1A1)")
    p.add_argument("--warmup-epochs", type=int, default=None,
                   help="linear learning-rate warm-up (default 5 for the paper/sphere recipes, "
                        "else 0)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate of the binary weights (default per method: "
                        + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items()) + ")")
    p.add_argument("--lr-fp", type=float, default=d.lr_fp,
                   help="Adam's learning rate for the full-precision (BatchNorm) parameters")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--activations", choices=ACTIVATIONS, default=d.activations,
                   help="binary: W1A1; real: W1A32 (ReLU)")
    p.add_argument("--eval-mode", choices=EVAL_MODES, default=d.eval_mode,
                   help="harden: the deployed ±1 network (default); ensemble: a Monte Carlo "
                        "average of sampled networks; mean; sample")
    p.add_argument("--eval-samples", type=int, default=None,
                   help="networks in an ensemble (default 8; 40 for the paper/sphere recipes)")
    p.add_argument("--extra-eval-modes", nargs="*", choices=EVAL_MODES, default=[],
                   help="also report these eval modes (test_accuracy_<mode> in the JSON)")
    p.add_argument("--select", choices=("best", "last"), default=d.select,
                   help="report the epoch of best validation accuracy, or the last")
    p.add_argument("--train-limit", type=int, default=None,
                   help="train on a fixed subset of this many images")
    p.add_argument("--val-size", type=int, default=None)
    p.add_argument("--bayesbinn-temperature", type=float, default=d.bayesbinn_temperature)
    p.add_argument("--bayesbinn-numerics", choices=("stable", "reference"),
                   default=d.bayesbinn_numerics)
    p.add_argument("--bayesbinn-beta", type=float, default=d.bayesbinn_beta,
                   help="BayesBiNN's momentum of the natural gradient")
    p.add_argument("--bayesbinn-lam-init", type=float, default=d.bayesbinn_lam_init)
    p.add_argument("--vispa-noise", type=float, default=None,
                   help="VISPA: training weights sign(mu + s Z g) with this s in [0, 1] "
                        "(default: the adapter's)")
    p.add_argument("--vispa-init-mu", type=float, default=None)
    p.add_argument("--vispa-init-z", type=float, default=None)
    p.add_argument("--vispa-samples", type=int, default=None)
    p.add_argument("--checkpoint", metavar="PATH", default=None,
                   help="save the run's state here after every epoch")
    p.add_argument("--resume", metavar="PATH", default=None,
                   help="continue the run saved at PATH (up to --epochs)")
    p.add_argument("--threads", type=int, default=default_threads(),
                   help="torch.set_num_threads (default: half the available cores, at most 4; "
                        "0 keeps torch's own default; here %(default)s)")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None)
    bar.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object as the last line of output")
    p.add_argument("--quiet", action="store_true", help="no line per epoch")
    return p


def default_threads() -> int:
    """The command's torch threads: half the cores this process may use, at least 1, at most 4.

    torch's own default (every physical core) oversubscribes a shared or small machine, by a
    factor of ten on a loaded 2-core one (docs/bnn.md, "Threads"), and the models here are too
    small to gain beyond a few threads.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores // 2))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.threads < 0:
        print(f"error: --threads must be >= 0; got {args.threads}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    kw = vars(args).copy()
    as_json, quiet = kw.pop("json"), kw.pop("quiet")
    kw.pop("threads")
    kw["extra_eval_modes"] = tuple(kw["extra_eval_modes"])
    config = TrainConfig(**kw, verbose=not quiet)
    try:
        result = train(config)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = result.summary()
    if as_json:
        print(json.dumps(summary), flush=True)
    elif not quiet:
        print(f"test accuracy ({config.eval_mode}) {result.test_accuracy:.4f} at epoch "
              f"{result.best_epoch}; {result.seconds_per_epoch:.2f} s/epoch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
