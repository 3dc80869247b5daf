"""Evidence requests: what a claim set asks a session to compute, declared as data.

A claim set lists its requests (``ClaimSet.evidence``); a session (``amx.session``) merges them,
prices them (``plan``: the passes an empty cache would cost, per stage) and computes what the
cache lacks (``compute``). Two kinds serve every paper:

* ``Scores(methods, metrics, subset)``: the ScoreTable of the zoo's models x methods x metrics on
  ``n_images`` images of ``subset`` (``amx.pipeline``), or on the ``first`` of them (a costly
  metric priced on a part of the images). Requests of one subset and image budget are merged into
  one table (their methods and metrics joined); the others give one table each.
* ``ZooTable()``: the paper's Table 1 (accuracy, PGD accuracy, confidence) of the world's zoo.

A claim set's own request (SAM's sweeps, ``amx.claims.sam_sweeps.SamSweeps``; BIG's boundary
points, ``amx.claims.big_evidence.BoundaryEvidence``) subclasses ``Request``; its cases read what
it computed as ``evidence.collected_by(claim set)``.

Every request computes on a ``Context``: the session's world, image budget, seed, device and
cache, the world's image pool, the CL images of each vanilla/robust pair (read from the models'
cached predictions: a request needs no ScoreTable for them) and the ``ledger`` of what was
computed, which the session compares with the plan.
"""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from amx.pipeline.executor import Executor, InProcess
from amx.pipeline.plan import PlannedStage
from amx.pipeline.run import Ledger, Stage


@dataclass
class Context:
    """What requests compute on. ``cache``: the store's directory (None: ``$AMX_CACHE`` or
    ``.amx-cache``); ``preset``: the methods' and metrics' hyperparameter preset (``amx.presets``;
    None: the world's); ``ledger``: every stage computed, appended by the requests as each ends
    (the session's progress display follows it); ``executor`` computes the requests' maps
    (``amx.pipeline.executor``); ``unreadable``: ``{pool index: why}`` of the
    pool's images left out because they did not decode (``amx.pipeline.run.predictions``)."""

    world: object
    n_images: int
    seed: int = 0
    device: str = "cpu"
    cache: str | None = None
    preset: str | None = None
    ledger: Ledger = field(default_factory=Ledger)
    executor: Executor = field(default_factory=InProcess)
    unreadable: dict = field(default_factory=dict)

    @property
    def preset_name(self) -> str:
        """The preset the methods and metrics take: the session's, else the world's."""
        return self.preset or self.world.preset

    @property
    def zoo_eval_images(self) -> int:
        """The zoo evaluation's images (the paper's Table 1): the preset's budget where it sets one,
        else the world's."""
        from amx.presets import PRESETS

        return PRESETS.get(self.preset_name).zoo_eval_images or self.world.zoo_eval_images

    @property
    def store_dir(self) -> str:
        from amx.data.arrays import cache_dir

        return str(self.cache or cache_dir())

    @functools.cached_property
    def specs(self) -> dict:
        return self.world.zoo.specs(self.world)

    @functools.cached_property
    def pool(self):
        """The world's eval images a subset of ``n_images`` is drawn from (``SplitArrays``: uint8
        arrays, or a world's image files decoded when read)."""
        from amx.data.arrays import load_split

        return load_split(self.world, "eval", self.world.pool_size(self.n_images))

    def per_pair(self, wanted: int | None) -> int:
        """A request's images per vanilla/robust pair: ``wanted`` (None: the session's
        ``n_images``), at most the session's ``n_images``, the CL images drawn per architecture."""
        return min(wanted or self.n_images, self.n_images)

    def runnable(self, subset: str, pair: tuple[str, str] | None = None) -> tuple[str, ...]:
        """The zoo's models a ScoreTable of ``subset`` can score (``amx.pipeline.run.runnable_models``);
        an error naming the world, the files and where amx looked (a zoo's ``search_dirs()``, where
        it has one) when it has none."""
        from amx.pipeline.run import runnable_models

        found = tuple(runnable_models(self.specs, subset, pair))
        if not found:
            files = sorted({Path(s.weights).name for s in self.specs.values() if s.sha256 is None})
            dirs = getattr(self.world.zoo, "search_dirs", None)
            where = f" in {', '.join(str(d) for d in dirs())}" if callable(dirs) else ""
            raise ValueError(f"none of the {len(self.specs)} models of world {self.world.name!r} was found "
                             f"(with the twin its {subset} subset needs): looked for {', '.join(files[:4])}"
                             f"{f' and {len(files) - 4} more' if len(files) > 4 else ''}{where}; `amx zoo "
                             f"check --world {self.world.name}` lists every file")
        return found

    def predictions(self, names: list[str]) -> dict[str, dict]:
        """The models ``names``' predictions on the pool (``amx.pipeline.run.predictions``: cached
        in the store, counted when computed); the images that did not decode are kept in
        ``unreadable`` for the run's summary and provenance."""
        from amx.pipeline.run import predictions, unreadable_images
        from amx.pipeline.store import Store

        store = Store(self.store_dir)
        try:
            out = predictions(self.world, [self.specs[n] for n in names], self.pool, self.device, store,
                              self.ledger)
        finally:
            store.close()
        self.unreadable.update(unreadable_images(out))
        return out

    def pairs(self, who: str, n: int, pair: tuple[str, str],
              families: tuple[str, ...] | None = None) -> tuple[dict, dict]:
        """``(pairs, images)``: the world's models of the regimes ``pair`` (e.g. vanilla and
        PGD-robust) in each family that has both with weights found (``amx.zoo.registry.twins``, of
        ``families`` if given) and, per model, the pool indices of the first ``n`` CL images of its
        family (the same for both twins; the ScoreTable's CL images begin with them). ``who`` names
        the request in the error where the world has no pair."""
        from amx.pipeline.run import image_sets
        from amx.zoo import registry

        pairs = registry.twins(self.world, pair, families)
        if not pairs:
            raise ValueError(f"{who}: world {self.world.name!r} has no {'/'.join(pair)} pair with weights "
                             "found" + (f" of the families {list(families)}" if families else ""))
        names = [m for models in pairs.values() for m in models.values()]
        predicted = self.predictions(names)
        chosen = image_sets(self.world, self.specs, names, "cl", pair, self.n_images, self.seed, self.pool,
                            predicted)
        return pairs, {m: np.asarray(chosen[m][:n]) for m in names}


