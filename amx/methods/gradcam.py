"""GradCAM (Selvaraju et al. 2017), as jacobgil's pytorch-grad-cam, which the paper used.

``map = upsample(ReLU(sum_k alpha_k A_k))`` with ``alpha_k = mean_{i,j} d logit_target / d A_k(i,j)``
at the model's ``cam_layer``. pytorch-grad-cam then min-max scales each map; amx keeps the raw
values (an affine change no metric sees). On a GAP -> linear head, GradCAM equals ReLU(CAM)
divided by the number of feature-map cells.

A vision transformer's ``cam_layer`` gives tokens ``[B, N, C]``; GradCAM reads the last ``h * w``
of them as their ``h x w`` patch grid (``h = w = floor(sqrt(N))``), the class token and any other
prefix tokens dropped, as pytorch-grad-cam's ``reshape_transform`` for ViTs does (it assumes the
14 x 14 grid of a 224-px ViT-B/16; amx infers the square grid, with at most 16 prefix tokens). A
layer whose output is channels-last ``[B, H, W, C]`` (Swin's) is read as ``[B, C, H, W]``: give
such a model a ``cam_layer`` after its permute back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from amx.methods.base import AttributionMethod, upsample
from amx.methods.cam import layer_activations
from amx.scoring import balanced_chunks, target_scores


@dataclass(frozen=True)
class GradCAMConfig:
    """GradCAM has no hyperparameters; the layer comes from the model (``cam_layer``)."""


MAX_PREFIX_TOKENS = 16  # a class token, a distillation token, register tokens


def token_grid(tokens: torch.Tensor) -> torch.Tensor:
    """``[B, N, C]`` transformer tokens as ``[B, C, s, s]`` feature maps, ``s = floor(sqrt(N))``:
    the last ``s * s`` tokens in row-major patch order (the first ``N - s * s``, class and other
    prefix tokens, dropped)."""
    b, n, c = tokens.shape
    side = math.isqrt(n)
    if not 0 <= n - side * side <= MAX_PREFIX_TOKENS:
        raise ValueError(f"gradcam: {n} tokens are not a square grid after at most {MAX_PREFIX_TOKENS} "
                         "prefix tokens; give a cam_layer whose output is [B, C, H, W] or ViT tokens")
    return tokens[:, n - side * side:].reshape(b, side, side, c).permute(0, 3, 1, 2)


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
            if features.dim() == 3:
                features, grads = token_grid(features), token_grid(grads)
            alpha = grads.mean((2, 3), keepdim=True)
            maps.append(torch.relu((alpha * features).sum(1)).detach())
        return upsample(torch.cat(maps), images.shape[2:])
