"""Extremal Perturbation (Fong et al. 2019), as TorchRay's ``extremal_perturbation``, which the
paper used (Appendix A1.2): preserve variant, simple reward, blur perturbation (8 levels, max
blur 20), 800 iterations of SGD (lr 0.01, momentum 0.9) on smooth masks (step 7, sigma 21)
with TorchRay's area regulariser (weight 300, x1.0035 per iteration) and horizontal jitter;
areas per model (Table A1; default 0.025, 0.05, 0.1, 0.2). The map sums the masks of all areas.

amx reuses TorchRay's blur pyramid and its ``MaskGenerator``'s geometry and kernel weights, and
optimises the masks of *all* images and areas together (TorchRay: all areas of one image), which
is the same optimisation: each mask's energy depends on its own parameters only. The generator's
softmax pooling, which on a CPU costs as much as the model, runs as one autograd function on the
unfolded parameters (``SmoothMaskGenerator``): the same values and gradients as TorchRay's
``generate`` (to float rounding, tested), without its upsampled copies. That rounding decides
a few pixels at the mask's clamp edge, so the optimised masks agree with TorchRay's to about
0.01 after 25 iterations; with TorchRay's generator injected they agree to 1e-4 (both tested).
Unlike TorchRay, amx does not switch off ``requires_grad`` on the model's parameters; it
differentiates with respect to the masks only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torchray.attribution.extremal_perturbation import MaskGenerator, Perturbation

from amx.methods.base import AttributionMethod
from amx.scoring import target_scores


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


class SoftmaxPooling(torch.autograd.Function):
    r"""TorchRay's smooth-max pooling of weighted parameters, with a hand-written backward.

    For output pixel u with neighbouring parameters m_k and kernel weights w_k(u),
    v_k = w_k m_k and out(u) = \sum_k v_k p_k with p = softmax(c v) (coldness c = 20), so
    d out / d v_k = p_k (1 + c (v_k - out)). ``cols`` ``[N, K, X, 1]`` (unfolded parameters),
    ``weight`` ``[K, X, S]`` (S = step^2 pixels per parameter cell) -> ``[N, X, S]``.

    v and p are never stored: both passes recompute them one cache-sized piece at a time
    (one mask, at most ``piece_elements`` values), which on a CPU is about 3x faster than
    keeping the ``[N, K, X, S]`` tensors for the backward pass.
    """

    piece_elements = 2 ** 20

    @staticmethod
    def pieces(cols, weight):
        """(mask index, cell slice) pairs covering ``[N, X]`` in cache-sized pieces."""
        n, k, x, _ = cols.shape
        cells = max(1, SoftmaxPooling.piece_elements // (k * weight.shape[-1]))
        return [(i, slice(j, j + cells)) for i in range(n) for j in range(0, x, cells)]

    @staticmethod
    def weighted_softmax(cols, weight, coldness):
        v = cols * weight
        p = torch.exp(v * coldness)  # v <= 1, so exp(20 v) cannot overflow
        p /= p.sum(0)
        return v, p

    @staticmethod
    def forward(ctx, cols, weight, coldness):
        out = cols.new_empty(len(cols), cols.shape[2], weight.shape[-1])
        for i, cells in SoftmaxPooling.pieces(cols, weight):
            v, p = SoftmaxPooling.weighted_softmax(cols[i, :, cells], weight[:, cells], coldness)
            torch.sum(v.mul_(p), 0, out=out[i, cells])
        ctx.save_for_backward(cols, weight, out)
        ctx.coldness = coldness
        return out

    @staticmethod
    def backward(ctx, grad):
        cols, weight, out = ctx.saved_tensors
        c, grad_cols = ctx.coldness, torch.empty_like(cols)
        for i, cells in SoftmaxPooling.pieces(cols, weight):
            w = weight[:, cells]
            v, p = SoftmaxPooling.weighted_softmax(cols[i, :, cells], w, c)
            v -= out[i, cells]
            v *= c
            v += 1
            v *= p
            v *= grad[i, cells] * w
            torch.sum(v, -1, keepdim=True, out=grad_cols[i, :, cells])
        return grad_cols, None, None


class SmoothMaskGenerator:
    """TorchRay's ``MaskGenerator`` (same geometry, kernel and softmax pooling), computed on the
    ``[N, K, cells, step^2]`` layout instead of upsampled ``[N, K, H', W']`` copies."""

    def __init__(self, shape, step: int, sigma: float, device="cpu"):
        self.reference = MaskGenerator(shape, step, sigma)
        ref = self.reference
        self.kernel, self.step = 2 * ref.radius + 1, step
        self.shape_in, self.shape_out = ref.shape_in, ref.shape_out
        h, w = ref.shape_mid
        weight = F.pad(ref.weight[0], (0, step - 1, 0, step - 1))    # [K, h*step, w*step]
        weight = weight.view(self.kernel ** 2, h, step, w, step).permute(0, 1, 3, 2, 4)
        self.weight = weight.reshape(self.kernel ** 2, h * w, step * step).contiguous().to(device)

    def generate(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``params`` ``[N, 1, *shape_in]`` -> (mask cropped to the image, mask with margin)."""
        ref, n, s = self.reference, len(params), self.step
        h, w = ref.shape_mid
        cols = F.unfold(params, (self.kernel,) * 2, padding=(ref.padding,) * 2)[..., None]
        mask = SoftmaxPooling.apply(cols, self.weight, float(ref.coldness))
        mask = mask.view(n, 1, h, w, s, s).permute(0, 1, 2, 4, 3, 5).reshape(n, 1, h * s, w * s)
        mask = mask[:, :, :self.shape_out[0], :self.shape_out[1]].clamp(0, 1)
        m = round(ref.margin)
        return mask[:, :, m:m + ref.shape[0], m:m + ref.shape[1]], mask


class ExtremalPerturbation(AttributionMethod):
    name = "ep"
    family = "perturbation"
    needs_gradients = True
    stochastic = False
    Config = EPConfig

    def passes(self, size):
        return (0, self.config.iterations * len(self.config.areas))

    def __init__(self, config=None, batch_size: int = 64):
        super().__init__(config, batch_size)
        self._generators: dict[tuple, SmoothMaskGenerator] = {}

    def attribute(self, model, images, targets, generator):
        """Optimises ``batch_size`` masks (images x areas) per model pass."""
        per_chunk = max(1, self.batch_size // len(self.config.areas))
        maps = [self.masks(model, images[i:i + per_chunk], targets[i:i + per_chunk]).sum(1)
                for i in range(0, len(images), per_chunk)]
        return torch.cat(maps)

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
            pyramids = torch.stack([Perturbation(x[None], num_levels=cfg.levels,
                                                 max_blur=cfg.max_blur).pyramid for x in images])
        pyramids = pyramids.repeat_interleave(n_areas, 0)            # [B * A, L, C, H, W]
        mask_targets = targets.repeat_interleave(n_areas)
        generator = self._mask_generator(images)
        h, w = generator.shape_in
        params = torch.ones(batch * n_areas, 1, h, w, device=device)
        max_area = int(np.prod(generator.shape_out))
        reference = torch.ones(n_areas, max_area, device=device)
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
                sorted_mask = full.reshape(len(params), -1).sort(dim=1)[0]
                regul = -((sorted_mask - reference) ** 2).mean(dim=1) * regul_weight
                energy = (reward + regul).sum()
                params.grad = torch.autograd.grad(-energy, params)[0]
            optimizer.step()
            params.data = params.data.clamp(0, 1)
            regul_weight *= cfg.regul_growth
        return cropped.detach().view(batch, n_areas, *images.shape[2:])
