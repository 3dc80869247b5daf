"""GradCAM (Selvaraju et al. 2017), as jacobgil's pytorch-grad-cam, which the paper used.

``map = upsample(ReLU(sum_k alpha_k A_k))`` with ``alpha_k = mean_{i,j} d logit_target / d A_k(i,j)``
at the model's ``cam_layer``. pytorch-grad-cam then min-max scales each map; amx keeps the raw
values (an affine change no metric sees). On a GAP -> linear head, GradCAM equals ReLU(CAM)
divided by the number of feature-map cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from amx.methods.base import AttributionMethod, upsample
from amx.methods.cam import layer_activations
from amx.scoring import balanced_chunks, target_scores


@dataclass(frozen=True)
class GradCAMConfig:
    """GradCAM has no hyperparameters; the layer comes from the model (``cam_layer``)."""


class GradCAM(AttributionMethod):
    name = "gradcam"
    family = "cam"
    needs_gradients = True
    stochastic = False
    requires = ("cam_layer",)
    Config = GradCAMConfig

    def passes(self, size):
        return (0, 1)

    def attribute(self, model, images, targets, generator):
        maps = []
        for chunk in balanced_chunks(len(images), self.inputs_per_pass(images)):
            x, t = images[chunk], targets[chunk]
            with torch.enable_grad():
                logits, features = layer_activations(model, model.cam_layer, x.detach().requires_grad_())
                grads = torch.autograd.grad(target_scores(logits, t).sum(), features)[0]
            alpha = grads.mean((2, 3), keepdim=True)
            maps.append(torch.relu((alpha * features).sum(1)).detach())
        return upsample(torch.cat(maps), images.shape[2:])
