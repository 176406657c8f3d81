"""bnn's optimizers on models: param groups, closures, schedulers, and checkpoint/resume.

The step itself (the core's lowrank_sdp.torch optimizers) is tested in tests/test_torch_optim.py.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import bnn


def small_model(rank: int = 3) -> nn.Sequential:
    return nn.Sequential(bnn.BinaryLinear(12, 16, rank=rank), nn.BatchNorm1d(16),
                         bnn.SignActivation(), bnn.BinaryLinear(16, 4, rank=rank, bias=True))


def data(seed: int = 5):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(64, 12, generator=g), torch.randint(0, 4, (64,), generator=g)


def test_param_groups_split_factors_from_the_rest():
    model = small_model()
    groups = bnn.param_groups(model, lr=1e-3, factor_lr=1e-2, weight_decay=1e-4, momentum=0.5)
    factors, rest = groups
    assert factors["riemannian"] and factors["lr"] == 1e-2 and factors["momentum"] == 0.5
    assert [id(p) for p in factors["params"]] == [id(model[0].factor), id(model[3].factor)]
    assert not rest["riemannian"] and rest["weight_decay"] == 1e-4
    assert len(rest["params"]) == 3  # BatchNorm weight, bias, the last layer's bias
    assert len(bnn.param_groups(nn.Linear(2, 2), lr=1.0)) == 1


@pytest.mark.parametrize("opt_cls", [bnn.RiemannianSGD, bnn.RiemannianAdam])
def test_a_riemannian_group_of_non_factors_is_a_value_error(opt_cls):
    with pytest.raises(ValueError, match=r"'params' parameter of .* must be factors"):
        opt_cls([{"params": [nn.Linear(3, 4).weight], "riemannian": True}])
    with pytest.raises(ValueError, match="must be factors"):
        opt_cls([{"params": [nn.BatchNorm1d(3).weight], "riemannian": True}])
    layer = bnn.BinaryLinear(3, 4, rank=2)
    with pytest.raises(ValueError, match="'weight_decay' parameter"):
        opt_cls([{"params": [layer.factor], "riemannian": True, "weight_decay": 0.1}])
    opt_cls([{"params": [layer.factor], "riemannian": True}])  # fine


def test_closure_scheduler_and_state_dict():
    torch.manual_seed(0)
    model = small_model()
    x, y = data()
    opt = bnn.RiemannianAdam(bnn.param_groups(model, lr=1e-3, factor_lr=1e-2))
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return loss

    for _ in range(3):
        loss = opt.step(closure)
        assert isinstance(loss, torch.Tensor) and torch.isfinite(loss)
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(5e-3)
    state = opt.state[model[0].factor]
    assert float(state["step"]) == 3 and state["exp_avg"].shape == model[0].factor.shape
    clone = bnn.RiemannianAdam(bnn.param_groups(model, lr=1.0))
    clone.load_state_dict(opt.state_dict())
    assert torch.equal(clone.state[model[0].factor]["exp_avg"], state["exp_avg"])
    assert clone.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for layer in bnn.binary_layers(model):
        assert bnn.is_factor(layer.factor)


@pytest.mark.parametrize("opt_cls", [bnn.RiemannianSGD, bnn.RiemannianAdam])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_loss_is_refused_and_nothing_changes(opt_cls, bad):
    torch.manual_seed(0)
    model = small_model()
    x, y = data()
    opt = opt_cls(bnn.param_groups(model, lr=1e-2, momentum=0.9)
                  if opt_cls is bnn.RiemannianSGD else bnn.param_groups(model, lr=1e-2))
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    params = copy.deepcopy(list(model.parameters()))
    state = copy.deepcopy(opt.state_dict())

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y) * bad
        loss.backward()
        return loss

    with pytest.raises(FloatingPointError, match=f"loss is {bad}; step refused"):
        opt.step(closure)
    with pytest.raises(bnn.NonFiniteError, match="gradient is NaN or infinite"):
        opt.step()  # the gradients left by the closure are not finite either
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), params))
    after = opt.state_dict()
    for k, s in state["state"].items():
        for name, value in s.items():
            assert torch.equal(torch.as_tensor(after["state"][k][name]), torch.as_tensor(value))


def train(model, opt, sched, x, y, start, stop):
    for _ in range(start, stop):
        idx = torch.randperm(len(y))[:16]  # the global generator: restored by the checkpoint
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
        sched.step()


@pytest.mark.parametrize("opt_cls", [bnn.RiemannianSGD, bnn.RiemannianAdam])
def test_resume_continues_exactly_like_an_unbroken_run(tmp_path, opt_cls):
    x, y = data()

    def fresh(seed):
        torch.manual_seed(seed)
        model = small_model()
        kw = {"momentum": 0.9} if opt_cls is bnn.RiemannianSGD else {}
        opt = opt_cls(bnn.param_groups(model, lr=1e-2), **kw)
        return model, opt, torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)

    model, opt, sched = fresh(0)
    train(model, opt, sched, x, y, 0, 10)
    unbroken = copy.deepcopy(model.state_dict())

    model, opt, sched = fresh(0)
    train(model, opt, sched, x, y, 0, 4)
    bnn.save_checkpoint(tmp_path / "ck.pt", model, opt, sched, step=4, extra={"note": "x"})
    torch.manual_seed(99)  # the resumed process starts from another state altogether
    model, opt, sched = fresh(1)
    ck = bnn.load_checkpoint(tmp_path / "ck.pt", model, opt, sched)
    assert ck.step == 4 and ck.extra == {"note": "x"}
    train(model, opt, sched, x, y, ck.step, 10)
    for k, v in unbroken.items():
        if isinstance(v, torch.Tensor):
            assert torch.equal(model.state_dict()[k], v), k


@pytest.mark.parametrize("samples", [1, 2])
def test_outer_grad_layers_take_the_same_steps_as_built_gradients(samples):
    # outer_grad=True (the gradient of the sampled weights handed over as outer products, the
    # kernel stepping on them) against the built factor.grad, 5 steps of a small Linear + Conv
    # network with the same seeds and draws: parameters equal to float tolerance after each.
    from bnn.optim import RiemannianAdam, param_groups

    def net(outer):
        torch.manual_seed(0)
        conv = bnn.BinaryConv2d(2, 3, 3, rank=3, samples=samples, noise=1.0, padding=1)
        lin = bnn.BinaryLinear(3 * 5 * 5, 4, rank=3, samples=samples, noise=1.0)
        model = nn.Sequential(conv, nn.BatchNorm2d(3), nn.Flatten(), lin)
        conv.outer_grad = lin.outer_grad = outer
        return model, RiemannianAdam(param_groups(model, lr=1e-2, factor_lr=0.05))

    runs = [net(False), net(True)]
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        x, y = torch.randn(6, 2, 5, 5, generator=g), torch.randint(0, 4, (6,), generator=g)
        for model, opt in runs:
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
        assert runs[1][0][0].factor.grad is None and runs[0][0][0].factor.grad is not None
        for _, opt in runs:
            opt.step()
        for a, b in zip(runs[0][0].parameters(), runs[1][0].parameters()):
            torch.testing.assert_close(b.detach(), a.detach(), rtol=1e-5, atol=1e-6)


def test_prefetched_signs_train_exactly_as_signs_computed_in_the_forward(monkeypatch):
    # bnn.train's VISPA setting (outer_grad, RiemannianAdam's kernel) computes each next
    # forward pass's signs in the optimizer's pass (prefetch_signs): 6 steps of a Linear + Conv
    # network, with an eval pass and a state_dict reload in between, against the same run with
    # the prefetch switched off; the parameters equal bit for bit, and the forward passes used
    # the prefetched signs (sampled_signs' kernel ran only where no prefetch could be valid).
    import bnn.layers
    import lowrank_sdp.torch.optim as lto
    from bnn.optim import RiemannianAdam, param_groups

    def net():
        torch.manual_seed(0)
        conv = bnn.BinaryConv2d(2, 3, 3, rank=3, padding=1, noise=0.3)
        lin = bnn.BinaryLinear(3 * 5 * 5, 4, rank=3, noise=0.3)
        model = nn.Sequential(conv, nn.BatchNorm2d(3), nn.Flatten(), lin)
        conv.outer_grad = lin.outer_grad = True
        return model, RiemannianAdam(param_groups(model, lr=1e-2, factor_lr=0.05))

    calls = []
    kernel = lto.sampled_signs_kernel
    monkeypatch.setattr(lto, "sampled_signs_kernel", lambda *a: (calls.append(1), kernel(*a)))

    def run(prefetch):
        if not prefetch:
            monkeypatch.setattr(bnn.layers, "prefetch_signs", lambda p, xi: None)
        model, opt = net()
        g = torch.Generator().manual_seed(1)
        calls.clear()
        for step in range(6):
            x, y = torch.randn(6, 2, 5, 5, generator=g), torch.randint(0, 4, (6,), generator=g)
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            if step == 2:  # an eval pass (sign(mu)) between steps leaves the prefetch valid
                model.eval()
                with torch.no_grad():
                    model(x)
                model.train()
            if step == 3:  # a reload bumps the factors' versions: signs computed afresh
                model.load_state_dict(copy.deepcopy(model.state_dict()))
        return model, len(calls)

    (a, n_plain), (b, n_prefetch) = run(True), run(False)
    assert (n_plain, n_prefetch) == (2 + 2, 12)  # first step and after the reload, 2 layers
    for (k, u), v in zip(a.state_dict().items(), b.state_dict().values()):
        if isinstance(u, torch.Tensor):
            assert torch.equal(u, v), k
