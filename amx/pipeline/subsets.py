"""Which images a claims run scores (the paper's Sec 2.1).

* eligible: exactly one ground-truth box, covering at most half of the image (the paper filters
  ImageNet validation images this way);
* ``random``: ``n`` eligible images drawn with ``seed``, the same for every model; uniformly, or
  stratified by class as the paper's ImageNet set (``stratified_images``: two per class) where the
  world asks for it (``World.stratified``);
* ``cl``: per architecture, ``n`` images drawn with ``seed`` among those that *both* its vanilla
  and its robust model classify correctly; AdvProp models use their architecture's set. In a
  zoo with no robust twin of an architecture (the ``photos`` world), its vanilla model alone.

Candidates are the first ``World.pool_size(n)`` images of the world's eval split.
"""

from __future__ import annotations

import numpy as np

SUBSETS = ("cl", "random")
MAX_BOX_AREA = 0.5


def eligible(boxes, image_size: int) -> np.ndarray:
    """Boolean ``[N]``: the image has exactly one box (each image's boxes ``[k, 4]`` xyxy,
    inclusive) and it covers at most 50% of the image."""
    out = np.zeros(len(boxes), dtype=bool)
    for i, b in enumerate(boxes):
        b = np.asarray(b).reshape(-1, 4)
        if len(b) == 1:
            area = (b[0, 2] - b[0, 0] + 1) * (b[0, 3] - b[0, 1] + 1)
            out[i] = area <= MAX_BOX_AREA * image_size * image_size
    return out


def draw(candidates: np.ndarray, n: int, seed: int, what: str) -> np.ndarray:
    """``n`` of the candidate indices, drawn with ``seed``, sorted."""
    if len(candidates) < n:
        raise ValueError(f"{what}: only {len(candidates)} candidate images for n={n}; "
                         f"lower --n-images or enlarge the pool")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(candidates, n, replace=False))


def cl_images(correct: list[np.ndarray], is_eligible: np.ndarray, n: int, seed: int,
              architecture: str) -> np.ndarray:
    """The CL set of one architecture: eligible images that all its models (``correct``: one
    boolean ``[N]`` per model, vanilla and robust) classify correctly."""
    candidates = np.flatnonzero(np.logical_and.reduce([*correct, is_eligible]))
    return draw(candidates, n, seed, f"CL subset of {architecture}")


def random_images(is_eligible: np.ndarray, n: int, seed: int) -> np.ndarray:
    return draw(np.flatnonzero(is_eligible), n, seed, "random subset")


def stratified_images(labels: np.ndarray, is_eligible: np.ndarray, n: int, seed: int,
                      n_classes: int) -> np.ndarray:
    """The paper's random ImageNet set (``dataPrep.ipynb``): ``n // n_classes`` eligible images per
    class where a class has that many (all of a class with fewer), drawn with ``seed``, then the
    rest of the ``n`` drawn uniformly among the eligible images left. Sorted."""
    rng = np.random.default_rng(seed)
    per_class = n // n_classes
    chosen = []
    for c in range(n_classes):
        mine = np.flatnonzero(is_eligible & (labels == c))
        chosen += rng.choice(mine, min(per_class, len(mine)), replace=False).tolist()
    rest = np.setdiff1d(np.flatnonzero(is_eligible), chosen)
    if len(chosen) + len(rest) < n:
        raise ValueError(f"random subset: only {len(chosen) + len(rest)} eligible images for n={n}")
    chosen += rng.choice(rest, n - len(chosen), replace=False).tolist() if n > len(chosen) else []
    return np.sort(np.array(chosen[:n], dtype=np.int64))
