"""Energy-based pointing game (Wang et al., Score-CAM, CVPR-W 2020, Sec 4.3), the localisation
score BIG's claim B2 (seed 003) is checked with beside the Pointing Game and WSL.

``energy = sum_{p in R} max(m_p, 0) / sum_p max(m_p, 0)``: the share of the map's positive mass
inside the object region ``R``, the union of the image's boxes (``region="box"``, Score-CAM's) or,
in a world with exact object masks, the mask (``region="mask"``). A map without positive mass
scores 0. Higher is better; 1 when all the mass is on the object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from amx.metrics.inputs import check_boxes, check_maps

REGIONS = ("box", "mask")


@dataclass(frozen=True)
class EnergyConfig:
    """``region``: ``box`` (the union of the image's boxes) or ``mask`` (the exact object mask)."""

    region: str = "box"

    def __post_init__(self):
        if self.region not in REGIONS:
            raise ValueError(f"EnergyConfig.region: unknown {self.region!r}; valid: {REGIONS}")


def box_region(boxes: Sequence[torch.Tensor], height: int, width: int) -> torch.Tensor:
    """Bool ``[B, H, W]``: the union of each image's boxes (inclusive corners)."""
    boxes = check_boxes(boxes, len(boxes), height, width)
    rows, cols = torch.arange(height), torch.arange(width)
    out = torch.zeros(len(boxes), height, width, dtype=torch.bool)
    for i, image_boxes in enumerate(boxes):
        for x0, y0, x1, y1 in image_boxes.tolist():
            out[i] |= ((rows >= y0) & (rows <= y1))[:, None] & ((cols >= x0) & (cols <= x1))[None, :]
    return out


def energy_pointing_game(maps: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """The share (float64 ``[B]``) of each map's positive mass inside ``region`` (bool ``[B, H, W]``)."""
    check_maps(maps)
    if region.shape != maps.shape or region.dtype != torch.bool:
        raise ValueError(f"region: expected a bool tensor {tuple(maps.shape)}, got {region.dtype} "
                         f"{tuple(region.shape)}")
    mass = maps.double().clamp_min(0).flatten(1)
    inside = (mass * region.to(mass.device).flatten(1)).sum(1)
    total = mass.sum(1)
    return torch.where(total > 0, inside / total.clamp_min(1e-300), torch.zeros_like(total))
