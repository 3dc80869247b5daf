"""The closest decision-boundary point of each image, as BIG searches for it (Wang, Fredrikson and
Datta, ICML 2022, seed 003; code: zifanw/boundary ``boundary/core.py``, ``default.py``).

1. A PGD-L2 ensemble: for each eps of BIG's ascending list (36/255, 64/255, 0.3, 0.5, 0.7, 0.9,
   1.1, L2 norms in the ImageNet-normalised input space at 224 px), 40 steps from a uniformly
   random point of the ball (foolbox's ``random_start``). An image keeps the point of the smallest
   eps whose attack succeeds (the prediction is no longer the label), as BIG keeps the first
   success. A larger eps runs only on the images not yet moved across, which gives the same
   points as running every eps on every image.
2. Carlini-Wagner L2 (foolbox 3's ``L2CarliniWagnerAttack``, which BIG used: 9 binary-search
   steps of up to 100 Adam steps of 0.01, initial constant 1e-3, confidence 0, foolbox's early
   abort judged per image: ``amx.attacks.carlini_wagner``): its point replaces the
   PGD point when it is misclassified and strictly closer to the image in L2 (BIG's
   ``take_closer_bd``), or when PGD found none. ``cw_steps=0`` searches with PGD only.

Units: amx attacks in [0, 1] pixel space (its models normalise inside). A normalised-space L2
norm is a pixel-space one divided by the channel std (0.226 on average for ImageNet's), and the
L2 norm of a perturbation of the same per-pixel size grows with the image side, so BIG's eps
becomes ``eps * 0.226 * image_size / 224`` in amx's units (36/255 -> 0.0319 at 224 px, 0.0091 at
64 px; ``BoundaryConfig.pixel_eps``). Distances are pixel-space L2 norms.

Departures from BIG's code, each stated where the claims are reported:
* BIG passes ``2 eps / steps`` as foolbox's *relative* step, which foolbox multiplies by eps again
  (an absolute step of ``2 eps^2 / steps``, 0.001 at 36/255, too small to leave the random start);
  amx steps ``2 eps / steps``, the rule BIG's value reads as;
* BIG clips every channel to one scalar box of the normalised space (-2.12..2.64), which admits
  invalid pixels; amx clips to the valid range [0, 1] (PGD; C&W's tanh box is [0, 1]);
* BIG compares C&W's distance with the PGD point's even where every PGD attack failed (the first
  eps's point, within eps of the image), so a successful C&W point beyond the first eps never
  replaces a failed PGD point; amx takes it;
* an image that no attack moves across keeps the first eps's point, as in BIG, and is marked
  ``found=False`` (BIG does not mark it; the alignment claim B1 leaves such images out);
* foolbox's C&W stops a binary step's Adam when the loss summed over the batch stalls; amx stops
  each image on its own loss, as foolbox does for a batch of one image (``cw_abort_early=False``
  runs every step).

Reproducibility: an image's point does not depend on the images searched beside it (the starts
are drawn once per eps and shared, C&W's abort is judged per image), which the tests hold
in float64 to 1e-9. In float32 no tolerance holds: each pass differs between batch sizes and CPU
kernel paths by rounding (about 1e-6 of a gradient), up to 280 PGD and 900 C&W steps amplify it
(3.5e-4 in a pixel after 8 PGD steps on a 64-thread Xeon), and the steps decide discretely (the
smallest eps that succeeds, C&W's binary search and early abort), so a point can move by a whole
step; BIG's maps and B1's
distances inherit it. The verdicts are compared with stability labels for this reason (README,
"Reproducibility across machines").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from amx.attacks.carlini_wagner import carlini_wagner
from amx.attacks.pgd import PGDConfig, pgd, uniform_l2_ball
from amx.scoring import balanced_chunks

VERSION = 3  # keys the cached boundary points and BIG's maps: bump it when the search changes
BIG_EPS = (36 / 255, 64 / 255, 0.3, 0.5, 0.7, 0.9, 1.1)
MEAN_IMAGENET_STD = 0.226  # (0.229 + 0.224 + 0.225) / 3: normalised-space L2 = pixel L2 / 0.226
REFERENCE_SIZE = 224


@dataclass(frozen=True)
class BoundaryConfig:
    """BIG's boundary search (``default.py``): ``eps`` in normalised-space L2 at 224 px (ascending),
    ``pgd_steps`` per eps, and foolbox's C&W L2 as BIG ran it (``cw_steps=0``: PGD only), its
    early abort judged per image (``cw_abort_early``; False: every step)."""

    eps: tuple[float, ...] = BIG_EPS
    pgd_steps: int = 40
    cw_steps: int = 100
    cw_binary_steps: int = 9
    cw_stepsize: float = 0.01
    cw_initial_const: float = 1e-3
    cw_abort_early: bool = True

    def __post_init__(self):
        eps = tuple(float(e) for e in self.eps)
        if not eps or any(e <= 0 for e in eps) or list(eps) != sorted(eps):
            raise ValueError(f"BoundaryConfig.eps must be positive and ascending, got {self.eps}")
        object.__setattr__(self, "eps", eps)
        if self.pgd_steps < 1 or self.cw_steps < 0 or self.cw_binary_steps < 1:
            raise ValueError(f"BoundaryConfig needs pgd_steps >= 1, cw_steps >= 0 and cw_binary_steps >= 1, "
                             f"got {self.pgd_steps}, {self.cw_steps}, {self.cw_binary_steps}")
        if not (self.cw_stepsize > 0 and self.cw_initial_const > 0):
            raise ValueError(f"BoundaryConfig.cw_stepsize and cw_initial_const must be > 0, got "
                             f"{self.cw_stepsize}, {self.cw_initial_const}")

    def pixel_eps(self, image_size: int) -> tuple[float, ...]:
        """``eps`` in [0, 1]-pixel-space L2 at ``image_size``: ``eps * 0.226 * image_size / 224``."""
        return tuple(e * MEAN_IMAGENET_STD * image_size / REFERENCE_SIZE for e in self.eps)

    def passes(self) -> int:
        """Forward + backward passes per image at most: every eps's PGD, then every C&W step (the
        search stops early where an eps succeeds or C&W's abort stops it)."""
        return len(self.eps) * self.pgd_steps + self.cw_steps * self.cw_binary_steps


