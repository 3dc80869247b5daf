"""Carlini-Wagner L2 (Carlini and Wagner, S&P 2017) as foolbox 3's ``L2CarliniWagnerAttack``, which
BIG ran (seed 003; zifanw/boundary ``core.py``, foolbox's defaults: 9 binary-search steps,
confidence 0, ``abort_early=True``), with the early abort judged per image.

Per image and binary-search step (constant ``c``, from 1e-3, x10 until a step finds an
adversarial, then bisected): Adam (foolbox's ``AdamOptimizer``) minimises over ``delta``

    ``c * max(0, z_label - max_{j != label} z_j) + ||x' - x_r||^2``,  ``x' = (tanh(w + delta) + 1) / 2``

(``w = atanh(2x - 1)``, ``x_r`` the image through the tanh box), keeping the closest misclassified
``x'`` of every step.
Foolbox's early abort stops the binary step's Adam after a tenth of its steps without the loss
falling by 0.01 %; foolbox sums the loss over the batch, so whether an image stops depends on the
images beside it. amx judges each image by its own loss, which is foolbox on a batch of that one
image (tested), and takes a stopped image out of the batch: its point does not depend on its batch,
and the search makes about a third of the passes of the unabridged one on ``mini`` (measured:
99-633 of 900 passes per image). ``abort_early=False`` runs every step, foolbox's
``abort_early=False`` (tested equal).
"""

from __future__ import annotations

import math

import torch

ABORT_FACTOR = 0.9999  # foolbox: stop unless the loss fell below 0.9999 x the last check's
BETA1, BETA2 = 0.9, 0.999  # foolbox's AdamOptimizer


def carlini_wagner(model, images: torch.Tensor, labels: torch.Tensor, *, binary_steps: int, steps: int,
                   stepsize: float, initial_const: float, abort_early: bool = True
                   ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Per image, the closest misclassified point found in [0, 1] (the image itself where none
    was), whether one was found, and the forward + backward passes made (image-passes)."""
    n = len(images)
    x = images.detach()
    w = torch.atanh((x - 0.5) / 0.5 * 0.999999)  # foolbox's _to_attack_space for bounds (0, 1)
    reconstructed = _to_model_space(w)
    consts = torch.full((n,), float(initial_const), dtype=torch.float64)
    lower = torch.zeros(n, dtype=torch.float64)
    upper = torch.full((n,), math.inf, dtype=torch.float64)
    best = x.clone()
    best_norm = torch.full((n,), math.inf, dtype=x.dtype, device=x.device)  # finite: found
    check_every = math.ceil(steps / 10)
    passes = 0
    for binary_step in range(binary_steps):
        if binary_step == binary_steps - 1 and binary_steps >= 10:  # foolbox repeats the search once
            consts = torch.minimum(upper, torch.tensor(1e10, dtype=torch.float64))
        const = consts.float().to(device=x.device, dtype=x.dtype)  # foolbox casts them to float32
        delta, m, v = torch.zeros_like(w), torch.zeros_like(w), torch.zeros_like(w)
        found = torch.zeros(n, dtype=torch.bool, device=x.device)
        previous = torch.full((n,), math.inf, dtype=torch.float64, device=x.device)
        active = torch.arange(n, device=x.device)
        for step in range(steps):
            if not len(active):
                break
            d = delta[active].requires_grad_(True)
            perturbed = _to_model_space(w[active] + d)
            logits = model(perturbed)
            rows = torch.arange(len(active), device=x.device)
            label = labels[active]
            other = logits.masked_fill(torch.nn.functional.one_hot(label, logits.shape[1]).bool(),
                                       -math.inf).argmax(1)  # the best other class
            margin = torch.clamp(logits[rows, label] - logits[rows, other], min=0) * const[active]
            loss = margin + (perturbed - reconstructed[active]).flatten(1).square().sum(1)
            gradient, = torch.autograd.grad(loss.sum(), d)
            passes += len(active)
            t = step + 1  # Adam, as foolbox's AdamOptimizer (eps 1e-8)
            m[active] = BETA1 * m[active] + (1 - BETA1) * gradient
            v[active] = BETA2 * v[active] + (1 - BETA2) * gradient ** 2
            delta[active] = delta[active] - stepsize * (m[active] / (1 - BETA1 ** t)) / (
                torch.sqrt(v[active] / (1 - BETA2 ** t)) + 1e-8)
            loss, perturbed, logits = loss.detach(), perturbed.detach(), logits.detach()
            if abort_early and step % check_every == 0:
                going = loss <= (ABORT_FACTOR * previous[active]).to(loss.dtype)
                previous[active[going]] = loss[going].double()
                active, label = active[going], label[going]
                perturbed, logits = perturbed[going], logits[going]
            adversarial = logits.argmax(1) != label
            found[active] |= adversarial
            norms = (perturbed - x[active]).flatten(1).norm(dim=1)
            new_best = adversarial & (norms < best_norm[active])
            best[active[new_best]] = perturbed[new_best]
            best_norm[active[new_best]] = norms[new_best]
        found = found.cpu()
        upper = torch.where(found, consts, upper)
        lower = torch.where(found, lower, consts)
        consts = torch.where(torch.isinf(upper), consts * 10, (lower + upper) / 2)
    return best, torch.isfinite(best_norm), passes


def _to_model_space(w: torch.Tensor) -> torch.Tensor:
    """foolbox's ``_to_model_space`` for bounds (0, 1): ``tanh(w) * 0.5 + 0.5``."""
    return torch.tanh(w) * 0.5 + 0.5
