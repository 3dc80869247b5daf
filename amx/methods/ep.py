"""Extremal Perturbation (Fong et al. 2019), as TorchRay's ``extremal_perturbation``, which the
paper used (Appendix A1.2): preserve variant, simple reward, blur perturbation (8 levels, max
blur 20), 800 iterations of SGD (lr 0.01, momentum 0.9) on smooth masks (step 7, sigma 21)
with TorchRay's area regulariser (weight 300, x1.0035 per iteration) and horizontal jitter;
areas per model (Table A1; default 0.025, 0.05, 0.1, 0.2). The map sums the masks of all areas.

amx reuses TorchRay's blur pyramid and its ``MaskGenerator``'s geometry and kernel weights, and
optimises the masks of *all* images and areas together (TorchRay: all areas of one image), which
is the same optimisation: each mask's energy depends on its own parameters only. The generator's
softmax pooling, which in eager PyTorch costs as much as a small model's pass, runs as one
autograd function on the unfolded parameters, in kernels that ``torch.compile`` fuses
(``SmoothMaskGenerator``): the same values and gradients as TorchRay's ``generate`` (to float
rounding, tested), without its upsampled copies. That rounding decides a few pixels at the
mask's clamp edge, so after 25 iterations the optimised masks agree with TorchRay's to 0.01 at
99% of the pixels; with TorchRay's generator injected they agree to 1e-4 (both tested).
Unlike TorchRay, amx does not switch off ``requires_grad`` on the model's parameters; it
differentiates with respect to the masks only.

Departure for reproducibility: the area regulariser sorts each mask's values and pulls the k-th
smallest towards the k-th value of the reference ramp; masks start at exactly 1 and clamp to
exactly 0 or 1, so many values tie, and which tied pixel is pulled to 0 and which to 1 is the order
the sort leaves ties in. TorchRay's unstable ``sort`` leaves them in an order of the CPU's sort
kernel (the scalar and the AVX2 path differ: float64 maps then differed by 0.32 of their scale);
amx sorts stably (ties by pixel index), the same order on every machine and device.

Reproducibility (``numerics = "ties"``): rounding decides the ranks of values tied in exact
arithmetic, float64's too: after 3 steps of the mini preset, float64 maps differ by 6e-4 of their
scale between the scalar and the AVX2/AVX-512 kernel paths, and by 1.6e-15 without the area
regulariser (``without_ties``), which is how the tests hold the rest of the optimisation to 1e-9
across batches, kernel paths and devices. In float32 the steps also amplify each pass's rounding
(README, "Reproducibility across machines", for the measured differences). The compiled kernels
keep a cache per kernel path and CPU (``amx.kernels.compile_cache``).
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torchray.attribution.extremal_perturbation import MaskGenerator
from torchray.utils import EPSILON_SINGLE, SQRT_TWO_SINGLE

from amx import kernels
from amx.methods.base import AttributionMethod
from amx.scoring import balanced_chunks, target_scores


@dataclass(frozen=True)
class EPConfig:
    """TorchRay's and the paper's values; ``areas`` as Table A1's default row."""

    areas: tuple[float, ...] = (0.025, 0.05, 0.1, 0.2)
    iterations: int = 800
    step: int = 7
    sigma: float = 21.0
    max_blur: float = 20.0
    levels: int = 8
    jitter: bool = True
    learning_rate: float = 0.01
    momentum: float = 0.9
    regul_weight: float = 300.0
    regul_growth: float = 1.0035

    def __post_init__(self):
        if not self.areas or not all(0 < a < 1 for a in self.areas):
            raise ValueError(f"EPConfig.areas must be fractions in (0, 1), got {self.areas}")
        if self.iterations < 1 or self.step < 1 or self.levels < 2:
            raise ValueError(f"EPConfig: iterations >= 1, step >= 1, levels >= 2; got "
                             f"{self.iterations}, {self.step}, {self.levels}")


