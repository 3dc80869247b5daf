"""Pointing Game (Zhang et al. 2016), with TorchRay's rule, which the paper used (Sec 2.4).

The point is the map's maximum, the first one in row-major order (``torch.argmax``). It is a
hit when its Euclidean distance to some pixel of some box (the union of the image's boxes) is
strictly less than ``tolerance`` pixels, as TorchRay's ``PointingGame.evaluate`` compares
``du^2 + dv^2 < tolerance^2`` over the box mask. The nearest box pixel is the point clamped
into the box, so no mask is built. Higher is better.

The tolerance is in pixels at the evaluated resolution: 15 px at the paper's 224 px.
``PointingGameConfig.for_image_size(64)`` scales it to 15 * 64 / 224 = 4.29 px for the embedded
world (a departure the world's protocol states).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from amx.metrics.inputs import check_boxes, check_maps

PAPER_IMAGE_SIZE = 224


@dataclass(frozen=True)
class PointingGameConfig:
    """``tolerance``: hit radius in pixels (TorchRay and the paper: 15 at 224 px)."""

    tolerance: float = 15.0

    def __post_init__(self):
        if not self.tolerance > 0:
            raise ValueError(f"PointingGameConfig.tolerance must be > 0 pixels, got {self.tolerance}")

    @classmethod
    def for_image_size(cls, image_size: int) -> PointingGameConfig:
        """The paper's 15 px scaled from 224 px to ``image_size`` (4.29 px at 64 px)."""
        return cls(tolerance=cls.tolerance * image_size / PAPER_IMAGE_SIZE)


def pointing_game(maps: torch.Tensor, boxes: Sequence[torch.Tensor],
                  tolerance: float = PointingGameConfig.tolerance) -> torch.Tensor:
    """Hit (bool ``[B]``) of each map's maximum against its image's boxes.

    ``hit = min_boxes (dx^2 + dy^2) < tolerance^2`` with ``dx = px - clamp(px, x0, x1)`` and
    ``dy = py - clamp(py, y0, y1)``.
    """
    PointingGameConfig(tolerance)
    check_maps(maps)
    batch, height, width = maps.shape
    boxes = check_boxes(boxes, batch, height, width)
    index = maps.flatten(1).argmax(1).cpu()
    py, px = index // width, index % width
    counts = torch.tensor([len(b) for b in boxes])
    owner = torch.repeat_interleave(torch.arange(batch), counts)
    all_boxes = torch.cat(boxes)
    dx = px[owner] - torch.minimum(torch.maximum(px[owner], all_boxes[:, 0]), all_boxes[:, 2])
    dy = py[owner] - torch.minimum(torch.maximum(py[owner], all_boxes[:, 1]), all_boxes[:, 3])
    box_hit = (dx * dx + dy * dy).double() < float(tolerance) ** 2
    hits = torch.zeros(batch, dtype=torch.long).scatter_reduce(0, owner, box_hit.long(), "amax")
    return hits.bool().to(maps.device)
