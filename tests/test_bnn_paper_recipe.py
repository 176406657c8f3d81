"""VISPA's published recipe (bnn.layers recipe="paper"/"sphere", bnn.train --recipe paper)
against an independent minimal implementation written here in plain torch (no bnn code).

The reference follows the recipe as stated in issue 14, literally: per layer a mean M and K noise
directions Z, a per-output-channel scale alpha, S = 100; each forward A = M² + Σ_k Z_k² / S,
m = M / sqrt(A), z = Z / sqrt(A) (not persisted for "paper", persisted for "sphere"), one draw
rv ~ N(0, I_K / S) per layer, w = m + Σ_k rv_k z_k, binary weights sign(w) (sign(0) = +1),
grad_M = grad_w, grad_Z_k = rv_k grad_w sqrt(S); SGD with momentum 0.9 and weight decay on every
parameter; a linear warm-up then cosine learning rate. The draws are the adapter's (read from
each layer after its forward pass), so both sides see the same noise.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import bnn  # noqa: E402
from bnn.train import TrainConfig, main, make_optimizer, set_lr  # noqa: E402

S = 100.0
K = 3
LR, WD, MOMENTUM, WARMUP, TOTAL = 0.05, 5e-4, 0.9, 2, 5


def _adapter(recipe: str) -> nn.Sequential:
    torch.manual_seed(3)
    model = nn.Sequential(
        bnn.BinaryLinear(6, 5, rank=K, recipe=recipe), nn.BatchNorm1d(5), nn.ReLU(),
        bnn.BinaryLinear(5, 3, rank=K, recipe=recipe), nn.BatchNorm1d(3))
    return model.double()


class _Reference:
    """The recipe in plain torch: parameters as separate tensors, gradients and SGD by hand."""

    def __init__(self, model: nn.Sequential, persist: bool) -> None:
        self.persist = persist
        # the adapter's initial values (its factor holds [M, Z_1..Z_K] along the last axis)
        self.layers = []
        for i in (0, 3):
            f = model[i].factor.detach()
            self.layers.append({"M": f[..., 0].clone(),
                                "Z": f[..., 1:].permute(2, 0, 1).clone(),  # K x weight shape
                                "alpha": model[i].alpha.detach().clone()})
        self.bns = [{"weight": model[i].weight.detach().clone(),
                     "bias": model[i].bias.detach().clone()} for i in (1, 4)]
        self.buffers: dict[int, torch.Tensor] = {}

    def params(self) -> list[torch.Tensor]:
        out = []
        for layer, bn in zip(self.layers, self.bns):
            out += [layer["M"], layer["Z"], layer["alpha"], bn["weight"], bn["bias"]]
        return out

    def step(self, x, y, rvs, lr):
        grads = {}
        h = x
        binary = []
        leaves = []
        for layer, bn, rv in zip(self.layers, self.bns, rvs):
            M, Z = layer["M"], layer["Z"]
            A = M**2 + (Z**2).sum(0) / S
            m, z = M / A.sqrt(), Z / A.sqrt()
            if self.persist:
                layer["M"], layer["Z"] = m.clone(), z.clone()
            w = m + torch.einsum("k,koi->oi", rv, z)
            wb = torch.where(w >= 0, 1.0, -1.0).to(w.dtype).requires_grad_(True)
            alpha = layer["alpha"].clone().requires_grad_(True)
            gamma = bn["weight"].clone().requires_grad_(True)
            beta = bn["bias"].clone().requires_grad_(True)
            h = (h @ wb.T) * alpha
            h = F.batch_norm(h, None, None, gamma, beta, training=True)
            if layer is self.layers[0]:
                h = F.relu(h)
            binary.append((wb, rv))
            leaves.append((alpha, gamma, beta))
        loss = F.cross_entropy(h, y)
        loss.backward()
        for j, ((wb, rv), (alpha, gamma, beta)) in enumerate(zip(binary, leaves)):
            grads[id(self.layers[j]["M"])] = wb.grad
            grads[id(self.layers[j]["Z"])] = rv[:, None, None] * wb.grad * math.sqrt(S)
            grads[id(self.layers[j]["alpha"])] = alpha.grad
            grads[id(self.bns[j]["weight"])] = gamma.grad
            grads[id(self.bns[j]["bias"])] = beta.grad
        # SGD, momentum 0.9, weight decay on every parameter (torch.optim.SGD's conventions)
        for j, p in enumerate(self.params()):
            d = grads[id(p)] + WD * p
            buf = self.buffers.get(j)
            buf = d.clone() if buf is None else MOMENTUM * buf + d
            self.buffers[j] = buf
            p.sub_(lr * buf)
        return float(loss.detach())


def _reference_lr(t: int) -> float:
    if t < WARMUP:
        return LR * (t + 1) / WARMUP
    return LR * 0.5 * (1 + math.cos(math.pi * (t - WARMUP) / (TOTAL - WARMUP)))


def _adapter_params(model):
    out = []
    for i in (0, 3):
        f = model[i].factor.detach()
        out += [f[..., 0], f[..., 1:].permute(2, 0, 1), model[i].alpha.detach(),
                model[i + 1].weight.detach(), model[i + 1].bias.detach()]
    return out


@pytest.mark.parametrize("recipe", ["paper", "sphere"])
def test_paper_recipe_equals_an_independent_implementation_for_5_steps(recipe):
    model = _adapter(recipe)
    ref = _Reference(model, persist=recipe == "sphere")
    config = TrainConfig(method="vispa", recipe=recipe, lr=LR, weight_decay=WD)
    opt = make_optimizer(model, config, n_train=64)  # the harness's optimizer for the recipe
    gen = torch.Generator().manual_seed(0)
    model.train()
    for t in range(TOTAL):
        x = torch.randn(8, 6, generator=gen, dtype=torch.float64)
        y = torch.randint(0, 3, (8,), generator=gen)
        set_lr(opt, t, TOTAL, WARMUP)
        assert math.isclose(opt.param_groups[0]["lr"], _reference_lr(t), rel_tol=1e-12)
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        # the adapter's draws this step: xi = (1, rv), rv ~ N(0, I_K / S)
        rvs = [model[i].last_xi[0, 1:] for i in (0, 3)]
        ref_loss = ref.step(x, y, rvs, _reference_lr(t))
        assert math.isclose(float(loss.detach()), ref_loss, rel_tol=1e-10)
        for a, b in zip(_adapter_params(model), ref.params()):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    # the run moved the parameters (the comparison is not of two frozen networks)
    assert not torch.allclose(_adapter(recipe)[0].factor, model[0].factor)


def test_sphere_keeps_rows_on_the_sphere_and_paper_does_not_persist():
    paper, sphere = _adapter("paper"), _adapter("sphere")
    x = torch.randn(8, 6, dtype=torch.float64)
    for model in (paper, sphere):
        model.train()
        before = model[0].factor.detach().clone()
        model(x)
        f = model[0].factor.detach()
        a = f[..., 0] ** 2 + (f[..., 1:] ** 2).sum(-1) / S
        if model is paper:
            assert torch.equal(f, before)  # the normalisation holds inside the forward only
            assert (a - 1).abs().max() > 0.5
        else:
            torch.testing.assert_close(a, torch.ones_like(a))


def test_paper_init_draws_and_eval():
    torch.manual_seed(0)
    layer = bnn.BinaryLinear(300, 200, rank=4, recipe="paper")
    std = math.sqrt(2 / (300 + 200))  # Xavier normal, on M and on each z_k
    for col in range(5):
        assert abs(float(layer.factor.detach()[..., col].std()) / std - 1) < 0.02
        assert abs(float(layer.factor.detach()[..., col].mean())) < 0.1 * std
    assert layer.alpha.shape == (200,) and 0 < float(layer.alpha.detach().min())
    assert float(layer.alpha.detach().max()) < 1 and abs(float(layer.alpha.detach().mean()) - 0.5) < 0.1
    # rv ~ N(0, I_K / S)
    rv = torch.cat([layer.draw_xi(1, s)[0, 1:] for s in range(2000)])
    assert abs(float(rv.std()) * math.sqrt(S) - 1) < 0.05
    # drawn in eval mode too: two eval forwards use different networks, a fresh draw each
    layer.eval()
    x = torch.randn(4, 300)
    a, b = layer(x), layer(x)
    assert not torch.equal(a, b)
    bnn.set_mode(layer, "mean")  # the deployed network is sign(M) times alpha
    torch.testing.assert_close(
        layer(x), F.linear(x, torch.where(layer.mu >= 0, 1.0, -1.0)) * layer.alpha)
    with pytest.raises(ValueError, match="The 'noise' parameter of BinaryLinear must be 1 with"):
        bnn.BinaryLinear(3, 2, recipe="paper", noise=0.5)
    with pytest.raises(ValueError, match="The 'recipe' parameter of BinaryLinear must be"):
        bnn.BinaryLinear(3, 2, recipe="published")
    with pytest.raises(ValueError, match="The 'recipe' parameter of train must be"):
        TrainConfig(method="ste", recipe="paper").validate()


def test_command_trains_the_paper_recipe(capsys):
    import json

    code = main(["--method", "vispa", "--recipe", "paper", "--rank", "2", "--epochs", "2",
                 "--warmup-epochs", "1", "--activations", "binary", "--json", "--no-progress",
                 "--quiet", "--extra-eval-modes", "ensemble", "--eval-samples", "4",
                 "--threads", "1"])
    assert code == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["recipe"] == "paper" and out["activations"] == "binary"
    assert 0.2 < out["test_accuracy"] <= 1 and 0 <= out["test_accuracy_ensemble"] <= 1


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_deployed_network_folds_alpha_exactly(arch):
    import copy

    from bnn.models import build_model
    from bnn.train import fold_alpha

    torch.manual_seed(0)
    model = build_model(arch, "vispa", (1, 8, 8), 4, rank=2, recipe="paper").double()
    x = torch.randn(64, 1, 8, 8, dtype=torch.float64)
    model.train()
    model(x)  # BatchNorm statistics that are not the identity
    for layer in bnn.binary_layers(model):
        with torch.no_grad():  # both signs of alpha
            layer.alpha.copy_(torch.linspace(-1.5, 2.0, layer.alpha.numel()))
    bnn.set_mode(model, "mean")
    for layer in bnn.binary_layers(model):
        layer.fix()
    model.eval()
    folded = copy.deepcopy(model)
    fold_alpha(folded)
    assert all(layer.alpha is None for layer in bnn.binary_layers(folded))
    for layer in bnn.binary_layers(folded):
        assert bool(((layer.fixed_weight == 1) | (layer.fixed_weight == -1)).all())
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-9, atol=1e-9)


def test_ste_with_the_paper_schedule_is_clipped_sgd_with_weight_decay():
    from bnn.baselines.ste import ClippedSGD
    from bnn.models import build_model

    torch.manual_seed(0)
    model = build_model("mlp", "ste", (1, 4, 4), 3)
    config = TrainConfig(method="ste", ste_optimizer="sgd", activations="binary")
    assert (config.paper, config.batch, config.warmup, config.samples) == (True, 256, 5, 40)
    opt = make_optimizer(model, config, n_train=10)
    (sgd,) = opt.optimizers
    assert isinstance(sgd, ClippedSGD) and [g.get("clip", False) for g in sgd.param_groups] == [
        True, False]
    assert all(g["momentum"] == 0.9 and g["weight_decay"] == 1e-5 for g in sgd.param_groups)
    F.cross_entropy(model(torch.randn(5, 1, 4, 4)), torch.tensor([0, 1, 2, 0, 1])).backward()
    for g in sgd.param_groups:
        g["lr"] = 1e4  # a step far past the box
    opt.step()
    latent = sgd.param_groups[0]["params"]
    assert all(float(p.detach().abs().max()) <= 1.0 for p in latent)
    with pytest.raises(ValueError, match="The 'ste_optimizer' parameter of train must be"):
        TrainConfig(method="ste", ste_optimizer="rmsprop").validate()
