"""lowrank_sdp.torch's RiemannianSGD/RiemannianAdam: the Riemannian step against the numpy core's
manifold, the plain torch.optim step on ordinary groups, and the box for one-column factors."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from lowrank_sdp import manifold as npm  # noqa: E402
from lowrank_sdp.torch import RiemannianAdam, RiemannianSGD, is_factor  # noqa: E402
from lowrank_sdp.torch import manifold as tm  # noqa: E402


def np_project(Y, V):  # the numpy core's maps, on a batch of rows (..., r)
    return npm.project(Y.reshape(-1, Y.shape[-1]), V.reshape(-1, Y.shape[-1])).reshape(Y.shape)


def np_retract(Y, V, t):
    return npm.retract(Y.reshape(-1, Y.shape[-1]), V.reshape(-1, Y.shape[-1]), t).reshape(Y.shape)


def factor(shape=(3, 5, 3), seed=0):
    g = torch.Generator().manual_seed(seed)
    Y = tm.random_point(int(np.prod(shape[:-1])), shape[-1], generator=g, dtype=torch.float64)
    return nn.Parameter(Y.reshape(shape))


def test_riemannian_sgd_with_momentum_matches_a_numpy_reference():
    p = factor()
    opt = RiemannianSGD([p], lr=0.1, momentum=0.9, riemannian=True)
    Y = p.detach().numpy().copy()
    buf = None
    rng = np.random.default_rng(0)
    for _ in range(4):
        G = rng.standard_normal(Y.shape)
        p.grad = torch.from_numpy(G.copy())
        opt.step()
        r = np_project(Y, G)
        buf = r if buf is None else 0.9 * np_project(Y, buf) + r
        Y = np_retract(Y, buf, -0.1)
        np.testing.assert_allclose(p.detach().numpy(), Y, atol=1e-12)
    assert is_factor(p)


@pytest.mark.parametrize("adaptivity", ["row", "coordinate"])
def test_riemannian_adam_matches_a_numpy_reference(adaptivity):
    p = factor()
    opt = RiemannianAdam([{"params": [p], "riemannian": True}], lr=0.05, adaptivity=adaptivity)
    Y = p.detach().numpy().copy()
    m = np.zeros_like(Y)
    v = np.zeros_like(Y[..., :1]) if adaptivity == "row" else np.zeros_like(Y)
    rng = np.random.default_rng(1)
    for t in range(1, 5):
        G = rng.standard_normal(Y.shape)
        p.grad = torch.from_numpy(G.copy())
        opt.step()
        r = np_project(Y, G)
        m = 0.9 * np_project(Y, m) + 0.1 * r
        sq = np.sum(r * r, axis=-1, keepdims=True) if adaptivity == "row" else r * r
        v = 0.999 * v + 0.001 * sq
        d = np_project(Y, (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8))
        Y = np_retract(Y, d, -0.05)
        np.testing.assert_allclose(p.detach().numpy(), Y, atol=1e-12)


@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-10), (torch.float32, 2e-5)])
def test_fused_adam_step_equals_the_tensor_step(dtype, rtol):
    # The kernel (one pass, row by row) against the tensor operations, on factors of several
    # ranks with an ordinary group beside them, from zero moments, at a large lr.
    torch.manual_seed(0)
    shapes = [(3, 5, 3), (7, 2), (130, 6), (300, 9)]  # (300, 9): more rows than one block
    runs = []
    for fused in (False, True):
        ps = [factor(s, seed=i).to(dtype).detach().requires_grad_() for i, s in enumerate(shapes)]
        bias = nn.Parameter(torch.ones(4, dtype=dtype))
        opt = RiemannianAdam([{"params": ps, "riemannian": True, "fused": fused},
                              {"params": [bias]}], lr=0.3, betas=(0.8, 0.99))
        runs.append((ps, bias, opt))
    g = torch.Generator().manual_seed(1)
    for _ in range(6):
        grads = [torch.randn(s, generator=g, dtype=torch.float64).to(dtype) for s in shapes]
        gb = torch.randn(4, generator=g, dtype=torch.float64).to(dtype)
        for ps, bias, opt in runs:
            for p, gr in zip(ps, grads):
                p.grad = gr.clone()
            bias.grad = gb.clone()
            opt.step()
        for (a, b) in zip(runs[0][0] + [runs[0][1]], runs[1][0] + [runs[1][1]]):
            torch.testing.assert_close(b.detach(), a.detach(), rtol=rtol, atol=rtol)
        for pa, pb in zip(runs[0][0], runs[1][0]):
            sa, sb = runs[0][2].state[pa], runs[1][2].state[pb]
            for key in ("exp_avg", "exp_avg_sq", "step"):
                torch.testing.assert_close(sb[key], sa[key], rtol=rtol, atol=rtol)
    assert all(is_factor(p) for p in runs[1][0])


def test_fused_true_refuses_what_the_kernel_cannot_take():
    with pytest.raises(ValueError, match="The 'fused' parameter of RiemannianAdam must be None"):
        RiemannianAdam([{"params": [factor()], "riemannian": True, "adaptivity": "coordinate"}],
                       fused=True)
    with pytest.raises(ValueError, match="The 'fused' parameter of RiemannianAdam must be None"):
        RiemannianAdam([nn.Parameter(torch.ones(3))], fused=True)
    with pytest.raises(ValueError, match="The 'fused' parameter of RiemannianAdam must be None"):
        RiemannianAdam([factor()], fused="yes")


def test_one_column_factors_take_the_clipped_step():
    p = nn.Parameter(torch.rand(4, 2, 1, dtype=torch.float64) * 2 - 1)
    assert is_factor(p) and not is_factor(nn.Parameter(torch.full((4, 1), 1.5)))
    opt = RiemannianSGD([p], lr=1.0, riemannian=True)
    before = p.detach().clone()
    g = torch.randn_like(before)
    p.grad = g
    opt.step()
    assert torch.equal(p.detach(), (before - g).clamp(-1, 1))


@pytest.mark.parametrize("kwargs", [dict(momentum=0.9), dict(momentum=0.9, nesterov=True),
                                    dict(weight_decay=0.1), dict()])
def test_euclidean_groups_step_like_torch_sgd(kwargs):
    torch.manual_seed(0)
    a, b = nn.Linear(4, 3), nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    oa = RiemannianSGD(a.parameters(), lr=0.1, **kwargs)
    ob = torch.optim.SGD(b.parameters(), lr=0.1, **kwargs)
    _same_steps(a, oa, b, ob, 3)


def test_euclidean_groups_step_like_torch_adam():
    torch.manual_seed(0)
    a, b = nn.Linear(4, 3), nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    oa = RiemannianAdam(a.parameters(), lr=0.01, weight_decay=0.01)
    ob = torch.optim.Adam(b.parameters(), lr=0.01, weight_decay=0.01)
    _same_steps(a, oa, b, ob, 5)


def _same_steps(a, oa, b, ob, steps):
    x = torch.randn(8, 4)
    for _ in range(steps):
        for model, opt in ((a, oa), (b, ob)):
            opt.zero_grad()
            model(x).pow(2).sum().backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


def test_bad_options_are_value_errors():
    p = factor()
    with pytest.raises(ValueError, match="The 'params' parameter of RiemannianAdam must be factors"):
        RiemannianAdam([{"params": [nn.Linear(3, 4).weight], "riemannian": True}])
    with pytest.raises(ValueError, match="The 'adaptivity' parameter of RiemannianAdam must be one"):
        RiemannianAdam([p], adaptivity="column")
    with pytest.raises(ValueError, match="The 'momentum' parameter of RiemannianSGD"):
        RiemannianSGD([p], momentum=1.0)
    with pytest.raises(ValueError, match="The 'lr' parameter of RiemannianSGD"):
        RiemannianSGD([p], lr=-1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_kernels_equal_their_py_func_and_the_outer_form_equals_the_built_gradient(dtype):
    from lowrank_sdp.kernels.stochastic import (
        adam_cols_step,
        adam_cols_step_outer,
        adam_rows_step,
        adam_rows_step_outer,
    )

    rng = np.random.default_rng(3)
    n, r, s = 300, 4, 2  # more rows than one block, two outer-product terms
    Y = rng.standard_normal((n, r)).astype(dtype)
    Y /= np.linalg.norm(Y, axis=1, keepdims=True)
    gw, xi = rng.standard_normal((s, n)).astype(dtype), rng.standard_normal((s, r)).astype(dtype)
    G = (gw.T @ xi).astype(dtype)
    MT = (0.1 * rng.standard_normal((r, n))).astype(dtype)
    V = rng.random(n).astype(dtype)
    gw[:, 5] = 0  # a row with no gradient and a zero first moment: it must not move
    G[5] = 0
    MT[:, 5] = 0
    sc = [dtype(x) for x in (0.9, 0.99, 0.3, 1e-8, -0.2, np.finfo(dtype).tiny)]
    out = []
    for f, grad in ((adam_rows_step, (G,)), (adam_rows_step.py_func, (G,)),
                    (adam_rows_step_outer, (gw, xi)), (adam_rows_step_outer.py_func, (gw, xi))):
        y, m, v = Y.copy(), MT.copy(), V.copy()
        f(y, *grad, m, v, *sc, (0,) * r)
        out.append((y, m, v))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for o in out[1:]:
        for a, b in zip(out[0], o):
            np.testing.assert_allclose(b, a, rtol=tol, atol=tol)
    np.testing.assert_allclose(out[0][0][5], Y[5], rtol=tol, atol=tol)  # only renormalised
    np.testing.assert_allclose(np.linalg.norm(out[0][0], axis=1), 1, rtol=tol)
    # The column-major kernels (factor stored as Y^T) compute the same arithmetic: equal to the
    # row kernels bit for bit, and to their own py_func.
    for f, g, rows in ((adam_cols_step, (G.T.copy(),), out[0]),
                       (adam_cols_step.py_func, (G.T.copy(),), out[0]),
                       (adam_cols_step_outer, (gw, xi), out[2]),
                       (adam_cols_step_outer.py_func, (gw, xi), out[2])):
        yt, m, v = Y.T.copy(), MT.copy(), V.copy()
        f(yt, *g, m, v, *sc, (0,) * r)
        exact = f in (adam_cols_step, adam_cols_step_outer)
        for a, b in zip(rows, (yt.T, m, v)):
            if exact:
                np.testing.assert_array_equal(b, a)
            else:
                np.testing.assert_allclose(b, a, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sampled_signs_is_the_sign_of_y_xi(dtype):
    from lowrank_sdp.kernels.stochastic import sampled_signs

    rng = np.random.default_rng(5)
    n, r = 700, 5
    Y = rng.standard_normal((n, r)).astype(dtype)
    xi = rng.standard_normal(r).astype(dtype)
    Y[3] = 0  # Y xi = 0 exactly: +1
    Y[4] = np.nan  # NaN: -1 (as (x >= 0) * 2 - 1)
    w = Y.astype(np.float64) @ xi.astype(np.float64)
    clear = np.abs(w) > 1e-4 * np.abs(Y).sum(1).max()  # away from rounding ties
    clear[[3, 4]] = True
    want = np.where(w >= 0, 1.0, -1.0)
    for f in (sampled_signs, sampled_signs.py_func):
        out = np.full(n, 7.0, dtype)
        f(np.ascontiguousarray(Y.T), xi, out, (0,) * r)
        assert out.dtype == dtype and set(np.unique(out)) <= {-1.0, 1.0}
        np.testing.assert_array_equal(out[clear], want[clear])
        assert out[3] == 1 and out[4] == -1


@pytest.mark.parametrize("fused", [None, False])
def test_outer_gradients_step_as_the_built_gradient(fused):
    # add_outer_grad terms (alone, two of them, and with p.grad) take the same steps as their
    # sum given as p.grad, with RiemannianAdam (kernel and tensor path) and RiemannianSGD.
    from lowrank_sdp.torch import add_outer_grad, outer_grad

    for make in (lambda ps: RiemannianAdam(ps, lr=0.2, riemannian=True, fused=fused),
                 lambda ps: RiemannianSGD(ps, lr=0.2, momentum=0.9, riemannian=True)):
        a, b = factor((6, 50, 5)), factor((6, 50, 5))
        oa, ob = make([a]), make([b])
        g = torch.Generator().manual_seed(2)
        for step in range(4):
            terms = [(torch.randn(6, 50, generator=g, dtype=torch.float64),
                      torch.randn(5, generator=g, dtype=torch.float64)) for _ in range(1 + step % 2)]
            dense = torch.randn(6, 50, 5, generator=g, dtype=torch.float64) if step == 3 else None
            oa.zero_grad()
            ob.zero_grad()
            for gw, xi in terms:
                add_outer_grad(b, gw, xi)
            built = sum(gw.unsqueeze(-1) * xi for gw, xi in terms)
            torch.testing.assert_close(outer_grad(b), built)
            a.grad = built if dense is None else built + dense
            b.grad = dense
            oa.step()
            ob.step()
            torch.testing.assert_close(b.detach(), a.detach(), rtol=1e-12, atol=1e-12)
        ob.zero_grad()
        assert outer_grad(b) is None
    with pytest.raises(ValueError, match="add_outer_grad"):
        add_outer_grad(b, torch.ones(6, 5), torch.ones(5))


def test_outer_gradient_nonfinite_is_refused_and_an_old_row_major_state_still_steps():
    from lowrank_sdp.torch import NonFiniteError, add_outer_grad

    p = factor((40, 3))
    opt = RiemannianAdam([p], lr=0.1, riemannian=True)
    add_outer_grad(p, torch.full((40,), float("nan"), dtype=torch.float64),
                   torch.ones(3, dtype=torch.float64))
    before = p.detach().clone()
    with pytest.raises(NonFiniteError):
        opt.step()
    torch.testing.assert_close(p.detach(), before, rtol=0, atol=0)
    assert not opt.state[p]
    # A state saved with a row-major first moment (before the column layout) is taken as is.
    q, ref = factor((40, 3)), factor((40, 3))
    oq, oref = RiemannianAdam([q], lr=0.1, riemannian=True), RiemannianAdam([ref], lr=0.1,
                                                                           riemannian=True)
    g = torch.Generator().manual_seed(4)
    for step in range(3):
        grad = torch.randn(40, 3, generator=g, dtype=torch.float64)
        q.grad, ref.grad = grad.clone(), grad.clone()
        if step == 1:
            oq.state[q]["exp_avg"] = oq.state[q]["exp_avg"].contiguous()
        oq.step()
        oref.step()
        torch.testing.assert_close(q.detach(), ref.detach(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_kernels_write_the_signs_of_the_stepped_factor(dtype):
    # With xn and signs given, each Adam kernel (and its py_func) steps exactly as without them
    # and writes sign(Y_new xn) equal to sampled_signs of the stepped factor, bit for bit; n is
    # not a multiple of BLOCK (a padded last block) and one row has an exact tie Y xn = 0.
    from lowrank_sdp.kernels.stochastic import (
        BLOCK,
        adam_cols_step,
        adam_cols_step_outer,
        adam_rows_step,
        adam_rows_step_outer,
        sampled_signs,
    )

    rng = np.random.default_rng(11)
    n, r = 2 * BLOCK + 37, 5
    Y = rng.standard_normal((n, r)).astype(dtype)
    Y /= np.linalg.norm(Y, axis=1, keepdims=True)
    gw, xi = rng.standard_normal((1, n)).astype(dtype), rng.standard_normal((1, r)).astype(dtype)
    G = (gw.T @ xi).astype(dtype)
    MT = (0.1 * rng.standard_normal((r, n))).astype(dtype)
    V = rng.random(n).astype(dtype)
    gw[0, 7], G[7], MT[:, 7] = 0, 0, 0  # row 7 does not move: make it a tie for xn
    Y[7] = np.array([0, 1, 0, 0, 0], dtype)
    xn = rng.standard_normal(r).astype(dtype)
    xn[1] = 0
    sc = [dtype(x) for x in (0.9, 0.99, 0.3, 1e-8, -0.2, np.finfo(dtype).tiny)]
    cols = (0,) * r
    cases = [(f, lambda y: y.copy(), (G,)) for f in (adam_rows_step, adam_rows_step.py_func)]
    cases += [(f, lambda y: y.copy(), (gw, xi)) for f in (adam_rows_step_outer,
                                                    adam_rows_step_outer.py_func)]
    cases += [(f, lambda y: y.T.copy(), (G.T.copy(),)) for f in (adam_cols_step,
                                                                adam_cols_step.py_func)]
    cases += [(f, lambda y: y.T.copy(), (gw, xi)) for f in (adam_cols_step_outer,
                                                           adam_cols_step_outer.py_func)]
    for f, layout, grad in cases:
        plain = [layout(Y), MT.copy(), V.copy()]
        f(plain[0], *grad, plain[1], plain[2], *sc, cols)
        fused = [layout(Y), MT.copy(), V.copy()]
        signs = np.full(n, 7.0, dtype)
        f(fused[0], *grad, fused[1], fused[2], *sc, cols, xn, signs)
        for a, b in zip(plain, fused):
            np.testing.assert_array_equal(b, a)
        yt = np.ascontiguousarray(fused[0] if fused[0].shape[0] == r else fused[0].T)
        want = np.empty(n, dtype)
        sampled_signs(yt, xn, want, cols)
        np.testing.assert_array_equal(signs, want)
        assert signs[7] == 1  # Y_7 xn = 0 exactly
        # and the signs are those of the product (away from rounding ties)
        w = yt.T.astype(np.float64) @ xn.astype(np.float64)
        clear = np.abs(w) > 1e-4
        np.testing.assert_array_equal(signs[clear], np.where(w[clear] >= 0, 1.0, -1.0))


@pytest.mark.parametrize("columns", [True, False])
def test_prefetched_signs_are_the_sampled_signs_of_the_stepped_factor(columns):
    from lowrank_sdp.torch import add_outer_grad, prefetch_signs, sampled_signs, zeros_columns

    torch.manual_seed(0)
    Y = tm.random_point(300, 4, dtype=torch.float32).reshape(20, 15, 4)
    p = nn.Parameter(zeros_columns(Y.shape).copy_(Y) if columns else Y.clone())
    opt = RiemannianAdam([p], lr=0.05, riemannian=True)
    xi = torch.randn(4)

    def step(xn):
        opt.zero_grad()
        add_outer_grad(p, torch.randn(20, 15), torch.randn(4))
        if xn is not None:
            prefetch_signs(p, xn)
        opt.step()

    def fresh(xn):  # the signs computed from the factor as it is now
        with torch.no_grad():
            return ((p.detach().reshape(-1, 4) @ xn.double().float()) >= 0).float() * 2 - 1

    step(xi)
    got = sampled_signs(p, xi)
    assert p.__dict__.get("_prefetched_signs") is None  # handed out once
    assert torch.equal(got.reshape(-1), fresh(xi))
    # The prefetched tensor itself is what comes back (no second pass over p) ...
    step(xi)
    ready = p.__dict__["_prefetched_signs"][1]
    assert sampled_signs(p, xi) is ready
    # ... but not for another xi, nor after p changed in place (its version counter)
    step(xi)
    other = torch.randn(4)
    assert torch.equal(sampled_signs(p, other).reshape(-1), fresh(other))
    step(xi)
    ready = p.__dict__["_prefetched_signs"][1]
    with torch.no_grad():
        p.neg_()
    out = sampled_signs(p, xi)
    assert out is not ready and torch.equal(out.reshape(-1), fresh(xi))
    # A step without a request forgets the last signs; the tensor path drops the request.
    step(xi)
    step(None)
    assert "_prefetched_signs" not in p.__dict__
    opt.param_groups[0]["fused"] = False
    step(xi)
    assert "_prefetched_signs" not in p.__dict__ and "_prefetch_signs" not in p.__dict__
    sgd = RiemannianSGD([p], lr=0.1, riemannian=True)
    prefetch_signs(p, xi)
    p.grad = torch.randn_like(p)
    sgd.step()
    assert "_prefetched_signs" not in p.__dict__
    with pytest.raises(ValueError, match="prefetch_signs"):
        prefetch_signs(p, torch.ones(5))
