"""A run's cost before it runs.

``plan(config)`` counts the passes an empty cache would cost, per stage: each model's
predictions on the candidate pool, then per (model, method) the method's forward and
forward + backward passes on ``n_images`` images (its ``first`` where it scores fewer), and per
(model, metric) the metric's forwards on those maps (``MetricSpec.forwards``). ``estimate``
prices them with a short throughput probe on the device (``amx.bench.pass_seconds``: plain
batched passes, the floor a method's efficiency is measured against, so the run itself takes
longer by 1 / efficiency). ``amx run --dry-run`` and the claims run's header print both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from amx.data.worlds import get_world
from amx.methods import NotApplicableError
from amx.metrics import METRICS
from amx.pipeline.batching import inputs_per_pass
from amx.pipeline.run import method_for, runnable_models, score_key, with_twins
from amx.pipeline.store import content_key
from amx.presets import metric_configs
from amx.zoo import registry


@dataclass(frozen=True)
class PlannedStage:
    """One stage of a run: who, on how many images, with how many passes. ``work``: the content
    it computes, without its images (e.g. ``map_work``), so that a session counts once what two
    requests plan (on the first ``images`` of the same image list: the larger count covers both)."""

    stage: str  # predict | attribute | score | sweep | table1 | a request's own
    model: str
    what: str  # the method or metric ("" for predict)
    images: int
    forwards: int
    forward_backwards: int
    work: str = ""


def images_id(subset: str, spec, pair: tuple[str, str] | None = None) -> str:
    """Which image list a model's stage reads: its family's CL images of ``pair``, or the random draw."""
    return f"cl:{':'.join(pair)}:{spec.architecture}" if subset == "cl" else subset


def map_work(world, spec, method, seed: int, images: str) -> str:
    """The maps of ``method`` on ``spec`` with ``seed`` over the image list ``images`` (``images_id``)."""
    return content_key(kind="map", **world.key(), model=spec.fingerprint, method=method.name,
                       method_version=method.version, config=asdict(method.config), seed=seed, images=images)


def plan(config) -> list[PlannedStage]:
    """Every stage of ``config`` (a ``RunConfig``) as an empty cache would run it."""
    world = get_world(config.world)
    specs = registry.specs(world.name)
    names = list(config.models) or runnable_models(specs, config.subset, config.pair)
    pool = world.pool_size(config.n_images)
    configs = metric_configs(config.preset or world.preset, world.image_size, config.metrics)
    out = [predict_stage(world, specs[n], pool) for n in with_twins(names, specs, config.subset, config.pair)]
    for name in names:
        for method_name in config.methods:
            method = method_for(world, specs[name], method_name, config.preset, config.device)
            try:
                method.check_applicable(specs[name])  # the spec carries gap_head and cam_layer
            except NotApplicableError:
                continue  # CAM on a head that is not GAP -> linear: no maps, no passes
            images = images_id(config.subset, specs[name], config.pair)
            work = map_work(world, specs[name], method, config.seed, images)
            out.append(attribute_stage(world, name, method, images_scored(config), work))
            out += score_stages(world, name, work, configs, images_scored(config))
    return out


def images_scored(config) -> int:
    """The images per model a ``RunConfig`` scores: its first ``first`` of ``n_images``, or all."""
    return min(config.first or config.n_images, config.n_images)


def predict_stage(world, spec, pool: int) -> PlannedStage:
    """A model's predictions on the pool of ``pool`` images (``amx.pipeline.run.predictions``)."""
    return PlannedStage("predict", spec.name, "", pool, pool, 0,
                        work=content_key(kind="predictions", model=spec.fingerprint, **world.key(), n=pool))


def attribute_stage(world, model: str, method, n_images: int, work: str, stage: str = "attribute",
                    what: str | None = None) -> PlannedStage:
    """``method``'s maps of ``n_images`` images on ``model``."""
    fwd, fwd_bwd = method.passes((world.image_size, world.image_size))
    return PlannedStage(stage, model, what or method.name, n_images, fwd * n_images, fwd_bwd * n_images, work)


def score_stages(world, model: str, work: str, configs: dict, n_images: int) -> list[PlannedStage]:
    """The metrics' (``{metric: config}``) scores of the maps ``work`` of ``n_images`` images."""
    out = []
    for metric, config in configs.items():
        spec = METRICS.get(metric)
        forwards = spec.forwards(config, world.image_size ** 2)
        if forwards:
            out.append(PlannedStage("score", model, metric, n_images, forwards * n_images, 0,
                                    work=score_key(work, spec, config)))
    return out


def probe(world, device: str, models: list[str], images: int = 8) -> dict[str, tuple[float, float]]:
    """``{model: (forward, forward + backward)}`` seconds per image on ``device``, from a few
    batched passes of random images (the weights are the real ones)."""
    from amx.bench import pass_seconds

    x = torch.rand(images, 3, world.image_size, world.image_size,
                   generator=torch.Generator().manual_seed(0)).to(device)
    batch = inputs_per_pass(device, world.image_size) or images
    out = {}
    for name in models:
        model = registry.load(name, world.name, device=device)
        out[name] = (pass_seconds(model, x, batch, repeats=2), pass_seconds(model, x, batch, backward=True,
                                                                            repeats=2))
    return out


def estimate(stages: list[PlannedStage], rates: dict[str, tuple[float, float]]) -> float:
    """Seconds the ``stages`` take at the probed ``rates`` (the floor of the run's time)."""
    return sum(s.forwards * rates[s.model][0] + s.forward_backwards * rates[s.model][1] for s in stages)


def describe(stages: list[PlannedStage], rates: dict[str, tuple[float, float]] | None = None,
             workers: int = 1) -> str:
    """The plan as text: passes per stage kind and model, then the total (and estimate; with
    ``workers`` > 1, also on that many task slots of the probed device, the work split evenly)."""
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
        if workers > 1:
            total += (f"; on {workers} task slots like the probed device, {seconds / workers / 60:.1f} "
                      "min if the tasks spread evenly (a lower bound: model loading and the last, uneven "
                      "tasks come on top)")
    return "\n".join([*lines, total])
