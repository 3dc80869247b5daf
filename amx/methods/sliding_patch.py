"""Sliding-Patch occlusion (Zeiler & Fergus 2014), the sensitivity study's (SAM, seed 002) SP.

A ``patch x patch`` square of ``fill`` slides over the image with ``stride``; each position's
score is the drop in the target's softmax probability, ``P(t | x) - P(t | x occluded)``, and a
pixel's attribution is the mean score of the positions covering it. Positions follow Captum's
``Occlusion`` (``ceil((H - patch) / stride) + 1`` per axis, the last one clipped at the border),
so every pixel is covered. The defaults are amx's choice (the seed does not give them): patch 29
and stride 8 at 224 px; SAM sweeps the patch size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from amx.methods.base import AttributionMethod
from amx.scoring import target_probabilities, variant_probabilities


@dataclass(frozen=True)
class SlidingPatchConfig:
    """``patch`` 29 px, ``stride`` 8 px, ``fill`` 0.0 (black in [0, 1] space)."""

    patch: int = 29
    stride: int = 8
    fill: float = 0.0

    def __post_init__(self):
        if self.patch < 1 or not 1 <= self.stride <= self.patch or not 0 <= self.fill <= 1:
            raise ValueError(f"SlidingPatchConfig: patch >= 1, 1 <= stride <= patch, fill in [0, 1]; "
                             f"got {self.patch}, {self.stride}, {self.fill}")


def window_starts(size: int, patch: int, stride: int) -> list[int]:
    """Captum's positions along one axis: ``0, stride, ...``, ``ceil((size - patch) / stride) + 1``."""
    if patch > size:
        raise ValueError(f"sliding_patch: patch {patch} is larger than the image ({size} px)")
    return [i * stride for i in range(math.ceil((size - patch) / stride) + 1)]


class SlidingPatch(AttributionMethod):
    name = "sliding_patch"
    family = "perturbation"
    needs_gradients = False
    stochastic = False
    Config = SlidingPatchConfig

    def passes(self, size):
        rows, cols = (len(window_starts(s, self.config.patch, self.config.stride)) for s in size)
        return (rows * cols + 1, 0)

    def attribute(self, model, images, targets, generator):
        batch, _, height, width = images.shape
        p = self.config.patch
        starts = [(y, x) for y in window_starts(height, p, self.config.stride)
                  for x in window_starts(width, p, self.config.stride)]
        windows = torch.zeros(len(starts), height, width, dtype=torch.bool, device=images.device)
        for k, (y, x) in enumerate(starts):
            windows[k, y:y + p, x:x + p] = True
        with torch.no_grad():
            base = target_probabilities(model(images), targets)
        occluded = variant_probabilities(
            model, targets, len(starts),
            lambda image, window: torch.where(windows[window][:, None], self.config.fill, images[image]),
            self.inputs_per_pass(images))
        drops = base[:, None] - occluded
        cover = windows.flatten(1).to(drops.dtype)
        return ((drops @ cover) / cover.sum(0)).view(batch, height, width)
