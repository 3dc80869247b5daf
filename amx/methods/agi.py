"""Adversarial Gradient Integration (Pan, Li and Zhu, IJCAI 2021; code: pd90506/AGI), named by
BIG (seed 003).

For each false class ``t`` of ``k`` evenly spaced classes (AGI's ``range(0, K - 1, K // k)``; the
explained class is skipped), a path climbs towards ``t`` from ``x_0 = x`` by signed-gradient steps
``x_{i+1} = clip(x_i + eps * sign(grad p_t(x_i)), 0, 1)`` and integrates the explained class's
probability along it: ``a(x) = sum_t sum_i -grad p_y(x_i) * (x_{i+1} - x_i)``, for at most
``iterations`` steps, stopping once the model predicts ``t`` at ``x_i``. ``p`` is the softmax (in
float64, so that a saturated float32 softmax does not zero the step); ``map = |sum_c a_c|`` (as
amx's IG).

The path accumulates from ``x_i`` as the paper's Algorithm 1 writes it. AGI's code steps from the
original image every time (``fgsm_step(image, ...)``: ``x_{i+1} = clip(x + eps sign(...))``), so
its perturbation never grows beyond one step, as its issue #1 asks about; amx follows the paper.
Defaults are the paper's (eps 0.05, 20 iterations, k = 20); AGI's README and ``AGI_main.py`` use
15 and 15.

Reproducibility (``numerics = "iterative"``): every (image, class) path is its own batch row and
the algorithm has no random step, so maps do not depend on the batch (tested in float64). In
float32 the signed steps and the stop rule decide on rounded gradients and predictions, so a path
can take another step on another machine: on ``mini``, 5e-6 of the map's scale between kernel paths
on 6 images, but up to 0.97 over a claims run's 160 maps (README, "Reproducibility across
machines").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from amx.methods.base import REDUCTIONS, AttributionMethod, reduce_channels
from amx.scoring import balanced_chunks


@dataclass(frozen=True)
class AGIConfig:
    """``eps``: the signed-gradient step in [0, 1] pixel space; ``iterations``: the most steps per
    false class; ``n_classes``: ``k``, the false classes (at most the model's classes)."""

    eps: float = 0.05
    iterations: int = 20
    n_classes: int = 20
    reduction: str = "abs_sum"

    def __post_init__(self):
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"AGIConfig.reduction: unknown {self.reduction!r}; valid: {REDUCTIONS}")
        if not self.eps > 0 or self.iterations < 1 or self.n_classes < 1:
            raise ValueError(f"AGIConfig needs eps > 0, iterations >= 1 and n_classes >= 1, got "
                             f"{self.eps}, {self.iterations}, {self.n_classes}")


def false_classes(n_model_classes: int, k: int) -> list[int]:
    """AGI's evenly spaced classes: ``range(0, K - 1, K // k)`` (0, 50, ..., 950 for K = 1000, k = 20).

    >>> false_classes(1000, 20)[:3], len(false_classes(1000, 20)), false_classes(20, 20)[-1]
    ([0, 50, 100], 20, 18)
    """
    return list(range(0, n_model_classes - 1, max(1, n_model_classes // k)))[:k]


def _probability_gradients(model, x: torch.Tensor, false: torch.Tensor, explained: torch.Tensor):
    """(prediction, grad p_false, grad p_explained) at ``x``, one forward pass."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        probabilities = model(x).double().softmax(1)
        p_false = probabilities.gather(1, false[:, None]).sum()
        p_explained = probabilities.gather(1, explained[:, None]).sum()
        grad_false = torch.autograd.grad(p_false, x, retain_graph=True)[0]
        grad_explained = torch.autograd.grad(p_explained, x)[0]
    return probabilities.argmax(1), grad_false, grad_explained


def agi_paths(model, images: torch.Tensor, explained: torch.Tensor, false: torch.Tensor,
              cfg: AGIConfig) -> torch.Tensor:
    """Per-channel AGI integrals ``[N, 3, H, W]`` of one path each: image ``images[n]`` towards
    class ``false[n]``, explaining ``explained[n]`` (a path whose false class is the explained one is 0)."""
    x = images.detach().clone()
    total = torch.zeros_like(x)
    active = false != explained
    for _ in range(cfg.iterations):
        if not active.any():
            break
        rows = active.nonzero().flatten()
        prediction, grad_false, grad_explained = _probability_gradients(model, x[rows], false[rows],
                                                                        explained[rows])
        going = prediction != false[rows]  # stop once the model predicts the false class
        active[rows[~going]] = False
        rows, grad_false, grad_explained = rows[going], grad_false[going], grad_explained[going]
        step = (x[rows] + cfg.eps * grad_false.sign()).clamp(0, 1)
        total[rows] -= (grad_explained * (step - x[rows])).to(total.dtype)
        x[rows] = step
    return total


class AGI(AttributionMethod):
    name = "agi"
    family = "gradient"
    needs_gradients = True
    stochastic = False
    numerics = "iterative"
    Config = AGIConfig

    def passes(self, size):
        # at most: one forward and backward per step of every false class's path (the explained
        # class's gradient is a second backward of the same forward)
        return (0, self.config.n_classes * self.config.iterations)

    def raw(self, model, images, targets) -> torch.Tensor:
        """Per-channel attributions ``[B, 3, H, W]``: the sum over the false classes' paths."""
        with torch.no_grad():
            n_model_classes = model(images[:1]).shape[1]
        classes = torch.tensor(false_classes(n_model_classes, self.config.n_classes), device=images.device)
        k = len(classes)
        image_of = torch.arange(len(images), device=images.device).repeat_interleave(k)
        false = classes.repeat(len(images))
        out = torch.zeros_like(images)
        for chunk in balanced_chunks(len(image_of), self.inputs_per_pass(images)):
            rows = image_of[chunk]
            paths = agi_paths(model, images[rows], targets[rows], false[chunk], self.config)
            out.index_add_(0, rows, paths)
        return out

    def attribute(self, model, images, targets, generator):
        return reduce_channels(self.raw(model, images, targets), self.config.reduction)