@dataclass(frozen=True)
class Boundary:
    """Per image: the boundary ``points`` ``[B, 3, H, W]`` in [0, 1], their pixel-space L2
    ``distance`` to the image, whether the search ``found`` a misclassified point, and which attack
    gave it (``source``: ``"pgd"``, ``"cw"`` or ``"none"``)."""

    points: torch.Tensor
    distance: torch.Tensor
    found: torch.Tensor
    source: tuple[str, ...]
    passes: int  # the forward + backward passes made, summed over the images


def _misclassified(model, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(images).argmax(1) != labels


def boundary_search(model, images: torch.Tensor, labels: torch.Tensor, cfg: BoundaryConfig,
                    generator: torch.Generator, batch_size: int = 64) -> Boundary:
    """The closest boundary point of each image (see the module docstring), at most ``batch_size``
    images per pass. Each eps's random start comes from ``generator`` and is shared by the images
    (as amx's other stochastic methods share their draws), and C&W's early abort watches each
    image's own loss: an image's point does not depend on which images share its batch."""
    if model.training:
        name = getattr(model, "amx_name", type(model).__name__)
        raise ValueError(f"boundary_search: model {name!r} is in training mode; call model.eval() first")
    images, labels = images.detach(), labels.long()
    n = len(images)
    points = images.clone()
    found = torch.zeros(n, dtype=torch.bool, device=images.device)
    source = ["none"] * n
    passes = 0
    for k, eps in enumerate(cfg.pixel_eps(images.shape[-1])):
        attack = PGDConfig(eps=eps, steps=cfg.pgd_steps, step_size=2 * eps / cfg.pgd_steps)
        start = uniform_l2_ball((1, *images.shape[1:]), eps, generator).to(images.device)
        todo = (~found).nonzero().flatten()
        for chunk in balanced_chunks(len(todo), batch_size):
            rows = todo[chunk]
            moved = pgd(model, images[rows], labels[rows], attack, start=start.expand(len(rows), -1, -1, -1))
            passes += len(rows) * cfg.pgd_steps
            success = _misclassified(model, moved, labels[rows])
            keep = success if k else torch.ones_like(success)  # the first eps's point stays otherwise
            points[rows[keep]] = moved[keep]
            found[rows[success]] = True
            for r in rows[success].tolist():
                source[r] = "pgd"
    distance = (points - images).flatten(1).norm(dim=1)
    if cfg.cw_steps:
        for chunk in balanced_chunks(n, batch_size):
            rows = torch.arange(n, device=images.device)[chunk]
            candidate, attacked, made = carlini_wagner(
                model, images[rows], labels[rows], binary_steps=cfg.cw_binary_steps, steps=cfg.cw_steps,
                stepsize=cfg.cw_stepsize, initial_const=cfg.cw_initial_const, abort_early=cfg.cw_abort_early)
            passes += made
            closer = (candidate - images[rows]).flatten(1).norm(dim=1)
            misclassified = attacked & _misclassified(model, candidate, labels[rows])
            better = misclassified & ((closer < distance[rows]) | ~found[rows])
            points[rows[better]] = candidate[better]
            distance[rows[better]] = closer[better]
            found[rows[better]] = True
            for r in rows[better].tolist():
                source[r] = "cw"
    return Boundary(points=points, distance=distance, found=found, source=tuple(source), passes=passes)
