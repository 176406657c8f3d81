"""BayesBiNN (Meng, Bachmann, Khan, ICML 2020) in the shared harness.

Each binary weight w ∈ {-1, +1} has a mean-field Bernoulli posterior with natural parameter λ
(p(w = +1) = sigmoid(2λ), mean μ = tanh(λ)). Training uses the Gumbel-softmax (concrete)
relaxation: with u ~ U(0, 1), δ = ½ log(u / (1 - u)),

    w_τ = tanh((λ + δ) / τ),

the forward pass runs on w_τ, and the Bayesian learning rule updates λ with the natural gradient

    ĝ = N · s ⊙ ∂L/∂w_τ,   s = (1 - w_τ²) / (τ (1 - μ²)),
    m ← β m + (1 - β) (ĝ + λ - λ₀),   λ ← λ - lr · m / (1 - βᵗ)

(N the training-set size, L the minibatch mean loss, λ₀ the prior, one sample per step).

The published scale carries a regulariser ε = 1e-10 in both numerator and denominator,

    s = (1 - w_τ² + ε) / τ / (1 - μ² + ε),

and with the published temperature τ = 1e-10 it is ε, not the relaxation, that sets the update: the
sampled w_τ is ±1 (so 1 - w_τ² = 0 and the numerator is ε / τ = 1) and s = 1 / (sech²(λ) + ε), at
most 1e10. The update is then sign-forward, straight-through momentum SGD on an unbounded λ whose
only other force is the pull λ - λ₀ (a forgetting rate lr): the rule the paper's results come from.
Without ε (the textbook relaxation) s → 0 almost surely as τ → 0 and nothing would learn.

Float32 saturation. In float32, tanh(x) rounds to exactly ±1 once |x| ≳ 9, so the verbatim
expression computes 1 - μ² by cancellation: 0 for |λ| ≳ 9 and a coarse staircase below.
``numerics="reference"`` reproduces that float32 formula verbatim. ``numerics="stable"`` (the
default) evaluates the same formula, ε included, without cancellation, from
sech²(x) = 4 e^{-2|x|} / (1 + e^{-2|x|})²:
s = (sech²(ρ/τ) + ε) / τ / (sech²(λ) + ε), ρ = λ + δ. Both agree wherever float32 does not
round; at τ = 1 the ε terms are negligible and s is the exact relaxation's scale. The published
code also uses a μ one step stale in s (it reassigns λ and then takes tanh of the old tensor); that
slip is not reproduced (its effect is nil once λ saturates).

Defaults (chosen on validation, see docs/bnn-results.md): τ = 1e-10 and λ initialised at ±10 as
published, β = 0 (the published MNIST setting, no momentum), lr 1e-2 (bnn.train), one
sample per step, prior λ₀ = 0.

Evaluation: the mode (the deployed ±1 network sign(λ), sign(0) = +1), the mean tanh(λ) (real
weights), one Bernoulli sample w = sign(λ + δ), or a Monte Carlo ensemble of such samples.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from bnn.layers import sign_pm1
from lowrank_sdp.validation import invalid

_LOG4 = math.log(4.0)
#: The published scale's regulariser (numerator and denominator).
EPS = 1e-10


def log_sech2(x: torch.Tensor) -> torch.Tensor:
    """log(1 - tanh(x)²) without cancellation, for any x."""
    a = x.abs()
    return _LOG4 - 2.0 * a - 2.0 * torch.log1p(torch.exp(-2.0 * a))


def sech2(x: torch.Tensor) -> torch.Tensor:
    """1 - tanh(x)² = 4 e^{-2|x|} / (1 + e^{-2|x|})² without cancellation.

    |x| is capped at 40 (sech² < 1e-34 there, negligible next to ε): exp of a hugely negative
    float32 takes a slow underflow path on CPU, 30x slower than the rest of the step.
    """
    e = torch.exp(x.abs().clamp_max(40.0).mul_(-2.0))
    return e.mul(4.0).div_((1.0 + e).square_())


def stable_scale(rho: torch.Tensor, lam: torch.Tensor, tau: float) -> torch.Tensor:
    """The published scale (1 - tanh²(ρ/τ) + ε) / τ / (1 - tanh²(λ) + ε), without cancellation."""
    return (sech2(rho / tau) + EPS).div_(tau).div_(sech2(lam) + EPS)


def _logistic_half(shape, like: torch.Tensor) -> torch.Tensor:
    # δ = ½ logit(u), u ~ U(0, 1): the Gumbel-softmax noise of a binary variable in tanh form.
    u = torch.rand(shape, dtype=like.dtype, device=like.device).clamp_(1e-7, 1 - 1e-7)
    return 0.5 * torch.log(u / (1.0 - u))


class _BayesBinary(nn.Module):
    """Shared state of a BayesBiNN layer: λ (a buffer, updated by :class:`BayesBiNN`, not autograd)."""

    binary = True
    #: How the layer picks its weights outside training: "mode" | "mean" | "sample" (the network
    #: drawn by the last :meth:`resample`).
    eval_weights = "mode"

    def _setup(self, shape, lam_init: float, lam_std: float) -> None:
        signs = torch.randint(0, 2, shape).float() * 2 - 1
        self.register_buffer("lam", signs * (lam_init + lam_std * torch.randn(shape)))
        self.temperature = 1e-10
        self._w: torch.Tensor | None = None
        self._sampled: torch.Tensor | None = None
        self._rho: torch.Tensor | None = None

    def weights(self) -> torch.Tensor:
        if self.training:
            rho = self.lam + _logistic_half(self.lam.shape, self.lam)
            w = torch.tanh(rho / self.temperature).detach().requires_grad_(True)
            self._w, self._rho = w, rho
            return w
        if self.eval_weights == "mean":
            return torch.tanh(self.lam)
        if self.eval_weights == "sample":
            if self._sampled is None:
                self.resample()
            return self._sampled
        return self.binary_weight()

    @torch.no_grad()
    def resample(self) -> None:
        """Draw one binary network w = sign(λ + δ) ~ Bernoulli(sigmoid(2λ)), used by mode "sample"
        until the next call (so that all batches of an evaluation see the same network)."""
        noise = _logistic_half(self.lam.shape, self.lam)
        self._sampled = sign_pm1(self.lam + noise)

    def binary_weight(self) -> torch.Tensor:
        """The deployed ±1 weights: the posterior mode sign(λ)."""
        return sign_pm1(self.lam)


class BayesLinear(_BayesBinary):
    """Linear layer, no bias, with Bernoulli weights of natural parameter λ."""

    def __init__(self, in_features: int, out_features: int, lam_init: float = 10.0,
                 lam_std: float = 0.0) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self._setup((out_features, in_features), lam_init, lam_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weights())


class BayesConv2d(_BayesBinary):
    """Conv2d, no bias, with Bernoulli weights of natural parameter λ."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0,
                 lam_init: float = 10.0, lam_std: float = 0.0) -> None:
        super().__init__()
        self.padding = padding
        self._setup((out_channels, in_channels, kernel_size, kernel_size), lam_init, lam_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weights(), padding=self.padding)


