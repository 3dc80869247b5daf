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
the baseline's maxima, added at the pooling indices, so that overlapping windows' shares sum.
The batch of a call is recognised by its size (``2 x`` the images): for CNNs, whose every
activation is batch-first; a model that reshapes its batch (attention heads) is out of scope.
A test holds amx's attributions to Captum's on a network where Captum's are right.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from amx.methods.base import REDUCTIONS, AttributionMethod, NotApplicableError, model_name, reduce_channels
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
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"DeepLiftConfig.reduction: unknown {self.reduction!r}; valid: {REDUCTIONS}")
        if self.baseline not in BASELINES:
            raise ValueError(f"DeepLiftConfig.baseline: unknown {self.baseline!r}; valid: {BASELINES}")


def _image_half_only(image_grad: torch.Tensor) -> torch.Tensor:
    """The gradient of a ``[z; z']`` batch whose baseline half gets none (nothing reads it)."""
    return torch.cat([image_grad, torch.zeros_like(image_grad)])


class _Rescale(torch.autograd.Function):
    """``y = f(z)`` on ``[z; z']``; the image half's gradient is the multiplier
    ``(f(z) - f(z')) / (z - z')``, or ``f'(z)`` where ``|z - z'| <= EPS``."""

    @staticmethod
    def forward(ctx, z, f, in_place):
        y = f(z.clone() if in_place else z)  # an in-place call must leave z as it is
        (zx, zb), (yx, yb) = z.chunk(2), y.chunk(2)
        dz = zx - zb
        use = dz.abs() > EPS
        multiplier = (yx - yb) / dz
        if not use.all():
            with torch.enable_grad():
                v = zx.detach().clone().requires_grad_(True)
                local = torch.autograd.grad(f(v.clone()).sum(), v)[0]
            multiplier = torch.where(use, multiplier, local)
        ctx.save_for_backward(multiplier)
        return y

    @staticmethod
    def backward(ctx, grad):
        (multiplier,) = ctx.saved_tensors
        return _image_half_only(grad[: len(multiplier)] * multiplier), None, None


def _scatter(indices: torch.Tensor, values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``values`` added at the pooling ``indices`` (flat per channel plane) into a zero ``like``: the
    max-pool backward, overlapping windows summed."""
    out = torch.zeros_like(like).flatten(2)
    return out.scatter_add_(2, indices.flatten(2), values.flatten(2)).view_as(like)


class _MaxPoolRule(torch.autograd.Function):
    """``y = pool(z)`` on ``[z; z']``; to the image half flow the output difference's shares
    ``max(y, y') - y'`` (at the image's maxima) and ``y - max(y, y')`` (at the baseline's), summed
    over windows and divided by ``z - z'`` (the pool's own gradient where ``|z - z'| <= EPS``)."""

    @staticmethod
    def forward(ctx, z, pool_with_indices):
        y, indices = pool_with_indices(z)
        ctx.save_for_backward(z, y, indices)
        return y

    @staticmethod
    def backward(ctx, grad):
        z, y = ctx.saved_tensors[:2]
        (zx, zb), (yx, yb), (ix, ib) = z.chunk(2), y.chunk(2), ctx.saved_tensors[2].chunk(2)
        g = grad[: len(zx)]
        top = torch.maximum(yx, yb)
        routed = _scatter(ix, g * (top - yb), zx) + _scatter(ib, g * (yx - top), zx)
        dz = zx - zb
        use = dz.abs() > EPS
        image = routed / dz
        if not use.all():
            image = torch.where(use, image, _scatter(ix, g, zx))
        return _image_half_only(image), None


class _RescaleMode(TorchFunctionMode):
    """Inside it, every elementwise nonlinearity and max-pool applied to a ``2 * half`` batch
    (images, then baselines) carries DeepLIFT's multipliers in its gradient."""

    def __init__(self, half: int):
        super().__init__()
        self.half = half

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        z = args[0] if args else None
        if not isinstance(z, torch.Tensor) or z.dim() < 2 or z.shape[0] != 2 * self.half:
            return func(*args, **kwargs)
        rest = args[1:]
        if func in ELEMENTWISE:
            in_place = bool(kwargs.get("inplace")) or any(a is True for a in rest)  # hardtanh's is positional
            return _Rescale.apply(z, lambda t: func(t, *rest, **kwargs), in_place)
        if func in MAX_POOLS and not kwargs.get("return_indices", False):
            return _MaxPoolRule.apply(z, lambda t: func(t, *rest, **{**kwargs, "return_indices": True}))
        return func(*args, **kwargs)


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
        """Per-channel attributions ``[B, 3, H, W]`` (completeness holds for these); a model with
        attention layers (a module whose class name says ``Attention``: they reshape the batch) is
        not applicable."""
        kinds = {type(m).__name__ for m in model.modules()}
        attention = sorted(k for k in kinds if "attention" in k.lower())
        if attention:
            raise NotApplicableError(f"deeplift: model {model_name(model)!r} has attention layers "
                                     f"({', '.join(attention)}), whose reshaped batch amx's DeepLIFT "
                                     "does not follow")
        baselines = baseline_image(images, self.config.baseline)
        return deeplift_attributions(model, images, baselines, targets, self.inputs_per_pass(images))

    def attribute(self, model, images, targets, generator):
        return reduce_channels(self.raw(model, images, targets), self.config.reduction)
