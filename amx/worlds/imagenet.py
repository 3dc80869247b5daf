"""The ``imagenet`` world: the paper's setup, the user's ILSVRC-2012 validation tree read by
``amx.data.imagenet`` and the 12 published checkpoints of ``amx.zoo.imagenet``."""

from __future__ import annotations

from amx.data import imagenet as data
from amx.data.worlds import World, WorldOption
from amx.zoo import imagenet as zoo

WORLD = World(
    name="imagenet", version=data.VERSION, seed=0, image_size=data.SIZE, n_classes=1000,
    splits=data.SPLITS, render=data.render, zoo=zoo, attack=data.PAPER_ATTACK, zoo_eval_images=50_000,
    pool_size=data.n_eligible, eligible=data.all_eligible, default_n_images=2000,
    background_split="background", stratified=True, data_id=data.data_id,
    options=(WorldOption("imagenet-root", data.ROOT_ENV,
                         "the ILSVRC-2012 validation set (flat or Kaggle layout)"),
             WorldOption("weights-dir", zoo.WEIGHTS_ENV,
                         "where the published checkpoints are (then $TORCH_HOME/hub/checkpoints)")),
    description=(
        "The paper's setup: the ILSVRC-2012 validation images with one box of <= 50% of the image "
        "(20,167 of 50,000), resized to 224 px; the 12 published CNNs of Table 1 (torchvision V1, "
        "MadryLab / Salman et al. robust, AdvProp PGD-1 / PGD-5); Table 1 on all 50,000 images "
        "(Resize 256 + CenterCrop 224)."),
    departures=(
        "SHAP's background is the first ineligible validation images (the paper does not state its own); "
        "GoogLeNet-R is built with transform_input=True, as the SAM repository's GoogLeNet class "
        "(unverified on the file); DenseNet's CAM layer is features.norm5 (before the final ReLU)."),
)
