"""bnn deployment: eval modes, harden (best of k, BatchNorm recalibrated), export, NumPy forward."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bnn


def w1a1_mlp(binary_input: bool = False) -> nn.Sequential:
    return nn.Sequential(
        nn.Flatten(),
        bnn.BinaryLinear(64, 32, rank=2, binary_input=binary_input), nn.BatchNorm1d(32),
        bnn.SignActivation(),
        bnn.BinaryLinear(32, 32, rank=2), nn.BatchNorm1d(32), bnn.SignActivation(),
        bnn.BinaryLinear(32, 5, rank=2), nn.BatchNorm1d(5))


def w1a1_cnn() -> nn.Sequential:
    return nn.Sequential(
        bnn.BinaryConv2d(1, 8, 3, padding=1, rank=2), nn.MaxPool2d(2), nn.BatchNorm2d(8),
        bnn.SignActivation(),
        bnn.BinaryConv2d(8, 8, 3, stride=1, padding=1, rank=2), nn.BatchNorm2d(8),
        bnn.SignActivation(), nn.Flatten(),
        bnn.BinaryLinear(8 * 4 * 4, 5, rank=2), nn.BatchNorm1d(5))


def task(seed: int = 0, n: int = 400):
    """A learnable 5-class problem on 8x8 images: noisy copies of 5 fixed class patterns."""
    centers = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(1234))
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 8, 8, generator=g)
    y = torch.randint(0, 5, (n,), generator=g)
    return x + 1.5 * centers[y], y


def batches(x, y, size=100):
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(y), size)]


def trained(model: nn.Module, steps: int = 30) -> nn.Module:
    x, y = task(0)
    opt = bnn.RiemannianAdam(bnn.param_groups(model, lr=1e-2, factor_lr=3e-2))
    for i in range(steps):
        xb, yb = batches(x, y)[i % 4]
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
    return model


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return trained(w1a1_mlp())


def accuracy(net, x, y):
    with torch.no_grad():
        return float((net(x).argmax(1) == y).double().mean())


def test_eval_modes(model):
    x, y = task(1)
    val = batches(x, y)
    before = copy.deepcopy(model.state_dict())
    mean = bnn.evaluate(model, val, mode="mean")
    assert mean.mode == "mean" and mean.count == 400 and mean.samples == 1
    net = bnn.set_mode(copy.deepcopy(model), "mean").eval()
    assert mean.accuracy == pytest.approx(accuracy(net, x, y))
    one = bnn.evaluate(model, val, mode="sample", seed=3)
    ens1 = bnn.evaluate(model, val, mode="ensemble", samples=1, seed=3)
    assert one.accuracy == ens1.accuracy and one.loss == pytest.approx(ens1.loss)
    ens = bnn.evaluate(model, val, mode="ensemble", samples=4, seed=3)
    assert ens.samples == 4 and ens.mode == "ensemble"
    # ensemble = the average of the logits of the sampled networks, rebuilt here by hand
    logits = 0
    for s in range(3, 7):
        net = copy.deepcopy(model)
        for j, layer in enumerate(bnn.binary_layers(net)):
            layer.resample(s * 7919 + j)
            layer.mode = "sample"
        with torch.no_grad():
            logits = logits + net.eval()(x).double()
    assert ens.accuracy == pytest.approx(float((logits.argmax(1) == y).double().mean()))
    with pytest.raises(ValueError, match="hardened model"):
        bnn.evaluate(model, val, mode="harden")
    with pytest.raises(ValueError, match="'mode' parameter of evaluate"):
        bnn.evaluate(model, val, mode="best")
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items() if isinstance(v, torch.Tensor))


def test_harden_picks_the_best_candidate_with_recalibrated_batchnorm(model):
    xc, yc = task(0)
    xv, yv = task(1)
    hard = bnn.harden(model, batches(xc, yc), batches(xv, yv), k=4, seed=1)
    assert len(hard.candidates) == 5 and hard.candidates[0].label == "mean"
    assert hard.chosen.accuracy == max(c.accuracy for c in hard.candidates)
    net = hard.model
    assert all(layer.mode == "fixed" for layer in bnn.binary_layers(net))
    assert bnn.evaluate(net, batches(xv, yv), mode="harden").accuracy == \
        pytest.approx(hard.chosen.accuracy)
    # the first BatchNorm holds the statistics of the calibration data for the chosen weights:
    # the average over the calibration batches of each batch's mean and (unbiased) variance
    pre = [net[1](xb.flatten(1)).detach() for xb, _ in batches(xc, yc)]
    assert torch.allclose(net[2].running_mean, torch.stack([p.mean(0) for p in pre]).mean(0),
                          atol=1e-4)
    assert torch.allclose(net[2].running_var, torch.stack([p.var(0) for p in pre]).mean(0),
                          rtol=1e-4)
    assert all(layer.mode == "train" for layer in bnn.binary_layers(model))  # untouched


def test_the_hardened_network_learned(model):
    hard = bnn.harden(model, batches(*task(0)), batches(*task(1)), k=2)
    xt, yt = task(2)
    assert accuracy(hard.model, xt, yt) > 0.6  # chance is 0.2


@pytest.mark.parametrize("make,binary_input", [(w1a1_mlp, True), (w1a1_mlp, False),
                                               (w1a1_cnn, False)])
def test_export_reference_forward_is_bit_exact(make, binary_input, tmp_path):
    torch.manual_seed(1)
    net = make(binary_input) if make is w1a1_mlp else make()
    net = trained(net, steps=8)
    xc, yc = task(0)
    hard = bnn.harden(net, batches(xc, yc), batches(*task(1)), k=2).model
    exported = bnn.export(hard)
    path = exported.save(tmp_path / "net.npz")
    loaded = bnn.load_export(path)
    n_binary = sum(layer.weight_shape.numel() for layer in bnn.binary_layers(hard))
    assert loaded.binary_weights == n_binary
    bits = sum(op.arrays["bits"].nbytes for op in loaded.ops if "bits" in op.arrays)
    assert bits == sum(-(-layer.weight_shape.numel() // 8) for layer in bnn.binary_layers(hard))
    x, _ = task(2, n=300)
    exact = binary_input or make is w1a1_cnn
    if make is w1a1_cnn:
        x = torch.where(x >= 0, 1.0, -1.0)  # a ±1 input: the whole path is integral
    with torch.no_grad():
        expected = hard(x).numpy()
    got = bnn.reference_forward(loaded, x.numpy())
    assert got.dtype == expected.dtype
    if exact:
        assert np.array_equal(got, expected)  # bit for bit
    else:
        # real inputs into the first binary layer: float sums in another order, so equal to
        # rounding (and, in practice, the same signs downstream)
        assert np.allclose(got, expected, atol=1e-4)
        assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.99


def test_export_unpacks_to_the_hardened_weights(model):
    hard = bnn.harden(model, batches(*task(0)), batches(*task(1)), k=1)
    exported = bnn.export(hard.model)
    layers = list(bnn.binary_layers(hard.model))
    ops = [op for op in exported.ops if "bits" in op.arrays]
    for layer, op in zip(layers, ops):
        w = np.unpackbits(op.arrays["bits"], count=layer.weight_shape.numel())
        assert np.array_equal(w.reshape(layer.weight_shape) * 2.0 - 1, layer.fixed_weight.numpy())


def test_export_rejects_unsupported_modules():
    with pytest.raises(ValueError, match="'model' parameter of export"):
        bnn.export(nn.Sequential(bnn.BinaryLinear(4, 2), nn.GELU()))


def test_float_layers_match_to_rounding():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 8), nn.BatchNorm1d(8), nn.ReLU(),
                        bnn.BinaryLinear(8, 3, rank=1), nn.BatchNorm1d(3)).eval()
    x = torch.randn(20, 10)
    with torch.no_grad():
        expected = net(x).numpy()
    got = bnn.reference_forward(bnn.export(net), x.numpy())
    assert np.allclose(got, expected, atol=1e-5)
