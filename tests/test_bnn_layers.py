"""bnn layers: the factor, sampling, straight-through gradients, modes, bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bnn

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def pm1(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


@pytest.mark.parametrize("rank", [0, 1, 5])
def test_factor_shape_and_constraint(rank):
    torch.manual_seed(0)
    layer = bnn.BinaryLinear(7, 3, rank=rank)
    assert layer.factor.shape == (3, 7, rank + 1)
    assert layer.mu.shape == (3, 7) and layer.z.shape == (3, 7, rank)
    if rank:
        assert torch.allclose(layer.factor.norm(dim=-1), torch.ones(3, 7))
    else:
        assert layer.factor.abs().max() <= 1
    conv = bnn.BinaryConv2d(2, 4, 3, rank=rank)
    assert conv.factor.shape == (4, 2, 3, 3, rank + 1)


def test_initialisations():
    torch.manual_seed(0)
    layer = bnn.BinaryLinear(50, 40, rank=3, init_mu=0.2)
    assert layer.mu.abs().max() <= 0.2 and layer.mu.abs().max() > 0.15
    naive = bnn.BinaryLinear(50, 40, rank=3, init_z=0.01)
    assert torch.allclose(naive.z.norm(dim=-1), torch.full((40, 50), 0.01))
    assert torch.allclose(naive.mu.abs(), torch.full((40, 50), (1 - 1e-4) ** 0.5))


@pytest.mark.parametrize(
    "make",
    [
        lambda: bnn.BinaryLinear(3, 2, rank=-1),
        lambda: bnn.BinaryLinear(3, 2, rank=1.5),
        lambda: bnn.BinaryLinear(3, 2, rank=True),
        lambda: bnn.BinaryLinear(0, 2),
        lambda: bnn.BinaryLinear(3, 0),
        lambda: bnn.BinaryConv2d(0, 2, 3),
        lambda: bnn.BinaryConv2d(1, 2, 0),
        lambda: bnn.BinaryConv2d(1, 2, (3, 0)),
        lambda: bnn.BinaryLinear(3, 2, samples=0),
        lambda: bnn.BinaryLinear(3, 2, noise=1.5),
        lambda: bnn.BinaryLinear(3, 2, init_mu=-0.1),
        lambda: bnn.SignActivation("tanh"),
    ],
)
def test_bad_input_is_a_clear_value_error(make):
    with pytest.raises(ValueError, match=r"^The '\w+' parameter of \w+ must be .*; got .*\.$"):
        make()


def test_bad_mode_is_a_value_error():
    model = nn.Sequential(bnn.BinaryLinear(3, 2))
    with pytest.raises(ValueError, match="'mode' parameter of set_mode"):
        bnn.set_mode(model, "average")


def test_forward_uses_sign_of_y_xi_and_gradient_is_g_xi_transposed():
    torch.manual_seed(0)
    layer = bnn.BinaryLinear(6, 4, rank=3, bias=True, noise=1.0)
    x = torch.randn(5, 6)
    c = torch.randn(5, 4)
    out = layer(x)
    xi = layer.last_xi[0]
    w = pm1(torch.einsum("oik,k->oi", layer.factor.detach(), xi))
    assert torch.equal(out, F.linear(x, w, layer.bias))
    (out * c).sum().backward()
    G = c.T @ x  # dL/dW of the linear map
    assert torch.allclose(layer.factor.grad, G[..., None] * xi, atol=1e-6)
    assert torch.allclose(layer.bias.grad, c.sum(0))


def test_samples_split_the_batch():
    torch.manual_seed(0)
    layer = bnn.BinaryLinear(6, 4, rank=3, samples=3, noise=1.0)
    x = torch.randn(7, 6)
    out = layer(x)
    xis = layer.last_xi
    assert xis.shape == (3, 4) and torch.all(xis[:, 0] == 1)
    chunks = torch.tensor_split(x, 3)
    for s, chunk in enumerate(chunks):
        w = pm1(torch.einsum("oik,k->oi", layer.factor.detach(), xis[s]))
        assert torch.equal(out[sum(len(c) for c in chunks[:s]):][: len(chunk)], chunk @ w.T)


def test_samples_depend_on_seed_and_draws_only():
    a = bnn.BinaryLinear(6, 4, rank=3, seed=11)
    b = bnn.BinaryLinear(6, 4, rank=3, seed=11)
    c = bnn.BinaryLinear(6, 4, rank=3, seed=12)
    x = torch.randn(2, 6)
    torch.manual_seed(1)
    a(x)
    torch.manual_seed(2)  # the global generator plays no part
    b(x)
    c(x)
    assert torch.equal(a.last_xi, b.last_xi) and not torch.equal(a.last_xi, c.last_xi)
    first = a.last_xi
    a(x)
    assert int(a.draws) == 2 and not torch.equal(a.last_xi, first)
    g = torch.stack([a.draw_xi(1, s)[0, 1:] for s in range(2000)])
    assert abs(float(g.mean())) < 0.1 and abs(float(g.std()) - 1) < 0.1


def test_modes():
    torch.manual_seed(0)
    layer = bnn.BinaryLinear(6, 4, rank=2, noise=1.0)
    x = torch.randn(3, 6)
    mean_w = pm1(layer.mu.detach())
    layer.eval()  # mode "train" in eval(): the mean network, no draw
    assert torch.equal(layer(x), x @ mean_w.T) and int(layer.draws) == 0
    layer.train()
    layer.mode = "mean"
    assert torch.equal(layer(x), x @ mean_w.T)
    layer.mode = "relaxed"
    out = layer(x)
    w = torch.einsum("oik,k->oi", layer.factor.detach(), layer.last_xi[0])
    assert torch.allclose(out, x @ w.T, atol=1e-6)
    bnn.resample(layer, 3)
    assert layer.mode == "sample"
    first = layer(x)
    assert torch.equal(first, layer(x))  # frozen: one sampled network
    w = pm1(torch.einsum("oik,k->oi", layer.factor.detach(), layer.eval_xi))
    assert torch.equal(first, x @ w.T)
    layer.fix()
    assert layer.mode == "fixed" and torch.equal(layer.fixed_weight, w)
    assert torch.equal(layer(x), first)


def test_rank_zero_is_binaryconnect():
    torch.manual_seed(0)
    layer = bnn.BinaryLinear(6, 4, rank=0)
    x = torch.randn(3, 6)
    out = layer(x)
    assert torch.equal(out, x @ pm1(layer.mu.detach()).T)
    out.sum().backward()
    assert torch.allclose(layer.factor.grad[..., 0], torch.ones(4, 3) @ x)


def test_conv_matches_functional_conv():
    torch.manual_seed(0)
    conv = bnn.BinaryConv2d(3, 5, 3, stride=2, padding=1, rank=2, bias=True)
    x = torch.randn(2, 3, 9, 9)
    conv.mode = "mean"
    ref = F.conv2d(x, pm1(conv.mu.detach()), conv.bias, stride=2, padding=1)
    assert torch.allclose(conv(x), ref, atol=1e-5)


@pytest.mark.parametrize("surrogate", ["hardtanh", "approxsign", "identity"])
def test_sign_activation_surrogates(surrogate):
    x = torch.linspace(-2, 2, 41, requires_grad=True)
    y = bnn.SignActivation(surrogate)(x)
    assert torch.equal(y.detach(), pm1(x.detach()))
    y.backward(torch.ones_like(y))
    ax = x.detach().abs()
    expected = {"hardtanh": (ax <= 1).float(), "identity": torch.ones_like(ax),
                "approxsign": (2 - 2 * ax).clamp_min(0)}[surrogate]
    assert torch.equal(x.grad, expected)


def test_noise_scales_the_sampled_directions():
    torch.manual_seed(0)
    layer = bnn.BinaryLinear(6, 4, rank=3, noise=0.25)
    layer.mode = "relaxed"
    x = torch.randn(3, 6)
    out = layer(x)
    xi = layer.last_xi[0] * torch.tensor([1.0, 0.25, 0.25, 0.25])
    assert torch.allclose(out, x @ torch.einsum("oik,k->oi", layer.factor.detach(), xi).T,
                          atol=1e-6)


def test_binary_input_binarizes_before_the_product():
    torch.manual_seed(0)
    layer = bnn.BinaryLinear(6, 4, rank=2, binary_input=True)
    layer.mode = "mean"
    x = torch.randn(3, 6)
    assert torch.equal(layer(x), pm1(x) @ pm1(layer.mu.detach()).T)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_devices_and_dtypes(device, dtype):
    torch.manual_seed(0)
    model = nn.Sequential(
        bnn.BinaryConv2d(1, 4, 3, padding=1, rank=2, device=device, dtype=dtype),
        nn.BatchNorm2d(4, device=device, dtype=dtype), bnn.SignActivation(), nn.Flatten(),
        bnn.BinaryLinear(64, 3, rank=2, device=device, dtype=dtype))
    x = torch.randn(4, 1, 4, 4, device=device, dtype=dtype)
    out = model(x)
    assert out.dtype == dtype and out.device.type == device
    out.sum().backward()
    assert model[0].factor.grad.dtype == dtype
    xi = model[0].last_xi
    assert xi.dtype == dtype and xi.device.type == device


def test_state_dict_keeps_mode_and_fixed_weights():
    torch.manual_seed(0)
    a = bnn.BinaryLinear(6, 4, rank=2)
    a.fix()
    b = bnn.BinaryLinear(6, 4, rank=2)
    b.load_state_dict(a.state_dict())
    assert b.mode == "fixed" and torch.equal(b.fixed_weight, a.fixed_weight)


def test_both_layers_spell_out_one_signature():
    """BinaryLinear and BinaryConv2d list BinaryLayer's options explicitly (so that help() and
    completion show them, as torch.nn layers do); this keeps the two lists and their defaults
    one and the same, and every one of them a BinaryLayer parameter."""
    import inspect

    def options(cls, own=()):
        return {name: (p.kind, p.default) for name, p in
                inspect.signature(cls.__init__).parameters.items()
                if name in ("rank", "bias", "binary_input") or (p.kind is p.KEYWORD_ONLY
                and name not in own)}

    linear, conv = options(bnn.BinaryLinear), options(bnn.BinaryConv2d, own=("dilation",))
    assert linear == conv and len(linear) == 13
    assert set(linear) <= set(inspect.signature(bnn.BinaryLayer.__init__).parameters)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sign_pm1_matches_where_and_keeps_sign0_plus1(dtype):
    from bnn.layers import sign_pm1

    x = torch.tensor([0.0, -0.0, 1e-30, -1e-30, 2.5, -2.5, float("inf"), float("-inf"),
                      float("nan")], dtype=dtype)
    x = torch.cat([x, torch.randn(1000, dtype=dtype)]).requires_grad_(True)
    s = sign_pm1(x)
    assert s.dtype == dtype and not s.requires_grad
    torch.testing.assert_close(s, torch.where(x >= 0, 1.0, -1.0).to(dtype), rtol=0, atol=0)
    assert s[:2].tolist() == [1.0, 1.0] and s[8].item() == -1.0  # ±0 -> +1, NaN -> -1
    assert set(s.tolist()) == {-1.0, 1.0}
    assert sign_pm1(x, torch.float16).dtype == torch.float16
    assert s.data_ptr() != x.data_ptr()  # a new tensor, x untouched
    w = torch.randn(3, 4, 5)
    torch.testing.assert_close(sign_pm1(w), pm1(w), rtol=0, atol=0)


def _row_major_init(seed_state, weight_shape, rank, init_mu):
    """The default initialisation written for a row-major factor (the layout before the
    column-major one): the seed draw, mu ~ U(-a, a), z = sqrt(1 - mu^2) u / |u|."""
    torch.set_rng_state(seed_state)
    torch.randint(0, 2**62, (1,))  # the layer's stream seed
    mu = (2 * torch.rand(weight_shape) - 1) * init_mu
    u = torch.randn(*weight_shape, rank)
    z = u / u.norm(dim=-1, keepdim=True) * (1 - mu**2).clamp_min(0).sqrt()[..., None]
    return torch.cat([mu[..., None], z], dim=-1)


@pytest.mark.parametrize("recipe", ["adapter", "paper"])
def test_factor_is_stored_column_major_and_its_values_do_not_depend_on_it(recipe):
    torch.manual_seed(0)
    state = torch.get_rng_state()
    layer = bnn.BinaryLinear(7, 3, rank=4, recipe=recipe)
    f = layer.factor
    assert not f.is_contiguous() and f.movedim(-1, 0).is_contiguous() and layer.mu.is_contiguous()
    if recipe == "adapter":  # the same numbers as drawn into a row-major factor
        torch.testing.assert_close(f.detach(), _row_major_init(state, (3, 7), 4, 0.1),
                                   rtol=0, atol=1e-7)
    else:  # Xavier-normal drawn in logical order
        torch.set_rng_state(state)
        torch.randint(0, 2**62, (1,))
        torch.rand(3)  # alpha
        want = torch.empty(3, 7, 5).normal_(0.0, (2.0 / (7 + 3)) ** 0.5)
        torch.testing.assert_close(f.detach(), want, rtol=0, atol=0)
    # a state dict of a row-major factor loads into the column-major one; the layout survives
    # .double() and the saved state has the same values
    other = bnn.BinaryLinear(7, 3, rank=4, recipe=recipe)
    sd = {k: (v.contiguous() if k == "factor" else v) for k, v in layer.state_dict().items()}
    other.load_state_dict(sd)
    assert torch.equal(other.factor, layer.factor) and not other.factor.is_contiguous()
    assert not other.double().factor.is_contiguous()


@pytest.mark.parametrize("outer", [False, True])
def test_column_major_factor_trains_as_a_row_major_one(outer):
    # The same network with its factors re-stored row-major (the layout before): forward signs
    # (sampled_signs kernel vs torch.matmul), gradients and RiemannianAdam's steps (column vs row
    # kernels) agree over 4 steps, for the built gradient and the outer-product one.
    from bnn.optim import RiemannianAdam, param_groups

    def net(row_major):
        torch.manual_seed(0)
        conv = bnn.BinaryConv2d(2, 3, 3, rank=3, noise=1.0, padding=1)
        lin = bnn.BinaryLinear(3 * 5 * 5, 4, rank=3, noise=1.0, samples=2)
        model = nn.Sequential(conv, nn.BatchNorm2d(3), nn.Flatten(), lin).double()
        for m in (conv, lin):
            if row_major:
                m.factor = nn.Parameter(m.factor.detach().contiguous())
            assert m.factor.is_contiguous() == row_major
            m.outer_grad = outer
        return model, RiemannianAdam(param_groups(model, lr=1e-2, factor_lr=0.05))

    runs = [net(True), net(False)]
    g = torch.Generator().manual_seed(1)
    for _ in range(4):
        x = torch.randn(6, 2, 5, 5, generator=g, dtype=torch.float64)
        y = torch.randint(0, 4, (6,), generator=g)
        for model, opt in runs:
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
        if not outer:
            for a, b in zip(runs[0][0].parameters(), runs[1][0].parameters()):
                torch.testing.assert_close(b.grad, a.grad, rtol=1e-12, atol=1e-14)
            assert not runs[1][0][0].factor.grad.is_contiguous()  # in the factor's layout
        for _, opt in runs:
            opt.step()
        for a, b in zip(runs[0][0].parameters(), runs[1][0].parameters()):
            torch.testing.assert_close(b.detach(), a.detach(), rtol=1e-12, atol=1e-14)
    assert not runs[1][0][0].factor.is_contiguous()


def test_sampled_signs_equals_the_sign_of_the_product():
    from lowrank_sdp.torch import sampled_signs, zeros_columns

    g = torch.Generator().manual_seed(2)
    for dtype in (torch.float32, torch.float64):
        rows = torch.randn(4, 30, 6, generator=g, dtype=dtype)
        cols = zeros_columns(rows.shape, dtype=dtype).copy_(rows)
        xi = torch.randn(6, generator=g, dtype=dtype)
        want = pm1(rows @ xi)
        # matmul path, kernel, neither layout (matmul again)
        for p, w in ((rows, want), (cols, want), (cols.transpose(0, 1), want.transpose(0, 1))):
            out = sampled_signs(p, xi)
            assert out.dtype == dtype and out.shape == p.shape[:-1]
            assert torch.equal(out, w)
    with pytest.raises(ValueError, match="sampled_signs"):
        sampled_signs(rows, torch.ones(5))
