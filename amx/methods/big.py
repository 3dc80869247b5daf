"""Boundary-based Integrated Gradients, BIG (Wang, Fredrikson and Datta, ICML 2022, seed 003; code:
zifanw/boundary ``boundary/core.py``).

Integrated Gradients (Captum, as BIG's code) of the explained class's logit from the closest
decision-boundary point ``x'`` to the image ``x``:
``a_c(x) = (x_c - x'_c) * integral_0^1 d logit_y / d x_c (x' + t (x - x')) dt``, in 10 steps of
Captum's ``riemann_trapezoid`` rule (BIG's default; its example notebook uses 50). ``x'`` comes
from BIG's attack ensemble (``amx.attacks.boundary``: PGD-L2 at seven eps, then Carlini-Wagner
L2), its random starts drawn from the seed. ``map = |sum_c a_c|`` (as amx's IG; BIG's code
returns the per-channel attributions and shows them with a blurred signed-max heatmap). The
attributions sum to ``f(x) - f(x')`` up to the integration error.

Reproducibility (``numerics = "iterative"``): as the boundary search's (``amx.attacks.boundary``):
batch-independent in float64; in float32 a boundary point, and so the map, can move between
machines by a whole attack step (measured on ``mini``: 0.08 of the map's scale between a batch and
one image at a time, up to 0.63 between kernel paths over a claims run's 160 maps).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from captum.attr import IntegratedGradients as CaptumIG

from amx.attacks import boundary as search
from amx.attacks.boundary import BoundaryConfig, boundary_search
from amx.methods.base import REDUCTIONS, AttributionMethod, reduce_channels

INTEGRATIONS = ("riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle", "gausslegendre")


@dataclass(frozen=True)
class BIGConfig:
    """``n_steps`` 10 and ``integration`` ``riemann_trapezoid`` (BIG's ``default.py``), the boundary
    search's settings (``boundary``), ``reduction`` ``abs_sum``."""

    n_steps: int = 10
    integration: str = "riemann_trapezoid"
    boundary: BoundaryConfig = field(default_factory=BoundaryConfig)
    reduction: str = "abs_sum"

    def __post_init__(self):
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"BIGConfig.reduction: unknown {self.reduction!r}; valid: {REDUCTIONS}")
        if self.n_steps < 1:
            raise ValueError(f"BIGConfig.n_steps must be >= 1, got {self.n_steps}")
        if self.integration not in INTEGRATIONS:
            raise ValueError(f"BIGConfig.integration: unknown {self.integration!r}; valid: {INTEGRATIONS}")
        if isinstance(self.boundary, dict):  # from a JSON config
            object.__setattr__(self, "boundary", BoundaryConfig(**self.boundary))
        if not isinstance(self.boundary, BoundaryConfig):
            raise ValueError(f"BIGConfig.boundary must be a BoundaryConfig, got "
                             f"{type(self.boundary).__name__}")


def big_attributions(model, images: torch.Tensor, boundary_points: torch.Tensor, targets: torch.Tensor,
                     cfg: BIGConfig, batch_size: int) -> torch.Tensor:
    """Per-channel BIG attributions ``[B, 3, H, W]``: IG from ``boundary_points`` to ``images``."""
    with torch.enable_grad():
        return CaptumIG(model).attribute(images, baselines=boundary_points.to(images), target=targets,
                                         n_steps=cfg.n_steps, method=cfg.integration,
                                         internal_batch_size=batch_size)


class BIG(AttributionMethod):
    name = "big"
    family = "gradient"
    needs_gradients = True
    stochastic = True  # the boundary search's random starts
    numerics = "iterative"
    version = search.VERSION  # a changed search changes BIG's maps
    Config = BIGConfig

    def passes(self, size):
        return (0, self.config.boundary.passes() + self.config.n_steps)

    def raw(self, model, images, targets, generator) -> torch.Tensor:
        """Per-channel attributions ``[B, 3, H, W]`` from a fresh boundary search."""
        batch = self.inputs_per_pass(images)
        boundary = boundary_search(model, images, targets, self.config.boundary, generator, batch)
        return big_attributions(model, images, boundary.points, targets, self.config, batch)

    def attribute(self, model, images, targets, generator):
        return reduce_channels(self.raw(model, images, targets, generator), self.config.reduction)
