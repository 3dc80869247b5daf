"""Projected Gradient Descent (Madry et al. 2018), L2 and Linf, in [0, 1] pixel space.

Shared by adversarial training, adversarial accuracy (Table 1) and the boundary search
(``amx.attacks.boundary``, which starts each attack at a random point of the ball).
Each step ascends the cross-entropy: ``x <- Proj_{B(x0, eps)}(x + alpha * g / ||g||)`` for L2
(``alpha * sign(g)`` for Linf), then clips to [0, 1]. The loss is computed in float64: a
confident CNN's float32 softmax rounds to exactly 1, its cross-entropy gradient to exactly 0,
and the attack would stall (gradient masking that overstates robustness). The paper (001,
footnote 2) uses L2, ``eps = 3``, 7 steps of 0.5 at 224 px, following MadryLab's ``robustness``
library. L2 eps grows with sqrt(#pixels), so 3 at 224 px is 0.86 at 64 px; each world states
its Table 1 attack (``World.attack``) and its zoo module says why.

Reproducibility: each image's attack is its own (the loss is a sum over images, each step
normalised per image, the random start drawn in float64: ``amx.draws``), so it does not depend
on its batch; in float32 the passes' rounding differs between batch sizes and kernel paths and
the steps amplify it, so an image whose final loss sits at the decision boundary can count as
broken on one machine and not on another (Table 1's adversarial accuracy moves by 1 / n_images
per such image).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from amx.draws import normal


@dataclass(frozen=True)
class PGDConfig:
    """PGD hyperparameters. ``step_size=None`` means ``2.5 * eps / steps`` (Madry et al.'s rule)."""

    eps: float = 1.0
    steps: int = 10
    step_size: float | None = None
    norm: str = "l2"

    def __post_init__(self):
        if self.norm not in ("l2", "linf"):
            raise ValueError(f"PGDConfig.norm must be 'l2' or 'linf', got {self.norm!r}")
        if self.eps < 0 or self.steps < 0:
            raise ValueError(f"PGDConfig needs eps >= 0 and steps >= 0, got {self.eps}, {self.steps}")

    @property
    def alpha(self) -> float:
        return self.step_size if self.step_size is not None else 2.5 * self.eps / max(self.steps, 1)


def uniform_l2_ball(shape: tuple[int, ...], eps: float, generator: torch.Generator) -> torch.Tensor:
    """Points drawn uniformly from the L2 ball of radius ``eps`` in ``prod(shape[1:])`` dimensions,
    one per row: the first d coordinates of a Gaussian in d + 2 dimensions, normalised (Voelker et
    al. 2017; what foolbox's ``random_start`` draws). Drawn on the CPU from ``generator``."""
    d = 1
    for size in shape[1:]:
        d *= size
    gauss = normal((shape[0], d + 2), generator, torch.float64)
    gauss = gauss / gauss.norm(dim=1, keepdim=True)
    return (eps * gauss[:, :d]).float().view(shape)


def _l2_normalize(g: torch.Tensor) -> torch.Tensor:
    norm = g.flatten(1).norm(dim=1).clamp_min(1e-12)
    return g / norm.view(-1, 1, 1, 1)


def _project(delta: torch.Tensor, cfg: PGDConfig) -> torch.Tensor:
    if cfg.norm == "linf":
        return delta.clamp(-cfg.eps, cfg.eps)
    norm = delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    return delta * torch.clamp(cfg.eps / norm.clamp_min(1e-12), max=1.0)


def pgd(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
        cfg: PGDConfig, start: torch.Tensor | None = None) -> torch.Tensor:
    """Adversarial images within ``cfg.eps`` of ``images`` (untargeted, maximising the loss).

    ``start``: the initial perturbation (None: the clean image; ``uniform_l2_ball`` draws
    Madry et al.'s random start), projected into the ball and [0, 1]. The model's train/eval mode
    is left as the caller set it; parameters get no gradient.
    """
    x0 = images.detach()
    if start is None:
        delta = torch.zeros_like(x0)
    else:
        delta = _project(start.to(x0), cfg)
        delta = (x0 + delta).clamp(0, 1) - x0
    requires = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(cfg.steps):
            delta.requires_grad_(True)
            logits = model((x0 + delta).clamp(0, 1)).double()  # fp32 softmax saturates to 1
            loss = F.cross_entropy(logits, labels, reduction="sum")
            (grad,) = torch.autograd.grad(loss, delta)
            step = _l2_normalize(grad) if cfg.norm == "l2" else grad.sign()
            delta = _project(delta.detach() + cfg.alpha * step, cfg)
            delta = (x0 + delta).clamp(0, 1) - x0
    finally:
        for p, r in zip(model.parameters(), requires, strict=True):
            p.requires_grad_(r)
    return (x0 + delta).detach()
