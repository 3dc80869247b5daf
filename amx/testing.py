"""Toy models with known behaviour, for the tests' exact expectations (as captum's test models).

>>> model = PixelSetModel(torch.zeros(8, 8, dtype=torch.bool).index_fill_(0, torch.tensor([2]), True))
>>> model(torch.zeros(1, 3, 8, 8)).shape
torch.Size([1, 2])
"""

from __future__ import annotations

import torch
from torch import nn


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
            self.linear.weight.copy_(torch.randn(self.linear.weight.shape, generator=gen))
            self.linear.bias.copy_(torch.randn(n_classes, generator=gen))

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