def blur_pyramid(image: torch.Tensor, levels: int, max_blur: float) -> torch.Tensor:
    """TorchRay's blur pyramid ``Perturbation(image[None], levels, max_blur).pyramid``
    ``[L, C, H, W]`` of one image ``[C, H, W]``: level ``l`` is the image smoothed by a separable
    Gaussian of sigma ``(1 - l / (L - 1)) max_blur`` (TorchRay's ``imsmooth``: width ``ceil(4 sigma)``,
    zero padding), made here in the image's dtype, where TorchRay's filter is always float32, so
    that a float64 model runs EP in float64 (the filter's scale, ``sqrt(2) sigma + eps``, stays
    TorchRay's float32 constant). In float32 the same bits as TorchRay's (tested)."""
    out = []
    for sigma in torch.linspace(0, 1, levels):
        blur = (1 - sigma) * max_blur
        width = math.ceil(4 * blur)
        taps = torch.arange(-width, width + 1, dtype=image.dtype, device=image.device)
        taps = torch.exp(-(taps / (SQRT_TWO_SINGLE * blur + EPSILON_SINGLE)) ** 2)
        taps = taps / taps.sum()
        x, channels = image[None], image.shape[0]
        x = F.conv2d(x, taps.reshape(1, 1, -1, 1).expand(channels, -1, -1, -1), padding=(width, 0),
                     groups=channels)
        out.append(F.conv2d(x, taps.reshape(1, 1, 1, -1).expand(channels, -1, -1, -1), padding=(0, width),
                            groups=channels))
    return torch.cat(out)


