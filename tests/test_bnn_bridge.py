"""The bridge between bnn and lowrank_sdp: binary least squares is a linear SDP.

For one linear layer and the squared loss, E‖A w − b‖²/m = ⟨Q, X⟩ exactly; the adapter's relaxed
training must reach the SDP optimum that lowrank_sdp.solve certifies and that cvxpy confirms.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import bnn
import lowrank_sdp as ls
from bnn import relaxation as rx

pytest.importorskip("cvxpy")
from lowrank_sdp.testing import solve_cvxpy


def instance(seed: int, m: int, d: int):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, d))
    b = 3.0 * rng.standard_normal(m)  # targets far from any A w: the relaxation is not tight
    return A, b


def brute_force(A: np.ndarray, b: np.ndarray) -> float:
    W = np.array(list(itertools.product((-1.0, 1.0), repeat=A.shape[1])))
    return float((((W @ A.T) - b) ** 2).mean(axis=1).min())


def test_q_is_the_expected_loss_of_the_layer():
    A, b = instance(1, 30, 7)
    torch.manual_seed(0)
    layer = bnn.BinaryLinear(7, 1, rank=3, dtype=torch.float64, noise=1.0)
    layer.mode = "relaxed"
    Q = rx.least_squares_q(A, b)
    X = rx.lifted(layer).detach().numpy()
    exact = rx.expected_loss(layer, torch.tensor(A), torch.tensor(b)).item()
    assert np.allclose(np.diag(X), 1.0)
    assert exact == pytest.approx(float(np.sum(Q * X)), rel=1e-12)
    # Monte Carlo over the layer's own samples agrees (independent of the formula)
    layer.samples = 4000
    x = torch.tensor(A).repeat(4000, 1)
    with torch.no_grad():
        pred = layer(x).reshape(4000, 30)
    mc = ((pred - torch.tensor(b)) ** 2).mean(dim=1)
    assert abs(float(mc.mean()) - exact) < 4 * float(mc.std()) / np.sqrt(4000)
    # at a binary w, <Q, (1,w)(1,w)^T> is the binary loss
    w = np.where(np.arange(7) % 2 == 0, 1.0, -1.0)
    v = np.concatenate([[1.0], w])
    assert v @ Q @ v == pytest.approx(float(((A @ w - b) ** 2).mean()), rel=1e-12)


def test_exact_full_batch_training_reaches_the_sdp_optimum():
    A, b = instance(0, 60, 12)
    Q = rx.least_squares_q(A, b)
    res = ls.solve(Q, sense="min", tol=1e-9)
    assert res.certified
    reference = solve_cvxpy(Q, sense="min")
    torch.manual_seed(0)
    layer = bnn.BinaryLinear(12, 1, rank=12, dtype=torch.float64, noise=1.0)
    opt = bnn.RiemannianSGD(bnn.param_groups(layer, lr=0.5 / np.linalg.norm(Q, 2)), momentum=0.9)
    At, bt = torch.tensor(A), torch.tensor(b)
    for _ in range(1500):
        opt.zero_grad()
        loss = rx.expected_loss(layer, At, bt)
        loss.backward()
        opt.step()
    value = rx.expected_loss(layer, At, bt).item()
    assert value == pytest.approx(res.objective, rel=1e-3)
    assert value == pytest.approx(reference, rel=1e-3)
    assert res.bound <= value + 1e-9  # the core's certified bound holds for the adapter's point
    # and the core's solution, loaded into a layer, has the same expected loss
    warm = bnn.BinaryLinear(12, 1, rank=12, dtype=torch.float64, noise=1.0)
    with torch.no_grad():
        warm.factor[0] = rx.factor_from_sdp(res.Y, 12)
    assert rx.expected_loss(warm, At, bt).item() == pytest.approx(res.objective, rel=1e-9)


def test_stochastic_minibatches_with_sampled_xi_get_close():
    """Tolerance: 5% relative after 1500 steps of plain Riemannian SGD (lr 0.2/‖Q‖, cosine
    decay, batches of 20, 4 samples of xi per step); measured about 1.5% with these seeds."""
    A, b = instance(0, 60, 12)
    Q = rx.least_squares_q(A, b)
    optimum = ls.solve(Q, sense="min", tol=1e-9).objective
    torch.manual_seed(1)
    layer = bnn.BinaryLinear(12, 1, rank=12, samples=4, dtype=torch.float64, noise=1.0)
    layer.mode = "relaxed"
    steps = 1500
    opt = bnn.RiemannianSGD(bnn.param_groups(layer, lr=0.2 / np.linalg.norm(Q, 2)))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    At, bt = torch.tensor(A), torch.tensor(b)
    gen = torch.Generator().manual_seed(0)
    start = rx.expected_loss(layer, At, bt).item()
    for _ in range(steps):
        idx = torch.randint(0, len(b), (20,), generator=gen)
        opt.zero_grad()
        loss = ((layer(At[idx]).squeeze(1) - bt[idx]) ** 2).mean()
        loss.backward()
        opt.step()
        sched.step()
    value = rx.expected_loss(layer, At, bt).item()
    assert optimum - 1e-6 <= value <= optimum * 1.05
    assert value < start


@pytest.mark.parametrize("seed", [0, 1])
def test_sdp_bounds_brute_force_and_rounding_is_within_the_known_gap(seed):
    d = 10
    A, b = instance(seed + 10, 40, d)
    Q = rx.least_squares_q(A, b)
    res = ls.solve(Q, sense="min", tol=1e-9)
    best_binary = brute_force(A, b)
    assert res.bound <= best_binary + 1e-9
    assert res.objective <= best_binary + 1e-6

    Y = rx.anchor(res.Y)
    assert np.allclose(Y[0], np.eye(Y.shape[1])[0])
    assert np.allclose(Y @ Y.T, res.Y @ res.Y.T)
    W = rx.hyperplane_round(Y, rounds=20000, seed=seed)
    losses = (((W @ A.T) - b) ** 2).mean(axis=1)
    # Goemans–Williamson: E[(1,w)(1,w)^T] = (2/π) arcsin(X), so E[loss] = <Q, (2/π) arcsin X>
    X = np.clip(Y @ Y.T, -1.0, 1.0)
    expected = float(np.sum(Q * (2 / np.pi) * np.arcsin(X)))
    assert abs(losses.mean() - expected) < 4 * losses.std() / np.sqrt(len(losses))
    # SDP value <= binary optimum <= best rounded w <= the known expected rounding value
    assert res.objective - 1e-6 <= best_binary <= losses.min() + 1e-12
    assert losses.min() <= expected
