"""The evidence of the sanity checks' claims A1-A3 (claim set 004; Adebayo, Gilmer, Muelly,
Goodfellow, Hardt and Kim, "Sanity checks for saliency maps", NeurIPS 2018; code
adebayoj/sanity_checks_saliency): on each vanilla/robust pair, each method's maps of the first CL
images under the model's parameter randomisation (``amx.zoo.randomise``), compared with the
trained model's maps.

* cascading: the blocks of ``ModelSpec.blocks`` randomised from the logits down, one more per
  step; independent: one block at a time (step 1 of both randomises the logits' block alone and is
  computed once);
* per (model, method, image, mode, step), the similarity of the randomised model's map to the
  trained model's: Spearman's rank correlation of |map| and of the signed map, SSIM of the maps
  scaled to [0, 1] by max |map| (window 5, ``data_range`` 1), and the Pearson correlation of the
  |maps|' HOG features (``amx.metrics.similarity``).

A method with a channel ``reduction`` (Gradient, Guided Backprop ...) is run with the signed
``mean`` over the colour channels, so that the signed comparison has a sign to compare; |map| is
its absolute value. Departures from the reference, stated in the report: |map| is |mean_c a_c|
(the reference's grayscale visualisation sums |a_c|); SSIM has the SAM code's 5-px uniform window
(the reference: a Gaussian window of 11 px, ``data_range`` 2); HOG is compared by Pearson
correlation (the reference's code ranks the features); the randomised weights are drawn at He's
scale (``amx.zoo.randomise``); the explained class is the image's label, for the trained and every
randomised model (the reference re-predicted the class under randomisation).

``PLANS`` holds one ``SanityPlan`` per preset. Maps are cached by content (under the map's key, the
randomised blocks, none for the trained model, and the randomisation's config and seed) and computed as the
session executor's tasks (``RandomisedMapTask``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from amx import methods as method_registry
from amx.evidence import Context, Request, for_preset
from amx.metrics.similarity import HOGConfig, SSIMConfig, hog_pearson, spearman, ssim
from amx.pipeline.executor import MapResult, Task, run_batches
from amx.pipeline.plan import PlannedStage, images_id, map_work
from amx.pipeline.run import Stage, map_key, method_for
from amx.pipeline.store import Store, content_key
from amx.report.figures import encode
from amx.scoring import chunked
from amx.zoo import randomise
from amx.zoo.randomise import MODES, RandomisationConfig

VERSION = 1
CHUNK_IMAGES = 32
PAIR = ("vanilla", "pgd")
PAPER_METHODS = ("gradient", "gradcam", "guided_backprop", "guided_gradcam")  # the paper's four
MEASURES = ("spearman_abs", "spearman_signed", "ssim", "hog")
SSIM = SSIMConfig(win_size=5, data_range=1.0, scale="none")  # on maps scaled to [0, 1] by max |map|


@dataclass(frozen=True)
class SanityPlan:
    """``n_images``: CL images per model for the paper's four methods, randomised in both modes
    (None: the session's ``--n-images``); ``others``: more methods, randomised in the cascade only,
    on ``n_others`` images (at most ``n_images``); ``hog``: the HOG cell at this image size;
    ``blocks``: the first blocks from the logits that are randomised (None: every one)."""

    description: str
    n_images: int | None
    others: tuple[str, ...]
    n_others: int | None
    hog: HOGConfig
    randomisation: RandomisationConfig = RandomisationConfig()
    blocks: int | None = None

    def of(self, spec) -> tuple[str, ...]:
        """The blocks of ``spec`` this plan randomises, from the logits down."""
        return spec.blocks[:self.blocks]


_EVERY_OTHER = ("gradient_x_input", "smoothgrad", "ig", "deeplift", "cam", "rise", "sliding_patch", "lime",
                "shap", "mp", "ep", "centre", "random", "edges")
PLANS = {
    "paper": SanityPlan("the sanity checks at 224 px: every method but AGI and BIG (their boundary and "
                        "adversarial searches) in the cascade, the paper's four also block by block; HOG "
                        "cells of 16 px as the reference's code.", None, _EVERY_OTHER, None,
                        HOGConfig(pixels_per_cell=16)),
    "smoke": SanityPlan("a smoke budget (the smoke preset): 1 image per model, the paper's four methods "
                        "and the centre control, the two blocks nearest the logits; its verdicts mean "
                        "nothing.", 1, ("centre",), 1, HOGConfig(pixels_per_cell=8), blocks=2),
    "mini": SanityPlan("64 px (2-core CPU budget): the paper's four methods on 16 CL images per model in "
                       "both modes; every other method but AGI and BIG in the cascade on 2 images per model; "
                       "HOG cells of 4 px (the reference's 16 at 224 px, scaled).", 16, _EVERY_OTHER, 2,
                       HOGConfig(pixels_per_cell=4)),
}


@dataclass(frozen=True)
class SanityEvidence:
    """``similarity``: per (model, method, image, mode, step), the randomised blocks and the
    similarity ``MEASURES`` of the randomised model's map to the trained model's. ``strips``: maps
    across the cascade for the figure. ``plan``: what was run."""

    similarity: pd.DataFrame
    strips: dict
    plan: dict


def signed(method_name: str) -> dict:
    """The config overrides of ``method_name`` under the sanity checks: its signed channel mean
    where it reduces channels."""
    fields = method_registry.METHODS.get(method_name).Config.__dataclass_fields__
    return {"reduction": "mean"} if "reduction" in fields else {}


def states(blocks: tuple[str, ...], modes: tuple[str, ...]) -> list[tuple[str, int, tuple[str, ...]]]:
    """``(mode, step, randomised blocks)`` of every state of ``modes`` (steps from 1)."""
    draw = {"cascading": randomise.cascading, "independent": randomise.independent}
    return [(mode, k, draw[mode](blocks, k)) for mode in modes for k in range(1, len(blocks) + 1)]


@dataclass(frozen=True)
class RandomisationEvidence(Request):
    """Claim set 004's evidence on the first CL images of each vanilla/robust pair whose models name
    their blocks: the maps of the trained and randomised models and their similarities.
    ``plan``: their passes on an empty cache; ``compute``: a ``SanityEvidence``."""

    who = "claim set 004 (sanity checks)"

    def setting(self, context: Context) -> SanityPlan:
        return for_preset(PLANS, context, self.who)

    def _groups(self, context: Context) -> list[tuple[tuple[str, ...], int, tuple[str, ...]]]:
        """``(methods, images, modes)`` of the plan's two groups."""
        plan = self.setting(context)
        n = context.per_pair(plan.n_images)
        others = min(context.per_pair(plan.n_others), n)
        return [(PAPER_METHODS, n, MODES), (plan.others, others, ("cascading",))]

    def _models(self, context: Context) -> list[tuple[str, str, str]]:
        """``(architecture, regime, name)`` of each pair's models that name their blocks."""
        from amx.zoo import registry

        pairs = registry.twins(context.world, PAIR)
        return [(arch, regime, name) for arch, models in pairs.items() for regime, name in models.items()
                if context.specs[name].blocks]

    def plan(self, context: Context) -> list[PlannedStage]:
        world, out = context.world, []
        for _, _, name in self._models(context):
            spec = context.specs[name]
            images = images_id("cl", spec, PAIR)
            for methods, n, modes in self._groups(context):
                steps = len({blocks for *_, blocks in states(self.setting(context).of(spec), modes)})
                for method_name in methods:
                    method = _method(world, spec, method_name, context)
                    if method is None:
                        continue
                    fwd, bwd = method.passes((world.image_size, world.image_size))
                    work = map_work(world, spec, method, context.seed, images)
                    out.append(PlannedStage("attribute", name, method_name, n, fwd * n, bwd * n,
                                            content_key(kind="trained", work=work, version=VERSION)))
                    out.append(PlannedStage("randomise", name, method_name, n * steps, fwd * n * steps,
                                            bwd * n * steps, content_key(kind="randomised", work=work,
                                                                         modes=modes, version=VERSION)))
        return out

    def compute(self, context: Context) -> SanityEvidence:
        world = context.world
        plan = self.setting(context)
        models = self._models(context)
        if not models:
            raise ValueError(f"{self.who}: no vanilla/robust pair of world {world.name!r} names its blocks "
                             "(ModelSpec.blocks; a zoo file's `blocks`)")
        n = context.per_pair(plan.n_images)
        _, images = context.pairs(self.who, n, PAIR)
        store = Store(context.store_dir)
        try:
            work = [_ModelWork(world, context.specs[name], images[name], context, plan, methods, k, modes)
                    for _, _, name in models for methods, k, modes in self._groups(context)]
            scheduled: set[str] = set()
            jobs = [job for w in work for job in w.jobs(store, scheduled)]

            def done(b: int, took: float) -> None:  # a job's stage as its last task ends
                stage, name, method_name, count, passes, _ = jobs[b]
                context.ledger.append(Stage(stage, name, method_name, None, count, took,
                                            passes[0] * count, passes[1] * count))

            run_batches(context.executor, context.pool, [tasks for *_, tasks in jobs],
                        lambda result: result.save(store, context.device), done=done)
            rows = [row for w in work for row in w.similarities(store)]
            strips = work[0].strips(store, context.pool) if work else {}
        finally:
            store.close()
        return SanityEvidence(
            similarity=pd.DataFrame(rows), strips=strips,
            plan={"world": world.name, "preset": context.preset_name, "description": plan.description,
                  "n_images": n, "n_others": min(context.per_pair(plan.n_others), n),
                  "paper_methods": list(PAPER_METHODS), "others": list(plan.others),
                  "blocks": {name: list(plan.of(context.specs[name])) for *_, name in models},
                  "models": [{"architecture": a, "regime": r, "model": m} for a, r, m in models],
                  "hog": asdict(plan.hog), "ssim": asdict(SSIM), "randomisation": asdict(plan.randomisation)})


def _method(world, spec, name: str, context: Context):
    """Method ``name`` as the sanity checks run it on ``spec`` (None: it does not apply)."""
    from amx.methods import NotApplicableError

    method = method_for(world, spec, name, context.preset, context.device, **signed(name))
    try:
        method.check_applicable(spec)
    except NotApplicableError:
        return None
    return method


@dataclass(frozen=True)
class RandomisedMapTask(Task):
    """The maps of pool images ``rows`` by ``method`` (config ``overrides`` over ``preset``) on
    ``model`` with ``blocks`` randomised (``amx.zoo.randomise``, drawn from ``seed``; none: the
    trained model); ``keys``: one output, each row's map (as a ``MapTask``'s, so that its result is
    a ``MapResult``)."""

    world: str
    model: str
    method: str
    overrides: tuple
    preset: str | None
    seed: int
    device: str
    pool: int
    rows: tuple[int, ...]
    blocks: tuple[str, ...]
    randomisation: RandomisationConfig
    keys: tuple[tuple[str, ...]]

    def compute(self, runner) -> MapResult:
        world, spec, model, images, targets = runner.inputs(self)
        method = method_for(world, spec, self.method, self.preset, self.device, **dict(self.overrides))
        with randomise.randomisation(model, self.blocks, self.seed, spec.name, self.randomisation):
            start = time.perf_counter()
            maps = method(model, images, targets, seed=self.seed).float().cpu().numpy()
            seconds = (time.perf_counter() - start) / len(self.rows)
        return MapResult(self, (maps,), seconds)


class _ModelWork:
    """One model's share for one group of methods: the maps' keys, the tasks of those not stored,
    and the similarity rows."""

    def __init__(self, world, spec, index, context, plan, methods, n, modes):
        self.world, self.spec, self.context, self.plan = world, spec, context, plan
        self.index = np.asarray(index[:n])
        self.modes = modes
        self.methods = {m: method for m in methods
                        if (method := _method(world, spec, m, context)) is not None}
        self.labels = context.pool.labels

    def _original_keys(self, method) -> list[str]:
        return [map_key(self.world, self.labels, self.spec, method, i, self.context.seed) for i in self.index]

    def _keys(self, method, blocks: tuple[str, ...]) -> list[str]:
        """The maps' keys with ``blocks`` randomised (none: the trained model's maps, kept apart from a
        ScoreTable's, so that the plan counts exactly what a cold run computes)."""
        return [content_key(kind="randomised_map", version=VERSION, map=k, blocks=blocks,
                            randomisation=asdict(self.plan.randomisation), seed=self.context.seed)
                for k in self._original_keys(method)]

    def _task(self, name: str, method, blocks, rows: list[int], keys: list[str]) -> RandomisedMapTask:
        return RandomisedMapTask(self.world.name, self.spec.name, name, tuple(signed(name).items()),
                                 self.context.preset, self.context.seed, self.context.device,
                                 len(self.labels), tuple(int(self.index[j]) for j in rows), blocks,
                                 self.plan.randomisation, (tuple(keys[j] for j in rows),))

    def jobs(self, store: Store, scheduled: set) -> list[tuple]:
        """``(stage, model, method, images, passes per image, tasks)`` of the maps neither stored nor
        in ``scheduled`` (which gains them): the trained model's, then the randomised ones'."""
        out = []
        size = (self.world.image_size, self.world.image_size)
        for name, method in self.methods.items():
            randomised = states(self.plan.of(self.spec), self.modes)
            every = [()] + list(dict.fromkeys(blocks for *_, blocks in randomised))
            for stage, group in (("attribute", every[:1]), ("randomise", every[1:])):
                tasks, count = [], 0
                for blocks in group:
                    keys = self._keys(method, blocks)
                    stored = store.has_maps(keys) | scheduled
                    missing = [j for j, k in enumerate(keys) if k not in stored]
                    scheduled.update(keys[j] for j in missing)
                    count += len(missing)
                    tasks += [self._task(name, method, blocks, part, keys)
                              for part in chunked(missing, CHUNK_IMAGES)]
                out.append((stage, self.spec.name, name, count, method.passes(size), tasks))
        return out

    def similarities(self, store: Store) -> list[dict]:
        """Per (method, image, mode, step): the ``MEASURES`` of the randomised map against the trained one."""
        rows = []
        for name, method in self.methods.items():
            original = _stack(store, self._keys(method, ()))
            family = method_registry.METHODS.get(name).family
            for mode, step, blocks in states(self.plan.of(self.spec), self.modes):
                found = _stack(store, self._keys(method, blocks))
                measures = compare(original, found, self.plan.hog)
                rows += [{"model": self.spec.name, "architecture": self.spec.architecture,
                          "regime": self.spec.regime, "method": name, "family": family, "image": int(image),
                          "mode": mode, "step": step, "block": blocks[-1],
                          **{m: float(measures[m][j]) for m in MEASURES}}
                         for j, image in enumerate(self.index)]
        return rows

    def strips(self, store: Store, pool) -> dict:
        """The first image's maps of the paper's four methods across the cascade, for the figure."""
        first = int(self.index[0])
        out = {"model": self.spec.name, "image": first, "size": self.world.image_size,
               "picture": encode(pool.images[first].transpose(1, 2, 0)),
               "blocks": ["+".join(p.rsplit(".", 1)[-1] for p in b.split("+"))
                          for b in self.plan.of(self.spec)],
               "maps": {}}
        for name, method in self.methods.items():
            if name not in PAPER_METHODS:
                continue
            cascade = [()] + [blocks for *_, blocks in states(self.plan.of(self.spec), ("cascading",))]
            out["maps"][name] = [_strip(_stack(store, self._keys(method, blocks)[:1])[0])
                                 for blocks in cascade]
        return out


def _stack(store: Store, keys: list[str]) -> np.ndarray:
    found = store.get_maps(keys)
    return np.stack([found[k] for k in keys]).astype(np.float64)


def compare(original: np.ndarray, randomised: np.ndarray, hog: HOGConfig) -> dict[str, np.ndarray]:
    """The ``MEASURES`` of each pair of maps ``[B, H, W]``: Spearman of |map| and of the signed
    maps, SSIM and HOG Pearson of the |maps| scaled to [0, 1] by their max. A correlation with a
    constant randomised map (GradCAM's all-zero map of a randomised model) is 0 where the trained
    model's map is not constant: it shares no ranking with it (NaN where the trained map is constant)."""
    a, b = torch.from_numpy(original), torch.from_numpy(randomised)
    unit_a, unit_b = _unit(a.abs()), _unit(b.abs())
    out = {"spearman_abs": spearman(a.abs(), b.abs()).numpy(), "spearman_signed": spearman(a, b).numpy(),
           "ssim": ssim(unit_a, unit_b, SSIM).numpy(), "hog": hog_pearson(unit_a, unit_b, hog).numpy()}
    varies = (original.reshape(len(original), -1).std(1) > 0)
    for measure in ("spearman_abs", "spearman_signed", "hog"):
        out[measure] = np.where(np.isnan(out[measure]) & varies, 0.0, out[measure])
    return out


def _unit(maps: torch.Tensor) -> torch.Tensor:
    peak = maps.flatten(1).amax(1).clamp_min(torch.finfo(maps.dtype).tiny)
    return maps / peak.view(-1, 1, 1)


def _strip(score_map: np.ndarray) -> str:
    """|map| / max |map| as uint8, for display."""
    m = np.abs(score_map)
    return encode(np.round(255 * m / max(m.max(), 1e-12)).astype(np.uint8))
