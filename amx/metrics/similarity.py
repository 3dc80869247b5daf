"""How alike two attribution maps are: SSIM as the SAM paper computed it, and Spearman's rank
correlation, both batched over pairs of maps (002, Bansal et al. 2020; anguyen8/sam).

SSIM (Wang et al. 2004) as scikit-image's ``structural_similarity`` with a ``win_size`` x
``win_size`` uniform window and sample covariance, the SAM code's call (``win_size=5``,
``gaussian_weights=False``)::

    S = (2 mu_a mu_b + C1)(2 cov_ab + C2) / ((mu_a^2 + mu_b^2 + C1)(var_a + var_b + C2)),
    C1 = (0.01 R)^2, C2 = (0.03 R)^2, R = data_range,

with the window statistics over every full window (scikit-image crops the ``(win_size - 1) / 2``
border, which leaves exactly these), and the SSIM of a pair the mean of ``S``. SAM's scaling of
the maps before the comparison: Gradient, SmoothGrad, LIME and IG divided by max |map| (range
[-1, 1], ``data_range`` 2), MP as it is in [0, 1] (``data_range`` 1), Sliding-Patch unscaled
(``SSIMConfig.scale``). Computed in float64; a test holds it to scikit-image within 1e-6.

Spearman: the Pearson correlation of the two maps' pixel ranks (ties share their mean rank, as
``scipy.stats.spearmanr``).

HOG similarity (Adebayo et al. 2018, sanity checks; claim set 004): the Pearson correlation of
the two maps' histograms of oriented gradients (scikit-image's ``hog``, 9 orientations, blocks of
3 x 3 cells, L2-Hys), each map first scaled to [0, 1] by its max (an all-zero map stays zero).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import rankdata
from skimage.feature import hog

SCALES = ("max_abs", "none")
# Pairs per step on a CPU: 224-px float64 maps of more pairs outgrow the caches (1.39 ms per pair
# in steps of 2, 1.65 in steps of 8, 4.6 in one step of 256, on 2 cores).
CHUNK = 2


@dataclass(frozen=True)
class SSIMConfig:
    """``win_size`` (odd, >= 3; SAM: 5), ``data_range`` R (SAM: 2 for maps scaled to [-1, 1], 1
    for MP's [0, 1] masks), ``scale``: ``max_abs`` divides each map by its max |value| first (SAM's
    Gradient, SmoothGrad, LIME, IG), ``none`` compares the maps as they are (MP, Sliding-Patch)."""

    win_size: int = 5
    data_range: float = 2.0
    scale: str = "max_abs"

    def __post_init__(self):
        if self.win_size < 3 or self.win_size % 2 == 0:
            raise ValueError(f"SSIMConfig.win_size must be odd and >= 3, got {self.win_size}")
        if not self.data_range > 0:
            raise ValueError(f"SSIMConfig.data_range must be > 0, got {self.data_range}")
        if self.scale not in SCALES:
            raise ValueError(f"SSIMConfig.scale must be one of {SCALES}, got {self.scale!r}")


def _pairs(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    if a.shape != b.shape or a.dim() != 3:
        raise ValueError(f"maps: expected two [B, H, W] tensors of one shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    return a.double(), b.double()


def scaled(maps: torch.Tensor, scale: str) -> torch.Tensor:
    """``maps`` ``[B, H, W]`` scaled as SAM did before SSIM (an all-zero map stays zero)."""
    if scale == "none":
        return maps
    peak = maps.abs().flatten(1).amax(1).clamp_min(torch.finfo(maps.dtype).tiny)
    return maps / peak.view(-1, 1, 1)


def ssim(a: torch.Tensor, b: torch.Tensor, config: SSIMConfig = SSIMConfig()) -> torch.Tensor:
    """SSIM of each pair of maps ``a[i]``, ``b[i]`` (``[B, H, W]``): float64 ``[B]``."""
    a, b = _pairs(a, b)
    if min(a.shape[1:]) < config.win_size:
        raise ValueError(f"maps of {tuple(a.shape[1:])} px are smaller than the {config.win_size}-px window")
    return torch.cat([_ssim(a[i:i + CHUNK], b[i:i + CHUNK], config) for i in range(0, len(a), CHUNK)])


def _ssim(a: torch.Tensor, b: torch.Tensor, config: SSIMConfig) -> torch.Tensor:
    x, y = scaled(a, config.scale), scaled(b, config.scale)
    # the five window means in one pooling, over every full window
    stats = F.avg_pool2d(torch.stack([x, y, x * x, y * y, x * y], 1), config.win_size, stride=1)
    mu_x, mu_y, mean_xx, mean_yy, mean_xy = stats.unbind(1)
    cov_norm = config.win_size ** 2 / (config.win_size ** 2 - 1)  # sample covariance
    var_x = cov_norm * (mean_xx - mu_x * mu_x)
    var_y = cov_norm * (mean_yy - mu_y * mu_y)
    cov = cov_norm * (mean_xy - mu_x * mu_y)
    c1, c2 = (0.01 * config.data_range) ** 2, (0.03 * config.data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return s.flatten(1).mean(1)


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman's rho between each pair of maps' pixels: float64 ``[B]`` (NaN for a constant map)."""
    a, b = _pairs(a, b)
    return torch.cat([_spearman(a[i:i + CHUNK], b[i:i + CHUNK]) for i in range(0, len(a), CHUNK)])


