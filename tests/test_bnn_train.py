"""bnn.train and the baselines: each method learns digits, deploys ±1 weights, and resumes exactly."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import bnn  # noqa: E402
from bnn.baselines.bayesbinn import (  # noqa: E402
    EPS,
    BayesBiNN,
    BayesLinear,
    log_sech2,
    stable_scale,
)
from bnn.baselines.ste import ClippedAdam, STELinear  # noqa: E402
from bnn.data import load_dataset  # noqa: E402
from bnn.layers import BinaryLayer  # noqa: E402
from bnn.models import build_model  # noqa: E402
from bnn.train import TrainConfig, evaluate, main, train  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Two pytest workers share two cores: one thread each, restored afterwards.
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


#: (method, rank, digits test accuracy its deployed MLP must reach after EPOCHS epochs). Measured
#: over seeds 0-4 (the test runs seed 0): STE 0.986-0.994, BayesBiNN 0.975-0.992, VISPA K=0
#: 0.989-0.994, K=4 0.992-0.994; the thresholds leave a margin for other torch versions and machines.
METHODS = [("ste", 0, 0.95), ("bayesbinn", 0, 0.95), ("vispa", 0, 0.95), ("vispa", 4, 0.95)]
EPOCHS = 5
#: One CNN epoch: (deployed, ensemble) test accuracy each method must reach. Measured over seeds
#: 0-4: STE 0.914-0.953 (its ensemble is its deployed network), VISPA K=2 0.939-0.958 deployed and
#: 0.947-0.964 ensemble; BayesBiNN 0.950-0.986 (both).
CNN_TARGETS = {"ste": (0.85, 0.85), "bayesbinn": (0.85, 0.85), "vispa": (0.85, 0.85)}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _config(method, rank=0, **kw):
    base = dict(dataset="digits", model="mlp", method=method, rank=rank, epochs=EPOCHS,
                batch_size=32, seed=0, verbose=False, progress=False)
    return TrainConfig(**{**base, **kw})


def _assert_deployed_pm1(net: nn.Module) -> int:
    """Every weight layer of `net` is ±1 exactly; returns how many binary weights it has."""
    count = 0
    for m in net.modules():
        if isinstance(m, BinaryLayer):
            assert m.mode == "fixed"
            w = m.binary_weight()
        elif isinstance(m, (nn.Linear, nn.Conv2d)):
            w = m.weight
            assert m.bias is None
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) or not list(m.parameters(False)):
            continue
        else:
            raise AssertionError(f"unexpected layer with parameters in the deployed net: {m}")
        assert bool(((w == 1) | (w == -1)).all())
        count += w.numel()
    return count


@pytest.mark.parametrize(("method", "rank", "target"), METHODS)
def test_each_method_learns_digits_with_pm1_deployed_weights(digits, method, rank, target):
    res = train(_config(method, rank), data=digits)
    assert res.test_accuracy >= target, res.history
    # the deployed network is ±1 everywhere (784... here 64-512-512-10 binary weights)
    assert _assert_deployed_pm1(res.deployed) == 64 * 512 + 512 * 512 + 512 * 10
    # and its accuracy, recomputed here from its own forward pass, is the reported one
    with torch.no_grad():
        pred = res.deployed.eval()(digits.x_test).argmax(1)
    assert math.isclose(float((pred == digits.y_test).double().mean()), res.test_accuracy)
    assert 1 <= res.best_epoch <= EPOCHS and len(res.history) == EPOCHS
    assert res.val_accuracy >= target - 0.05
    _assert_exports_packed(res, digits)


def _assert_exports_packed(res, digits) -> None:
    """bnn.export of the deployed network packs every weight 1 bit each (no float weight layer),
    its size is the reported deployed_memory_bytes, and its NumPy forward pass is the network's."""
    exported = bnn.export(res.deployed)
    assert not {op.kind for op in exported.ops} & {"linear", "conv2d"}
    assert exported.binary_weights == sum(
        m.weight.numel() for m in res.deployed.modules() if isinstance(m, (nn.Linear, nn.Conv2d))
    ) + sum(m.binary_weight().numel() for m in res.deployed.modules()
            if isinstance(m, BinaryLayer))
    assert exported.nbytes == res.deployed_memory_bytes
    with torch.no_grad():
        logits = res.deployed.eval()(digits.x_test).numpy()
    np.testing.assert_allclose(bnn.reference_forward(exported, digits.x_test.numpy()), logits,
                               rtol=0, atol=1e-4)


