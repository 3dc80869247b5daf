"""Guided Backpropagation (Springenberg et al. 2015) and Guided GradCAM (Selvaraju et al. 2017),
the methods that fail Adebayo et al.'s sanity checks ("Sanity checks for saliency maps", 2018).

Guided Backpropagation is the gradient of the target logit with each ReLU's backward replaced by
``g_in = max(g_out, 0) * [z > 0]``: a gradient passes a ReLU only where it is positive and the
ReLU's input was positive. Guided GradCAM multiplies it, channel by channel, with the GradCAM map
upsampled to the image (``amx.methods.gradcam``, bilinear), as Captum's ``GuidedGradCam``. Both
maps are ``max_c |a_c|`` (TorchRay's saliency, as amx's Gradient).

Captum's ``GuidedBackprop`` overrides the backward of ``nn.ReLU`` *modules* through hooks, so it
misses functional ReLUs (torchvision's GoogLeNet and DenseNet call ``F.relu``). amx applies the
rule to the *functions*: a ``TorchFunctionMode`` sees every ``relu`` call, whichever module or
function makes it (a ReLU module used twice, as in residual blocks, is guided at both uses). As in
Captum and in TensorFlow's gradient override the sanity-check paper used, only ReLU is guided:
ReLU6 (MobileNet), GELU and other nonlinearities keep their plain gradient. A test holds amx's
attributions to Captum's on a network of ReLU modules, where Captum's are right.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from amx.methods.base import REDUCTIONS, AttributionMethod, reduce_channels
from amx.methods.gradcam import GradCAM
from amx.scoring import balanced_chunks, target_scores

RELUS = (F.relu, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_)


@dataclass(frozen=True)
class GuidedConfig:
    """``reduction``: channel reduction, ``max_abs`` as amx's Gradient."""

    reduction: str = "max_abs"

    def __post_init__(self):
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"GuidedConfig.reduction: unknown {self.reduction!r}; valid: {REDUCTIONS}")


class _GuidedReLU(torch.autograd.Function):
    """``relu(z)`` whose backward passes ``max(g, 0)`` where ``z > 0``."""

    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return z.clamp_min(0)

    @staticmethod
    def backward(ctx, grad):
        (z,) = ctx.saved_tensors
        return grad.clamp_min(0) * (z > 0)


class _GuidedMode(TorchFunctionMode):
    """Inside it, every ReLU call is guided (an in-place call returns a new tensor, which is what
    ``nn.ReLU`` and torchvision's models use)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in RELUS and args and isinstance(args[0], torch.Tensor):
            return _GuidedReLU.apply(args[0])
        return func(*args, **(kwargs or {}))


def guided_gradients(model, images: torch.Tensor, targets: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Guided Backpropagation's per-channel attributions ``[B, 3, H, W]``, ``batch_size`` images
    per pass."""
    out = torch.empty_like(images)
    for chunk in balanced_chunks(len(images), batch_size):
        x = images[chunk].detach().requires_grad_(True)
        with torch.enable_grad():
            with _GuidedMode():
                scores = target_scores(model(x), targets[chunk])
            (out[chunk],) = torch.autograd.grad(scores.sum(), x)
    return out


class GuidedBackprop(AttributionMethod):
    name = "guided_backprop"
    family = "gradient"
    needs_gradients = True
    stochastic = False
    Config = GuidedConfig

    def passes(self, size):
        return (0, 1)

    def raw(self, model, images, targets) -> torch.Tensor:
        """Per-channel attributions ``[B, 3, H, W]``."""
        return guided_gradients(model, images, targets, self.inputs_per_pass(images))

    def attribute(self, model, images, targets, generator):
        return reduce_channels(self.raw(model, images, targets), self.config.reduction)


class GuidedGradCAM(AttributionMethod):
    name = "guided_gradcam"
    family = "cam"
    needs_gradients = True
    stochastic = False
    requires = ("cam_layer",)
    Config = GuidedConfig

    def passes(self, size):
        return (0, 2)  # GradCAM's pass and Guided Backpropagation's

    def raw(self, model, images, targets) -> torch.Tensor:
        """Per-channel attributions ``[B, 3, H, W]``: guided gradients times the upsampled GradCAM."""
        batch = self.inputs_per_pass(images)
        cam = GradCAM(batch_size=batch).attribute(model, images, targets, None)
        return guided_gradients(model, images, targets, batch) * cam[:, None]

    def attribute(self, model, images, targets, generator):
        return reduce_channels(self.raw(model, images, targets), self.config.reduction)
