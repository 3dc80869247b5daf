"""Input checks shared by the metrics: each failure names the argument and the offending image.

Conventions (every metric in ``amx.metrics``):

* a map is a float tensor ``[B, H, W]`` at input resolution;
* ``boxes`` is a sequence of ``B`` integer tensors ``[N_i, 4]`` of inclusive pixel corners
  ``x0, y0, x1, y1`` (ImageNet XML / wsolevaluation convention: the box covers columns
  ``x0..x1`` and rows ``y0..y1``), with ``N_i >= 1``;
* images are ``[B, 3, H, W]`` in [0, 1] and targets ``[B]`` class indices.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def check_maps(maps: torch.Tensor, name: str = "maps") -> None:
    """``maps`` is a floating ``[B, H, W]`` tensor without NaN."""
    if not isinstance(maps, torch.Tensor) or maps.dim() != 3 or not maps.is_floating_point():
        shape = tuple(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
        raise ValueError(f"{name}: expected a float tensor [B, H, W], got {shape}")
    bad = torch.isnan(maps).flatten(1).any(1)
    if bad.any():
        raise ValueError(f"{name}: NaN in the map of image(s) {bad.nonzero().flatten().tolist()}")


def check_boxes(boxes: Sequence[torch.Tensor], batch: int, height: int, width: int,
                name: str = "boxes") -> list[torch.Tensor]:
    """``boxes`` has one non-empty ``[N, 4]`` tensor per image, inside an ``height x width`` image.

    Returns the boxes as int64 tensors.
    """
    if len(boxes) != batch:
        raise ValueError(f"{name}: {len(boxes)} box lists for {batch} maps")
    out = []
    for i, b in enumerate(boxes):
        b = torch.as_tensor(b)
        if b.dim() != 2 or b.shape[1] != 4:
            raise ValueError(f"{name}[{i}]: expected shape [N, 4] (x0, y0, x1, y1), got {tuple(b.shape)}")
        if b.shape[0] == 0:
            raise ValueError(f"{name}[{i}]: empty box list; every image needs at least one box")
        if b.is_floating_point() and not torch.equal(b, b.round()):
            raise ValueError(f"{name}[{i}]: corners must be integer pixels, got {b.tolist()}")
        b = b.long()
        x0, y0, x1, y1 = b.unbind(1)
        inside = (x0 >= 0) & (y0 >= 0) & (x1 < width) & (y1 < height) & (x0 <= x1) & (y0 <= y1)
        if not inside.all():
            raise ValueError(f"{name}[{i}]: box {b[~inside][0].tolist()} is not an ordered box "
                             f"inside the {width}x{height} image (inclusive corners "
                             f"x in 0..{width - 1}, y in 0..{height - 1})")
        out.append(b)
    return out


def check_images(images: torch.Tensor, maps: torch.Tensor, targets: torch.Tensor) -> None:
    """``images`` ``[B, 3, H, W]`` match ``maps`` ``[B, H, W]``; ``targets`` is ``[B]`` integers."""
    if images.dim() != 4:
        raise ValueError(f"images: expected [B, C, H, W], got {tuple(images.shape)}")
    if images.shape[0] != maps.shape[0] or images.shape[2:] != maps.shape[1:]:
        raise ValueError(f"maps {tuple(maps.shape)} and images {tuple(images.shape)} differ in batch "
                         "or size; maps must be [B, H, W] at the images' resolution")
    if targets.dim() != 1 or len(targets) != len(images) or targets.is_floating_point():
        raise ValueError(f"targets: expected {len(images)} integer class indices, got "
                         f"{targets.dtype} {tuple(targets.shape)}")
