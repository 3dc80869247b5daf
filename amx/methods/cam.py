"""Class Activation Mapping (Zhou et al. 2016), for GAP -> linear heads only.

``map = upsample(sum_k w_{target,k} A_k)``: the feature maps ``A`` at the model's ``cam_layer``
(the input of global average pooling) weighted by the linear layer's row for the target. The
linear layer is the model's last ``nn.Linear``. Zhou's code min-max normalises the map before
resizing; amx keeps the raw values (an affine change, which bilinear upsampling preserves and
no metric sees). A model without a GAP head raises ``NotApplicableError`` (the paper's N/A).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from amx.methods.base import AttributionMethod, NotApplicableError, model_name, upsample
from amx.scoring import balanced_chunks, target_scores


@dataclass(frozen=True)
class CAMConfig:
    """CAM has no hyperparameters; the layer comes from the model (``cam_layer``)."""


def layer_activations(model, layer: str, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's logits and the output of submodule ``layer`` for ``images``."""
    seen = {}
    handle = model.get_submodule(layer).register_forward_hook(lambda m, i, o: seen.setdefault("a", o))
    try:
        logits = model(images)
    finally:
        handle.remove()
    return logits, seen["a"]


class CAM(AttributionMethod):
    name = "cam"
    family = "cam"
    needs_gradients = False
    stochastic = False
    requires = ("gap_head", "cam_layer")
    Config = CAMConfig

    def passes(self, size):
        return (1, 0)

    def attribute(self, model, images, targets, generator):
        linear = [m for m in model.modules() if isinstance(m, nn.Linear)][-1:]
        maps = []
        with torch.no_grad():
            for chunk in balanced_chunks(len(images), self.inputs_per_pass(images)):
                x, t = images[chunk], targets[chunk]
                logits, features = layer_activations(model, model.cam_layer, x)
                target_scores(logits, t)
                if not linear or linear[0].in_features != features.shape[1]:
                    raise NotApplicableError(
                        f"cam: model {model_name(model)!r} has no linear layer on the "
                        f"{features.shape[1]} channels of {model.cam_layer!r}")
                weights = linear[0].weight[t]  # [b, K]
                maps.append(torch.einsum("bk,bkhw->bhw", weights, features))
        return upsample(torch.cat(maps), images.shape[2:])