def _spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    ranks_a = rankdata(a.flatten(1).cpu().numpy(), axis=1)
    ranks_b = rankdata(b.flatten(1).cpu().numpy(), axis=1)
    ranks_a -= ranks_a.mean(1, keepdims=True)
    ranks_b -= ranks_b.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ranks_a * ranks_b).sum(1) / np.sqrt((ranks_a ** 2).sum(1) * (ranks_b ** 2).sum(1))
    return torch.from_numpy(rho)


@dataclass(frozen=True)
class HOGConfig:
    """``pixels_per_cell``: the side of a HOG cell (the sanity checks' code: 16 at 224-299 px);
    ``orientations`` and ``cells_per_block`` as scikit-image's defaults."""

    pixels_per_cell: int = 16
    orientations: int = 9
    cells_per_block: int = 3

    def __post_init__(self):
        for name in ("pixels_per_cell", "orientations", "cells_per_block"):
            if getattr(self, name) < 1:
                raise ValueError(f"HOGConfig.{name} must be >= 1, got {getattr(self, name)}")


def hog_features(maps, config: HOGConfig = HOGConfig()) -> np.ndarray:
    """Each map's HOG features (``[B, H, W]`` -> float64 ``[B, F]``), the map scaled to [0, 1] by its max."""
    maps = np.asarray(torch.as_tensor(maps).double().cpu())
    side = config.pixels_per_cell * config.cells_per_block
    if min(maps.shape[1:]) < side:
        raise ValueError(f"maps of {maps.shape[1:]} px are smaller than one HOG block ({side} px: "
                         f"HOGConfig.pixels_per_cell {config.pixels_per_cell} x cells_per_block "
                         f"{config.cells_per_block})")
    peak = np.maximum(maps.reshape(len(maps), -1).max(1), np.finfo(float).tiny)
    return np.stack([hog(m / p, orientations=config.orientations,
                         pixels_per_cell=(config.pixels_per_cell,) * 2,
                         cells_per_block=(config.cells_per_block,) * 2, feature_vector=True)
                     for m, p in zip(maps, peak, strict=True)])


def hog_pearson(a, b, config: HOGConfig = HOGConfig()) -> torch.Tensor:
    """The Pearson correlation of each pair's HOG features: float64 ``[B]`` (NaN where one is constant)."""
    a, b = _pairs(a, b)
    fa, fb = hog_features(a, config), hog_features(b, config)
    fa -= fa.mean(1, keepdims=True)
    fb -= fb.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (fa * fb).sum(1) / np.sqrt((fa ** 2).sum(1) * (fb ** 2).sum(1))
    return torch.from_numpy(r)
