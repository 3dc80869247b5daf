"""RISE (Petsiuk et al. 2018), as eclique/RISE, which the paper used (Appendix A1.2).

``map = 1 / (N p) * sum_i P(target | x * M_i) * M_i`` over ``N`` random masks ``M_i``: a grid of
``s x s`` cells, each kept with probability ``p = 0.5``, upsampled bilinearly to ``(s + 1)``
cells of ``ceil(H / s)`` pixels (``skimage.transform.resize``, order 1, reflect, no
anti-aliasing, as the reference) and cropped at a random shift of up to one cell. The paper
tuned ``s`` and ``N`` per model (Table A1; defaults 7 and 8000).

Departures: masks multiply the [0, 1] image, so masked regions are black; the reference
multiplied normalised tensors (masked regions at the mean colour). Random draws come from
``seed`` (the reference used NumPy's global state). Every image of a batch sees the same masks,
as in the reference; masks are made in chunks, so memory stays bounded at any ``N``.
TorchRay's ``rise`` (the speed reference) scores masks by ``sigmoid(logit)`` and divides by
``N`` only; with a logit-of-softmax wrapper and the same masks it equals amx's map times ``p``.

Reproducibility (``numerics = "single-pass"``): the grids and shifts are uniform and integer draws
(the same bits on every machine) and the masks are made on the CPU in float64, so each image sees
the same masks in any batch and on any device; maps differ by the rounding of the passes'
probabilities (measured on ``mini``: 9e-7 of the map's scale between kernel paths and batch sizes,
at most one float16 step of the stored maps over a claims run).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from skimage.transform import resize

from amx.methods.base import AttributionMethod
from amx.scoring import variant_probabilities


@dataclass(frozen=True)
class RISEConfig:
    """``n_masks`` 8000, ``cells`` 7 (mask size s), ``keep`` 0.5 (Table A1 default)."""

    n_masks: int = 8000
    cells: int = 7
    keep: float = 0.5

    def __post_init__(self):
        if self.n_masks < 1 or self.cells < 1 or not 0 < self.keep <= 1:
            raise ValueError(f"RISEConfig: n_masks >= 1, cells >= 1 and 0 < keep <= 1, got "
                             f"{self.n_masks}, {self.cells}, {self.keep}")


def rise_masks(grid: torch.Tensor, shifts: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Masks ``[n, H, W]`` from binary ``grid`` ``[n, s, s]`` and ``shifts`` ``[n, 2]`` (reference)."""
    height, width = size
    s = grid.shape[1]
    cell = (int(np.ceil(height / s)), int(np.ceil(width / s)))
    up = ((s + 1) * cell[0], (s + 1) * cell[1])
    out = np.empty((len(grid), height, width), dtype=np.float32)
    for i, (cells, (dy, dx)) in enumerate(zip(grid.numpy(), shifts.tolist(), strict=True)):
        big = resize(cells.astype(np.float64), up, order=1, mode="reflect", anti_aliasing=False)
        out[i] = big[dy:dy + height, dx:dx + width]
    return torch.from_numpy(out)


def draw_masks(config: RISEConfig, size: tuple[int, int], generator: torch.Generator):
    """The random part of the masks: the binary grids and the shifts (cheap, made up front)."""
    s = config.cells
    grid = torch.rand((config.n_masks, s, s), generator=generator) < config.keep
    cell = (int(np.ceil(size[0] / s)), int(np.ceil(size[1] / s)))
    shifts = torch.stack([torch.randint(0, cell[0], (config.n_masks,), generator=generator),
                          torch.randint(0, cell[1], (config.n_masks,), generator=generator)], 1)
    return grid, shifts


class RISE(AttributionMethod):
    name = "rise"
    family = "perturbation"
    needs_gradients = False
    stochastic = True
    Config = RISEConfig

    def passes(self, size):
        return (self.config.n_masks, 0)

    mask_chunk = 512  # masks made at once

    def attribute(self, model, images, targets, generator):
        batch, _, height, width = images.shape
        grid, shifts = draw_masks(self.config, (height, width), generator)
        saliency = torch.zeros(batch, height * width, dtype=images.dtype, device=images.device)
        with torch.no_grad():
            for first in range(0, self.config.n_masks, self.mask_chunk):
                masks = rise_masks(grid[first:first + self.mask_chunk],
                                   shifts[first:first + self.mask_chunk], (height, width))
                saliency += self.weighted_sum(model, images, targets, masks.to(images))
        return (saliency / (self.config.n_masks * self.config.keep)).view(batch, height, width)

    def weighted_sum(self, model, images, targets, masks) -> torch.Tensor:
        """``sum_i P(target | x * M_i) M_i`` for every image, ``[B, H*W]``; (image, mask) pairs
        go through the model ``batch_size`` at a time."""
        probs = variant_probabilities(model, targets, len(masks),
                                      lambda image, mask: images[image] * masks[mask][:, None],
                                      self.inputs_per_pass(images))
        return probs @ masks.flatten(1)
