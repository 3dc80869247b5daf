"""ROAD, RemOve And Debias (Rong, Leemann et al., "A consistent and efficient evaluation strategy
for attribution methods", ICML 2022; tleemann/road_evaluation), with its noisy linear imputation.

Removed pixels are not set to a constant (which leaks the removal's shape to the model) but
imputed from their neighbours: each removed pixel is the weighted mean of its in-image
neighbours, weight 1/6 for the four direct and 1/12 for the four diagonal ones, which couples the
removed pixels into one sparse linear system per image and channel,

    s_i x_i - sum_{j removed} w_ij x_j = sum_{j kept} w_ij x_j,   s_i = sum_{j in image} w_ij,

and then gets Gaussian noise of standard deviation ``noise`` (0.01, the reference's, in [0, 1]
image space, where the reference imputes before normalising). The map orders the pixels after
min-max scaling plus ``1e-4`` Gaussian tie noise (the reference's); MoRF at ``p`` removes the
``floor(p H W)`` most relevant pixels, LeRF the ``floor(p H W)`` least relevant. At each of the
reference's percentages 10, 20, 30, 40, 50, 70, 90 the score is the softmax probability of the
target class (the reference's ``prob_avg`` per image). Per image:

    road_morf = mean_p P_morf(p)  (lower is better),  road_lerf = mean_p P_lerf(p)  (higher),
    road = mean_p (P_lerf(p) - P_morf(p)) / 2  (higher is better; pytorch-grad-cam's ROADCombined).

As the reference, amx solves each image's system with SciPy's sparse LU (all channels with one
factorisation), in float64 on the CPU; it assembles the system at once from the stencil's eight
offsets where the reference fills a ``lil_matrix``, and a test holds the imputations to a
transcription of the reference's within 1e-12. Batched conjugate gradients on the stencil were
tried and were slower on the CPU (every image of a batch iterates as long as the slowest; 2.6
against 7.6 images/s at 64 px). The model passes are batched.

Departures: the reference's LeRF at ``p`` keeps the top ``p`` (it removes ``1 - p``), amx's
removes ``p`` so that both orders read "share removed"; the noise is drawn from ``seed`` (one
draw per percentage and order, shared by the images, ``amx.draws``), not from the global RNG;
pytorch-grad-cam's combined score averages over 10, 20, ..., 90 on the target's output, amx over
the reference's percentages on its probability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import spsolve

from amx.draws import normal
from amx.metrics.causal import pixel_ranks
from amx.metrics.inputs import check_images, check_maps
from amx.scoring import variant_probabilities

NEIGHBOUR_WEIGHTS = ((1 / 12, 1 / 6, 1 / 12), (1 / 6, 0.0, 1 / 6), (1 / 12, 1 / 6, 1 / 12))


@dataclass(frozen=True)
class RoadConfig:
    """The reference's percentages (0.1 ... 0.9), imputation ``noise`` 0.01, map ``tie_noise``
    1e-4; ``seed`` draws both."""

    percentages: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9)
    noise: float = 0.01
    tie_noise: float = 1e-4
    seed: int = 0

    def __post_init__(self):
        if not self.percentages or not all(0 < p < 1 for p in self.percentages):
            raise ValueError(f"RoadConfig.percentages must be in (0, 1), got {self.percentages}")
        if self.noise < 0 or self.tie_noise < 0:
            raise ValueError(
                f"RoadConfig.noise and tie_noise must be >= 0, got {self.noise}, {self.tie_noise}")


OFFSETS = tuple(((dy, dx), NEIGHBOUR_WEIGHTS[dy + 1][dx + 1])
                for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))


def _impute_one(image: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """One image ``[C, H, W]`` (float64) with its ``removed`` pixels imputed: the system of the
    module docstring assembled at once from the stencil's eight offsets, solved for all channels
    by one sparse LU factorisation."""
    channels, height, width = image.shape
    flat, missing = image.reshape(channels, -1), removed.reshape(-1)
    unknown = np.flatnonzero(missing)
    if len(unknown) == 0:
        return image
    if len(unknown) == missing.size:
        raise ValueError("linear_imputation: an image with every pixel removed has nothing to impute from")
    variable = np.full(missing.size, -1)
    variable[unknown] = np.arange(len(unknown))
    rows, cols = unknown // width, unknown % width
    diagonal, rhs = np.zeros(len(unknown)), np.zeros((len(unknown), channels))
    entries = [], [], []
    for (dy, dx), weight in OFFSETS:
        inside = (rows + dy >= 0) & (rows + dy < height) & (cols + dx >= 0) & (cols + dx < width)
        diagonal[inside] += weight
        ids, neighbour = np.flatnonzero(inside), (unknown + dy * width + dx)[inside]
        known = ~missing[neighbour]
        rhs[ids[known]] += weight * flat[:, neighbour[known]].T
        for part, values in zip(entries, (ids[~known], variable[neighbour[~known]],
                                          np.full(int((~known).sum()), -weight)), strict=True):
            part.append(values)
    n = len(unknown)
    row_ids = np.concatenate([np.arange(n), *entries[0]])
    col_ids = np.concatenate([np.arange(n), *entries[1]])
    system = coo_matrix((np.concatenate([diagonal, *entries[2]]), (row_ids, col_ids)), shape=(n, n)).tocsc()
    out = flat.copy()
    out[:, unknown] = spsolve(system, rhs).reshape(n, channels).T
    return out.reshape(channels, height, width)


def linear_imputation(images: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    """``images`` ``[B, C, H, W]`` with the ``removed`` pixels (bool ``[B, H, W]``) imputed by the
    neighbour system (module docstring), in float64, image by image on the CPU (SciPy's sparse
    LU, as the reference), returned on the images' device. An image must keep a pixel."""
    x = images.detach().double().cpu().numpy()
    masks = removed.cpu().numpy()
    out = np.stack([_impute_one(x[i], masks[i]) for i in range(len(x))])
    return torch.from_numpy(out).to(images.device)


