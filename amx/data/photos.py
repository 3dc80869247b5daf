"""The ``photos`` world: real photographs and a real ImageNet-trained CNN, small enough for a CPU.

27 photos that installed packages bundle: scikit-image's chelsea, coffee, rocket, camera and
motorcycle_left; scikit-learn's china and flower; matplotlib's grace_hopper; and 19 of the 20
ImageNet samples of foolbox (a dependency, the reference of BIG's C&W attack), with their ImageNet labels (its
``imagenet_12_741``, labelled prayer rug, shows stained-glass windows and is left out). They are
laid out in ``fixtures/photos`` as a flat ILSVRC-style validation tree: each JPEG with an XML of
its ImageNet class (wnid) and hand-drawn boxes (``fixtures/photos/sources.csv`` says where each
comes from and what its boxes cover). They go through ``amx.data.imagenet``, the ImageNet
world's reader, with the paper's protocol: 13 of the 27 are eligible (one box of at most half the
image; the others have several objects or a larger one), resized straight to 224 px. The zoo is
``amx.zoo.photos``: EfficientNet-Lite0; ``fixtures/zoos/efficientnet-lite.toml`` adds Lite1 and
Lite2 (``--zoo``).

Departures from the paper: 27 photos instead of 50,000, boxes drawn by hand for amx; one model,
not the paper's 12, so claims that compare vanilla and robust models (or AdvProp ones) are not
applicable here; ImageNet-CL is the eligible photos the one model classifies correctly; Table 1
(top-1, PGD) is measured on the 27 photos (Resize 256 + CenterCrop 224, the paper's).
"""

from __future__ import annotations

from amx.data import imagenet
from amx.data.arrays import ImageFiles
from amx.files import FIXTURES

ROOT = FIXTURES / "photos"
VERSION = 2  # bump when a photo, box or label changes: it is part of every cache key


def render(split: str, n: int, workers: int = 1) -> ImageFiles:
    """``World.render``: ``amx.data.imagenet.render_split`` of ``fixtures/photos`` (decoded when read)."""
    return imagenet.render_split(ROOT, split, n)


def n_eligible(_n: int = 0) -> int:
    return len(imagenet.read_index(ROOT).eligible)
