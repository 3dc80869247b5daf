"""Toy models with known behaviour, for the tests' exact expectations (as captum's test models).

>>> model = PixelSetModel(torch.zeros(8, 8, dtype=torch.bool).index_fill_(0, torch.tensor([2]), True))
>>> model(torch.zeros(1, 3, 8, 8)).shape
torch.Size([1, 2])
"""

from __future__ import annotations

import torch
from torch import nn

from amx.draws import normal


class PixelSetModel(nn.Module):
    """Two classes; the logit of class 0 is ``weight * mean(x over the pixels in mask)``, class 1's
    is 0. So p(class 0) increases with every pixel of ``mask`` and ignores all other pixels."""

    def __init__(self, mask: torch.Tensor, weight: float = 8.0):
        super().__init__()
        if mask.dim() != 2 or not mask.any():
            raise ValueError(f"mask: expected a non-empty bool [H, W], got {tuple(mask.shape)}")
        self.register_buffer("mask", mask.bool())
        self.weight = weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        evidence = (x * self.mask).sum((1, 2, 3)) / (self.mask.sum() * x.shape[1])
        return torch.stack([self.weight * evidence, torch.zeros_like(evidence)], dim=1)


class LinearModel(nn.Module):
    """``logits = W flatten(x) + b``: its input gradient for class ``t`` is exactly ``W[t]``."""

    def __init__(self, n_classes: int = 3, size: int = 8, seed: int = 0):
        super().__init__()
        self.linear = nn.Linear(3 * size * size, n_classes)
        with torch.no_grad():
            gen = torch.Generator().manual_seed(seed)
            self.linear.weight.copy_(normal(self.linear.weight.shape, gen))
            self.linear.bias.copy_(normal(n_classes, gen))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))


class TinyGAPNet(nn.Module):
    """``conv -> ReLU -> conv -> ReLU -> GAP -> linear``, with the attributes zoo models carry
    (``cam_layer`` names the second conv block, ``gap_head`` is True)."""

    def __init__(self, n_classes: int = 4, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Sequential(nn.Conv2d(8, 6, 3, padding=1), nn.ReLU()))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, n_classes))
        self.amx_name, self.cam_layer, self.gap_head = "tiny-gap", "features.3", True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def largest_relative_difference(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """The largest ``|actual - expected|`` of each map (or row) relative to that map's largest
    ``|expected|``: maps are compared at their own scale, the scale the store keeps them at
    (``amx.pipeline.store.encode_map``), so a near-zero pixel is held to the map's precision,
    not to its own.

    >>> largest_relative_difference(torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]]))
    0.5
    """
    diff = (actual.double() - expected.double()).abs().flatten(1).amax(1)
    scale = expected.double().abs().flatten(1).amax(1).clamp_min(torch.finfo(torch.float64).tiny)
    return float((diff / scale).max()) if len(diff) else 0.0


# Small budgets that keep a method's tests fast (a few passes per image); the paper's defaults are
# checked on their own (test_methods.test_defaults_are_the_papers).
CHEAP_CONFIGS = {
    "smoothgrad": {"n_samples": 4}, "ig": {"n_steps": 8}, "rise": {"n_masks": 24},
    "sliding_patch": {"patch": 16, "stride": 16}, "shap": {"n_samples": 6}, "lime": {"n_samples": 20},
    "ep": {"iterations": 3, "areas": (0.1, 0.2), "step": 2, "sigma": 6.0},
    "mp": {"iterations": 3, "mask_size": 8}, "agi": {"iterations": 3, "n_classes": 4},
    "big": {"n_steps": 4,
            "boundary": {"eps": (2.0, 8.0), "pgd_steps": 3, "cw_steps": 4, "cw_binary_steps": 2}},
}


def cheap_method(name: str, without_ties: bool = False):
    """The registered method ``name`` at a small budget (``CHEAP_CONFIGS``; others as registered);
    ``without_ties``: with the overrides that switch off a ``"ties"`` method's tie-deciding step
    (``AttributionMethod.without_ties``), as the float64 checks run it."""
    from amx import methods
    from amx.attacks.boundary import BoundaryConfig

    overrides = dict(CHEAP_CONFIGS.get(name, {}))
    if without_ties:
        overrides.update(methods.METHODS.get(name).without_ties)
    if "boundary" in overrides:
        overrides["boundary"] = BoundaryConfig(**overrides["boundary"])
    return methods.get(name, **overrides)
