"""The evidence of BIG's claims B1-B2 (seed 003; Wang, Fredrikson and Datta, ICML 2022; code:
zifanw/boundary): on each vanilla/robust pair, the closest decision-boundary point of each image
(``amx.attacks.boundary``, cached by content), the explained logit's gradients at the image and at
that point (B1), and the maps of Gradient, IG, AGI and BIG scored by the Pointing Game, WSL and
the energy pointing game (B2).

``PLANS`` holds one ``BigPlan`` per preset (``smoke``: a few passes). Methods and metrics take
the session's preset (``mini``: 8x BIG's eps, IG in 20 steps, the energy inside the exact object
mask), so every map
is the one ``amx run`` stores under the same key (BIG's from the cached boundary points, which
are the ones its own search draws from the same seed). The boundary search (``BoundaryTask``), BIG's
maps from the stored points (``BigMapTask``) and the maps of Gradient, IG and AGI (``MapTask``)
run as the session executor's tasks; B1's gradients at the image and the point (two passes per
image, not cached) run in this process. Departures from BIG, stated in the report:
* B1's "boundary normal" is the explained logit's gradient at the boundary point (BIG's Boundary
  Saliency Map, BSM, the quantity BIG's poster calls the normal): its code has no script for the
  table, whose l2 distances exceed 2, so they are not between unit vectors; amx tests the
  scale-free cosine distance and reports the l2 distance of the raw gradients beside it;
* the images are the first ``n_images`` CL images of each pair (those both twins classify
  correctly; the ScoreTable's CL images begin with them; BIG: ImageNet validation images);
* the boundary search's own departures (``amx.attacks.boundary``).
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from amx.attacks import boundary as search
from amx.attacks.boundary import boundary_search
from amx.evidence import Context, Request, for_preset, timed
from amx.methods.base import input_gradients, reduce_channels
from amx.methods.big import big_attributions
from amx.pipeline.executor import MapTask, Task, run_batches
from amx.pipeline.plan import PlannedStage, attribute_stage, images_id, map_work, score_stages
from amx.pipeline.run import Stage, map_key, method_for
from amx.pipeline.scored import score_maps
from amx.pipeline.store import Store, content_key
from amx.presets import metric_configs
from amx.report.figures import encode
from amx.scoring import chunked
from amx.zoo import registry

CHUNK_IMAGES = 32  # images per executor task
METHODS = ("gradient", "ig", "agi", "big")  # mapped and drawn; B2 compares big with ig and agi
METRICS = ("pointing_game", "wsl", "energy_pointing_game")
PAIR = ("vanilla", "pgd")  # BIG compares each vanilla model with its PGD-robust twin


@dataclass(frozen=True)
class BigPlan:
    """``n_images``: CL images per architecture (None: the session's ``--n-images``)."""

    description: str
    n_images: int | None


PLANS = {
    "paper": BigPlan("BIG's protocol at 224 px: seven PGD-L2 eps (36/255 .. 1.1 in normalised units) of 40 "
                     "steps, then C&W L2 (9 x up to 100 steps, foolbox's early abort per image); BIG with 10 "
                     "trapezoid steps; AGI eps 0.05, 20 iterations, 20 classes.", None),
    "smoke": BigPlan("a smoke budget (the smoke preset): BIG's search in 2 PGD steps of one large eps "
                     "(8 in normalised units, so that trained CNNs cross the boundary), 2 BIG steps, on 4 "
                     "images per pair (B1 needs two with a point for both twins); its verdicts mean nothing.",
                     4),
    "mini": BigPlan("64 px, 16 CL images per architecture (2-core CPU budget): BIG's search at 8x its "
                    "eps (pixel L2 up to 0.57), C&W as BIG ran it; IG in 20 steps; the energy pointing game "
                    "inside the exact object mask.", 16),
}


@dataclass(frozen=True)
class BigEvidence:
    """``alignment``: per (model, image), the boundary point's distance, whether the search found one
    and how (``source``), and the cosine and l2 distances between the explained logit's gradients at
    the image and at the boundary point. ``scores``: per (model, method, image), the B2 metrics.
    ``strips``: maps for the figures. ``plan``: what was run."""

    alignment: pd.DataFrame
    scores: pd.DataFrame
    strips: dict
    plan: dict


@dataclass(frozen=True)
class BoundaryEvidence(Request):
    """Claim set 003's evidence on the first images of each vanilla/robust pair's CL images: the
    boundary points, B1's alignment and B2's maps and scores. ``plan``: their passes on an empty
    cache (the boundary search at its most: every eps, then C&W); ``compute``: a ``BigEvidence``."""

    who = "claim set 003 (BIG)"

    def setting(self, context: Context) -> BigPlan:
        return for_preset(PLANS, context, self.who)

    def plan(self, context: Context) -> list[PlannedStage]:
        world, n = context.world, context.per_pair(self.setting(context).n_images)
        configs = metric_configs(context.preset_name, world.image_size, METRICS)
        out = []
        for models in registry.twins(world, PAIR).values():
            images = images_id("cl", context.specs[models["vanilla"]], PAIR)
            for name in models.values():
                spec = context.specs[name]
                big = method_for(world, spec, "big", context.preset, context.device)
                search_passes = big.config.boundary.passes() * n
                out.append(PlannedStage("boundary", name, "boundary_points", n, 0, search_passes,
                                        work=_boundary_work(world, spec, big, context.seed, images)))
                out.append(PlannedStage("measure", name, "alignment", n, 0, 2 * n))
                for method_name in METHODS:
                    method = big if method_name == "big" else method_for(world, spec, method_name,
                                                                           context.preset, context.device)
                    work = map_work(world, spec, method, context.seed, images)
                    steps = big.config.n_steps * n  # BIG's own: the boundary points are planned above
                    out.append(attribute_stage(world, name, method, n, work) if method_name != "big" else
                               PlannedStage("attribute", name, method_name, n, 0, steps, work))
                    out += score_stages(world, name, work, configs, n)
        return out

    def compute(self, context: Context) -> BigEvidence:
        """Search the boundary points, measure B1's alignment and score B2's maps."""
        world = context.world
        n = context.per_pair(self.setting(context).n_images)
        pairs, images = context.pairs(self.who, n, PAIR)
        pool = context.pool
        configs = metric_configs(context.preset_name, world.image_size, METRICS)
        store = Store(context.store_dir)
        alignment, scores, strips = [], [], {}
        try:
            models = [(architecture, regime, name, _Model(world, context.specs[name], pool,
                                                          images[pair["vanilla"]], context, store))
                      for architecture, pair in pairs.items() for regime, name in pair.items()]
            # every model's boundary search, then every model's maps of every method, as one batch
            # of executor tasks each (a parallel executor has them all at once)
            # (a point or map two models share, the same weights, is computed once)
            scheduled: set[str] = set()
            _compute(context, store, [(m, "boundary", "boundary_points", *m.boundary_tasks(scheduled))
                                      for *_, m in models])
            boundaries = {name: m.boundary() for _, _, name, m in models}
            _compute(context, store, [(m, "attribute", method,
                                       *m.map_tasks(method, boundaries[name], scheduled))
                                      for _, _, name, m in models for method in METHODS])
            first = next(iter(pairs))
            for architecture, regime, name, model in models:
                index = model.index
                alignment += model.alignment(boundaries[name])
                for method in METHODS:
                    maps, keys = model.maps(method)
                    found = score_maps(store, context.executor, world, pool, index, keys, maps, configs,
                                       context.device, context.ledger, name)
                    scores += [{**model.row(i), "method": method, **f}
                               for i, f in zip(index, found, strict=True)]
                    if architecture == first:  # the figure's maps: first pair, first image
                        strips.setdefault(regime, {})[method] = _strip(maps[0])
                        strips.setdefault("models", {})[regime] = name
                if architecture == first:
                    strips.update(size=world.image_size, image=int(index[0]),
                                  picture=encode(pool.images[index[0]].transpose(1, 2, 0)))
        finally:
            store.close()
        return BigEvidence(alignment=pd.DataFrame(alignment), scores=pd.DataFrame(scores), strips=strips,
                           plan={"world": world.name, "preset": context.preset_name, "n_images": n,
                                 "pairs": pairs,
                                 "description": self.setting(context).description, "methods": list(METHODS),
                                 "metrics": {m: asdict(c) for m, c in configs.items()}})


@dataclass(frozen=True)
class BoundaryTask(Task):
    """BIG's boundary search (``amx.attacks.boundary``) of pool images ``rows`` (of the first
    ``pool`` eval images of ``world``) on ``model``, with the search config of its ``big`` method
    under ``preset``, the random starts drawn from ``seed``; ``keys``: each row's point. An
    executor's task (``amx.pipeline.executor``): the starts are shared by the images, so a chunk's
    points are the ones a search of every image gives."""

    world: str
    model: str
    preset: str | None
    seed: int
    device: str
    pool: int
    rows: tuple[int, ...]
    keys: tuple[str, ...]

    def compute(self, runner) -> BoundaryResult:
        world, spec, model, images, targets = runner.inputs(self)
        big = method_for(world, spec, "big", self.preset, self.device)
        start = time.perf_counter()
        found = boundary_search(model, images, targets.long(), big.config.boundary,
                                torch.Generator().manual_seed(self.seed), big.inputs_per_pass(images))
        seconds = (time.perf_counter() - start) / len(self.rows)
        return BoundaryResult(self, found.points.cpu().numpy(), found.distance.tolist(), found.found.tolist(),
                              list(found.source), seconds, found.passes)


@dataclass(frozen=True)
class BoundaryResult:
    """A ``BoundaryTask``'s points ``[n, 3, H, W]`` and, per point, its distance, whether the
    search found it, which attack gave it, and the seconds per image; the forward + backward
    passes the search made (fewer than planned where it stopped early)."""

    task: BoundaryTask
    points: np.ndarray
    distance: list[float]
    found: list[bool]
    source: list[str]
    seconds: float
    passes: int

    @property
    def seconds_computed(self) -> float:
        return self.seconds * len(self.task.rows)

    def save(self, store: Store, device: str) -> None:
        keys = self.task.keys
        store.put_arrays(zip(keys, self.points, strict=True), of=(self.task.model, "boundary_points"))
        store.put_records([(k, {"distance": float(d), "found": bool(f), "source": s, "seconds": self.seconds})
                           for k, d, f, s in zip(keys, self.distance, self.found, self.source, strict=True)])


@dataclass(frozen=True)
class BigMapTask(Task):
    """BIG's maps (``amx.methods.big``) of pool images ``rows`` on ``model`` under ``preset``,
    integrated from the images' stored boundary ``points`` (float32 ``[n, 3, H, W]``; they travel
    with the task); ``keys``: each map's, ``search_seconds``: each point's search time, which a BIG
    map's runtime includes."""

    world: str
    model: str
    preset: str | None
    device: str
    pool: int
    rows: tuple[int, ...]
    points: np.ndarray = field(compare=False, repr=False)
    keys: tuple[str, ...] = ()
    search_seconds: tuple[float, ...] = ()

    def compute(self, runner) -> BigMaps:
        world, spec, model, images, targets = runner.inputs(self)
        big = method_for(world, spec, "big", self.preset, self.device)
        start = time.perf_counter()
        raw = big_attributions(model, images, torch.from_numpy(self.points).to(self.device), targets.long(),
                               big.config, big.inputs_per_pass(images))
        maps = reduce_channels(raw, big.config.reduction).detach().float().cpu().numpy()
        return BigMaps(self, maps, (time.perf_counter() - start) / len(self.rows))


@dataclass(frozen=True)
class BigMaps:
    """A ``BigMapTask``'s maps and the seconds per image of their integration."""

    task: BigMapTask
    maps: np.ndarray
    seconds_per_image: float

    @property
    def seconds_computed(self) -> float:
        return self.seconds_per_image * len(self.task.rows)

    def save(self, store: Store, device: str) -> None:
        task = self.task
        store.put_maps([(k, m, self.seconds_per_image + s)
                        for k, m, s in zip(task.keys, self.maps, task.search_seconds, strict=True)],
                       device, of=(task.model, "big"))


def _boundary_work(world, spec, big, seed: int, images: str) -> str:
    return content_key(kind="boundary", version=search.VERSION, **world.key(), model=spec.fingerprint,
                       config=asdict(big.config.boundary), seed=seed, images=images)


class _Model:
    """One model's share of the evidence: its boundary points (cached), alignment rows and maps."""

    def __init__(self, world, spec, pool, index, context, store):
        self.world, self.spec, self.pool, self.index = world, spec, pool, index
        self.seed, self.device, self.preset = context.seed, context.device, context.preset
        self.store, self.ledger = store, context.ledger
        device = self.device
        self.big = method_for(world, spec, "big", self.preset, device)
        self.load = functools.cache(lambda: registry.load(spec.name, world.name, device=device))
        self.images = torch.from_numpy(pool.images[index]).to(device).float().div_(255.0)
        self.targets = torch.from_numpy(pool.labels[index]).to(device).long()

    def rows(self, positions: list[int]) -> tuple[int, ...]:
        """The pool indices of the model's images at ``positions``."""
        return tuple(int(self.index[j]) for j in positions)

    def row(self, image) -> dict:
        return {"model": self.spec.name, "architecture": self.spec.architecture, "regime": self.spec.regime,
                "image": int(image)}

    def _boundary_keys(self) -> list[str]:
        return [content_key(kind="boundary", version=search.VERSION, **self.world.key(), image=int(i),
                            target=int(self.pool.labels[i]), model=self.spec.fingerprint,
                            config=asdict(self.big.config.boundary), seed=self.seed) for i in self.index]

    def boundary_tasks(self, scheduled: set) -> tuple[list[BoundaryTask], int, tuple[int, int]]:
        """The searches of the boundary points neither stored nor in ``scheduled`` (which gains
        them): tasks, images, passes per image. The search's random starts are shared by the
        images, so a subset gives the same points."""
        keys = self._boundary_keys()
        points, records = self.store.get_arrays(keys), self.store.get_records(keys)
        missing = [j for j, k in enumerate(keys)
                   if (k not in points or k not in records) and k not in scheduled]
        scheduled.update(keys[j] for j in missing)
        tasks = [BoundaryTask(self.world.name, self.spec.name, self.preset, self.seed, self.device,
                              len(self.pool.labels), self.rows(part), tuple(keys[j] for j in part))
                 for part in chunked(missing, CHUNK_IMAGES)]
        return tasks, len(missing), (0, self.big.config.boundary.passes())

    def boundary(self) -> dict:
        """``{"points": [n, 3, H, W], "distance", "found", "source", "seconds"}``, as stored."""
        keys = self._boundary_keys()
        points, records = self.store.get_arrays(keys), self.store.get_records(keys)
        return {"points": torch.from_numpy(np.stack([points[k] for k in keys])).to(self.device),
                **{f: [records[k][f] for k in keys] for f in ("distance", "found", "source", "seconds")}}

    def alignment(self, boundary: dict) -> list[dict]:
        """B1: the cosine and l2 distances of the explained logit's gradient at the image and at the
        boundary point (BIG's Saliency Map vs Boundary Saliency Map)."""
        model, batch = self.load(), self.big.inputs_per_pass(self.images)
        with timed(self.ledger, "measure", self.spec.name, "alignment", len(self.index), (0, 2)):
            at_image = input_gradients(model, self.images, self.targets, batch).flatten(1).double()
            at_boundary = input_gradients(model, boundary["points"], self.targets, batch).flatten(1).double()
        cosine = 1 - F.cosine_similarity(at_image, at_boundary, dim=1)
        l2 = (at_image - at_boundary).norm(dim=1)
        return [{**self.row(i), "distance": boundary["distance"][j], "found": boundary["found"][j],
                 "source": boundary["source"][j], "cos_distance": float(cosine[j]), "l2": float(l2[j]),
                 "gradient_norm": float(at_image[j].norm())}
                for j, i in enumerate(self.index)]

    def _method(self, name: str):
        if name == "big":
            return self.big
        return method_for(self.world, self.spec, name, self.preset, self.device)

    def _map_keys(self, name: str) -> list[str]:
        return [map_key(self.world, self.pool.labels, self.spec, self._method(name), i, self.seed)
                for i in self.index]

    def map_tasks(self, name: str, boundary: dict, scheduled: set) -> tuple[list[Task], int, tuple[int, int]]:
        """The maps of method ``name`` (the session's preset) neither stored nor in ``scheduled``
        (which gains them): tasks, images, passes per image. BIG's integrate from the stored
        boundary points (its time includes their search)."""
        keys = self._map_keys(name)
        stored = self.store.has_maps(keys) | scheduled
        missing = [j for j, k in enumerate(keys) if k not in stored]
        scheduled.update(keys[j] for j in missing)
        method = self._method(name)
        if name == "big":
            points = boundary["points"].cpu().numpy()
            tasks = [BigMapTask(self.world.name, self.spec.name, self.preset, self.device,
                                len(self.pool.labels), self.rows(part), points[part],
                                tuple(keys[j] for j in part), tuple(boundary["seconds"][j] for j in part))
                     for part in chunked(missing, CHUNK_IMAGES)]
            return tasks, len(missing), (0, method.config.n_steps)
        tasks = [MapTask(self.world.name, self.spec.name, name, (), self.preset, self.seed, self.device,
                         len(self.pool.labels), self.rows(part), (tuple(keys[j] for j in part),))
                 for part in chunked(missing, CHUNK_IMAGES)]  # as a ScoreTable's
        return tasks, len(missing), method.passes(self.images.shape[2:])

    def maps(self, name: str) -> tuple[np.ndarray, list[str]]:
        """The stored maps of method ``name`` (scores see the stored float16 maps) and their keys."""
        keys = self._map_keys(name)
        stored = self.store.get_maps(keys)
        return np.stack([stored[k] for k in keys]), keys


def _compute(context, store: Store, jobs: list) -> None:
    """Run the tasks of every job (``(model, stage, what, tasks, images, passes per image)``) as
    one batch on the context's executor, store the results, and append each job's stage to the
    ledger as the job ends, with the seconds its tasks computed and the passes they made (the
    boundary searches count theirs; the others make the planned passes)."""
    made: dict[str, int] = {}

    def save(result) -> None:
        result.save(store, context.device)
        if isinstance(result, BoundaryResult):
            made[result.task.key] = result.passes

    def done(b: int, took: float) -> None:
        model, stage, what, tasks, images, (forwards, backwards) = jobs[b]
        searched = [made[task.key] for task in tasks if task.key in made]
        backwards = sum(searched) if len(searched) == len(tasks) else backwards * images
        context.ledger.append(Stage(stage, model.spec.name, what, None, images, took, forwards * images,
                                    backwards))

    run_batches(context.executor, context.pool, [job[3] for job in jobs], save, done=done)


def _strip(score_map: np.ndarray) -> str:
    """A map for display, ``map / max|map|`` from 0 to 1 (the maps are non-negative)."""
    m = torch.from_numpy(score_map).float()
    unit = (m / m.abs().max().clamp_min(1e-12)).clamp(0, 1)
    return encode((unit * 255).round().byte().numpy())
