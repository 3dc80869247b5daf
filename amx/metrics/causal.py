"""Insertion and Deletion, as RISE's ``CausalMetric`` (Petsiuk et al. 2018), which the paper
used with 448 pixels per step at 224 px, i.e. 112 steps (Sec 2.4).

Pixels are ranked by the map, highest first; ties keep row-major order (a stable sort; RISE's
``np.flip(np.argsort(...))`` breaks ties in an unspecified order). Deletion starts from the image
and moves the top pixels, one step at a time, to the *substrate*; Insertion starts from the
substrate and copies the top pixels of the image in. Step ``i`` has changed the ``k_i`` top
pixels, ``k_i = floor(i * H * W / n)`` for ``n`` steps, so any resolution gets the paper's 112
steps (at 224 px this is RISE's 448 pixels per step exactly); ``step_pixels`` instead gives
RISE's fixed step, ``k_i = min(i * step, H * W)``.

The score ``p_i`` is the softmax probability of the target class and the AUC is RISE's
normalised trapezoid over the ``n + 1`` points::

    AUC = (sum_i p_i - p_0 / 2 - p_n / 2) / n

Insertion: higher is better; Deletion: lower is better. The confidence-normalised variants
divide by ``p(target | image)`` (Deletion's ``p_0``, Insertion's ``p_n``), to test whether the
paper's confidence bias (Sec 3.5) survives normalisation.

Substrates, in [0, 1] image space: ``zero`` is a black image (the paper's text); ``blur`` is
RISE's Gaussian blur (kernel 11, sigma 5, the kernel made as RISE's ``gkern`` by smoothing a
delta with ``scipy.ndimage.gaussian_filter``, applied by ``conv2d`` with zero padding). RISE
applied both in normalised space, where zero is the mean colour; amx models normalise inside, so
amx's zero is black, as the paper says; ``mean`` is the ImageNet mean colour, the zero of the
models' normalised input, which the sensitivity study (SAM, seed 002) used. SAM also divided each
AUC by its curve's maximum (``divide_by_max``) and used 28 steps (1,792 px at 224 px).

Batched: the ``n - 1`` inner steps of many images go through the model in chunks of ``batch_size``
perturbed images (the memory budget), never one forward per step per image. The two ends need no
map: the image itself takes one forward per image, and the substrate one per image for ``blur``
but a single forward for all images for ``zero`` and ``mean``, which are one image whatever the
input (``n`` forwards per image and one per call instead of ``n + 1`` per image).
``reference_curve`` is the RISE-style loop (one image, one forward per step), kept for the tests
and ``amx bench metrics``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from amx.colour import IMAGENET_MEAN
from amx.metrics.inputs import check_images, check_maps
from amx.scoring import target_probabilities, variant_probabilities

SUBSTRATES = ("zero", "blur", "mean")


@dataclass(frozen=True)
class CausalConfig:
    """Insertion/Deletion hyperparameters: 112 steps (paper: 448 px per step at 224 px), the
    ``zero`` substrate (paper's text; RISE's insertion default is ``blur``), blur kernel 11 and
    sigma 5 (RISE). Give ``step_pixels`` (and ``n_steps=None``) for a fixed step in pixels.
    ``divide_by_max`` False (SAM: True, AUC / max of the curve)."""

    n_steps: int | None = 112
    step_pixels: int | None = None
    substrate: str = "zero"
    blur_kernel: int = 11
    blur_sigma: float = 5.0
    divide_by_max: bool = False

    def __post_init__(self):
        if (self.n_steps is None) == (self.step_pixels is None):
            raise ValueError("CausalConfig: give exactly one of n_steps and step_pixels, got "
                             f"n_steps={self.n_steps}, step_pixels={self.step_pixels}")
        for name in ("n_steps", "step_pixels"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"CausalConfig.{name} must be >= 1, got {value}")
        if self.substrate not in SUBSTRATES:
            raise ValueError(f"CausalConfig.substrate: unknown {self.substrate!r}; valid: {SUBSTRATES}")
        if self.blur_kernel < 1 or self.blur_kernel % 2 == 0 or self.blur_sigma <= 0:
            raise ValueError("CausalConfig: blur_kernel must be odd and >= 1 and blur_sigma > 0, got "
                             f"{self.blur_kernel}, {self.blur_sigma}")

    def boundaries(self, n_pixels: int) -> torch.Tensor:
        """``k_0 = 0 < ... < k_n = n_pixels``: pixels changed after each step."""
        if self.step_pixels is not None:
            n = -(-n_pixels // self.step_pixels)
            return (torch.arange(n + 1) * self.step_pixels).clamp(max=n_pixels)
        if self.n_steps > n_pixels:
            raise ValueError(f"CausalConfig.n_steps={self.n_steps} exceeds the {n_pixels} pixels")
        return torch.arange(self.n_steps + 1) * n_pixels // self.n_steps


def causal_forwards(config: CausalConfig, n_pixels: int) -> int:
    """Forwards per image of one curve: its ``n + 1`` points less the substrate's where one forward
    serves every image (``zero``, ``mean``; that forward, one per call, is not counted)."""
    return len(config.boundaries(n_pixels)) - (config.substrate != "blur")


@dataclass(frozen=True)
class CausalResult:
    """Per image: ``auc``, ``p_image`` = p(target | image), ``normalized_auc`` = auc / p_image
    (inf or NaN where p_image underflows to 0), and the ``curves`` ``[B, n + 1]`` on request."""

    auc: torch.Tensor
    p_image: torch.Tensor
    normalized_auc: torch.Tensor
    curves: torch.Tensor | None


def trapezoid_auc(curves: torch.Tensor) -> torch.Tensor:
    """RISE's normalised AUC of ``[..., n + 1]`` curves: ``(sum p - p_0/2 - p_n/2) / n``."""
    n = curves.shape[-1] - 1
    return (curves.sum(-1) - curves[..., 0] / 2 - curves[..., -1] / 2) / n