@pytest.mark.parametrize("method", ["ste", "bayesbinn", "vispa"])
def test_cnn_deploys_pm1(digits, method):
    res = train(_config(method, 2, model="cnn", epochs=1, extra_eval_modes=("ensemble",)),
                data=digits)
    _assert_deployed_pm1(res.deployed)
    deployed, ensemble = CNN_TARGETS[method]  # chance is 0.1
    assert res.test_accuracy >= deployed and res.extra_test["ensemble"] >= ensemble
    if method == "ste":  # no distribution: its ensemble is its deployed network
        assert res.extra_test["ensemble"] == res.test_accuracy
    _assert_exports_packed(res, digits)


@pytest.mark.parametrize(("method", "rank"), [("ste", 0), ("bayesbinn", 0), ("vispa", 4)])
def test_resume_equals_an_unbroken_run(digits, tmp_path, method, rank):
    full = train(_config(method, rank, epochs=3, checkpoint=str(tmp_path / "a.pt")), data=digits)
    # the same run, interrupted after its first epoch, then resumed from the checkpoint
    cut = _config(method, rank, epochs=3, checkpoint=str(tmp_path / "b.pt"))
    train(cut, data=digits, callback=lambda record: record["epoch"] == 1)
    torch.manual_seed(12345)  # the resume must not depend on the global state it starts from
    resumed = train(_config(method, rank, epochs=3, resume=str(tmp_path / "b.pt")), data=digits)
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in full.history]
    assert resumed.test_accuracy == full.test_accuracy and resumed.best_epoch == full.best_epoch
    _assert_same(resumed.model.state_dict(), full.model.state_dict())


