"""A world split rendered to arrays, cached on disk as an uncompressed ``.npz`` (never pickled).

Rendering 32,000 embedded-world images takes about a minute; training and evaluation reuse the
cache. The cache key is (world, world version, seed, the digest of a user's data set where the
world reads one, split, n); writes are atomic (temporary
file + rename). An image may have several boxes: they are stored flat (``boxes`` ``[M, 4]``) with
each image's count (``box_counts`` ``[N]``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from amx.data.worlds import World
from amx.files import write_atomic

LAYOUT = 2  # of the .npz file: 2 = boxes flat with per-image counts


def cache_dir() -> Path:
    """``$AMX_CACHE`` or ``.amx-cache`` in the current directory."""
    return Path(os.environ.get("AMX_CACHE", ".amx-cache"))


@dataclass(frozen=True)
class SplitArrays:
    """``images`` uint8 ``[N,3,H,W]`` (pixel / 255 is the world's float image), ``labels``
    ``[N]``, and ``boxes``: per image an int ``[k, 4]`` array of its boxes (xyxy, inclusive)."""

    images: np.ndarray
    labels: np.ndarray
    boxes: tuple[np.ndarray, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, index, device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Float images in [0, 1] and int64 labels for ``index`` (a slice or an index array)."""
        x = torch.from_numpy(self.images[index]).to(device).float().div_(255.0)
        return x, torch.from_numpy(self.labels[index]).to(device).long()


def _split_boxes(flat: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, ...]:
    return tuple(np.split(flat.reshape(-1, 4), np.cumsum(counts)[:-1]))


def load_split(world: World, split: str, n: int, workers: int = 1) -> SplitArrays:
    """The first ``n`` samples of ``split``, from the on-disk cache or rendered and cached."""
    data = f"-data{world.data_id()[:16]}" if world.data_id else ""
    path = (cache_dir() / "worlds" / world.name
            / f"v{world.version}-seed{world.seed}{data}-{split}-{n}-layout{LAYOUT}.npz")
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return SplitArrays(z["images"], z["labels"], _split_boxes(z["boxes"], z["box_counts"]))
    images, labels, boxes = world.render(split, n, workers=workers)
    boxes = tuple(np.asarray(b, dtype=np.int64).reshape(-1, 4) for b in boxes)
    if len(boxes) != len(labels) or len(images) != len(labels) or any(len(b) == 0 for b in boxes):
        raise ValueError(f"world {world.name!r}: render({split!r}, {n}) gave {len(images)} images, "
                         f"{len(labels)} labels and {len(boxes)} box lists (each needs >= 1 box)")
    counts = np.array([len(b) for b in boxes], dtype=np.int64)
    write_atomic(path, lambda f: np.savez(f, images=images, labels=labels,
                                          boxes=np.concatenate(boxes), box_counts=counts))
    return SplitArrays(images, labels, boxes)