def perturb(pyramids: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """TorchRay's ``Perturbation.apply`` with one pyramid ``[L, C, H, W]`` per mask.

    ``pyramids`` ``[K, L, C, H, W]``, ``masks`` ``[K, 1, H, W]`` in [0, 1] -> ``[K, C, H, W]``,
    linearly interpolating between blur levels (1 = the image, 0 = the most blurred).
    """
    levels = pyramids.shape[1]
    w = masks[:, None] * (levels - 1)                               # [K, 1, 1, H, W]
    k = w.floor()
    w = w - k
    k = k.long().expand(-1, 1, pyramids.shape[2], -1, -1)
    y0 = pyramids.gather(1, k)
    y1 = pyramids.gather(1, (k + 1).clamp(max=levels - 1))
    return ((1 - w) * y0 + w * y1).squeeze(1)


def _pool(cols: torch.Tensor, weight: torch.Tensor, coldness: float):
    """Forward kernel: ``cols`` ``[n, X, 1, K]``, ``weight`` ``[S, K]`` -> (out, z) ``[n, X, S]``,
    z = \\sum_k e^{c v_k}. The exponential is written twice, not shared, so that the compiled
    kernel recomputes it inside both sums instead of storing the ``[n, X, S, K]`` tensor."""
    z = torch.exp(cols * weight * coldness).sum(-1)
    return (cols * weight * torch.exp(cols * weight * coldness)).sum(-1) / z, z


def _pool_backward(cols, weight, out, z, grad, coldness: float) -> torch.Tensor:
    """Backward kernel: d loss / d cols ``[n, X, K]`` from ``grad`` ``[n, X, S]``."""
    v = cols * weight
    return (torch.exp(v * coldness) * (1 + coldness * (v - out[..., None]))
            * (grad / z)[..., None] * weight).sum(-2)


_KERNELS = {"pool": _pool, "backward": _pool_backward}


class _Kernels:
    """The two pooling kernels, compiled by ``torch.compile`` into fused CPU loops (about 4x
    faster than eager PyTorch, which writes every ``[n, X, S, K]`` intermediate to memory).
    Off the CPU, and where compiling fails (no C++ compiler: one warning), the same functions
    run eagerly; the values agree to float rounding."""

    compiled: bool | None = None  # None: not tried yet

    @classmethod
    def call(cls, kernel: str, *args):
        if args[0].device.type != "cpu" or cls.compiled is False:
            return _KERNELS[kernel](*args)
        try:
            result = cls._compiled(kernel)(*args)
            cls.compiled = True
            return result
        except Exception as error:  # inductor's errors have no common base class
            if cls.compiled:
                raise
            cls.compiled = False
            warnings.warn(f"ep: torch.compile failed ({type(error).__name__}: {error}); the mask "
                          "generator runs eagerly (same values to float rounding; EP about 1.5x "
                          "slower)", stacklevel=4)
            return _KERNELS[kernel](*args)

    @staticmethod
    @functools.cache
    def _compiled(kernel: str):
        kernels.compile_cache()  # a cache of this kernel path's and CPU's own: see its docstring
        return torch.compile(_KERNELS[kernel], dynamic=True)


class SoftmaxPooling(torch.autograd.Function):
    r"""TorchRay's smooth-max pooling of weighted parameters, with a hand-written backward.

    For output pixel u with neighbouring parameters m_k and kernel weights w_k(u),
    v_k = w_k m_k and out(u) = \sum_k v_k p_k with p = softmax(c v) (coldness c = 20), so
    d out / d v_k = p_k (1 + c (v_k - out)). ``cols`` ``[N, X, K]`` (unfolded parameters of X
    cells), ``weight`` ``[S, K]`` (S = step^2 pixels per cell; the kernel weights repeat from
    cell to cell) -> ``[N, X, S]``.

    v and p are never stored: both passes recompute them, a few masks at a time (at most
    ``piece_elements`` values of v), in fused kernels (``_Kernels``).
    """

    piece_elements = 2 ** 20

    @staticmethod
    def pieces(cols, weight) -> list[slice]:
        """Mask slices covering ``N`` with at most ``piece_elements`` values of v each."""
        n, x, k = cols.shape
        masks = max(1, SoftmaxPooling.piece_elements // (x * k * len(weight)))
        return [slice(i, i + masks) for i in range(0, n, masks)]

    @staticmethod
    def forward(ctx, cols, weight, coldness):
        out, z = (cols.new_empty(len(cols), cols.shape[1], len(weight)) for _ in range(2))
        for i in SoftmaxPooling.pieces(cols, weight):
            out[i], z[i] = _Kernels.call("pool", cols[i, :, None], weight, coldness)
        ctx.save_for_backward(cols, weight, out, z)
        ctx.coldness = coldness
        return out

    @staticmethod
    def backward(ctx, grad):
        cols, weight, out, z = ctx.saved_tensors
        grad_cols = torch.empty_like(cols)
        for i in SoftmaxPooling.pieces(cols, weight):
            grad_cols[i] = _Kernels.call("backward", cols[i, :, None], weight, out[i], z[i],
                                         grad[i].contiguous(), ctx.coldness)
        return grad_cols, None, None


class SmoothMaskGenerator:
    """TorchRay's ``MaskGenerator`` (same geometry, kernel and softmax pooling), computed on the
    ``[N, cells, K]`` layout instead of upsampled ``[N, K, H', W']`` copies."""

    def __init__(self, shape, step: int, sigma: float, device="cpu"):
        self.reference = MaskGenerator(shape, step, sigma)
        ref = self.reference
        self.kernel, self.step = 2 * ref.radius + 1, step
        self.shape_in, self.shape_out = ref.shape_in, ref.shape_out
        # TorchRay's weights [K, H', W'] repeat with period ``step``: keep one cell's [S, K].
        cell = ref.weight[0, :, :step, :step]
        self.weight = cell.reshape(self.kernel ** 2, step * step).T.contiguous().to(device)

    def generate(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``params`` ``[N, 1, *shape_in]`` -> (mask cropped to the image, mask with margin)."""
        ref, n, s = self.reference, len(params), self.step
        h, w = ref.shape_mid
        padded = F.pad(params[:, 0], (ref.padding,) * 4)
        windows = padded.unfold(1, self.kernel, 1).unfold(2, self.kernel, 1)  # [N, h, w, k, k]
        cols = windows.reshape(n, h * w, self.kernel ** 2)
        mask = SoftmaxPooling.apply(cols, self.weight.to(cols.dtype), float(ref.coldness))
        mask = mask.view(n, 1, h, w, s, s).permute(0, 1, 2, 4, 3, 5).reshape(n, 1, h * s, w * s)
        mask = mask[:, :, :self.shape_out[0], :self.shape_out[1]].clamp(0, 1)
        m = round(ref.margin)
        return mask[:, :, m:m + ref.shape[0], m:m + ref.shape[1]], mask


class ExtremalPerturbation(AttributionMethod):
    name = "ep"
    family = "perturbation"
    needs_gradients = True
    stochastic = False
    numerics = "ties"
    without_ties = {"regul_weight": 0.0}  # no area regulariser, no ranks
    # 2: compiled pooling kernels (maps differ from version 1 by float rounding); 3: a stable sort in
    # the area regulariser (ties went in an order of the CPU's sort kernel)
    version = 3
    Config = EPConfig

    def passes(self, size):
        return (0, self.config.iterations * len(self.config.areas))

    def __init__(self, config=None, batch_size: int | None = None):
        super().__init__(config, batch_size)
        self._generators: dict[tuple, SmoothMaskGenerator] = {}

    def attribute(self, model, images, targets, generator):
        """Optimises ``inputs_per_pass`` masks (images x areas) per model pass."""
        per_chunk = max(1, self.inputs_per_pass(images) // len(self.config.areas))
        return torch.cat([self.masks(model, images[chunk], targets[chunk]).sum(1)
                          for chunk in balanced_chunks(len(images), per_chunk)])

    def _mask_generator(self, images) -> SmoothMaskGenerator:
        """The generator for these images' size, built once per size and device."""
        key = (tuple(images.shape[2:]), str(images.device))
        if key not in self._generators:
            self._generators[key] = SmoothMaskGenerator(key[0], self.config.step, self.config.sigma,
                                                        images.device)
        return self._generators[key]

    def masks(self, model, images, targets) -> torch.Tensor:
        """The optimised masks ``[B, n_areas, H, W]``."""
        cfg, device = self.config, images.device
        n_areas, batch = len(cfg.areas), len(images)
        with torch.no_grad():
            pyramids = torch.stack([blur_pyramid(x, cfg.levels, cfg.max_blur) for x in images])
        pyramids = pyramids.repeat_interleave(n_areas, 0)            # [B * A, L, C, H, W]
        mask_targets = targets.repeat_interleave(n_areas)
        generator = self._mask_generator(images)
        h, w = generator.shape_in
        params = torch.ones(batch * n_areas, 1, h, w, dtype=images.dtype, device=device)
        max_area = int(np.prod(generator.shape_out))
        reference = torch.ones(n_areas, max_area, dtype=images.dtype, device=device)
        for i, area in enumerate(cfg.areas):
            reference[i, :int(max_area * (1 - area))] = 0
        reference = reference.repeat(batch, 1)
        optimizer = torch.optim.SGD([params], lr=cfg.learning_rate, momentum=cfg.momentum,
                                    dampening=cfg.momentum)
        regul_weight = cfg.regul_weight
        for t in range(cfg.iterations):
            params.requires_grad_(True)
            with torch.enable_grad():
                cropped, full = generator.generate(params)
                x = perturb(pyramids, cropped)
                if cfg.jitter and t % 2 == 0:
                    x = torch.flip(x, dims=(3,))
                reward = target_scores(model(x), mask_targets)
                sorted_mask = full.reshape(len(params), -1).sort(dim=1, stable=True)[0]
                regul = -((sorted_mask - reference) ** 2).mean(dim=1) * regul_weight
                energy = (reward + regul).sum()
                params.grad = torch.autograd.grad(-energy, params)[0]
            optimizer.step()
            params.data = params.data.clamp(0, 1)
            regul_weight *= cfg.regul_growth
        return cropped.detach().view(batch, n_areas, *images.shape[2:])