class BayesBiNN(torch.optim.Optimizer):
    """The BayesBiNN natural-gradient update of every layer's λ (one Gumbel-softmax sample a step).

    Call after ``loss.backward()`` of a training-mode forward pass (which drew the samples).
    """

    def __init__(self, layers: list[_BayesBinary], train_set_size: int, lr: float = 3e-4,
                 beta: float = 0.0, temperature: float = 1e-10, prior_lam: float = 0.0,
                 numerics: str = "stable") -> None:
        if numerics not in ("stable", "reference"):
            raise invalid("numerics", "BayesBiNN", 'one of "stable", "reference"', numerics)
        self.layers = list(layers)
        for layer in self.layers:
            layer.temperature = temperature
        defaults = dict(lr=lr, beta=beta, temperature=temperature, prior_lam=prior_lam,
                        train_set_size=train_set_size, numerics=numerics)
        super().__init__([layer.lam for layer in self.layers], defaults)

    @torch.no_grad()
    def step(self, closure=None):
        group = self.param_groups[0]
        tau, beta, n = group["temperature"], group["beta"], group["train_set_size"]
        for layer, lam in zip(self.layers, group["params"]):
            w, rho = layer._w, layer._rho
            if w is None or w.grad is None:
                continue
            if group["numerics"] == "reference":  # the published float32 expression, verbatim
                mu = torch.tanh(lam)
                scale = (1 - w * w + EPS) / tau / (1 - mu * mu + EPS)
            else:
                scale = stable_scale(rho, lam, tau)
            g_hat = n * scale * w.grad
            state = self.state[lam]
            if not state:
                state["step"] = 0
                state["momentum"] = torch.zeros_like(lam)
            state["step"] += 1
            m = state["momentum"]
            m.mul_(beta).add_((g_hat + lam - group["prior_lam"]) * (1 - beta))
            lam.sub_(group["lr"] * m / (1 - beta ** state["step"]))
            layer._w = layer._rho = None
        return None
