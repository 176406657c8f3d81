"""Binary-weight layers whose weights are a low-rank Gaussian, i.e. a factor of an SDP relaxation.

Each weight i of a layer owns a row y_i = (mu_i, z_i) of the layer's ``factor`` parameter, shape
``(*weight_shape, rank + 1)``. For rank K >= 1 the rows are unit vectors (mu_i^2 + |z_i|^2 = 1, the
constraint diag(X) = 1 of the lifted matrix X = E[(1, w)(1, w)^T]); a forward pass draws
xi = (1, g), g ~ N(0, I_K), one xi per layer and per sample, and uses the binary weights
sign(Y xi) with a straight-through gradient (dL/dY = G xi^T). For K = 0 the factor is the latent
weight mu in [-1, 1] and the forward pass uses sign(mu): BinaryConnect with clipping.

Which weights a forward pass uses is the layer's ``mode`` (set one layer's attribute, or a whole
model's with :func:`set_mode`):

- ``"train"`` (default): a fresh xi per forward pass while ``training``; sign(mu) in ``eval()``;
- ``"relaxed"``: a fresh xi, weights Y xi without the sign (the Gaussian relaxation itself);
- ``"mean"``: sign(mu), one deterministic binary network;
- ``"sample"``: sign(Y xi) for a frozen xi set by :meth:`resample` (one sampled binary network);
- ``"fixed"``: the binary weights stored in the buffer ``fixed_weight`` (a hardened network).

The samples are a function of the layer's ``seed`` and ``draws`` buffers, not of torch's global
random state: they are identical on every DistributedDataParallel rank and after a resume.

Recipes (the layer's ``recipe``):

- ``"adapter"`` (default): the above, trained with :class:`bnn.RiemannianAdam` on the oblique
  manifold (rows of the factor kept at unit norm by the optimizer's retraction).
- ``"paper"``: the published VISPA recipe as its code behaves. The factor's columns are the mean
  M and the K noise directions Z, each Xavier-normal initialised as a weight-shaped tensor; a
  learnable per-output-channel scale ``alpha`` ~ U(0, 1) multiplies the layer's output; one draw
  rv ~ N(0, I_K / S) (S = ``paper_s``, 100) per layer and forward pass, in eval mode too; the
  weights are sign(w), w = (m + Z rv) / sqrt(A), A = m² + |z|² / S, and the gradient is
  grad_m = grad_w, grad_z = rv grad_w sqrt(S) (identity straight-through). The normalisation by
  sqrt(A) is not persisted into M, Z (the published code assigns it to a reshaped view's
  ``.data``) and, A being positive, it cannot change sign(w): this forward skips it (the
  reference test, tests/test_bnn_paper_recipe.py, does it literally and matches). Train with
  plain SGD on every parameter (bnn.train's ``recipe="paper"``).
- ``"sphere"``: the same, except that the normalisation persists: every training forward pass
  rescales the stored rows to m² + |z|² / S = 1 first, so the rows (m, z / sqrt(S)) stay on the
  oblique manifold (the adapter's geometry) while the optimizer is the paper's plain SGD.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from lowrank_sdp.torch import add_outer_grad, prefetch_signs, sampled_signs, zeros_columns
from lowrank_sdp.validation import check_choice, check_int, check_unit_interval, invalid

MODES = ("train", "relaxed", "mean", "sample", "fixed")
RECIPES = ("adapter", "paper", "sphere")
SURROGATES = ("hardtanh", "approxsign", "identity")

_MASK63 = (1 << 63) - 1


def sign_pm1(x: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """±1 = sign(x) with sign(0) = +1 (-0.0 and 0.0 both map to +1, NaN to -1), as a new tensor
    of `dtype` (default ``x.dtype``); no gradient. One comparison and two in-place passes:
    ``torch.where(x >= 0, 1.0, -1.0)`` broadcasts two scalars and measured ~3-5x slower on a
    512 x 784 layer. Every ±1 sign of bnn (layers, STE, BayesBiNN, alpha folding) is this one."""
    return (x >= 0).to(x.dtype if dtype is None else dtype).mul_(2).sub_(1)


class _SignSTE(torch.autograd.Function):
    """sign with sign(0) = +1; backward multiplies by the surrogate derivative."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, surrogate: str) -> torch.Tensor:
        ctx.surrogate = surrogate
        if surrogate != "identity":
            ctx.save_for_backward(x)
        return sign_pm1(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        if ctx.surrogate == "identity":
            return grad, None
        (x,) = ctx.saved_tensors
        if ctx.surrogate == "hardtanh":
            return grad * (x.abs() <= 1).to(grad.dtype), None
        return grad * (2.0 - 2.0 * x.abs()).clamp_min(0.0), None  # approxsign (Bi-Real Net)


class _SampledSign(torch.autograd.Function):
    """sign(factor · xi) with the straight-through gradient grad_factor = grad_w ⊗ xi', where
    xi' = (xi_0, z_scale · xi_1..K): z_scale = 1 is the adapter's dL/dY = G xi^T, z_scale =
    sqrt(S) the published recipe's grad_z = rv grad_w sqrt(S). One matrix-vector product
    forward and one broadcast multiply backward (einsum's backward is a batched matmul, ~2x
    slower here). With `outer`, the gradient is not built: it is handed to the optimizer as
    the outer product grad_w ⊗ xi' (lowrank_sdp.torch.add_outer_grad) and factor.grad is left
    alone."""

    @staticmethod
    def forward(ctx, factor: torch.Tensor, xi: torch.Tensor, z_scale: float,
                outer: bool = False) -> torch.Tensor:
        ctx.save_for_backward(xi)
        ctx.z_scale = z_scale
        ctx.factor = factor if outer else None
        ctx.columns = not factor.is_contiguous()  # stored column by column (zeros_columns)
        return sampled_signs(factor, xi)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (xi,) = ctx.saved_tensors
        if ctx.z_scale != 1.0:
            xi = torch.cat([xi[:1], xi[1:] * ctx.z_scale])
        if ctx.factor is not None:
            add_outer_grad(ctx.factor, grad, xi)
            return None, None, None, None
        if ctx.columns:  # the gradient in the factor's layout (autograd would copy it there)
            return (xi.view(-1, *([1] * grad.dim())) * grad).movedim(0, -1), None, None, None
        return grad.unsqueeze(-1) * xi, None, None, None


# One CPU generator per thread, re-seeded for every draw (a draw is a function of (seed,
# stream) only): creating a generator per forward pass costs more than seeding one.
_GENERATORS = threading.local()


def _generator(seed: int) -> torch.Generator:
    gen = getattr(_GENERATORS, "gen", None)
    if gen is None:
        gen = _GENERATORS.gen = torch.Generator()
    return gen.manual_seed(seed)


def binarize(x: torch.Tensor, surrogate: str = "identity") -> torch.Tensor:
    """±1 = sign(x) (0 maps to +1) with a straight-through gradient shaped by `surrogate`.

    ``"identity"``: dL/dx = dL/dsign (weights); ``"hardtanh"``: dL/dx = dL/dsign · 1{|x| <= 1};
    ``"approxsign"``: dL/dx = dL/dsign · max(0, 2 - 2|x|) (the derivative of Bi-Real Net's
    piecewise-quadratic sign approximation).
    """
    return _SignSTE.apply(x, surrogate)


class SignActivation(nn.Module):
    """Binary activation ±1 = sign(x) for the W1A1 setting.

    Forward: +1 where x >= 0, -1 elsewhere. Backward (the surrogate gradient): ``"hardtanh"``
    (default) passes the gradient where |x| <= 1 and zeroes it elsewhere, the straight-through
    estimator of BinaryNet; ``"approxsign"`` scales it by max(0, 2 - 2|x|) (Bi-Real Net);
    ``"identity"`` passes it unchanged.
    """

    def __init__(self, surrogate: str = "hardtanh") -> None:
        super().__init__()
        self.surrogate = check_choice(surrogate, SURROGATES, "surrogate", "SignActivation")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return binarize(x, self.surrogate)

    def extra_repr(self) -> str:
        return f"surrogate={self.surrogate!r}"


def _mix(*values: int) -> int:
    """A 63-bit seed from integers (splitmix64 steps), so nearby inputs give unrelated streams."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (int(v) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h = (h ^ (h >> 31)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
    return h & _MASK63


class BinaryLayer(nn.Module):
    """Common part of :class:`BinaryLinear` and :class:`BinaryConv2d` (not used directly).

    Parameters shared by both: ``rank`` K >= 0 (columns of Z); ``samples`` S, the number of xi
    drawn per training forward pass (the batch is split into S chunks, one sampled network each);
    ``noise`` s in [0, 1], the sampled weights are sign(mu + s Z g) (s = 1 is the method as
    written; s < 1 damps the sampling noise without changing the factor; the default (None:
    0.003 for recipe "adapter", 1 otherwise) 0.003 and
    ``init_mu=0.1`` are what benchmarks/bnn_vispa_ablation.py measured best); ``init_mu`` a and
    ``init_z``
    (initialisation, see :meth:`reset_factor`); ``binary_input`` binarizes the input with
    :class:`SignActivation` (``input_surrogate``) first; ``seed`` the layer's sample stream
    (default: drawn from torch's global generator, so ``torch.manual_seed`` fixes it);
    ``recipe`` ``"adapter"`` | ``"paper"`` | ``"sphere"`` (see the module doc; the last two use
    ``paper_s`` S and own the per-channel scale ``alpha``, and their noise must be 1).

    The attribute ``outer_grad`` (default False) hands the straight-through gradient of the
    sampled weights to the optimizer as outer products (:func:`lowrank_sdp.torch.add_outer_grad`)
    instead of building ``factor.grad``: only for an optimizer of :mod:`lowrank_sdp.torch`
    (whose ``zero_grad`` clears them), not under DistributedDataParallel (which reduces
    ``.grad``). bnn.train's VISPA optimizer sets it (RiemannianAdam's kernel then steps on the
    outer products directly).
    """

    def __init__(
        self,
        weight_shape: tuple[int, ...],
        rank: int,
        *,
        bias: bool,
        binary_input: bool,
        input_surrogate: str,
        samples: int,
        noise: float | None,
        init_mu: float,
        init_z: float | None,
        seed: int | None,
        device: torch.device | str | None,
        dtype: torch.dtype | None,
        name: str,
        recipe: str = "adapter",
        paper_s: float = 100.0,
    ) -> None:
        super().__init__()
        self.recipe = check_choice(recipe, RECIPES, "recipe", name)
        self.rank = check_int(rank, "rank", name, 0)
        self.samples = check_int(samples, "samples", name, 1)
        if noise is None:
            noise = 0.003 if self.recipe == "adapter" else 1.0
        self.noise = check_unit_interval(noise, "noise", name)
        if self.recipe != "adapter":
            if self.noise != 1.0:
                raise invalid("noise", name, f"1 with recipe={self.recipe!r}", noise)
            if isinstance(paper_s, bool) or not isinstance(paper_s, (int, float)) \
                    or not paper_s > 0:
                raise invalid("paper_s", name, "a positive number", paper_s)
        self.paper_s = float(paper_s)
        self.outer_grad = False
        self.binary_input = bool(binary_input)
        self.input_surrogate = check_choice(input_surrogate, SURROGATES, "input_surrogate", name)
        kw = {"device": device, "dtype": dtype}
        # Stored column by column (each of mu, z_1..z_K contiguous): the sampled weights
        # sign(mu + Z g) and the optimizer's kernel then read the factor without a transpose.
        self.factor = nn.Parameter(zeros_columns((*weight_shape, self.rank + 1), **kw))
        out = weight_shape[0]
        self.bias = nn.Parameter(torch.zeros(out, **kw)) if bias else None
        # the published per-output-channel scale, U(0, 1)
        self.alpha = (nn.Parameter(torch.rand(out, **kw)) if self.recipe != "adapter"
                      else None)
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        self.register_buffer("seed", torch.tensor(int(seed) & _MASK63, device=device))
        self.register_buffer("draws", torch.zeros((), dtype=torch.int64, device=device))
        self.register_buffer("eval_xi", torch.zeros(self.rank + 1, **kw))
        self.register_buffer("fixed_weight", None)
        self.mode = "train"
        self.last_xi: torch.Tensor | None = None  # the xi of the last sampled forward pass
        self._ahead: tuple | None = None  # (_draw_key, (raw, xi)) drawn ahead for prefetch_signs
        self.reset_factor(init_mu, init_z)

    # -- the factor ---------------------------------------------------------------------------
    @property
    def mu(self) -> torch.Tensor:
        """Mean weights mu = factor[..., 0] (a view), shape ``weight_shape``."""
        return self.factor[..., 0]

    @property
    def z(self) -> torch.Tensor:
        """Noise directions Z = factor[..., 1:] (a view), shape ``(*weight_shape, rank)``."""
        return self.factor[..., 1:]

    @property
    def weight_shape(self) -> torch.Size:
        return self.factor.shape[:-1]

    @torch.no_grad()
    def reset_factor(self, init_mu: float = 0.1, init_z: float | None = None) -> None:
        """Initialise the factor.

        Recipes ``"paper"``, ``"sphere"``: every column (M, z_1, ..., z_K) Xavier-normal,
        std sqrt(2 / (fan_in + fan_out)) (`init_mu`, `init_z` unused).
        Default: mu_i ~ U(-init_mu, init_mu) and z_i = sqrt(1 - mu_i^2) u_i with u_i a uniform
        random unit vector of R^K (for K = 0 only mu, clipped to [-1, 1]). With ``init_z`` given
        (K >= 1): |z_i| = init_z and mu_i = ±sqrt(1 - init_z^2) with a random sign, the reading
        of the method in which a tiny init_z leaves mu near ±1.
        """
        name = type(self).__name__
        init_mu = check_unit_interval(init_mu, "init_mu", name)
        f = self.factor
        if self.recipe != "adapter":
            # Xavier-normal on every weight-shaped column: M and each z_k
            fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(f[..., 0])
            # drawn in a row-major tensor (the factor's values do not depend on its layout)
            f.copy_(torch.empty(f.shape, dtype=f.dtype, device=f.device)
                    .normal_(0.0, math.sqrt(2.0 / (fan_in + fan_out))))
            return
        if init_z is not None and self.rank > 0:
            init_z = check_unit_interval(init_z, "init_z", name, closed=False)
            sign = torch.where(torch.rand_like(f[..., 0]) < 0.5, -1.0, 1.0).to(f.dtype)
            f[..., 0] = sign * math.sqrt(1.0 - init_z**2)
            radius = torch.full_like(f[..., 0], init_z)
        else:
            f[..., 0] = (2 * torch.rand_like(f[..., 0]) - 1) * init_mu
            radius = (1 - f[..., 0] ** 2).clamp_min(0).sqrt()
        if self.rank > 0:
            u = torch.randn(f[..., 1:].shape, dtype=f.dtype, device=f.device)  # row-major
            f[..., 1:] = u / u.norm(dim=-1, keepdim=True).clamp_min(1e-30) * radius[..., None]
        else:
            f.clamp_(-1.0, 1.0)

    # -- samples ------------------------------------------------------------------------------
    def draw_xi(self, n: int, stream: int) -> torch.Tensor:
        """xi = (1, g) for `n` samples of draw number `stream`, shape ``(n, K + 1)``.

        g comes from a CPU generator seeded by (seed, stream), so it is the same on every
        device and every rank (recipes "paper", "sphere": g ~ N(0, I_K / S)).
        """
        gen = _generator(_mix(int(self.seed), stream))
        g = torch.randn(n, self.rank, generator=gen, dtype=torch.float64)
        if self.recipe != "adapter":
            g = g / math.sqrt(self.paper_s)  # rv ~ N(0, I_K / S)
        xi = torch.cat([torch.ones(n, 1, dtype=torch.float64), g], dim=1)
        return xi.to(device=self.factor.device, dtype=self.factor.dtype)

    @torch.no_grad()
    def resample(self, stream: int) -> None:
        """Freeze the xi used by mode ``"sample"`` to draw number `stream` (negative streams are
        reserved for evaluation so they never collide with training draws)."""
        self.eval_xi.copy_(self.draw_xi(1, -1 - int(stream))[0])

    @torch.no_grad()
    def fix(self, weight: torch.Tensor | None = None) -> None:
        """Store binary weights (default: the current ``"sample"``/``"mean"`` ones) and switch
        to mode ``"fixed"``."""
        if weight is None:
            weight = self.binary_weight()
        if weight.shape != self.weight_shape:
            raise invalid("weight", f"{type(self).__name__}.fix",
                          f"a tensor of shape {tuple(self.weight_shape)}", tuple(weight.shape))
        self.fixed_weight = sign_pm1(weight, self.factor.dtype).to(self.factor.device)
        self.mode = "fixed"

    def _effective_mode(self) -> str:
        # The published recipe draws in eval mode as well.
        if self.mode == "train" and not self.training and self.recipe == "adapter":
            return "mean"
        return self.mode

    def weights(self) -> torch.Tensor:
        """The weights of the next forward pass, shape ``(S, *weight_shape)``; in the modes that
        sample, this draws (advances ``draws``)."""
        mode = check_choice(self._effective_mode(), MODES, "mode", type(self).__name__)
        if mode == "fixed":
            if self.fixed_weight is None:
                raise RuntimeError("mode 'fixed' needs fixed_weight; call fix() or bnn.harden")
            return self.fixed_weight.unsqueeze(0)
        if mode == "mean" or self.rank == 0:
            # K = 0: the factor itself as a view (squeeze's backward is a view, select's a copy)
            w = (self.factor.squeeze(-1) if self.rank == 0 else self.factor[..., 0]).unsqueeze(0)
            return w if mode == "relaxed" else binarize(w)
        prefetch = False
        if mode == "sample":
            xi = self._scaled(self.eval_xi.unsqueeze(0))
        else:
            n = self.samples if self.training else 1
            raw, xi = self._noisy_xi(n, int(self.draws))
            with torch.no_grad():
                self.draws += 1
            self.last_xi = raw.detach()
            # One sample, stepped by lowrank_sdp's optimizer: its next step computes the next
            # training draw's signs in the pass that steps the factor (prefetch_signs).
            prefetch = mode == "train" and n == 1
        if mode == "relaxed":
            return torch.einsum("...k,sk->s...", self.factor, xi)
        z_scale = math.sqrt(self.paper_s) if self.recipe != "adapter" else 1.0
        return self._signs(xi, z_scale, prefetch)

    def _noisy_xi(self, n: int, stream: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(draw_xi(n, stream), the xi of the sampled weights): (1, s g) for recipe "adapter"
        (s the noise), (1, rv) otherwise; the draw made ahead for a prefetch is reused."""
        ahead = self._ahead
        if ahead is not None and ahead[0] == self._draw_key(n, stream):
            return ahead[1]
        raw = self.draw_xi(n, stream)
        return raw, self._scaled(raw)

    def _draw_key(self, n: int, stream: int) -> tuple:
        """What a draw depends on: a draw kept ahead is reused only while this is unchanged."""
        return (n, stream, int(self.seed), self.noise, self.recipe, self.paper_s, self.rank)

    def _scaled(self, xi: torch.Tensor) -> torch.Tensor:
        """xi = (1, g) as the sampled weights use it: (1, s g) for recipe "adapter" (s the
        noise); unchanged otherwise (the paper's rv is drawn at its scale)."""
        if self.recipe == "adapter" and self.noise != 1.0:
            xi = xi * torch.tensor([1.0] + [self.noise] * self.rank).to(xi)
        return xi

    def _signs(self, xi: torch.Tensor, z_scale: float, prefetch: bool = False) -> torch.Tensor:
        outer = self.outer_grad and torch.is_grad_enabled() and self.factor.requires_grad
        ws = [_SampledSign.apply(self.factor, x, z_scale, outer) for x in xi]
        if outer and prefetch:
            stream = int(self.draws)
            nxt = self._noisy_xi(1, stream)
            self._ahead = (self._draw_key(1, stream), nxt)
            prefetch_signs(self.factor, nxt[1][0])
        # One sample (the default) as a view: stacking one tensor copies it, and its backward
        # scatters the gradient through a tensor of zeros (measured ~1 ms a layer on the MLP).
        return ws[0].unsqueeze(0) if len(ws) == 1 else torch.stack(ws)

    @torch.no_grad()
    def binary_weight(self) -> torch.Tensor:
        """The ±1 weights of the current eval mode (``mean``, ``sample`` or ``fixed``)."""
        mode = self._effective_mode()
        if mode in ("train", "relaxed"):
            mode = "mean"
        saved, self.mode = self.mode, mode
        try:
            return self.weights()[0]
        finally:
            self.mode = saved

    @torch.no_grad()
    def normalize_(self) -> None:
        """Rescale the stored rows to m² + |z|² / S = 1 (what recipe "sphere" does before every
        training forward pass)."""
        f = self.factor
        a = f[..., :1].square() + f[..., 1:].square().sum(-1, keepdim=True) / self.paper_s
        f.div_(a.sqrt_().clamp_min_(torch.finfo(f.dtype).tiny))

    def _apply_chunks(self, x: torch.Tensor, fn) -> torch.Tensor:
        if self.binary_input:
            x = binarize(x, self.input_surrogate)
        if self.recipe == "sphere" and self.training and self.mode == "train":
            self.normalize_()
        w = self.weights()
        if w.shape[0] == 1:
            # squeeze, not w[0]: a view whose backward is one too (select's backward writes the
            # gradient into a new tensor of zeros, measured ~1 ms on a 512 x 784 layer)
            out = fn(x, w.squeeze(0))
        else:
            chunks = torch.tensor_split(x, w.shape[0], dim=0)
            out = torch.cat([fn(c, w[s]) for s, c in enumerate(chunks) if c.shape[0] > 0], dim=0)
        if self.alpha is not None:
            out = out * self.alpha.view(1, -1, *([1] * (out.dim() - 2)))
        return out

    # The mode is part of the state (a hardened model reloads as hardened).
    def get_extra_state(self) -> dict:
        return {"mode": self.mode}

    def set_extra_state(self, state: dict) -> None:
        self.mode = check_choice(state["mode"], MODES, "mode", type(self).__name__)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        fixed = state_dict.get(prefix + "fixed_weight")
        if fixed is not None and self.fixed_weight is None:
            self.fixed_weight = torch.empty_like(fixed, device=self.factor.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        recipe = f", recipe={self.recipe!r}, paper_s={self.paper_s:g}" \
            if self.recipe != "adapter" else ""
        return (f"rank={self.rank}{recipe}, samples={self.samples}, noise={self.noise}, "
                f"binary_input={self.binary_input}, bias={self.bias is not None}, "
                f"mode={self.mode!r}")


def _check_features(value, param: str, name: str) -> int:
    return check_int(value, param, name, 1)


class BinaryLinear(BinaryLayer):
    """y = x sign(W)^T + b with W sampled from the layer's low-rank Gaussian (see module doc).

    ``BinaryLinear(in_features, out_features, rank=K, bias=False, binary_input=False, ...)``;
    the keyword-only parameters are those of :class:`BinaryLayer`.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rank: int = 4,
        bias: bool = False,
        binary_input: bool = False,
        *,
        input_surrogate: str = "hardtanh",
        samples: int = 1,
        noise: float | None = None,
        init_mu: float = 0.1,
        init_z: float | None = None,
        seed: int | None = None,
        recipe: str = "adapter",
        paper_s: float = 100.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        self.in_features = _check_features(in_features, "in_features", "BinaryLinear")
        self.out_features = _check_features(out_features, "out_features", "BinaryLinear")
        super().__init__(
            (self.out_features, self.in_features), rank, bias=bias, binary_input=binary_input,
            input_surrogate=input_surrogate, samples=samples, noise=noise, init_mu=init_mu,
            init_z=init_z, seed=seed, device=device, dtype=dtype, name="BinaryLinear",
            recipe=recipe, paper_s=paper_s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._apply_chunks(x, lambda c, w: F.linear(c, w, self.bias))

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, " + super().extra_repr()


def _pair(value, param: str, name: str, minimum: int) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise invalid(param, name, "an int or a pair of ints", value)
        return (check_int(value[0], param, name, minimum), check_int(value[1], param, name, minimum))
    v = check_int(value, param, name, minimum)
    return (v, v)


class BinaryConv2d(BinaryLayer):
    """2-D convolution with binary weights sign(W) sampled from the layer's low-rank Gaussian.

    ``BinaryConv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, rank=K,
    bias=False, binary_input=False, ...)``; zero padding (so with ``binary_input`` the padded
    border contributes 0, not ±1).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        rank: int = 4,
        bias: bool = False,
        binary_input: bool = False,
        *,
        dilation: int | tuple[int, int] = 1,
        input_surrogate: str = "hardtanh",
        samples: int = 1,
        noise: float | None = None,
        init_mu: float = 0.1,
        init_z: float | None = None,
        seed: int | None = None,
        recipe: str = "adapter",
        paper_s: float = 100.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        name = "BinaryConv2d"
        self.in_channels = _check_features(in_channels, "in_channels", name)
        self.out_channels = _check_features(out_channels, "out_channels", name)
        self.kernel_size = _pair(kernel_size, "kernel_size", name, 1)
        self.stride = _pair(stride, "stride", name, 1)
        self.padding = _pair(padding, "padding", name, 0)
        self.dilation = _pair(dilation, "dilation", name, 1)
        super().__init__(
            (self.out_channels, self.in_channels, *self.kernel_size), rank, bias=bias,
            binary_input=binary_input, input_surrogate=input_surrogate, samples=samples,
            noise=noise, init_mu=init_mu, init_z=init_z, seed=seed, device=device, dtype=dtype,
            name=name, recipe=recipe, paper_s=paper_s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._apply_chunks(
            x, lambda c, w: F.conv2d(c, w, self.bias, self.stride, self.padding, self.dilation))

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, " + super().extra_repr())


def binary_layers(model: nn.Module) -> Iterator[BinaryLayer]:
    """The binary layers of `model`, in module order."""
    return (m for m in model.modules() if isinstance(m, BinaryLayer))


def set_mode(model: nn.Module, mode: str) -> nn.Module:
    """Set the weight mode of every binary layer of `model` (see the module doc); returns it.

    Only the binary layers change: ``model.train()``/``model.eval()`` still drive BatchNorm.
    """
    check_choice(mode, MODES, "mode", "set_mode")
    for layer in binary_layers(model):
        layer.mode = mode
    return model


def resample(model: nn.Module, stream: int) -> nn.Module:
    """Freeze one sampled binary network (draw number `stream`) in every binary layer and set
    mode ``"sample"``; returns `model`."""
    for layer in binary_layers(model):
        layer.resample(stream)
        layer.mode = "sample"
    return model
