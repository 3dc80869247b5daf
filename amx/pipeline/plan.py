"""A run's cost before it runs, and the batch sizes that fit the device.

``plan(config)`` counts the passes an empty cache would cost, per stage: each model's
predictions on the candidate pool, then per (model, method) the method's forward and
forward + backward passes on ``n_images`` images, and per (model, metric) the metric's forwards
on those maps (``MetricSpec.forwards``). ``estimate`` prices them with a short throughput probe on
the device (``amx.bench.pass_seconds``: plain batched passes, the floor a method's efficiency is
measured against, so the run itself takes longer by 1 / efficiency). ``amx run --dry-run`` and the
claims run's header print both.

On CUDA, ``inputs_per_pass`` sizes batches from the device's free memory, and ``halving`` retries
a step whose batch ran out of memory with half of it, so a run never loses what it computed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from amx.data.worlds import get_world
from amx.methods import NotApplicableError
from amx.metrics import METRICS
from amx.presets import metric_configs
from amx.zoo import registry

# Bytes of activations (forward + backward) per input pixel of a 224-px ImageNet CNN, measured
# with torch.cuda.max_memory_allocated: DenseNet-161, the hungriest of the zoo, keeps about 2.3 kB
# per pixel for an input gradient; amx budgets half the free memory at 4 kB per pixel.
BYTES_PER_PIXEL = 4096
MEMORY_SHARE = 0.5


@dataclass(frozen=True)
class PlannedStage:
    """One stage of a run: who, on how many images, with how many passes."""

    stage: str  # predict | attribute | score
    model: str
    what: str  # the method or metric ("" for predict)
    images: int
    forwards: int
    forward_backwards: int


def plan(config) -> list[PlannedStage]:
    """Every stage of ``config`` (a ``RunConfig``) as an empty cache would run it."""
    from amx.pipeline.run import _method, _with_twins, runnable_models

    world = get_world(config.world)
    specs = registry.specs(world.name)
    names = list(config.models) or runnable_models(specs, config.subset)
    size = (world.image_size, world.image_size)
    pool = world.pool_size(config.n_images)
    configs = metric_configs(config.preset or world.preset, world.image_size, config.metrics)
    out = [PlannedStage("predict", n, "", pool, pool, 0) for n in _with_twins(names, specs, config.subset)]
    for name in names:
        for method_name in config.methods:
            method = _method(config, world, specs[name], method_name)
            try:
                method.check_applicable(specs[name])  # the spec carries gap_head and cam_layer
            except NotApplicableError:
                continue  # CAM on a head that is not GAP -> linear: no maps, no passes
            fwd, fwd_bwd = method.passes(size)
            out.append(PlannedStage("attribute", name, method_name, config.n_images,
                                    fwd * config.n_images, fwd_bwd * config.n_images))
            for metric in config.metrics:
                forwards = METRICS.get(metric).forwards(configs[metric], size[0] * size[1])
                if forwards:
                    out.append(PlannedStage("score", name, metric, config.n_images,
                                            forwards * config.n_images, 0))
    return out


def probe(config, models: list[str], images: int = 8) -> dict[str, tuple[float, float]]:
    """``{model: (forward, forward + backward)}`` seconds per image on ``config.device``, from a
    few batched passes of random images (the weights are the real ones)."""
    from amx.bench import pass_seconds

    world = get_world(config.world)
    x = torch.rand(images, 3, world.image_size, world.image_size,
                   generator=torch.Generator().manual_seed(0)).to(config.device)
    batch = inputs_per_pass(config.device, world.image_size) or images
    out = {}
    for name in models:
        model = registry.load(name, world.name, device=config.device)
        out[name] = (pass_seconds(model, x, batch, repeats=2), pass_seconds(model, x, batch, backward=True,
                                                                            repeats=2))
    return out


def estimate(stages: list[PlannedStage], rates: dict[str, tuple[float, float]]) -> float:
    """Seconds the ``stages`` take at the probed ``rates`` (the floor of the run's time)."""
    return sum(s.forwards * rates[s.model][0] + s.forward_backwards * rates[s.model][1] for s in stages)


def describe(stages: list[PlannedStage], rates: dict[str, tuple[float, float]] | None = None) -> str:
    """The plan as text: passes per stage kind and model, then the total (and estimate)."""
    lines = [f"{'stage':<10}{'model':<22}{'what':<16}{'images':>8}{'forwards':>14}{'fwd+bwd':>12}"
             + ("   est. s" if rates else "")]
    for s in stages:
        est = f"  {estimate([s], rates):9.1f}" if rates else ""
        lines.append(f"{s.stage:<10}{s.model:<22}{s.what:<16}{s.images:>8}{s.forwards:>14,}"
                     f"{s.forward_backwards:>12,}{est}")
    forwards = sum(s.forwards for s in stages)
    backwards = sum(s.forward_backwards for s in stages)
    total = f"total: {forwards:,} forwards and {backwards:,} forward+backward passes"
    if rates:
        seconds = estimate(stages, rates)
        total += (f"; {seconds / 60:.1f} min ({seconds / 3600:.2f} h) at the probed throughput of plain "
                  "batched passes (each method's efficiency against it: `amx bench methods`)")
    return "\n".join([*lines, total])


def inputs_per_pass(device: str | torch.device, image_size: int) -> int | None:
    """Model inputs per pass on a CUDA device: ``MEMORY_SHARE`` of its free memory at
    ``BYTES_PER_PIXEL`` per input pixel (at least 1). None on a CPU: the methods' defaults."""
    if not str(device).startswith("cuda"):
        return None
    free, _ = torch.cuda.mem_get_info(torch.device(device))
    return max(1, int(MEMORY_SHARE * free / (BYTES_PER_PIXEL * image_size * image_size)))


def halving(step: Callable[[int], object], size: int, what: str, log=print) -> tuple[object, int]:
    """``step(size)``, retried with half the batch ``size`` each time CUDA runs out of memory
    (an error naming ``what`` when even one input does not fit). Returns the result and the size
    that worked, for the next step to start from."""
    while True:
        try:
            return step(size), size
        except torch.cuda.OutOfMemoryError:
            if size <= 1:
                message = f"{what}: out of CUDA memory at 1 input per pass"
                raise torch.cuda.OutOfMemoryError(message) from None
            torch.cuda.empty_cache()
            size = max(1, math.ceil(size / 2))
            log(f"{what}: out of CUDA memory; retrying with {size} inputs per pass")
