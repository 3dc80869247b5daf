"""Meaningful Perturbation (Fong & Vedaldi 2017), as jacobgil's pytorch-explain-black-box, which
the paper used, with the paper's coefficients (Appendix A1.2).

A ``28 x 28`` mask ``m`` (1 = keep), upsampled bilinearly (``align_corners=True``, as
``UpsamplingBilinear2d``), blends the image with its blurred copy, ``x' = m x + (1 - m) blur(x)``,
and Adam (lr 0.1) minimises, for ``iterations`` steps (Table A1: 500, 10 for robust models)::

    loss = l1 * mean|1 - m| + tv * TV_beta(m) + P(target | x')
    TV_beta(m) = mean |m_{i+1,j} - m_{i,j}|^beta + mean |m_{i,j+1} - m_{i,j}|^beta

with ``beta = 3``, ``l1 = 0.01``, ``tv = 0.2``, clamping ``m`` to [0, 1] after every step. The map is
``1 - upsample(m)``: the regions whose removal lowers the target's probability.
``blur(x)`` is the reference's mean of an 11 x 11 Gaussian blur (sigma 5, OpenCV's reflect-101
border) and an 11 x 11 median blur (replicated border). The reference blends normalised tensors;
blending in [0, 1] space and normalising inside the model is the same affine map.

All images' masks are optimised together: each image's loss depends on its own mask only, and
Adam's update is per element, so this equals one run per image.

Reproducibility (``numerics = "iterative"``): that equality holds in float64 (tested to 1e-9). In
float32 it does not hold to any useful tolerance: Adam divides each gradient element by its own
running magnitude, so an element whose gradient is at rounding level (the perturbation
``x - blur(x)`` is rounding noise in a flat region, and a saturated float32 softmax quantises
``1 - p``) takes steps of up to the learning rate in a direction rounding chose; masks then differ
between batch sizes and CPU kernel paths by up to their whole scale in a pixel on ``mini`` (in 28%
of a claims run's maps by more than 1e-2 of it; README, "Reproducibility across machines"). The
reference implementation shares this.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from scipy.ndimage import median_filter

from amx.methods.base import AttributionMethod
from amx.scoring import balanced_chunks, target_probabilities

BLURS = ("gaussian_median", "gaussian")


@dataclass(frozen=True)
class MPConfig:
    """The paper's values: ``iterations`` 500 (Table A1 default), ``learning_rate`` 0.1,
    ``l1`` 0.01 (lambda1), ``tv`` 0.2 (lambda2), ``tv_beta`` 3, ``mask_size`` 28 (at 224 px),
    blur kernel 11 and sigma 5, ``blur`` the mean of a Gaussian and a median blur, no ``jitter``.
    The sensitivity study (SAM, seed 002) used ``blur="gaussian"`` (PIL's GaussianBlur, sigma =
    its "radius") and ``jitter`` 4: each step, the image and its blur, resized to ``H + jitter``,
    are cropped back to ``H`` at an offset drawn from the seed (the one random step)."""

    iterations: int = 500
    learning_rate: float = 0.1
    l1: float = 0.01
    tv: float = 0.2
    tv_beta: float = 3.0
    mask_size: int = 28
    blur_kernel: int = 11
    blur_sigma: float = 5.0
    blur: str = "gaussian_median"
    jitter: int = 0

    def __post_init__(self):
        if self.iterations < 1 or self.mask_size < 2 or self.blur_kernel % 2 == 0 or self.jitter < 0:
            raise ValueError(f"MPConfig: iterations >= 1, mask_size >= 2, odd blur_kernel, jitter >= 0; got "
                             f"{self.iterations}, {self.mask_size}, {self.blur_kernel}, {self.jitter}")
        if self.blur not in BLURS:
            raise ValueError(f"MPConfig.blur: unknown {self.blur!r}; valid: {BLURS}")


def gaussian_blur(images: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """OpenCV's ``GaussianBlur(size, sigma)``: separable kernel, reflect-101 border."""
    offsets = torch.arange(size, dtype=torch.float64) - size // 2
    kernel = torch.exp(-offsets ** 2 / (2 * sigma ** 2))
    kernel = (kernel / kernel.sum()).to(images)
    channels, pad = images.shape[1], size // 2
    x = F.pad(images, (pad, pad, pad, pad), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, size).expand(channels, 1, 1, size), groups=channels)
    return F.conv2d(x, kernel.view(1, 1, size, 1).expand(channels, 1, size, 1), groups=channels)