class Request:
    """An evidence request. ``plan(context)``: its stages on an empty cache (``PlannedStage``s,
    whose ``work`` names content another request may compute too, so a session counts it once);
    ``compute(context)``: the evidence, computing what the cache lacks and appending what it
    computed to ``context.ledger``."""

    def plan(self, context: Context) -> list[PlannedStage]:
        raise NotImplementedError

    def compute(self, context: Context):
        raise NotImplementedError


@dataclass(frozen=True)
class Scores(Request):
    """The ScoreTable of ``methods`` x ``metrics`` on ``subset`` (``amx.pipeline.subsets``); for the
    CL subset, ``pair`` names the two regimes whose models must both classify an image correctly
    (the claim set's comparison, e.g. ``("vanilla", "pgd")``). ``first``: only the first ``first``
    of each model's images (at most the session's ``n_images``; None: all), whose maps and scores
    are those of the whole table, computed once."""

    methods: tuple[str, ...]
    metrics: tuple[str, ...]
    subset: str = "cl"
    pair: tuple[str, str] | None = None
    first: int | None = None

    def __post_init__(self):
        from amx.pipeline.run import check_pair

        if not self.methods or not self.metrics:
            raise ValueError(f"Scores: a ScoreTable needs both methods and metrics, got {self.methods} and "
                             f"{self.metrics}")
        if self.first is not None and self.first < 1:
            raise ValueError(f"Scores: first must be >= 1 image (None: all), got {self.first}")
        check_pair(self.subset, self.pair)

    @property
    def table_id(self) -> tuple:
        """What one table is of: requests with the same are merged (``merged``)."""
        return self.subset, self.pair, self.first

    def covers(self, other: Request) -> bool:
        """Whether this table holds ``other``'s (same subset and images, its methods and metrics
        among these)."""
        return (isinstance(other, Scores) and other.table_id == self.table_id
                and set(other.methods) <= set(self.methods) and set(other.metrics) <= set(self.metrics))

    def config(self, context: Context):
        from amx.pipeline import RunConfig

        return RunConfig(world=context.world.name, models=context.runnable(self.subset, self.pair),
                         methods=self.methods, metrics=self.metrics, subset=self.subset, pair=self.pair,
                         n_images=context.n_images, first=self.first, preset=context.preset,
                         seed=context.seed, device=context.device)

    def plan(self, context: Context) -> list[PlannedStage]:
        from amx.pipeline.plan import plan

        return plan(self.config(context))

    def compute(self, context: Context):
        """The ``RunResult`` (``amx.pipeline.run``)."""
        from amx.pipeline import run

        result = run(self.config(context), cache=context.cache, progress=False,
                     on_stage=context.ledger.append, pool=context.pool, executor=context.executor)
        context.unreadable.update(result.unreadable)
        return result


