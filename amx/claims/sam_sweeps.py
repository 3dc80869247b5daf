"""The evidence of the SAM claims (seed 002, Bansal, Agarwal and Nguyen, CVPR 2020; code:
anguyen8/sam): hyperparameter sweeps of four methods on vanilla/robust pairs, compared by SSIM
with the default setting's map and scored by SAM's accuracy scores, plus the three measurements
SAM's code has no metric for (S6 outlines, S7 noise, S8 MP convergence).

``PLANS`` holds one ``SamPlan`` per preset: ``paper`` is SAM's protocol at 224 px (the
``imagenet`` world: ResNet-50 and GoogLeNet pairs), ``mini`` runs it on the same two pairs, scales
patch sizes, blur and jitter to 64 px and cuts budgets to fit a CPU (``amx.zoo.mini``'s preset
underneath), ``smoke`` runs a few passes of two values per sweep on every pair. The claim set's
evidence request ``SamSweeps`` plans and computes everything through the cached sweep stage
(``amx.pipeline.sweep``) and returns a ``SamEvidence`` of tidy per-image tables, which
``amx.claims.sam`` checks and ``amx.claims.sam_figures`` draws.

SAM's methods, as its code computes them, are variants of amx's (``base`` of each sweep): Gradient
and SmoothGrad explain the logit with a signed channel mean (``reduction="mean"``); Sliding-Patch
is already SAM's probability drop; MP uses SAM's Gaussian blur, jitter and coefficients (its
sums turned into amx's means: ``l1 = 1e-4 m^2``, ``tv = 1e-2 m (m - 1)`` for an ``m x m`` mask);
LIME uses SAM's SLIC compactness 30. Departures from SAM's code, all stated in the report:
* every setting is compared with the default setting's map (SAM's ``*_Comp_With_Default_Settings``),
  not with its neighbour as the claims catalogue's S1 row says;
* Sliding-Patch fills with black (SAM: the mean colour) and averages the windows covering a pixel
  (SAM: one value per window, the grid resized with an order-5 spline); MP upsamples its mask
  bilinearly (SAM: nearest) and returns ``1 - mask`` unblurred (SAM: blurred with radius 1);
* SAM's four extra SmoothGrad sample counts, its other LIME sample count and its other MP
  iteration counts are not in its code: amx chooses them (``PLANS``), the sample counts and
  iterations as prefixes of one run, as SAM's code computes sample counts;
* SAM's poster reports a LIME superpixel sweep its code does not have: amx sweeps the
  superpixel count over the main paper's grid (10-60);
* S7's noise (variance 0.1 in [0, 1], clipped, SAM's ``random_noise``) is drawn per image from
  the seed, the same for both twins (SAM drew it per model from numpy's global state);
* the images are the CL images of each architecture (correct for both twins) of the session's
  ScoreTable, the first ``n_images`` of them (SAM: 1,735 images all four models classify
  correctly).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import ndimage

from amx.evidence import Context, Request, for_preset, timed
from amx.metrics.similarity import SSIMConfig, ssim
from amx.pipeline.executor import Records, Task
from amx.pipeline.plan import PlannedStage, attribute_stage, images_id, map_work, score_stages
from amx.pipeline.run import map_key, method_for
from amx.pipeline.scored import score_maps
from amx.pipeline.store import Store, content_key
from amx.pipeline.sweep import Sweep, SweepInputs, sweep_maps, sweep_method
from amx.presets import metric_configs
from amx.report.figures import encode
from amx.zoo import registry

# SAM's rescaling before SSIM, per method (``Sensitivity_Analysis_Basic*.py``).
SSIM_BY_METHOD = {"gradient": SSIMConfig(), "smoothgrad": SSIMConfig(), "lime": SSIMConfig(),
                  "ig": SSIMConfig(), "mp": SSIMConfig(data_range=1.0, scale="none"),
                  "sliding_patch": SSIMConfig(data_range=2.0, scale="none")}
SCORES = ("insertion", "deletion", "wsl_alpha")
GRADIENT = (("reduction", "mean"),)  # SAM's Gradient: the logit's gradient, signed channel mean
PAIR = ("vanilla", "pgd")  # SAM compares each vanilla model with its PGD-robust twin


@dataclass(frozen=True)
class SamPlan:
    """What the SAM claims regenerate on a world preset. ``families``: the vanilla/robust pairs
    of these model families (SAM's ResNet-50 and GoogLeNet: ``resnet`` and ``googlenet``; None:
    every pair the zoo has); ``n_images``: images per architecture (None: the
    session's); ``sweeps``; ``noise_variance`` (S7); ``outline_band`` px either side of the object's
    outline (S6); ``converged`` (S8): MP has converged from the first step after which its loss
    stays within this fraction of its total drop of the final loss; ``description``: the
    departures from SAM's values, for the report."""

    sweeps: tuple[Sweep, ...]
    families: tuple[str, ...] | None = None
    n_images: int | None = None
    noise_variance: float = 0.1
    outline_band: int = 2
    converged: float = 0.05
    description: str = ""
    scores: str = "sam"  # the preset of SAM's scores (amx.presets): SAM's own, or a smoke budget

    def sweep(self, name: str) -> Sweep:
        return next(s for s in self.sweeps if s.name == name)

    @property
    def mp_default(self) -> Sweep:
        """The MP sweep whose default setting S8 traces (the iterations sweep)."""
        return next(s for s in self.sweeps if s.method == "mp" and s.parameter == "iterations")


def _mp_base(mask: int, sigma: float, kernel: int, jitter: int) -> tuple:
    return (("blur", "gaussian"), ("blur_sigma", sigma), ("blur_kernel", kernel), ("jitter", jitter),
            ("mask_size", mask), ("l1", 1e-4 * mask ** 2), ("tv", 1e-2 * mask * (mask - 1)))


def _plan(patches, fine, stride, sg_samples, mp_mask, blur_sigmas, mp_kernel, jitter, iterations,
          lime_samples, lime_sigma, seeds=(0, 1, 2, 3, 4), noises=(0.1, 0.2, 0.3),
          superpixels=(10, 20, 30, 40, 50, 60), **kw) -> SamPlan:
    """The sweeps of SAM's protocol with the scale-dependent values given. SAM's defaults: the
    middle patch, fine patch, noise and blur sigma (of an even count, the upper middle), the largest
    sample count and iteration count (the others are prefixes of its run), LIME's second sample
    count, seed 0 and 50 superpixels (so ``seeds`` holds 0 and ``superpixels`` 50)."""
    def middle(values):
        return values[len(values) // 2]

    sg = GRADIENT + (("noise", middle(noises)), ("n_samples", max(sg_samples)))
    mp = _mp_base(mp_mask, middle(blur_sigmas), mp_kernel, jitter) + (("iterations", max(iterations)),)
    mp_no_iter = mp[:-1]
    # SAM's LIME: 50 SLIC segments for every model (Table A1's per-model counts do not apply)
    lime = (("compactness", 30.0), ("sigma", lime_sigma), ("n_samples", lime_samples[1]), ("hide_color", 0.0),
            ("n_superpixels", 50))
    return SamPlan(sweeps=(
        Sweep("sliding_patch", "patch", patches, middle(patches), (("stride", stride),)),
        Sweep("sliding_patch", "patch", fine, middle(fine), (("stride", stride),), label="patch-fine"),
        Sweep("smoothgrad", "noise", noises, middle(noises), sg),
        Sweep("smoothgrad", "n_samples", sg_samples, max(sg_samples), sg),
        Sweep("mp", "blur_sigma", blur_sigmas, middle(blur_sigmas), mp),
        Sweep("mp", "iterations", iterations, max(iterations), mp_no_iter),
        Sweep("mp", "seed", seeds, 0, mp),
        Sweep("lime", "seed", seeds, 0, lime),
        Sweep("lime", "n_samples", lime_samples, lime_samples[1], lime),
        Sweep("lime", "n_superpixels", superpixels, 50, lime),
    ), **kw)


PLANS = {
    "paper": _plan(
        patches=(5, 17, 29, 41, 53), fine=(52, 53, 54), stride=3, sg_samples=(10, 20, 30, 40, 50),
        mp_mask=28, blur_sigmas=(5.0, 10.0, 30.0), mp_kernel=181, jitter=4, iterations=(10, 50, 150, 300),
        lime_samples=(500, 1000), lime_sigma=3.0, families=("resnet", "googlenet"),
        description="SAM's values at 224 px; the sample counts 10-40, LIME's 500 samples and MP's 10, 50 "
                    "and 150 iterations are amx's (SAM's code does not list them)."),
    "smoke": _plan(
        patches=(48, 56), fine=(55, 56), stride=48, sg_samples=(1, 2), mp_mask=8, blur_sigmas=(1.5, 3.0),
        mp_kernel=53, jitter=2, iterations=(1, 2), lime_samples=(4, 8), lime_sigma=0.86, seeds=(0, 1),
        noises=(0.1, 0.2), superpixels=(20, 50), n_images=1, scores="smoke",
        description="a smoke budget (the smoke preset): SAM's sweeps in two values each and a few passes "
                    "on 1 image per pair, sizes that fit images of 64 px and up, scored by the smoke "
                    "preset's metrics; its verdicts mean nothing."),
    "mini": _plan(
        patches=(3, 5, 8, 12, 15), fine=(14, 15, 16), stride=3, sg_samples=(10, 20, 30, 40, 50),
        mp_mask=8, blur_sigmas=(1.5, 3.0, 8.5), mp_kernel=53, jitter=2, iterations=(10, 25, 50, 100),
        lime_samples=(64, 128), lime_sigma=0.86, families=("resnet", "googlenet"), n_images=15,
        description="SAM's ResNet and GoogLeNet pairs; SAM's values scaled by 64/224: patches 5-53 -> "
                    "3-15 (5 -> 1.4 rounded up to 3, the smallest that the stride 3 covers) and 52-54 "
                    "-> 14-16 (one pixel apart: "
                    "+-0.3 px does not exist at 64 px); blur sigma 5, 10, 30 -> 1.5, 3, 8.5; mask 28 -> "
                    "8; jitter 4 -> 2 (1 would never move); SLIC sigma 3 -> 0.86. CPU budget: MP 100 "
                    "iterations (SAM 300; iterations 10, 25, 50 as prefixes), LIME 128 samples (SAM "
                    "1000) and 64, 15 images per architecture (SAM 1,735); stride 3 px as SAM's, "
                    "coarser relative to 64-px images."),
}


@dataclass
class SamEvidence:
    """Per-image tables of the sweeps. ``similarity``: SSIM of each non-default setting's map with
    the default's (model, sweep, value, image). ``scores``: every setting's SAM scores.
    ``smoothing``: S3's SSIM of a vanilla model's SmoothGrad with its robust twin's Gradient.
    ``per_image``: S6 outline concentration, S7 noise SSIM, S8 MP steps, per (model, image).
    ``strips``: maps across values for the figures. ``plan``: what was run."""

    similarity: pd.DataFrame
    scores: pd.DataFrame
    smoothing: pd.DataFrame
    per_image: pd.DataFrame
    strips: dict
    plan: dict


@dataclass(frozen=True)
class SamSweeps(Request):
    """Claim set 002's evidence: the world preset's ``PLANS`` entry on the first CL images of each
    vanilla/robust pair of the plan's ``families`` (a world without one fails the request, naming
    them). ``plan``: the passes of its sweeps, their SAM scores and the
    S3, S6-S8 measurements on an empty cache; ``compute``: a ``SamEvidence``."""

    who = "claim set 002 (SAM)"

    def setting(self, context: Context) -> SamPlan:
        return for_preset(PLANS, context, self.who)

    def plan(self, context: Context) -> list[PlannedStage]:
        setting = self.setting(context)
        world, n = context.world, context.per_pair(setting.n_images)
        configs = metric_configs(setting.scores, world.image_size, SCORES)
        out = []
        for models in registry.twins(world, PAIR, setting.families).values():
            images = images_id("cl", context.specs[models["vanilla"]], PAIR)
            for model in models.values():
                spec, planned = context.specs[model], set()
                for sweep in setting.sweeps:
                    works = {}
                    for value in sweep.values:
                        method = sweep_method(world, spec, sweep, value, context.preset, context.device)
                        seed = sweep.seed(value, context.seed)
                        works[value] = (map_work(world, spec, method, seed, images), method)
                    todo = [v for v in sweep.values if works[v][0] not in planned]
                    groups = [(max(todo), todo)] if sweep.nested and todo else [(v, [v]) for v in todo]
                    for value, values in groups:
                        work = "+".join(works[v][0] for v in values)
                        out.append(attribute_stage(world, model, works[value][1], n, work, "sweep",
                                                   sweep.name))
                    planned |= {works[v][0] for v in todo}
                    for value in sweep.values:
                        out += score_stages(world, model, works[value][0], configs, n)
                gradient = method_for(world, spec, "gradient", context.preset, context.device,
                                      **dict(GRADIENT))
                # S3 (the robust twin's Gradient), S6 and S7 (each model's, clean and noisy): not cached
                out += [attribute_stage(world, model, gradient, n, "", "measure", "gradient")
                        for _ in range(3 if model == models["pgd"] else 2)]
                mp = sweep_method(world, spec, setting.mp_default, setting.mp_default.default, context.preset,
                                  context.device)
                out.append(attribute_stage(world, model, mp, n, "mp-trace:" + map_work(
                    world, spec, mp, context.seed, images), "measure", "mp_trace"))
        return out

    def compute(self, context: Context) -> SamEvidence:
        """Run the plan's sweeps on the pairs' CL images and measure S1-S8's data."""
        world, setting = context.world, self.setting(context)
        n = context.per_pair(setting.n_images)
        twins, images = context.pairs(self.who, n, PAIR, setting.families)
        pool = context.pool
        inputs = SweepInputs(world=world, specs=context.specs, pool=pool, executor=context.executor,
                             seed=context.seed, device=context.device, cache=context.store_dir,
                             preset=context.preset)
        handle = sweep_maps(inputs, list(setting.sweeps), images, log=lambda message: None,
                            stages=context.ledger)
        similarity, scores = _similarity_and_scores(inputs, handle, setting, twins, images, pool,
                                                    context.ledger)
        smoothing = _smoothing(inputs, handle, setting, twins, images, context.ledger)
        per_image = _per_image(inputs, setting, twins, images, pool, context.ledger)
        return SamEvidence(similarity=similarity, scores=scores, smoothing=smoothing, per_image=per_image,
                           strips=_strips(handle, setting, twins, images, pool, world.image_size),
                           plan={"world": world.name, "preset": context.preset_name, "n_images": n,
                                 "pairs": twins, "sweeps": [_describe(s) for s in setting.sweeps],
                                 "description": setting.description, "noise_variance": setting.noise_variance,
                                 "outline_band": setting.outline_band, "converged": setting.converged,
                                 "object_masks": world.object_masks is not None})


def _describe(sweep: Sweep) -> dict:
    return {"name": sweep.name, "method": sweep.method, "parameter": sweep.parameter,
            "values": list(sweep.values), "default": sweep.default, "base": dict(sweep.base)}


def _rows(model, spec, sweep, extra) -> dict:
    return {"model": model, "architecture": spec.architecture, "regime": spec.regime, "sweep": sweep.name,
            "method": sweep.method, "parameter": sweep.parameter, **extra}


def _similarity_and_scores(inputs, handle, plan, twins, images, pool, ledger) -> tuple[pd.DataFrame,
                                                                                      pd.DataFrame]:
    """SSIM with the default map and the SAM scores of every setting's map (scores cached)."""
    configs = metric_configs(plan.scores, inputs.world.image_size, SCORES)
    store = Store(inputs.cache)
    sims, scores = [], []
    try:
        for models in twins.values():
            for model_name in models.values():
                spec = inputs.specs[model_name]
                index = images[model_name]
                for sweep in plan.sweeps:
                    maps = handle.get(model_name, sweep, index)
                    config = SSIM_BY_METHOD[sweep.method]
                    default = torch.from_numpy(maps[sweep.default]).double()
                    for value in sweep.values:
                        if value != sweep.default:
                            values = ssim(torch.from_numpy(maps[value]).double(), default, config)
                            sims += [_rows(model_name, spec, sweep, {"value": value, "image": int(i),
                                                                      "ssim": float(v)})
                                     for i, v in zip(index, values, strict=True)]
                        keys = handle.keys(model_name, sweep, value, index)
                        found = score_maps(store, inputs.executor, inputs.world, pool, index, keys,
                                           maps[value], configs, inputs.device, ledger, model_name)
                        scores += [_rows(model_name, spec, sweep, {"value": value, "image": int(i), **f})
                                   for i, f in zip(index, found, strict=True)]
    finally:
        store.close()
    return pd.DataFrame(sims), pd.DataFrame(scores)


def _gradient_maps(inputs, model, model_name, index, ledger, images=None) -> torch.Tensor:
    """SAM's Gradient maps of pool ``index`` (or of ``images``): cheap, not cached (counted in
    ``ledger``)."""
    method = method_for(inputs.world, inputs.specs[model_name], "gradient", inputs.preset, inputs.device,
                        **dict(GRADIENT))
    if images is None:
        images = torch.from_numpy(inputs.images[index]).to(inputs.device).float().div_(255.0)
    targets = torch.from_numpy(inputs.labels[index]).to(inputs.device)
    with timed(ledger, "measure", model_name, "gradient", len(index), method.passes(images.shape[2:])):
        return method(model, images, targets).cpu()


def _smoothing(inputs, handle, plan, twins, images, ledger) -> pd.DataFrame:
    """S3: SSIM of the vanilla model's SmoothGrad at every value with the robust twin's Gradient."""
    rows = []
    for architecture, models in twins.items():
        index = images[models["vanilla"]]
        robust = registry.load(models["pgd"], inputs.world.name, device=inputs.device)
        target = _gradient_maps(inputs, robust, models["pgd"], index, ledger).double()
        for sweep in plan.sweeps:
            if sweep.method != "smoothgrad":
                continue
            for value, maps in handle.get(models["vanilla"], sweep, index).items():
                values = ssim(torch.from_numpy(maps).double(), target, SSIM_BY_METHOD["gradient"])
                rows += [{"architecture": architecture, "sweep": sweep.name, "parameter": sweep.parameter,
                          "value": value, "image": int(i), "ssim": float(v)}
                         for i, v in zip(index, values, strict=True)]
    return pd.DataFrame(rows)


def noisy(images: torch.Tensor, index: np.ndarray, variance: float, seed: int) -> torch.Tensor:
    """``images`` plus Gaussian noise of ``variance`` in [0, 1] space, clipped (SAM's
    ``skimage.util.random_noise(mode='gaussian')``), drawn per pool image from ``seed``."""
    noise = np.stack([np.random.default_rng([seed, int(i)]).normal(0.0, variance ** 0.5, images.shape[1:])
                      for i in index])
    return (images + torch.from_numpy(noise).to(images)).clamp_(0, 1)


def outline_bands(world, index: np.ndarray, images: torch.Tensor, band: int) -> np.ndarray:
    """Per image, the pixels within ``band`` px of the object's outline (bool ``[n, H, W]``):
    the exact mask's boundary where the world has masks, else the top 10% of the image's Sobel
    edge magnitude (``band`` px wider)."""
    if world.object_masks is not None:
        masks = world.object_masks("eval", index)
        edges = masks ^ np.stack([ndimage.binary_erosion(m) for m in masks])
    else:
        gray = images.mean(1).cpu().numpy()
        magnitude = np.hypot(ndimage.sobel(gray, 1), ndimage.sobel(gray, 2))
        edges = magnitude >= np.quantile(magnitude.reshape(len(gray), -1), 0.9, axis=1)[:, None, None]
    return np.stack([ndimage.binary_dilation(e, iterations=band) for e in edges])


def outline_concentration(maps: torch.Tensor, bands: np.ndarray) -> np.ndarray:
    """S6: the share of ``|map|`` on the outline band over the band's share of the image (1: no
    more on the outline than anywhere else; higher: the map traces the outline)."""
    energy = maps.abs().double().flatten(1).numpy()
    band = bands.reshape(len(bands), -1)
    share = (energy * band).sum(1) / np.maximum(energy.sum(1), 1e-300)
    return share / band.mean(1)


def converged_step(trace: np.ndarray, fraction: float) -> int:
    """S8: the first step after which the loss stays within ``fraction`` of its total drop of the
    final loss (``len(trace)``: never within it)."""
    final, drop = trace[-1], abs(trace[0] - trace[-1])
    outside = np.nonzero(np.abs(trace - final) > fraction * drop)[0]
    return 0 if len(outside) == 0 else int(outside[-1]) + 1


def _per_image(inputs, plan, twins, images, pool, ledger) -> pd.DataFrame:
    """S6 outline concentration, S7 SSIM under noise and S8 MP steps, per (model, image)."""
    store = Store(inputs.cache)
    rows = []
    try:
        for architecture, models in twins.items():
            index = images[models["vanilla"]]
            clean = torch.from_numpy(inputs.images[index]).to(inputs.device).float().div_(255.0)
            bands = outline_bands(inputs.world, index, clean, plan.outline_band)
            for regime, model_name in models.items():
                model = registry.load(model_name, inputs.world.name, device=inputs.device)
                grads = _gradient_maps(inputs, model, model_name, index, ledger)
                noise = _gradient_maps(inputs, model, model_name, index, ledger,
                                       noisy(clean, index, plan.noise_variance, inputs.seed))
                stable = ssim(grads.double(), noise.double(), SSIM_BY_METHOD["gradient"])
                steps = _mp_steps(inputs, store, model_name, plan, index, ledger)
                rows += [{"model": model_name, "architecture": architecture, "regime": regime,
                          "image": int(i), "outline": float(o), "noise_ssim": float(s), "mp_steps": int(k)}
                         for i, o, s, k in zip(index, outline_concentration(grads, bands), stable, steps,
                                               strict=True)]
    finally:
        store.close()
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class TraceTask(Task):
    """S8's MP loss traces (``MeaningfulPerturbation.optimise``) of pool images ``rows`` on
    ``model``, MP with config ``overrides`` under ``preset``, its random draws from ``seed``;
    ``keys``: each image's trace. An executor's task (``amx.pipeline.executor``)."""

    world: str
    model: str
    overrides: tuple[tuple[str, object], ...]
    preset: str | None
    seed: int
    device: str
    pool: int
    rows: tuple[int, ...]
    keys: tuple[str, ...]

    def compute(self, runner) -> Records:
        world, spec, model, images, targets = runner.inputs(self)
        method = method_for(world, spec, "mp", self.preset, self.device, **dict(self.overrides))
        start = time.perf_counter()
        _, trace = method.optimise(model, images, targets, torch.Generator().manual_seed(self.seed))
        return Records(self, [{"loss": t.tolist()} for t in trace], time.perf_counter() - start)


def _mp_steps(inputs, store, model_name, plan, index, ledger) -> list[int]:
    """S8: MP's convergence step at the default setting, from its loss trace (cached by content;
    the missing ones in one executor task per model, as one batch)."""
    sweep = plan.mp_default
    method = method_for(inputs.world, inputs.specs[model_name], "mp", inputs.preset, inputs.device,
                        **sweep.overrides(sweep.default))
    keys = [content_key(kind="mp_trace", map=map_key(inputs.world, inputs.labels, inputs.specs[model_name],
                                                     method, int(i), inputs.seed)) for i in index]
    found = store.get_records(keys)
    missing = [j for j, k in enumerate(keys) if k not in found]
    if missing:
        task = TraceTask(inputs.world.name, model_name, tuple(sweep.overrides(sweep.default).items()),
                         inputs.preset, inputs.seed, inputs.device, len(inputs.labels),
                         tuple(int(index[j]) for j in missing), tuple(keys[j] for j in missing))
        size = (inputs.world.image_size,) * 2
        with timed(ledger, "measure", model_name, "mp_trace", len(missing), method.passes(size)):
            [result] = inputs.executor.run([task], inputs.pool)
        result.save(store, inputs.device)
        found.update(zip(task.keys, result.values, strict=True))
    return [converged_step(np.asarray(found[k]["loss"]), plan.converged) for k in keys]


STRIP_SIZE = 64


def _strips(handle, plan, twins, images, pool, size) -> dict:
    """For each sweep, the maps across its values of one image for a vanilla and a robust model
    (ResNet's pair if there is one, else the first), as uint8 of at most 64 px."""
    architecture = "resnet" if "resnet" in twins else next(iter(twins))
    models = twins[architecture]
    image = int(images[models["vanilla"]][0])
    picture = torch.from_numpy(pool.images[image:image + 1]).float()
    side = min(size, STRIP_SIZE)
    picture = F.interpolate(picture, size=(side, side), mode="area")[0].permute(1, 2, 0)
    picture = picture.round().byte().numpy()
    out = {"architecture": architecture, "image": image, "size": side, "picture": encode(picture),
           "models": models, "sweeps": {}}
    for sweep in plan.sweeps:
        config = SSIM_BY_METHOD[sweep.method]
        rows = {}
        for regime, model_name in models.items():
            maps = handle.get(model_name, sweep, [image])
            rows[regime] = [_strip_map(maps[v][0], config, side) for v in sweep.values]
        out["sweeps"][sweep.name] = {"values": [str(v) for v in sweep.values], "default": str(sweep.default),
                                     **rows}
    return out


def _strip_map(score_map: np.ndarray, config: SSIMConfig, side: int) -> str:
    """A map for display: MP's [0, 1] mask as it is, the others as map / max|map| from -1 to 1."""
    m = F.interpolate(torch.from_numpy(score_map)[None, None].float(), size=(side, side), mode="area")[0, 0]
    unit = m if config.data_range == 1 else (m / m.abs().max().clamp_min(1e-12) + 1) / 2
    return encode((unit.clamp(0, 1) * 255).round().byte().numpy())