def removal_masks(maps: torch.Tensor, config: RoadConfig) -> torch.Tensor:
    """Bool ``[B, 2, P, H, W]``: the pixels MoRF (``[:, 0]``) and LeRF (``[:, 1]``) remove at each
    percentage, from the map min-max scaled plus the seeded tie noise (shared by the images)."""
    batch, height, width = maps.shape
    flat = maps.double().flatten(1)
    low, high = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    scaled = (flat - low) / (high - low + 1e-5)  # the reference's normalize_map
    generator = torch.Generator().manual_seed(config.seed)
    ties = config.tie_noise * normal((height * width,), generator, torch.float64)
    ranks = pixel_ranks((scaled + ties.to(flat.device)).view(batch, height, width))
    counts = torch.tensor([int(p * height * width) for p in config.percentages], device=flat.device)
    morf = ranks[:, None, :] < counts[None, :, None]
    lerf = ranks[:, None, :] >= height * width - counts[None, :, None]
    return torch.stack([morf, lerf], 1).view(batch, 2, len(counts), height, width)


@torch.no_grad()
def road_curves(model, images: torch.Tensor, maps: torch.Tensor, targets: torch.Tensor,
                config: RoadConfig = RoadConfig(), batch_size: int = 256) -> torch.Tensor:
    """``P(target)`` after MoRF (``[:, 0]``) and LeRF (``[:, 1]``) removal and imputation at each
    percentage: float64 ``[B, 2, P]``; ``batch_size`` imputed images per pass."""
    check_maps(maps)
    check_images(images, maps, targets)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    channels, height, width = images.shape[1:]
    removed = removal_masks(maps.to(images.device), config).flatten(1, 2)  # [B, 2P, H, W]
    variants = removed.shape[1]
    draws = normal((variants, channels, height, width), torch.Generator().manual_seed(config.seed + 1),
                   torch.float64).to(images.device)

    def render(image, variant):
        mask = removed[image, variant]
        imputed = linear_imputation(images[image], mask)
        noisy = imputed + config.noise * draws[variant] * mask[:, None]
        return noisy.to(images.dtype)

    probabilities = variant_probabilities(model, targets.to(images.device), variants, render, batch_size)
    return probabilities.double().cpu().view(len(images), 2, len(config.percentages))


def reference_imputation(image: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    """The reference's ``NoisyLinearImputer`` without noise, one image ``[C, H, W]`` at a time: its
    sparse system set up neighbour by neighbour and solved by SciPy's sparse LU (kept for the
    tests and the bench)."""
    from scipy.sparse import csc_matrix, lil_matrix

    channels, height, width = image.shape
    flat, missing = image.double().reshape(channels, -1).numpy(), removed.reshape(-1).numpy()
    unknown = np.flatnonzero(missing)
    variable = np.zeros(len(missing), dtype=int)
    variable[unknown] = np.arange(len(unknown))
    system, rhs = lil_matrix((len(unknown), len(unknown))), np.zeros((len(unknown), channels))
    weights_in_image = np.ones(len(unknown))
    rows, cols = unknown // width, unknown % width
    for dy, dx in [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]:
        weight = NEIGHBOUR_WEIGHTS[dy + 1][dx + 1]
        inside = (rows + dy >= 0) & (rows + dy < height) & (cols + dx >= 0) & (cols + dx < width)
        weights_in_image[~inside] -= weight
        ids, neighbour = np.flatnonzero(inside), (unknown + dy * width + dx)[inside]
        known = ~missing[neighbour]
        rhs[ids[known]] -= weight * flat[:, neighbour[known]].T
        system[ids[~known], variable[neighbour[~known]]] = weight
    system[np.arange(len(unknown)), np.arange(len(unknown))] = -weights_in_image
    solution = spsolve(csc_matrix(system), rhs).reshape(len(unknown), channels)
    out = flat.copy()
    out[:, unknown] = solution.T
    return torch.from_numpy(out).view(channels, height, width)