@dataclass(frozen=True)
class ZooTable(Request):
    """The paper's Table 1 of the world's zoo (``amx.zoo.evaluate``), on ``context.zoo_eval_images``."""

    def plan(self, context: Context) -> list[PlannedStage]:
        from amx.zoo.evaluate import passes

        n = context.zoo_eval_images
        return [PlannedStage("table1", name, "", n, *passes(context.world.attack, n),
                             work=f"table1:{spec.fingerprint}:{n}")
                for name, spec in context.specs.items() if spec.sha256 is not None]

    def compute(self, context: Context) -> list[dict]:
        from amx.zoo.evaluate import evaluate_zoo

        return evaluate_zoo(context.world, n_images=context.zoo_eval_images, device=context.device,
                            log=lambda message: None, stages=context.ledger)


def control_methods() -> tuple[str, ...]:
    """The registered control maps (methods of family ``control``: ``amx.methods.controls``)."""
    from amx.methods import METHODS

    return tuple(n for n in METHODS.names() if METHODS.get(n).family == "control")


# The control maps' images per model: a floor that the methods are compared with on the same
# images, not evidence a claim reads, so a few images per CNN serve (on all of mini's, their
# Insertion and Deletion alone cost about 2.5 minutes of a 2-core claims run).
CONTROL_IMAGES = 25


def with_controls(request: Request, images: int = CONTROL_IMAGES) -> list[Request]:
    """``request`` and, for a ``Scores`` request, the control maps' (every one of
    ``control_methods``) beside it: the same metrics on the first ``images`` of its images (all of
    them where it has fewer). A session merges the two where they are one table (001's ROAD table
    of the first 8 images; a control the request asks for itself is scored once), and
    shows the controls beside the methods that the claim sets asked for, which are all each claim
    set's cases see (``amx.session.Session.evidence``)."""
    if not isinstance(request, Scores) or not control_methods():
        return [request]
    first = min(request.first or images, images)
    return [request, Scores(control_methods(), request.metrics, request.subset, request.pair, first)]


def is_controls(request: Request) -> bool:
    """Whether ``request`` is a table of the control maps alone (``with_controls``), which no case
    reads."""
    return isinstance(request, Scores) and set(request.methods) <= set(control_methods())


def for_preset(plans: dict, context: Context, who: str):
    """``plans[preset]``: a request's plan for the context's preset (the world's unless the session
    names one; ``who`` names the request in the error where there is none)."""
    preset = context.preset_name
    if preset not in plans:
        raise ValueError(f"{who}: no plan for preset {preset!r} (world {context.world.name!r}); plans: "
                         f"{sorted(plans)}")
    return plans[preset]


def merged(requests: list[Request]) -> list[Request]:
    """``requests`` without repeats, the ``Scores`` of one table (subset, pair and images) joined
    into one (methods and metrics in the order first asked)."""
    out: list[Request] = []
    for request in requests:
        if isinstance(request, Scores):
            same = next((i for i, r in enumerate(out)
                         if isinstance(r, Scores) and r.table_id == request.table_id), None)
            if same is not None:
                mine = out[same]
                out[same] = Scores(tuple(dict.fromkeys(mine.methods + request.methods)),
                                   tuple(dict.fromkeys(mine.metrics + request.metrics)), request.subset,
                                   request.pair, request.first)
                continue
        if not any(r is request or r == request for r in out):
            out.append(request)
    return out


@contextlib.contextmanager
def timed(ledger: list, stage: str, model: str, what: str, images: int, passes: tuple[int, int]):
    """Append the ``Stage`` of a block that computed ``images`` images at ``passes`` (forwards,
    forward + backward passes) per image to ``ledger``, with the seconds it took."""
    start = time.perf_counter()
    yield
    forwards, backwards = passes
    ledger.append(Stage(stage, model, what, None, images, time.perf_counter() - start, forwards * images,
                        backwards * images))
