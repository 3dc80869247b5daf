"""LIME (Ribeiro et al. 2016), as ``lime.lime_image`` in its PyTorch tutorial, which the paper used.

Per image: SLIC superpixels (compactness 10, sigma 3; ``n_superpixels`` per model, Table A1),
``N = 1000`` binary samples ``z`` (sample 0 keeps every superpixel), each rendered with the off
superpixels set to ``hide_color`` 0 (black, as the tutorial's ``hide_color=0``), scored by the
target's softmax probability, weighted by ``sqrt(exp(-d^2 / 0.25^2))`` with ``d`` the cosine
distance between ``z`` and all-ones, and fitted by ``Ridge(alpha=1)``. A pixel's attribution is
its superpixel's coefficient. The samples come from ``numpy.random.RandomState(s)`` as in
``lime`` (``s`` drawn from ``seed``; each image starts the same stream, so a batch equals its
images one by one), and the perturbed images of all images go through the model together.

Departure: superpixels are numbered from 0 (``slic(start_label=0)``). With scikit-image >= 0.19,
``lime`` numbers them from 1 but its features from 0, so its feature 0 hides nothing and the last
superpixel is never hidden; amx does not reproduce that off-by-one.

Reproducibility (``numerics = "single-pass"``): the samples are integers from the seed and SLIC
runs in float64 on the image alone, so they are the same on every machine and batch; the
probabilities differ by the rounding of the model's passes and the ridge fit (float64) carries
that over (measured on ``mini``: at most one float16 step, 4.9e-4 of the map's scale, between
kernel paths over a claims run's 1,400 stored maps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from skimage.segmentation import slic
from sklearn.linear_model import Ridge
from sklearn.metrics import pairwise_distances

from amx.methods.base import AttributionMethod
from amx.scoring import variant_probabilities


@dataclass(frozen=True)
class LIMEConfig:
    """``n_samples`` 1000, ``n_superpixels`` 50 (Table A1 default), SLIC compactness 10 and
    sigma 3, kernel width 0.25, ``hide_color`` 0, ``ridge_alpha`` 1 (lime's defaults)."""

    n_samples: int = 1000
    n_superpixels: int = 50
    compactness: float = 10.0
    sigma: float = 3.0
    kernel_width: float = 0.25
    hide_color: float = 0.0
    ridge_alpha: float = 1.0

    def __post_init__(self):
        if self.n_samples < 2 or self.n_superpixels < 1 or self.kernel_width <= 0:
            raise ValueError(f"LIMEConfig: n_samples >= 2, n_superpixels >= 1, kernel_width > 0; "
                             f"got {self.n_samples}, {self.n_superpixels}, {self.kernel_width}")


def superpixels(image: torch.Tensor, config: LIMEConfig) -> np.ndarray:
    """SLIC segments ``[H, W]`` numbered ``0..F-1`` for one ``[3, H, W]`` image in [0, 1]."""
    hwc = image.detach().cpu().permute(1, 2, 0).double().numpy()
    return slic(hwc, n_segments=config.n_superpixels, compactness=config.compactness,
                sigma=config.sigma, start_label=0)


def samples(n_features: int, n_samples: int, seed: int) -> np.ndarray:
    """lime's neighbourhood: ``RandomState(seed).randint(0, 2, n * F)``, first row all ones."""
    data = np.random.RandomState(seed).randint(0, 2, n_samples * n_features).reshape(n_samples, n_features)
    data[0, :] = 1
    return data


def fit_coefficients(data: np.ndarray, scores: np.ndarray, config: LIMEConfig) -> np.ndarray:
    """lime's weighted ridge fit: one coefficient per superpixel."""
    distances = pairwise_distances(data, data[0].reshape(1, -1), metric="cosine").ravel()
    weights = np.sqrt(np.exp(-(distances ** 2) / config.kernel_width ** 2))
    model = Ridge(alpha=config.ridge_alpha, fit_intercept=True)
    return model.fit(data, scores, sample_weight=weights).coef_


class LIME(AttributionMethod):
    name = "lime"
    family = "perturbation"
    needs_gradients = False
    stochastic = True
    Config = LIMEConfig

    def passes(self, size):
        return (self.config.n_samples, 0)

    def attribute(self, model, images, targets, generator):
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        n = self.config.n_samples
        segments = [superpixels(image, self.config) for image in images]
        data = [samples(int(s.max()) + 1, n, seed) for s in segments]
        scores = self._scores(model, images, targets, segments, data)
        maps = [fit_coefficients(d, p, self.config)[s]
                for d, p, s in zip(data, scores, segments, strict=True)]
        return torch.from_numpy(np.stack(maps)).to(images)

    def _scores(self, model, images, targets, segments, data) -> np.ndarray:
        """P(target | perturbed image) ``[B, N]``; (image, sample) pairs batched together."""
        batch, n = len(images), self.config.n_samples
        width = max(d.shape[1] for d in data)
        keep = torch.zeros(batch, n, width, dtype=torch.bool)
        for i, d in enumerate(data):
            keep[i, :, :d.shape[1]] = torch.from_numpy(d.astype(bool))
        keep = keep.to(images.device)
        segment_ids = torch.from_numpy(np.stack(segments)).long().to(images.device).flatten(1)

        def render(image, sample):
            visible = keep[image, sample].gather(1, segment_ids[image]).view(-1, 1, *images.shape[2:])
            return torch.where(visible, images[image], self.config.hide_color)

        probs = variant_probabilities(model, targets, n, render, self.inputs_per_pass(images))
        return probs.double().cpu().numpy()
