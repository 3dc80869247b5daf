"""Control maps: trivial maps that read neither the model nor the target, the floor an
attribution method must beat on every metric (issue 26; TorchRay's centre baseline for the
pointing game is the precedent: 69.6 % on VOC07 "all", above some methods).

* ``centre``: ``exp(-((y - cy)^2 + (x - cx)^2) / (2 sigma^2))``, an isotropic Gaussian at the
  image centre ``((H - 1) / 2, (W - 1) / 2)``, ``sigma = 0.25 min(H, W)``;
* ``random``: uniform noise in [0, 1) drawn from the run's seed; one draw per seed, shared by
  every image of the run (as every stochastic method's draws are, ``amx.draws``), so that a map
  never depends on the images beside it;
* ``edges``: the Sobel gradient magnitude of the grey image, as scikit-image's
  ``filters.sobel(color.rgb2gray(image))`` (grey = 0.2125 R + 0.7154 G + 0.0721 B; kernels
  ``[1, 2, 1]`` x ``[1, 0, -1]`` / 4, borders reflected, magnitude ``sqrt((gx^2 + gy^2) / 2)``).

Their family is ``control``: the report shows them beside the paper's methods, and the paper's
claims rank only the paper's methods.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from amx.methods.base import AttributionMethod

GREY = (0.2125, 0.7154, 0.0721)  # scikit-image's rgb2gray (Rec. 709 luma)


@dataclass(frozen=True)
class CentreConfig:
    """``sigma``: the Gaussian's standard deviation as a share of the shorter side (0.25)."""

    sigma: float = 0.25

    def __post_init__(self):
        if not self.sigma > 0:
            raise ValueError(f"CentreConfig.sigma must be > 0, got {self.sigma}")


@dataclass(frozen=True)
class NoParameters:
    """The control has no hyperparameter."""


class _Control(AttributionMethod):
    family = "control"
    needs_gradients = False

    def passes(self, size):
        return (0, 0)


class Centre(_Control):
    name = "centre"
    stochastic = False
    Config = CentreConfig

    def attribute(self, model, images, targets, generator):
        height, width = images.shape[-2:]
        sigma = self.config.sigma * min(height, width)
        y = torch.arange(height, dtype=torch.float64) - (height - 1) / 2
        x = torch.arange(width, dtype=torch.float64) - (width - 1) / 2
        gauss = torch.exp(-(y[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma ** 2))
        return gauss.to(images.device, images.dtype).expand(len(images), height, width).clone()


class RandomMap(_Control):
    name = "random"
    stochastic = True
    Config = NoParameters

    def attribute(self, model, images, targets, generator):
        noise = torch.rand(images.shape[-2:], generator=generator, dtype=torch.float64)
        return noise.to(images.device, images.dtype).expand(len(images), *images.shape[-2:]).clone()


class Edges(_Control):
    name = "edges"
    stochastic = False
    Config = NoParameters

    def attribute(self, model, images, targets, generator):
        grey = torch.einsum("bchw,c->bhw", images, images.new_tensor(GREY))[:, None]
        padded = F.pad(grey, (1, 1, 1, 1), mode="replicate")  # scipy's "reflect" for one pixel
        smooth, diff = images.new_tensor([1.0, 2.0, 1.0]) / 4, images.new_tensor([1.0, 0.0, -1.0])
        gy = F.conv2d(padded, (diff[:, None] * smooth[None, :])[None, None])
        gx = F.conv2d(padded, (smooth[:, None] * diff[None, :])[None, None])
        return torch.sqrt((gx ** 2 + gy ** 2) / 2)[:, 0]
