"""Which images a claims run scores (the paper's Sec 2.1).

* eligible: one ground-truth box covering at most half of the image (the paper filters ImageNet
  validation images this way; every embedded-world image has one box of 5-50%);
* ``random``: ``n`` eligible images drawn with ``seed``, the same for every model;
* ``cl``: per architecture, ``n`` images drawn with ``seed`` among those that *both* its vanilla
  and its robust model classify correctly; AdvProp models use their architecture's set.

Candidates are the first ``pool_size(n)`` images of the world's eval split.
"""

from __future__ import annotations

import numpy as np

SUBSETS = ("cl", "random")
MAX_BOX_AREA = 0.5


def pool_size(n: int) -> int:
    """Candidates to draw ``n`` images from: robust models get about 3 in 4 right, so 3n leaves
    room for the CL filter."""
    return max(3 * n, 300)


def eligible(boxes: np.ndarray, image_size: int) -> np.ndarray:
    """Boolean ``[N]``: a single box (rows ``[N, 4]`` xyxy, inclusive) of area <= 50%."""
    boxes = np.asarray(boxes)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes: expected one xyxy box per image [N, 4], got {boxes.shape}")
    area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    return area <= MAX_BOX_AREA * image_size * image_size


def draw(candidates: np.ndarray, n: int, seed: int, what: str) -> np.ndarray:
    """``n`` of the candidate indices, drawn with ``seed``, sorted."""
    if len(candidates) < n:
        raise ValueError(f"{what}: only {len(candidates)} candidate images for n={n}; "
                         f"lower --n-images or enlarge the pool")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(candidates, n, replace=False))


def cl_images(correct_vanilla: np.ndarray, correct_robust: np.ndarray, is_eligible: np.ndarray,
              n: int, seed: int, architecture: str) -> np.ndarray:
    """The CL set of one architecture: eligible images both models classify correctly."""
    candidates = np.flatnonzero(correct_vanilla & correct_robust & is_eligible)
    return draw(candidates, n, seed, f"CL subset of {architecture}")


def random_images(is_eligible: np.ndarray, n: int, seed: int) -> np.ndarray:
    return draw(np.flatnonzero(is_eligible), n, seed, "random subset")
