"""Scoring a classifier: the target class's score, checked once, and the target's softmax
probability for many perturbed copies of many images, batched.

Used by the causal metrics (Insertion/Deletion) and the perturbation methods (RISE, LIME,
Sliding-Patch), which all score ``variants`` perturbed versions of every image.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch


def check_class_scores(outputs: torch.Tensor, targets: torch.Tensor) -> None:
    """``outputs`` are class scores ``[N, K >= 2]`` for ``N = len(targets)`` and every target is
    one of the ``K`` classes."""
    if outputs.dim() != 2 or outputs.shape[0] != len(targets) or outputs.shape[1] < 2:
        raise ValueError(f"model output: expected class scores [{len(targets)}, K >= 2], got "
                         f"{tuple(outputs.shape)}")
    n_classes, low, high = outputs.shape[1], int(targets.min()), int(targets.max())
    if low < 0 or high >= n_classes:
        bad = high if high >= n_classes else low
        raise ValueError(f"targets: class {bad} is outside the model's {n_classes} classes; class "
                         f"indices must be in [0, {n_classes - 1}], got {low}..{high}")


def target_scores(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The target's logit of each row of ``logits`` ``[N, K]``, checked."""
    check_class_scores(logits, targets)
    return logits.gather(1, targets[:, None]).squeeze(1)


def target_probabilities(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The target's softmax probability of each row of ``logits``, checked; computed in float32
    (float64 for float64 logits, so a float64 model is float64 throughout)."""
    check_class_scores(logits, targets)
    dtype = torch.promote_types(logits.dtype, torch.float32)
    return torch.softmax(logits.to(dtype), 1).gather(1, targets[:, None]).squeeze(1)


def balanced_chunks(n: int, most: int) -> list[slice]:
    """``n`` items in the fewest slices of at most ``most`` items, of equal sizes (to one):
    16 by at most 10 -> 8 + 8, not 10 + 6, since a small last batch passes slower per item.

    >>> balanced_chunks(16, 10)
    [slice(0, 8, None), slice(8, 16, None)]
    """
    parts = max(1, -(-n // most))
    bounds = [i * n // parts for i in range(parts + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def chunked(items: list, most: int) -> list[list]:
    """``items`` in the fewest parts of at most ``most``, of equal sizes (``balanced_chunks``)."""
    return [items[chunk] for chunk in balanced_chunks(len(items), most)]


@torch.no_grad()
def variant_probabilities(model, targets: torch.Tensor, variants: int,
                          render: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                          batch_size: int) -> torch.Tensor:
    """``P(target | variant)`` ``[B, variants]`` for ``B = len(targets)`` images.

    ``render(image, variant)`` turns index tensors into the perturbed inputs ``[n, C, H, W]``;
    the ``B * variants`` (image, variant) pairs go through the model ``batch_size`` at a time
    (``[B, 0]`` for no variants).
    """
    if not variants:
        return torch.empty(len(targets), 0, device=targets.device)
    parts = []
    for chunk in balanced_chunks(len(targets) * variants, batch_size):
        pair = torch.arange(chunk.start, chunk.stop, device=targets.device)
        image, variant = pair // variants, pair % variants
        parts.append(target_probabilities(model(render(image, variant)), targets[image]))
    return torch.cat(parts).view(len(targets), variants)
