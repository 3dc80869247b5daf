"""SHAP: expected gradients, as ``shap.GradientExplainer``, which the paper used (200 samples).

``a_c(x) = mean_k (x_c - b_{r_k,c}) * d logit_target / d x_c (t_k x + (1 - t_k) b_{r_k})`` with a
background image ``b_{r_k}`` drawn uniformly from the background set and ``t_k ~ U(0, 1)``, for
``k = 1..n_samples``; ``map = |sum_c a_c|`` (Captum's default visualisation; the paper does not
say). Unlike ``shap.GradientExplainer``, which back-propagates one image's samples at a time
(and every output class unless ``ranked_outputs`` is set), amx batches the samples of all images
and back-propagates only the target's logit.

Background (a config choice the paper does not state): the first ``background_size`` images of
the ``background_world``'s background split (the embedded world's train split; an ImageNet-style
world's ineligible images), so the background never contains an evaluated image. A
claims run binds ``background_world`` to its own world (``world_field``); the default is the
default world.
Every image of a batch uses the same draws ``(r_k, t_k)`` from ``seed``.

Reproducibility (``numerics = "single-pass"``): the draws are integer and uniform ones (the same
bits on every machine); the maps average gradients at random points of the path, each within the
rounding of its pass except where a ReLU switches there (see ``amx.kernels.pass_tolerance``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from amx.data.worlds import DEFAULT_WORLD
from amx.methods.base import AttributionMethod, input_gradients, reduce_channels


@dataclass(frozen=True)
class SHAPConfig:
    """``n_samples`` 200 (paper), background: 64 train images of ``background_world``."""

    n_samples: int = 200
    background_world: str = DEFAULT_WORLD
    background_size: int = 64
    reduction: str = "abs_sum"

    def __post_init__(self):
        if self.n_samples < 1 or self.background_size < 1:
            raise ValueError(f"SHAPConfig: n_samples and background_size must be >= 1, got "
                             f"{self.n_samples}, {self.background_size}")


@functools.cache
def background_images(world: str, n: int) -> torch.Tensor:
    """The first ``n`` images of ``world``'s background split (``World.background_split``: the
    embedded world's ``train``), float in [0, 1]."""
    from amx.data.arrays import load_split
    from amx.data.worlds import get_world

    chosen = get_world(world)
    return load_split(chosen, chosen.background_split, n).batch(slice(None))[0]


def expected_gradients(model, images, targets, background, choice, t, batch_size) -> torch.Tensor:
    """Per-channel attributions ``[B, C, H, W]`` for given draws: ``choice`` ``[n]`` background
    indices and ``t`` ``[n]`` interpolation points (the same for every image)."""
    n = len(choice)
    base = background[choice]                                           # [n, C, H, W]
    points = t.view(n, 1, 1, 1, 1) * images[None] + (1 - t.view(n, 1, 1, 1, 1)) * base[:, None]
    grads = input_gradients(model, points.flatten(0, 1), targets.repeat(n), batch_size)
    deltas = images[None] - base[:, None]
    return (grads.view(n, *images.shape) * deltas).mean(0)


class SHAP(AttributionMethod):
    name = "shap"
    family = "gradient"
    needs_gradients = True
    stochastic = True
    world_field = "background_world"
    Config = SHAPConfig

    def passes(self, size):
        return (0, self.config.n_samples)

    def attribute(self, model, images, targets, generator):
        background = background_images(self.config.background_world, self.config.background_size)
        if background.shape[1:] != images.shape[1:]:
            raise ValueError(f"shap: background images of world {self.config.background_world!r} are "
                             f"{tuple(background.shape[1:])}, images are {tuple(images.shape[1:])}")
        choice = torch.randint(0, len(background), (self.config.n_samples,), generator=generator)
        t = torch.rand(self.config.n_samples, generator=generator)
        raw = expected_gradients(model, images, targets, background.to(images.device),
                                 choice.to(images.device), t.to(images.device), self.inputs_per_pass(images))
        return reduce_channels(raw, self.config.reduction)
