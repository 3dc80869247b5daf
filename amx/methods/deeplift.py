"""DeepLIFT with the Rescale rule (Shrikumar, Greenside and Kundaje 2017), named by BIG (seed 003).

``a_c(x) = (x_c - x'_c) * m_c``, where ``m`` is the gradient of the target logit with every
nonlinearity's local derivative replaced by its *multiplier* ``(f(z) - f(z')) / (z - z')``, ``z``
and ``z'`` its inputs on the image and on the baseline ``x'`` (black, as amx's IG; ``mean``: the
normalised-space zero). The multipliers chain like derivatives, so the attributions sum to
``f(x) - f(x')`` exactly (completeness), which the contract suite checks on every zoo model.
``map = |sum_c a_c|`` (Captum's default visualisation, as amx's IG).

Captum's ``DeepLift`` implements the same rule with hooks on activation modules, and in 0.9.0 it
raises on a ReLU module used twice (torchvision's and amx's residual blocks), uses plain
gradients for ReLU6 (MobileNet) and for functional calls (``F.relu``: torchvision's GoogLeNet and
DenseNet), misses the multiplier of a ReLU right before a MaxPool (captum issue #1104) and drops
contributions where max-pooling windows overlap. amx applies the rule to the *functions* instead:
a ``TorchFunctionMode`` sees every call of an elementwise nonlinearity or a max-pool, whichever
module or function makes it, on one batch that holds the images and their baselines. Max-pooling
uses Captum's rule, the output difference split at ``max(y, y')`` and routed to the image's and
the baseline's maxima, with the routing's own backward, which adds overlapping windows' shares.
A test holds amx's attributions to Captum's on a network where Captum's are right.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from amx.methods.base import AttributionMethod, reduce_channels
from amx.methods.ig import BASELINES, baseline_image
from amx.scoring import balanced_chunks, target_scores

EPS = 1e-10  # |z - z'| below it: the local derivative instead of the multiplier (Captum's)

ELEMENTWISE = (F.relu, torch.relu, torch.Tensor.relu, F.relu6, F.hardtanh, F.leaky_relu, F.elu, F.gelu,
               F.silu, F.softplus, F.hardswish, F.hardsigmoid, F.mish, torch.sigmoid, torch.Tensor.sigmoid,
               torch.tanh, torch.Tensor.tanh)
MAX_POOLS = (F.max_pool1d, F.max_pool2d, F.max_pool3d, F.adaptive_max_pool1d, F.adaptive_max_pool2d,
             F.adaptive_max_pool3d)


@dataclass(frozen=True)
class DeepLiftConfig:
    """``baseline`` zero (black; Captum's and BIG's default, zero of the model's input) or
    ``mean``; ``reduction`` ``abs_sum`` (as amx's IG)."""

    baseline: str = "zero"
    reduction: str = "abs_sum"

    def __post_init__(self):
        if self.baseline not in BASELINES:
            raise ValueError(f"DeepLiftConfig.baseline: unknown {self.baseline!r}; valid: {BASELINES}")


def _pairs(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return t.chunk(2)


class _MaxPoolRule(torch.autograd.Function):
    """Value: the pooled batch ``[y; y']``. Gradient to the image half: the output difference's
    shares ``max(y, y') - y'`` (routed to the image's maxima) and ``y - max(y, y')`` (to the
    baseline's), summed over windows, divided by ``z - z'``."""

    @staticmethod
    def forward(ctx, z, y, pool):
        ctx.save_for_backward(z.detach(), y.detach())
        ctx.pool = pool
        return y.detach().clone()

    @staticmethod
    def backward(ctx, grad):
        z, y = ctx.saved_tensors
        (zx, zb), (yx, yb), (g, _) = _pairs(z), _pairs(y), _pairs(grad)
        top = torch.maximum(yx, yb)
        with torch.enable_grad():
            vx, vb = zx.clone().requires_grad_(True), zb.clone().requires_grad_(True)
            px, pb = ctx.pool(vx), ctx.pool(vb)
            routed_x = torch.autograd.grad(px, vx, g * (top - yb), retain_graph=True)[0]
            local = torch.autograd.grad(px, vx, g)[0]
            routed_b = torch.autograd.grad(pb, vb, g * (yx - top))[0]
        dz = zx - zb
        use = dz.abs() > EPS
        image = torch.where(use, (routed_x + routed_b) / torch.where(use, dz, 1.0), local)
        return torch.cat([image, torch.zeros_like(zb)]), None, None


class _RescaleMode(TorchFunctionMode):
    """Inside it, every elementwise nonlinearity and max-pool applied to a ``2 * half`` batch
    (images, then baselines) carries DeepLIFT's multipliers in its gradient."""

    def __init__(self, half: int):
        super().__init__()
        self.half = half

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        z = args[0] if args else None
        if not isinstance(z, torch.Tensor) or z.dim() == 0 or z.shape[0] != 2 * self.half:
            return func(*args, **kwargs)
        if func in ELEMENTWISE:
            return self._elementwise(func, z, args[1:], kwargs)
        if func in MAX_POOLS and not kwargs.get("return_indices", False):
            rest = args[1:]
            y = func(z, *rest, **kwargs)
            return _MaxPoolRule.apply(z, y, lambda t: func(t, *rest, **kwargs))
        return func(*args, **kwargs)

    @staticmethod
    def _elementwise(func, z, rest, kwargs):
        y = func(z.clone(), *rest, **kwargs)  # the clone keeps an in-place call off z
        (zx, zb), (yx, yb) = _pairs(z.detach()), _pairs(y.detach())
        dz = zx - zb
        use = (dz.abs() > EPS).repeat(2, *([1] * (z.dim() - 1)))
        multiplier = ((yx - yb) / torch.where(dz.abs() > EPS, dz, 1.0)).repeat(2, *([1] * (z.dim() - 1)))
        rescaled = y.detach() + multiplier * (z - z.detach())  # value y, gradient multiplier * grad
        return torch.where(use, rescaled, y)


def deeplift_attributions(model, images: torch.Tensor, baselines: torch.Tensor, targets: torch.Tensor,
                          batch_size: int) -> torch.Tensor:
    """Per-channel DeepLIFT-Rescale attributions ``[B, 3, H, W]`` of the target logits, ``batch_size``
    model inputs (images and baselines together) per pass; they sum to ``f(x) - f(x')``."""
    out = torch.empty_like(images)
    for chunk in balanced_chunks(len(images), max(1, batch_size // 2)):
        x, base = images[chunk], baselines[chunk]
        both = torch.cat([x, base]).detach().requires_grad_(True)
        with torch.enable_grad():
            with _RescaleMode(len(x)):
                scores = target_scores(model(both)[: len(x)], targets[chunk])
            (grad,) = torch.autograd.grad(scores.sum(), both)
        out[chunk] = (x - base) * grad[: len(x)]
    return out


class DeepLift(AttributionMethod):
    name = "deeplift"
    family = "gradient"
    needs_gradients = True
    stochastic = False
    Config = DeepLiftConfig

    def passes(self, size):
        return (0, 2)  # one forward and backward of the image and of its baseline

    def raw(self, model, images, targets) -> torch.Tensor:
        """Per-channel attributions ``[B, 3, H, W]`` (completeness holds for these)."""
        baselines = baseline_image(images, self.config.baseline)
        return deeplift_attributions(model, images, baselines, targets, self.inputs_per_pass(images))

    def attribute(self, model, images, targets, generator):
        return reduce_channels(self.raw(model, images, targets), self.config.reduction)
