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