def median_blur(images: torch.Tensor, size: int) -> torch.Tensor:
    """OpenCV's ``medianBlur(size)`` per channel, replicated border."""
    out = median_filter(images.detach().cpu().numpy(), size=(1, 1, size, size), mode="nearest")
    return torch.from_numpy(out).to(images)


def blurred(images: torch.Tensor, config: MPConfig) -> torch.Tensor:
    """The perturbation: the mean of the Gaussian and the median blur, as the reference, or the
    Gaussian blur alone (``blur="gaussian"``, SAM's)."""
    gaussian = gaussian_blur(images, config.blur_kernel, config.blur_sigma)
    if config.blur == "gaussian":
        return gaussian
    return (gaussian + median_blur(images, config.blur_kernel)) / 2


def tv_norm(masks: torch.Tensor, beta: float) -> torch.Tensor:
    """Per-mask total variation ``[B]`` of ``[B, 1, h, w]`` masks (the reference's ``tv_norm``)."""
    rows = (masks[:, 0, :-1, :] - masks[:, 0, 1:, :]).abs().pow(beta).mean((1, 2))
    cols = (masks[:, 0, :, :-1] - masks[:, 0, :, 1:]).abs().pow(beta).mean((1, 2))
    return rows + cols


def jitter_offset(jitter: int, generator) -> tuple[int, int]:
    """One step's crop offset (rows, columns), each in ``[0, jitter)``; ``(0, 0)`` without jitter."""
    if not jitter:
        return 0, 0
    top, left = torch.randint(jitter, (2,), generator=generator).tolist()
    return top, left


class MeaningfulPerturbation(AttributionMethod):
    name = "mp"
    family = "perturbation"
    needs_gradients = True
    numerics = "iterative"
    nested = "iterations"
    Config = MPConfig

    @property
    def stochastic(self) -> bool:
        """Random only with ``jitter``: then the seed draws the crops."""
        return self.config.jitter > 0

    def passes(self, size):
        return (0, self.config.iterations)

    def attribute(self, model, images, targets, generator):
        return self.attribute_prefixes(model, images, targets, generator, [self.config.iterations])[
            self.config.iterations]

    def attribute_prefixes(self, model, images, targets, generator, values):
        """The maps after every number of steps in ``values``, from one optimisation. Every chunk
        draws the same jitter offsets, so the maps do not depend on the inputs per pass."""
        state = None if generator is None else generator.get_state()
        parts = []
        for chunk in balanced_chunks(len(images), self.inputs_per_pass(images)):
            if state is not None:
                generator.set_state(state)
            parts.append(self.optimise(model, images[chunk], targets[chunk], generator, values)[0])
        return {v: torch.cat([p[v] for p in parts]) for v in values}

    def optimise(self, model, images, targets, generator, snapshots=()) -> tuple[dict, torch.Tensor]:
        """Optimise the masks of ``images`` for ``max(snapshots)`` steps (default: ``iterations``):
        ``{steps: maps}`` after each number of steps in ``snapshots``, and every step's total loss
        per image ``[B, steps]`` (the convergence trace the sensitivity study's S8 reads)."""
        cfg, size = self.config, images.shape[2:]
        steps = max(snapshots, default=cfg.iterations)
        background = blurred(images, cfg)
        if cfg.jitter:
            grown = [s + cfg.jitter for s in size]
            images, background = (F.interpolate(x, size=grown, mode="bilinear", align_corners=False)
                                  for x in (images, background))
        mask = torch.ones(len(images), 1, cfg.mask_size, cfg.mask_size, dtype=images.dtype,
                          device=images.device, requires_grad=True)
        optimizer = torch.optim.Adam([mask], lr=cfg.learning_rate)
        maps, trace = {}, torch.empty(len(images), steps, dtype=torch.float64)
        for step in range(steps):
            with torch.enable_grad():
                up = F.interpolate(mask, size=size, mode="bilinear", align_corners=True)
                top, left = jitter_offset(cfg.jitter, generator)
                window = (..., slice(top, top + size[0]), slice(left, left + size[1]))
                x = images[window] * up + background[window] * (1 - up)
                probability = target_probabilities(model(x), targets)
                loss = (cfg.l1 * (1 - mask).abs().mean((1, 2, 3)) + cfg.tv * tv_norm(mask, cfg.tv_beta)
                        + probability)
                mask.grad = torch.autograd.grad(loss.sum(), mask)[0]
            trace[:, step] = loss.detach().double().cpu()
            optimizer.step()
            mask.data.clamp_(0, 1)
            if step + 1 in snapshots:
                with torch.no_grad():
                    maps[step + 1] = 1 - F.interpolate(mask, size=size, mode="bilinear",
                                                       align_corners=True)[:, 0]
        return maps, trace
