"""The embedded synthetic world ``mini``: 64x64 images, 20 classes, one object with an exact box.

Why it exists: the paper (001, Sec 2.1) evaluates on ImageNet validation images with one
bounding box covering <= 50% of the image. ImageNet is not available here, so amx ships a world
that reproduces what the metrics need -- a single object whose exact extent is known -- and in
which *only the object* carries class evidence.

Generative model (all draws from ``numpy.random.default_rng([seed, split, index])``):

* class ``c`` = a shape (``SHAPES[c % 10]``) filled with a class-specific binary pattern
  (``PATTERNS[c]``); the pattern's two colours are random (RGB distance 0.35-0.6: low
  contrast), so colour carries no class evidence;
* box area fraction ``f = 0.05 * 10 ** (u ** 1.3)``, ``u ~ U(0, 1)``: between 5% and 50% of the
  image, skewed towards small objects (median about 13%) so Pointing Game is not at its ceiling;
* clutter drawn *below* the object: a smooth colour field, plain-filled blobs, lines, speckle
  patches and partial shape fragments with a *plain* fill -- never a class pattern, so clutter
  carries no class evidence;
* pixels are quantised to multiples of 1/255, so a ``uint8`` cache stores them losslessly.

The stored box is the tight box of the object's visible mask, ``x0, y0, x1, y1`` as inclusive
pixel corners (the ImageNet XML convention). Splits are disjoint random streams: ``train``,
``val`` and ``eval`` use different ``split`` keys of the same seed.

Departure from the paper: synthetic objects instead of ImageNet photographs; 64 px instead of
224 px. The paper's statistics are regenerated on this world, not its absolute numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VERSION = 3  # bump whenever generation changes: it is part of every cache key
SIZE = 64
CONTRAST = (0.35, 0.6)  # RGB distance between a pattern's two colours
N_CLASSES = 20
SPLITS = {"train": 0, "val": 1, "eval": 2}
MIN_AREA, MAX_AREA = 0.05, 0.50

SHAPES = (
    "ellipse", "rectangle", "triangle", "diamond", "plus",
    "ring", "star", "hexagon", "tee", "crescent",
)
PATTERNS = (
    "hstripes4", "vstripes4", "diag5", "antidiag5", "checker4",
    "dots5", "rings5", "grid6", "hstripes8", "vstripes8",
    "diamonds6", "zigzag", "waves", "spokes", "checker8",
    "diaggrid7", "bigdots8", "hlines6", "vlines6", "rings9",
)
CLASS_NAMES = tuple(f"{PATTERNS[c]}-{SHAPES[c % len(SHAPES)]}" for c in range(N_CLASSES))


@dataclass(frozen=True)
class Sample:
    """One image of the world: ``image`` float32 ``[3, H, W]`` in [0, 1], ``box`` int ``[4]``
    (x0, y0, x1, y1 inclusive), ``mask`` bool ``[H, W]`` of the visible object."""

    split: str
    index: int
    image: np.ndarray
    label: int
    box: np.ndarray
    mask: np.ndarray

    @property
    def id(self) -> str:
        return f"mini/{self.split}/{self.index}"


_YY, _XX = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Implicit shape in box coordinates ``u, v`` in [-1, 1]."""
    r = np.hypot(u, v)
    if shape == "ellipse":
        return r <= 1.0
    if shape == "rectangle":
        return (np.abs(u) <= 1.0) & (np.abs(v) <= 1.0)
    if shape == "triangle":
        return (v <= 1.0) & (np.abs(u) <= (v + 1.0) / 2.0)
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= 1.0
    if shape == "plus":
        inside = (np.abs(u) <= 1.0) & (np.abs(v) <= 1.0)
        return inside & ((np.abs(u) <= 0.36) | (np.abs(v) <= 0.36))
    if shape == "ring":
        return (r <= 1.0) & (r >= 0.55)
    if shape == "star":
        theta = np.arctan2(v, u)
        return r <= 0.5 + 0.5 * np.abs(np.cos(2.5 * theta))
    if shape == "hexagon":
        return (np.abs(v) <= 0.87) & (np.abs(u) + 0.577 * np.abs(v) <= 1.0)
    if shape == "tee":
        inside = (np.abs(u) <= 1.0) & (np.abs(v) <= 1.0)
        return inside & ((v <= -0.4) | (np.abs(u) <= 0.33))
    if shape == "crescent":
        return (r <= 1.0) & (np.hypot(u - 0.55, v) > 0.75)
    raise ValueError(f"unknown shape {shape!r}; valid: {SHAPES}")