def blur_kernel(size: int, sigma: float) -> torch.Tensor:
    """RISE's ``gkern``: a ``size x size`` delta smoothed by ``gaussian_filter(., sigma)``."""
    delta = np.zeros((size, size))
    delta[size // 2, size // 2] = 1.0
    return torch.from_numpy(gaussian_filter(delta, sigma).astype(np.float32))


def substrate(images: torch.Tensor, config: CausalConfig) -> torch.Tensor:
    """The substrate images for ``images`` ``[B, C, H, W]``."""
    if config.substrate == "zero":
        return torch.zeros_like(images)
    if config.substrate == "mean":
        mean = torch.tensor(IMAGENET_MEAN, dtype=images.dtype, device=images.device)
        return mean.view(1, -1, 1, 1).expand_as(images).clone()
    kernel = blur_kernel(config.blur_kernel, config.blur_sigma).to(images)
    channels = images.shape[1]
    weight = kernel.expand(channels, 1, *kernel.shape).contiguous()
    return F.conv2d(images, weight, padding=config.blur_kernel // 2, groups=channels)


def pixel_ranks(maps: torch.Tensor) -> torch.Tensor:
    """``[B, H*W]``: each pixel's position in the map's order, highest first, ties row-major."""
    flat = maps.flatten(1)
    order = torch.argsort(flat, dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(flat.shape[1], device=flat.device).expand_as(order))
    return ranks


@torch.no_grad()
def causal_curves(model, images: torch.Tensor, maps: torch.Tensor, targets: torch.Tensor,
                  mode: str, config: CausalConfig = CausalConfig(),
                  batch_size: int = 256) -> torch.Tensor:
    """Insertion (``mode='insertion'``) or Deletion curves ``[B, n + 1]`` (float64), batched."""
    if mode not in ("insertion", "deletion"):
        raise ValueError(f"mode: expected 'insertion' or 'deletion', got {mode!r}")
    check_maps(maps)
    check_images(images, maps, targets)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    _, channels, height, width = images.shape
    bounds = config.boundaries(height * width).to(images.device)
    base = substrate(images, config)
    start, finish = (images, base) if mode == "deletion" else (base, images)
    start, finish = start.flatten(2), finish.flatten(2)
    ranks = pixel_ranks(maps.to(images.device))
    targets = targets.to(images.device)

    def render(image, inner):
        changed = (ranks[image] < bounds[inner + 1][:, None])[:, None, :]
        return torch.where(changed, finish[image], start[image]).view(-1, channels, height, width)

    def each(inputs):  # P(target | inputs[i]) of image i, batch_size images per forward
        return variant_probabilities(model, targets, 1, lambda image, _: inputs[image], batch_size)[:, 0]

    inner = variant_probabilities(model, targets, len(bounds) - 2, render, batch_size)
    ends = {"image": each(images),
            "substrate": (each(base) if config.substrate == "blur"
                          else target_probabilities(model(base[:1]).expand(len(targets), -1), targets))}
    first, last = ("image", "substrate") if mode == "deletion" else ("substrate", "image")
    return torch.cat([ends[first][:, None], inner, ends[last][:, None]], 1).double().cpu()


def _causal(mode: str, model, images, maps, targets, config, batch_size, return_curves) -> CausalResult:
    curves = causal_curves(model, images, maps, targets, mode, config, batch_size)
    p_image = curves[:, 0] if mode == "deletion" else curves[:, -1]
    auc = trapezoid_auc(curves)
    if config.divide_by_max:
        auc = auc / curves.amax(-1)
    return CausalResult(auc=auc, p_image=p_image, normalized_auc=auc / p_image,
                        curves=curves if return_curves else None)


def insertion(model, images: torch.Tensor, maps: torch.Tensor, targets: torch.Tensor,
              config: CausalConfig = CausalConfig(), batch_size: int = 256,
              return_curves: bool = False) -> CausalResult:
    """Insertion AUC per image (higher is better): substrate -> image, top pixels first."""
    return _causal("insertion", model, images, maps, targets, config, batch_size, return_curves)


def deletion(model, images: torch.Tensor, maps: torch.Tensor, targets: torch.Tensor,
             config: CausalConfig = CausalConfig(), batch_size: int = 256,
             return_curves: bool = False) -> CausalResult:
    """Deletion AUC per image (lower is better): image -> substrate, top pixels first."""
    return _causal("deletion", model, images, maps, targets, config, batch_size, return_curves)


@torch.no_grad()
def reference_curve(model, image: torch.Tensor, score_map: torch.Tensor, target: int, mode: str,
                    config: CausalConfig = CausalConfig()) -> torch.Tensor:
    """RISE's ``single_run`` loop for one ``[3, H, W]`` image: one forward per step, pixels copied
    in place. Uses amx's pixel order (stable ties) so that it checks only the batching."""
    channels, height, width = image.shape
    bounds = config.boundaries(height * width)
    base = substrate(image[None], config)[0]
    start, finish = (image.clone(), base) if mode == "deletion" else (base.clone(), image)
    order = torch.argsort(score_map.flatten(), descending=True, stable=True)
    current, source = start.view(channels, -1), finish.reshape(channels, -1)
    scores = torch.empty(len(bounds), dtype=torch.float64)
    target_t = torch.tensor([target], device=image.device)
    for i in range(len(bounds)):
        scores[i] = target_probabilities(model(current.view(1, channels, height, width)), target_t).item()
        if i + 1 < len(bounds):
            pixels = order[bounds[i]:bounds[i + 1]]
            current[:, pixels] = source[:, pixels]
    return scores
