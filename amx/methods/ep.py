"""Extremal Perturbation (Fong et al. 2019), as TorchRay's ``extremal_perturbation``, which the
paper used (Appendix A1.2): preserve variant, simple reward, blur perturbation (8 levels, max
blur 20), 800 iterations of SGD (lr 0.01, momentum 0.9) on smooth masks (step 7, sigma 21)
with TorchRay's area regulariser (weight 300, x1.0035 per iteration) and horizontal jitter;
areas per model (Table A1; default 0.025, 0.05, 0.1, 0.2). The map sums the masks of all areas.

amx reuses TorchRay's ``MaskGenerator`` and blur pyramid, and optimises the masks of *all*
images and areas together (TorchRay: all areas of one image), which is the same optimisation:
each mask's energy depends on its own parameters only. Unlike TorchRay, amx does not switch off
``requires_grad`` on the model's parameters; it differentiates with respect to the masks only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
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


class ExtremalPerturbation(AttributionMethod):
    name = "ep"
    family = "perturbation"
    needs_gradients = True
    stochastic = False
    Config = EPConfig

    def passes(self, size):
        return (0, self.config.iterations * len(self.config.areas))

    # Elements of the mask generator's [masks, (2r+1)^2, H', W'] intermediates per chunk: on a
    # CPU that tensor, not the model, dominates EP, and it must stay cache-sized (32 MB).
    generator_budget = 8_000_000

    def __init__(self, config=None, batch_size: int = 64):
        super().__init__(config, batch_size)
        self._generators: dict[tuple, MaskGenerator] = {}

    def attribute(self, model, images, targets, generator):
        n_areas = len(self.config.areas)
        per_mask = self._mask_generator(images).weight.numel()
        per_chunk = max(1, min(self.batch_size, self.generator_budget // per_mask) // n_areas)
        maps = [self.masks(model, images[i:i + per_chunk], targets[i:i + per_chunk]).sum(1)
                for i in range(0, len(images), per_chunk)]
        return torch.cat(maps)

    def _mask_generator(self, images) -> MaskGenerator:
        """TorchRay's generator for these images' size, built once per size and device."""
        key = (tuple(images.shape[2:]), str(images.device))
        if key not in self._generators:
            generator = MaskGenerator(key[0], self.config.step, self.config.sigma)
            self._generators[key] = generator.to(images.device)
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