def _assert_same(a, b, where="state"):
    """Exact equality of nested state (tensors bit for bit, everything else by ==)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif torch.is_tensor(a):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


def test_command_json_is_the_last_line(capsys):
    code = main(["--method", "ste", "--epochs", "2", "--json", "--no-progress",
                 "--extra-eval-modes", "ensemble"])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3  # one line per epoch, then the JSON object
    out = json.loads(lines[-1])
    for key in ("method", "model", "dataset", "epochs", "eval_mode", "test_accuracy",
                "val_accuracy", "seconds_per_epoch"):
        assert key in out
    assert (out["method"], out["model"], out["dataset"], out["epochs"]) == ("ste", "mlp",
                                                                           "digits", 2)
    # two STE epochs: 0.972-0.981 over seeds 0-4 (the command runs seed 0)
    assert out["eval_mode"] == "harden" and out["test_accuracy"] >= 0.93
    assert out["test_accuracy_ensemble"] == out["test_accuracy"]  # STE: its deployed network
    assert out["seconds_per_epoch"] > 0


def test_python_dash_m_bnn_train():
    proc = subprocess.run(
        [sys.executable, "-m", "bnn.train", "--method", "vispa", "--rank", "2", "--epochs", "1",
         "--json", "--threads", "1"],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["method"] == "vispa" and out["rank"] == 2
    assert out["test_accuracy"] >= 0.9  # one epoch: 0.958-0.969 over seeds 0-4 (this is seed 0)


def test_command_reports_bad_input(capsys, tmp_path):
    assert main(["--dataset", str(tmp_path / "missing"), "--epochs", "1"]) == 2
    assert "The 'name' parameter of load_dataset must be" in capsys.readouterr().err
    with pytest.raises(ValueError, match="The 'epochs' parameter of train must be "):
        TrainConfig(epochs=0).validate()
    with pytest.raises(SystemExit):
        main(["--model", "rnn"])


# --- the baselines' pieces ---------------------------------------------------------------------


def test_ste_is_straight_through_and_clipped():
    layer = STELinear(3, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.5, -0.2, 0.0], [-1.0, 0.9, 0.1]]))
    x = torch.tensor([[1.0, 2.0, 3.0]])
    out = layer(x)
    torch.testing.assert_close(out, x @ torch.tensor([[1.0, -1, 1], [-1, 1, 1]]).T)
    out.sum().backward()
    torch.testing.assert_close(layer.weight.grad, x.expand(2, 3))  # d(sum)/dsign, unchanged
    opt = ClippedAdam([{"params": [layer.weight], "lr": 10.0, "clip": True}])
    opt.step()
    assert float(layer.weight.detach().abs().max()) == 1.0  # (a step of 10 hit the clip)


def test_bayesbinn_scale_stable_vs_reference_numerics():
    lam = torch.tensor([0.3, -2.0, 5.0], dtype=torch.float64)
    rho = lam + torch.tensor([0.1, 0.4, -0.7], dtype=torch.float64)
    tau = 0.7
    w, mu = torch.tanh(rho / tau), torch.tanh(lam)
    exact = (1 - w**2) / tau / (1 - mu**2)
    stable = torch.exp(log_sech2(rho / tau) - log_sech2(lam)) / tau
    torch.testing.assert_close(stable, exact, rtol=1e-9, atol=0)
    # float32 saturation: tanh(10) is exactly 1, so the published expression is a constant
    lam32 = torch.tensor([10.0, -10.0])
    assert bool((torch.tanh(lam32).abs() == 1).all())
    w32 = torch.tanh((lam32 + 0.2) / 1e-10)
    ref = (1 - w32 * w32 + 1e-10) / 1e-10 / (1 - torch.tanh(lam32) ** 2 + 1e-10)
    torch.testing.assert_close(ref, torch.full((2,), 1e10))
    # while the stable one is the true (finite, tiny) value, checked in float64
    s = torch.exp(log_sech2((lam32 + 0.2) / 1.0) - log_sech2(lam32))
    lam64 = lam32.double()
    truth = (1 - torch.tanh(lam64 + 0.2) ** 2) / (1 - torch.tanh(lam64) ** 2)
    torch.testing.assert_close(s.double(), truth, rtol=1e-5, atol=0)
    # the default numerics: the published formula, ε included, without cancellation
    ref64 = (1 - w**2 + EPS) / tau / (1 - mu**2 + EPS)
    torch.testing.assert_close(stable_scale(rho, lam, tau), ref64, rtol=1e-9, atol=0)
    big = torch.tensor([1e6, -30.0, 8.0])  # saturated at τ = 1e-10: s = 1 / (sech²(λ) + ε)
    s10 = stable_scale(big + 0.3, big, 1e-10).double()
    truth10 = 1 / (1 - torch.tanh(big.double()) ** 2 + EPS)
    torch.testing.assert_close(s10, truth10, rtol=1e-5, atol=0)


def test_bayesbinn_step_is_the_natural_gradient_update():
    torch.manual_seed(0)
    layer = BayesLinear(4, 3, lam_init=0.5, lam_std=0.3)
    lam0 = layer.lam.clone()
    opt = BayesBiNN([layer], train_set_size=50, lr=0.1, beta=0.9, temperature=1.0)
    x = torch.randn(5, 4)
    layer.train()
    (layer(x) ** 2).sum().backward()
    w, rho, g = layer._w.detach(), layer._rho, layer._w.grad
    opt.step()
    scale = (1 - w**2) / (1 - torch.tanh(lam0) ** 2)
    m = (1 - 0.9) * (50 * scale * g + lam0)
    torch.testing.assert_close(layer.lam, lam0 - 0.1 * m / (1 - 0.9), rtol=1e-5, atol=1e-6)
    assert torch.equal(torch.tanh(rho), w)
    layer.eval()
    torch.testing.assert_close(layer.binary_weight(), torch.where(layer.lam >= 0, 1.0, -1.0))


def test_eval_modes_for_bayesbinn_sample_one_network_per_evaluation(digits):
    torch.manual_seed(0)
    model = build_model("mlp", "bayesbinn", digits.input_shape, 10, lam_init=0.0)
    model.eval()
    for m in model.modules():
        if isinstance(m, BayesLinear):
            m.lam.normal_()
    a = evaluate(model, "bayesbinn", digits.x_test, digits.y_test, "sample")
    b = evaluate(model, "bayesbinn", digits.x_test, digits.y_test, "sample")
    assert a == b  # a fixed evaluation stream, independent of the training one
    state = torch.get_rng_state()
    evaluate(model, "bayesbinn", digits.x_test, digits.y_test, "ensemble", samples=3)
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("method", ["vispa", "ste", "bayesbinn"])
def test_cnn_small_is_the_cnn_at_half_width(method):
    # conv 8 and 16 channels, 128 hidden units: the benchmark grid's CNN (bnn_bench.py)
    small = build_model("cnn-small", method, (1, 28, 28), 10, rank=2)
    full = build_model("cnn", method, (1, 28, 28), 10, rank=2)
    assert [type(m) for m in small] == [type(m) for m in full]
    widths = [m.num_features for m in small if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    assert widths == [8, 16, 128, 10]
    assert small(torch.randn(3, 1, 28, 28)).shape == (3, 10)
