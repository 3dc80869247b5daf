"""Integrated Gradients (Sundararajan et al. 2017) through Captum, which the paper used.

``a_c(x) = (x_c - x'_c) * integral_0^1 d logit_target / d x_c (x' + t (x - x')) dt`` with 50
steps of Captum's default Gauss-Legendre rule, baseline ``x' = 0``. ``map = |sum_c a_c|``, the
channel sum made absolute as Captum's default visualisation does (the paper does not say).

Baseline: amx models take [0, 1] images and normalise inside, so ``x' = 0`` is a *black* image.
The paper's "reference zero image" was zero in the normalised input space, i.e. the ImageNet
mean colour in [0, 1] space (``baseline='mean'`` reproduces it for models with ImageNet
normalisation). Captum batches all steps of all images (``internal_batch_size``), so amx calls
it directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from captum.attr import IntegratedGradients as CaptumIG

from amx.colour import IMAGENET_MEAN
from amx.methods.base import AttributionMethod, reduce_channels

BASELINES = ("zero", "mean")


@dataclass(frozen=True)
class IGConfig:
    """``n_steps`` 50 (Captum's suggestion, the paper's value), ``baseline`` zero (black),
    ``integration`` Captum's default ``gausslegendre``, ``reduction`` ``abs_sum``."""

    n_steps: int = 50
    baseline: str = "zero"
    integration: str = "gausslegendre"
    reduction: str = "abs_sum"

    def __post_init__(self):
        if self.n_steps < 1:
            raise ValueError(f"IGConfig.n_steps must be >= 1, got {self.n_steps}")
        if self.baseline not in BASELINES:
            raise ValueError(f"IGConfig.baseline: unknown {self.baseline!r}; valid: {BASELINES}")


def baseline_image(images: torch.Tensor, baseline: str) -> torch.Tensor:
    if baseline == "zero":
        return torch.zeros_like(images)
    return torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1).expand_as(images)


class IntegratedGradients(AttributionMethod):
    name = "ig"
    family = "gradient"
    needs_gradients = True
    stochastic = False
    Config = IGConfig

    def passes(self, size):
        return (0, self.config.n_steps)

    def raw(self, model, images, targets) -> torch.Tensor:
        """Per-channel attributions ``[B, 3, H, W]`` (completeness holds for these)."""
        with torch.enable_grad():
            return CaptumIG(model).attribute(
                images, baselines=baseline_image(images, self.config.baseline), target=targets,
                n_steps=self.config.n_steps, method=self.config.integration,
                internal_batch_size=self.inputs_per_pass(images))

    def attribute(self, model, images, targets, generator):
        return reduce_channels(self.raw(model, images, targets), self.config.reduction)