def _pattern(pattern: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Binary class pattern at image coordinates (already phase-shifted)."""
    if pattern == "hstripes4":
        return (y % 4) < 2
    if pattern == "vstripes4":
        return (x % 4) < 2
    if pattern == "diag5":
        return ((x + y) % 5) < 2.5
    if pattern == "antidiag5":
        return ((x - y) % 5) < 2.5
    if pattern == "checker4":
        return ((x // 2 + y // 2) % 2) == 0
    if pattern == "dots5":
        return np.hypot(x % 5 - 2, y % 5 - 2) <= 1.2
    if pattern == "rings5":
        return (np.hypot(x - 32, y - 32) % 5) < 2.5
    if pattern == "grid6":
        return ((x % 6) < 2) | ((y % 6) < 2)
    if pattern == "hstripes8":
        return (y % 8) < 4
    if pattern == "vstripes8":
        return (x % 8) < 4
    if pattern == "diamonds6":
        return (np.abs(x % 6 - 3) + np.abs(y % 6 - 3)) <= 1.5
    if pattern == "zigzag":
        return ((y + np.abs(x % 6 - 3)) % 6) < 3
    if pattern == "waves":
        return ((x + 2.0 * np.sin(y * 0.9)) % 6) < 3
    if pattern == "spokes":
        return (np.floor(np.arctan2(y % 12 - 6, x % 12 - 6) / (np.pi / 4)) % 2) == 0
    if pattern == "checker8":
        return ((x // 4 + y // 4) % 2) == 0
    if pattern == "diaggrid7":
        return (((x + y) % 7) < 2) | (((x - y) % 7) < 2)
    if pattern == "bigdots8":
        return np.hypot(x % 8 - 4, y % 8 - 4) <= 2.2
    if pattern == "hlines6":
        return (y % 6) < 1
    if pattern == "vlines6":
        return (x % 6) < 1
    if pattern == "rings9":
        return (np.hypot(x - 32, y - 32) % 9) < 3
    raise ValueError(f"unknown pattern {pattern!r}; valid: {PATTERNS}")


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.0, 1.0, size=3).astype(np.float32)


def _contrasting_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two random colours at RGB distance ``CONTRAST``: the pattern is visible but low-contrast.

    Low contrast keeps the class evidence small in pixel space, so that vanilla CNNs are
    fragile at the scaled PGD-L2 budget (eps 1.0) as ImageNet CNNs are at eps 3; with a
    contrast of 0.3+ in mean intensity a vanilla CNN kept 60%+ accuracy under that attack.
    """
    while True:
        a = _random_colour(rng)
        direction = rng.normal(size=3).astype(np.float32)
        step = rng.uniform(*CONTRAST) * direction / np.linalg.norm(direction)
        b = np.clip(a + step, 0.0, 1.0)
        if CONTRAST[0] <= float(np.linalg.norm(a - b)) <= CONTRAST[1]:
            return a, b


def _paint(img: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> None:
    img[:, mask] = colour[:, None]


def _box_coords(rng: np.random.Generator, area: float, aspect: float):
    w = float(np.sqrt(area * SIZE * SIZE * aspect))
    h = float(np.sqrt(area * SIZE * SIZE / aspect))
    w, h = min(w, SIZE - 2.0), min(h, SIZE - 2.0)
    cx = rng.uniform(w / 2, SIZE - w / 2)
    cy = rng.uniform(h / 2, SIZE - h / 2)
    return cx, cy, w, h


def _local(cx: float, cy: float, w: float, h: float, flips: np.ndarray):
    u = (_XX + 0.5 - cx) / (w / 2)
    v = (_YY + 0.5 - cy) / (h / 2)
    if flips[0]:
        u = -u
    if flips[1]:
        v = -v
    return u, v


def _background(rng: np.random.Generator) -> np.ndarray:
    """Smooth colour field: a bilinear blend of four random corner colours."""
    corners = rng.uniform(0.0, 1.0, size=(4, 3, 1, 1)).astype(np.float32)
    a = _XX[None] / (SIZE - 1)
    b = _YY[None] / (SIZE - 1)
    top = corners[0] * (1 - a) + corners[1] * a
    bottom = corners[2] * (1 - a) + corners[3] * a
    return top * (1 - b) + bottom * b


def _clutter(img: np.ndarray, rng: np.random.Generator) -> None:
    """Plain blobs, lines, speckle patches and partial plain-filled shape fragments."""
    for _ in range(int(rng.integers(3, 8))):
        kind = int(rng.integers(0, 4))
        colour = _random_colour(rng)
        if kind == 0:  # plain blob
            cx, cy, w, h = _box_coords(rng, rng.uniform(0.01, 0.08), np.exp(rng.uniform(-0.6, 0.6)))
            _paint(img, np.hypot(*_local(cx, cy, w, h, np.zeros(2, bool))) <= 1.0, colour)
        elif kind == 1:  # line
            x0, y0, x1, y1 = rng.uniform(0, SIZE, size=4)
            width = rng.uniform(0.6, 1.8)
            dx, dy = x1 - x0, y1 - y0
            t = np.clip(((_XX - x0) * dx + (_YY - y0) * dy) / (dx * dx + dy * dy + 1e-6), 0, 1)
            _paint(img, np.hypot(_XX - x0 - t * dx, _YY - y0 - t * dy) <= width, colour)
        elif kind == 2:  # speckle patch: i.i.d. noise, no periodic structure
            cx, cy, w, h = _box_coords(rng, rng.uniform(0.01, 0.06), np.exp(rng.uniform(-0.5, 0.5)))
            m = (np.abs(_XX + 0.5 - cx) <= w / 2) & (np.abs(_YY + 0.5 - cy) <= h / 2)
            noise = rng.uniform(0, 1, size=(3, SIZE, SIZE)).astype(np.float32)
            img[:, m] = 0.5 * img[:, m] + 0.5 * noise[:, m]
        else:  # partial shape fragment, plain fill, clipped by a random half-plane
            shape = SHAPES[int(rng.integers(0, len(SHAPES)))]
            cx, cy, w, h = _box_coords(rng, rng.uniform(0.02, 0.12), np.exp(rng.uniform(-0.4, 0.4)))
            u, v = _local(cx, cy, w, h, rng.integers(0, 2, size=2).astype(bool))
            angle = rng.uniform(0, 2 * np.pi)
            half = np.cos(angle) * u + np.sin(angle) * v <= rng.uniform(-0.3, 0.3)
            _paint(img, _shape_mask(shape, u, v) & half, colour)


def generate(index: int, split: str = "eval", seed: int = 0) -> Sample:
    """Generate sample ``index`` of ``split`` deterministically from ``(seed, split, index)``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {sorted(SPLITS)}")
    if index < 0:
        raise ValueError(f"index must be >= 0, got {index}")
    rng = np.random.default_rng([seed, SPLITS[split], index])
    label = int(rng.integers(0, N_CLASSES))
    img = _background(rng)
    _clutter(img, rng)
    shape, pattern = SHAPES[label % len(SHAPES)], PATTERNS[label]
    while True:  # rejection: the visible tight box must cover 5%..50% of the image
        area = MIN_AREA * 10 ** (rng.uniform(0, 1) ** 1.3)
        cx, cy, w, h = _box_coords(rng, area, np.exp(rng.uniform(-0.4, 0.4)))
        u, v = _local(cx, cy, w, h, rng.integers(0, 2, size=2).astype(bool))
        mask = _shape_mask(shape, u, v)
        if not mask.any():
            continue
        box = tight_box(mask)
        frac = (box[2] - box[0] + 1) * (box[3] - box[1] + 1) / (SIZE * SIZE)
        if MIN_AREA <= frac <= MAX_AREA:
            break
    c0, c1 = _contrasting_pair(rng)
    phase = rng.integers(0, 16, size=2)
    on = _pattern(pattern, _XX + phase[0], _YY + phase[1])
    img[:, mask & on] = c0[:, None]
    img[:, mask & ~on] = c1[:, None]
    img += rng.normal(0.0, 0.015, size=img.shape).astype(np.float32)
    img = np.round(np.clip(img, 0.0, 1.0) * 255.0) / 255.0
    return Sample(split, index, img.astype(np.float32), label, box, mask)


def tight_box(mask: np.ndarray) -> np.ndarray:
    """Inclusive ``x0, y0, x1, y1`` of the True pixels of a ``[H, W]`` mask."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        raise ValueError("tight_box of an empty mask")
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.int64)


def _render_range(args) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    split, start, stop, seed = args
    samples = [generate(i, split, seed) for i in range(start, stop)]
    images = np.stack([np.round(s.image * 255).astype(np.uint8) for s in samples])
    return images, np.array([s.label for s in samples]), np.stack([s.box for s in samples])


def render(split: str, n: int, seed: int = 0, workers: int = 1):
    """Samples ``0..n-1`` of ``split`` as arrays: images ``uint8 [n,3,64,64]``, labels, boxes
    ``[n, 4]`` (one per image)."""
    bounds = np.linspace(0, n, max(1, workers) * 4 + 1).astype(int)
    jobs = [(split, int(a), int(b), seed) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    if workers > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_render_range, jobs)
    else:
        parts = [_render_range(j) for j in jobs]
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))


def render_world(split: str, n: int, workers: int = 1):
    """``render`` as ``World.render`` wants it: one ``[1, 4]`` box list per image."""
    images, labels, boxes = render(split, n, workers=workers)
    return images, labels, [b[None] for b in boxes]


def object_masks(split: str, indices) -> np.ndarray:
    """The exact masks (bool ``[n, 64, 64]``) of the visible objects of ``split``'s images ``indices``."""
    return np.stack([generate(int(i), split).mask for i in indices])
