"""``amx bench metrics``: Insertion + Deletion throughput against the model-pass floor and the
RISE-style per-image loop; ROAD's (``road``: ``2 P`` forwards per image for ``P`` percentages)
against its floor and the reference's loop (each image's imputation solved by SciPy's sparse LU,
one forward per removal); MaxBoxAccV2's and PxAP's (``localisation``), which make no model
pass: their floor is the reference's own algorithm (wsolevaluation's, ``amx.bench.localisation``),
so their rows give the ms per map, the speed-up over it and the largest score difference, at the
world's image size.

* floor: Insertion and Deletion each need ``f`` forwards per image (``causal_forwards``: ``n`` on
  the paper's zero substrate, whose one forward serves every image; ``n + 1`` on RISE's blur), so
  at the model's batched forward throughput ``F`` (images/s) they can run at most ``F / (2 f)``
  images/s;
* efficiency = measured images/s / floor images/s (target >= 0.7 on CPU);
* speed-up = measured images/s / the RISE-style loop's images/s (one image at a time, one
  forward per step; target >= 5x), on the first ``reference_images`` of the same inputs, whose
  AUCs must agree within 1e-5.

Maps are seeded random maps: the cost of the metrics does not depend on the map's content.
"""

from __future__ import annotations

import torch

from amx.bench import pass_seconds, timed
from amx.bench.localisation import bench_localisation
from amx.data.arrays import load_split
from amx.data.worlds import DEFAULT_WORLD, get_world
from amx.metrics.causal import (
    CausalConfig,
    causal_forwards,
    deletion,
    insertion,
    reference_curve,
    trapezoid_auc,
)
from amx.metrics.road import RoadConfig, reference_imputation, removal_masks, road_curves
from amx.scoring import target_probabilities
from amx.zoo import registry


def bench_metrics(model_name: str, world: str = DEFAULT_WORLD, n_images: int = 64,
                  reference_images: int = 4, batch_size: int = 256, device: str = "cpu",
                  seed: int = 0, log=print) -> dict:
    """Measure Insertion + Deletion; returns the result dict (see the module docstring)."""
    if reference_images < 1 or reference_images > n_images:
        raise ValueError(f"reference_images must be in 1..n_images={n_images}, got {reference_images}")
    config = CausalConfig()
    model = registry.load(model_name, world=world, device=device)
    images, targets = load_split(get_world(world), "eval", n_images).batch(slice(None), device)
    maps = torch.rand(n_images, *images.shape[2:], generator=torch.Generator().manual_seed(seed))
    maps = maps.to(device)
    per_image = causal_forwards(config, images.shape[2] * images.shape[3])

    forward_rate = 1 / pass_seconds(model, images, batch_size, repeats=max(2, 2048 // batch_size))
    floor_rate = forward_rate / (2 * per_image)
    log(f"forward: {forward_rate:.0f} images/s -> floor {floor_rate:.1f} images/s for ins + del")

    insertion(model, images[:2], maps[:2], targets[:2], config, batch_size)  # warm-up
    batched = {}

    def run_batched():
        batched["insertion"] = insertion(model, images, maps, targets, config, batch_size)
        batched["deletion"] = deletion(model, images, maps, targets, config, batch_size)

    batched_seconds = timed(run_batched, images.device)
    batched_rate = n_images / batched_seconds
    log(f"batched: {batched_rate:.1f} images/s ({batched_seconds:.1f} s for {n_images} images)")

    reference = {"insertion": [], "deletion": []}

    def run_reference():
        for i in range(reference_images):
            for mode in reference:
                curve = reference_curve(model, images[i], maps[i], int(targets[i]), mode, config)
                reference[mode].append(trapezoid_auc(curve))

    reference_rate = reference_images / timed(run_reference, images.device)
    log(f"RISE-style loop: {reference_rate:.2f} images/s")
    max_diff = max((torch.stack(reference[mode]) - batched[mode].auc[:reference_images]).abs().max().item()
                   for mode in reference)

    road = bench_road(model, images, maps, targets, forward_rate, reference_images, batch_size, log)
    localisation = bench_localisation(n_images, images.shape[-1], seed, log)["metrics"]
    return {
        "benchmark": "metrics", "road": road, "localisation": localisation, "world": world,
        "model": model_name, "n_images": n_images,
        "reference_images": reference_images, "batch_size": batch_size, "n_steps": config.n_steps,
        "forward_images_per_s": round(forward_rate, 1),
        "floor_images_per_s": round(floor_rate, 2),
        "batched_images_per_s": round(batched_rate, 2),
        "efficiency": round(batched_rate / floor_rate, 3),
        "reference_images_per_s": round(reference_rate, 3),
        "speedup_vs_reference": round(batched_rate / reference_rate, 1),
        "max_abs_auc_difference": max_diff,
        "aucs_equal": max_diff <= 1e-5,
        "targets": {"efficiency": 0.7, "speedup_vs_reference": 5.0, "max_abs_auc_difference": 1e-5},
    }


def bench_road(model, images, maps, targets, forward_rate: float, reference_images: int, batch_size: int,
               log=print) -> dict:
    """ROAD without imputation noise (so that the reference loop's probabilities compare): images
    per second batched, against the floor ``F / (2 P)`` and the reference's one-image loop."""
    config = RoadConfig(noise=0.0)
    floor_rate = forward_rate / (2 * len(config.percentages))
    road_curves(model, images[:1], maps[:1], targets[:1], config, batch_size)  # warm-up
    batched = {}

    def run_batched():
        batched["curves"] = road_curves(model, images, maps, targets, config, batch_size)

    rate = len(images) / timed(run_batched, images.device)
    masks = removal_masks(maps[:reference_images], config).cpu()
    reference = []

    @torch.no_grad()
    def run_reference():
        for i in range(reference_images):
            for order in range(2):
                for k in range(len(config.percentages)):
                    imputed = reference_imputation(images[i].cpu(), masks[i, order, k]).to(images)
                    reference.append(target_probabilities(model(imputed[None]), targets[i:i + 1]).item())

    reference_rate = reference_images / timed(run_reference, images.device)
    ours = batched["curves"][:reference_images].flatten()
    difference = ours - torch.tensor(reference, dtype=torch.float64)
    log(f"road: batched {rate:.2f} images/s, floor {floor_rate:.2f}, reference loop {reference_rate:.3f}")
    return {"n_percentages": len(config.percentages), "floor_images_per_s": round(floor_rate, 2),
            "batched_images_per_s": round(rate, 2), "efficiency": round(rate / floor_rate, 3),
            "reference_images_per_s": round(reference_rate, 3),
            "speedup_vs_reference": round(rate / reference_rate, 1),
            "max_abs_probability_difference": difference.abs().max().item()}
