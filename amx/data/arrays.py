"""A world split rendered to arrays, cached on disk as an uncompressed ``.npz`` (never pickled).

Rendering 32,000 mini images takes about a minute; training and evaluation reuse the cache.
The cache key is (world, world version, seed, split, n); writes are atomic (temporary file + rename).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from amx.data.worlds import World
from amx.files import write_atomic


def cache_dir() -> Path:
    """``$AMX_CACHE`` or ``.amx-cache`` in the current directory."""
    return Path(os.environ.get("AMX_CACHE", ".amx-cache"))


@dataclass(frozen=True)
class SplitArrays:
    """``images`` uint8 ``[N,3,H,W]`` (pixel / 255 is the world's float image), labels, boxes."""

    images: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, index, device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Float images in [0, 1] and int64 labels for ``index`` (a slice or an index array)."""
        x = torch.from_numpy(self.images[index]).to(device).float().div_(255.0)
        return x, torch.from_numpy(self.labels[index]).to(device).long()


def load_split(world: World, split: str, n: int, workers: int = 1) -> SplitArrays:
    """The first ``n`` samples of ``split``, from the on-disk cache or rendered and cached."""
    path = cache_dir() / "worlds" / world.name / f"v{world.version}-seed{world.seed}-{split}-{n}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return SplitArrays(z["images"], z["labels"], z["boxes"])
    images, labels, boxes = world.render(split, n, workers=workers)
    write_atomic(path, lambda f: np.savez(f, images=images, labels=labels, boxes=boxes))
    return SplitArrays(images, labels, boxes)
