"""A world's split as arrays: rendered ones cached on disk, image files decoded when read.

A world that renders its images (the embedded ``mini``) gives arrays: rendering 32,000 images
takes about a minute, so training and evaluation reuse a cache, an uncompressed ``.npz`` (never
pickled) keyed by (world, world version, seed, split, n), written atomically (temporary file +
rename). An image may have several boxes: they are stored flat (``boxes`` ``[M, 4]``) with each
image's count (``box_counts`` ``[N]``).

A world that reads the user's image files (``imagenet``, ``photos``) gives ``ImageFiles``: its
labels and boxes come from the annotations, and its pixels are decoded only when a stage reads
them (``DecodedOnRead``), so a 2,000-image run on ImageNet's 20,167-image pool never holds the
pool's 3 GB, and a file that does not decode is left out of the run with its reason
(``readable``), never a stop of the whole run.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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


class UnreadableImage(ValueError):
    """An image file that does not decode; the message names the file and why."""


@dataclass(frozen=True)
class ImageFiles:
    """A split read from image files (what a world's ``render`` gives instead of arrays):
    ``paths``, ``labels`` ``[N]``, ``boxes`` (per image ``[k, 4]``) and ``load(path)``, the uint8
    ``[3, H, W]`` pixels of one file (raising ``UnreadableImage``); a picklable callable."""

    paths: tuple[Path, ...]
    labels: np.ndarray
    boxes: tuple[np.ndarray, ...]
    load: Callable[[Path], np.ndarray]


class DecodedOnRead:
    """uint8 ``[N, 3, H, W]`` images of ``files``, decoded when indexed (an int, a slice or an
    index array, as a numpy array), in ``threads`` threads (Pillow decodes and resizes without
    the GIL); the ``capacity`` images read last are kept, so that the stages of one image list
    decode it once. Indexing an unreadable file raises ``UnreadableImage``; ``readable`` reads
    around them."""

    def __init__(self, files: ImageFiles, threads: int | None = None, capacity: int = 4096):
        self.files, self.capacity = files, capacity
        self.threads = threads or max(1, min(16, os.cpu_count() or 1))
        self.kept: OrderedDict[int, np.ndarray] = OrderedDict()
        self.unreadable: dict[int, str] = {}  # row -> why, for every unreadable file met so far

    def __len__(self) -> int:
        return len(self.files.paths)

    def _decode(self, rows: list[int]) -> dict[int, np.ndarray | UnreadableImage]:
        def one(row: int):
            try:
                return self.files.load(self.files.paths[row])
            except UnreadableImage as err:
                return err

        missing = [r for r in dict.fromkeys(rows) if r not in self.kept]
        if len(missing) > 8 and self.threads > 1:
            with ThreadPoolExecutor(self.threads) as pool:
                decoded = dict(zip(missing, pool.map(one, missing), strict=True))
        else:
            decoded = {r: one(r) for r in missing}
        for row, value in decoded.items():
            if isinstance(value, UnreadableImage):
                self.unreadable[row] = str(value)
            else:
                self.kept[row] = value
        out = {}
        for row in rows:
            if row in self.kept:
                self.kept.move_to_end(row)
                out[row] = self.kept[row]
            else:
                out[row] = decoded[row]
        while len(self.kept) > self.capacity:
            self.kept.popitem(last=False)
        return out

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            return self[[int(index)]][0]
        rows = (list(range(len(self))[index]) if isinstance(index, slice)
                else [int(i) for i in np.asarray(index).reshape(-1)])
        decoded = self._decode(rows)
        for row in rows:
            if isinstance(decoded[row], UnreadableImage):
                raise decoded[row]
        return np.stack([decoded[r] for r in rows]) if rows else np.zeros((0, 3, 1, 1), np.uint8)

    def readable(self, rows) -> tuple[np.ndarray, np.ndarray]:
        """``(pixels, ok)``: the uint8 images of the readable ``rows`` and which of ``rows`` they are."""
        rows = [int(i) for i in np.asarray(rows).reshape(-1)]
        decoded = self._decode(rows)
        ok = np.array([not isinstance(decoded[r], UnreadableImage) for r in rows], dtype=bool)
        kept = [decoded[r] for r, good in zip(rows, ok, strict=True) if good]
        return (np.stack(kept) if kept else np.zeros((0, 3, 1, 1), np.uint8)), ok


def readable(images, rows) -> tuple[np.ndarray, np.ndarray]:
    """``(pixels, ok)`` of ``rows`` of a split's ``images``: arrays are all readable; files
    (``DecodedOnRead``) leave out the ones that do not decode."""
    if isinstance(images, DecodedOnRead):
        return images.readable(rows)
    rows = np.asarray(rows)
    return images[rows], np.ones(len(rows), dtype=bool)


@dataclass(frozen=True)
class SplitArrays:
    """``images`` uint8 ``[N,3,H,W]`` (pixel / 255 is the world's float image): an array, or
    ``DecodedOnRead`` for a world of image files; ``labels`` ``[N]``, and ``boxes``: per image
    an int ``[k, 4]`` array of its boxes (xyxy, inclusive). ``paths``: the files, where read from files."""

    images: np.ndarray | DecodedOnRead
    labels: np.ndarray
    boxes: tuple[np.ndarray, ...]
    paths: tuple[Path, ...] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, index, device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Float images in [0, 1] and int64 labels for ``index`` (a slice or an index array)."""
        x = torch.from_numpy(self.images[index]).to(device).float().div_(255.0)
        return x, torch.from_numpy(self.labels[index]).to(device).long()


def _split_boxes(flat: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, ...]:
    return tuple(np.split(flat.reshape(-1, 4), np.cumsum(counts)[:-1]))


def load_split(world: World, split: str, n: int, workers: int = 1) -> SplitArrays:
    """The first ``n`` samples of ``split``: a rendered world's from the on-disk cache (or
    rendered and cached), a world of image files' decoded when read."""
    data = f"-data{world.data_id()[:16]}" if world.data_id else ""
    path = (cache_dir() / "worlds" / world.name
            / f"v{world.version}-seed{world.seed}{data}-{split}-{n}-layout{LAYOUT}.npz")
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return SplitArrays(z["images"], z["labels"], _split_boxes(z["boxes"], z["box_counts"]))
    rendered = world.render(split, n, workers=workers)
    if isinstance(rendered, ImageFiles):
        if len(rendered.paths) != n or len(rendered.labels) != n or len(rendered.boxes) != n:
            raise ValueError(f"world {world.name!r}: render({split!r}, {n}) gave {len(rendered.paths)} "
                             f"files, {len(rendered.labels)} labels and {len(rendered.boxes)} box lists")
        return SplitArrays(DecodedOnRead(rendered), np.asarray(rendered.labels),
                           tuple(rendered.boxes), tuple(rendered.paths))
    images, labels, boxes = rendered
    boxes = tuple(np.asarray(b, dtype=np.int64).reshape(-1, 4) for b in boxes)
    if len(boxes) != len(labels) or len(images) != len(labels) or any(len(b) == 0 for b in boxes):
        raise ValueError(f"world {world.name!r}: render({split!r}, {n}) gave {len(images)} images, "
                         f"{len(labels)} labels and {len(boxes)} box lists (each needs >= 1 box)")
    counts = np.array([len(b) for b in boxes], dtype=np.int64)
    write_atomic(path, lambda f: np.savez(f, images=images, labels=labels,
                                          boxes=np.concatenate(boxes), box_counts=counts))
    return SplitArrays(images, labels, boxes)
