"""``run(RunConfig)``: the ScoreTable of a world's zoo x methods x metrics x images.

For each model, for each method: the images whose map is not cached are attributed in chunks of
``chunk_images`` (each chunk stored in one transaction), then every metric (``amx.metrics.METRICS``)
scores the maps whose score is not cached, again chunk by chunk. A repeated run computes nothing;
a changed model (new weight fingerprint) recomputes only its rows; a killed run resumes after its
last stored chunk. Runtimes are stored per device: where the cache holds maps but no runtimes
measured on this run's device, the method is re-timed on a sample of ``runtime_sample`` images.
``run`` returns a ``RunResult``: the table, each stage's seconds and passes, the efficiency, and
a handle on the stored maps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from amx import methods as method_registry
from amx.bench import device_name, pass_seconds
from amx.data.arrays import cache_dir, load_split, readable
from amx.data.worlds import DEFAULT_WORLD, World, get_world
from amx.metrics import METRICS, MetricSpec
from amx.pipeline import subsets
from amx.pipeline.batching import inputs_per_pass
from amx.pipeline.executor import Executor, InProcess, MapTask, ScoreTask, TaskFailed, run_batches
from amx.pipeline.store import Store, content_key
from amx.pipeline.table import table_columns
from amx.presets import metric_configs
from amx.scoring import chunked, target_probabilities
from amx.zoo import registry
from amx.zoo.spec import ModelSpec, paper_model_name

PREDICTIONS_VERSION = 1


@dataclass(frozen=True)
class RunConfig:
    """What a claims run regenerates. Empty ``models`` = the world's whole zoo. ``pair``: the two
    regimes whose models of a family must both classify an image correctly for it to be in the
    family's CL subset (a claim set's, e.g. ``("vanilla", "pgd")``; needed for ``subset="cl"``).
    ``preset`` names the method and metric preset (``amx.presets``; None: the world's). ``seed``
    draws the subsets and seeds stochastic methods. ``first``: score only the first ``first`` of
    each model's ``n_images`` images (a costly metric on a part of a ScoreTable's images: the maps
    and scores it shares with the whole table are the same content, read from the cache; None:
    all). ``runtime_sample``: images re-timed per (model, method) whose cached maps have no
    runtime measured on this device."""

    world: str = DEFAULT_WORLD
    models: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    subset: str = "cl"
    pair: tuple[str, str] | None = None
    n_images: int = 100
    first: int | None = None
    preset: str | None = None
    seed: int = 0
    device: str = "cpu"
    chunk_images: int = 32
    metric_batch_size: int = 256
    runtime_sample: int = 8

    def __post_init__(self):
        if self.subset not in subsets.SUBSETS:
            raise ValueError(f"subset: unknown {self.subset!r}; valid: {subsets.SUBSETS}")
        check_pair(self.subset, self.pair)
        if min(self.n_images, self.chunk_images, self.runtime_sample, self.first or 1) < 1:
            raise ValueError(f"n_images, first, chunk_images and runtime_sample must be >= 1, got "
                             f"{self.n_images}, {self.first}, {self.chunk_images}, {self.runtime_sample}")
        if not self.methods or not self.metrics:
            raise ValueError(f"methods and metrics: name at least one of each, got {self.methods}, "
                             f"{self.metrics}")
        for name in self.metrics:
            METRICS.get(name)  # an unknown name lists the valid ones
        for name in self.methods:
            method_registry.METHODS.get(name)


@dataclass(frozen=True)
class Stage:
    """One computed stage: the maps of a (model, method) or the scores of a (model, metric)."""

    stage: str  # "predict" | "attribute" | "retime" | "score" | "sweep" | "table1" | a request's own
    model: str
    method: str | None
    metric: str | None
    images: int
    seconds: float
    forwards: int
    forward_backwards: int


class Ledger(list):
    """Stages as they are computed: a list that calls ``on_stage(stage)`` for each one added (a
    session's progress display)."""

    def __init__(self, on_stage: Callable[[Stage], None] | None = None):
        super().__init__()
        self.on_stage = on_stage

    def append(self, stage: Stage) -> None:
        super().append(stage)
        if self.on_stage is not None:
            self.on_stage(stage)

    def extend(self, stages) -> None:
        for stage in stages:
            self.append(stage)

    def __iadd__(self, stages):
        self.extend(stages)
        return self


@dataclass(frozen=True)
class StoredMaps:
    """A handle on the maps a run stored: ``get(model, methods, images)`` reads them back."""

    config: RunConfig
    cache: str
    labels: np.ndarray = field(repr=False, compare=False)  # the pool's, which the map keys name

    def get(self, model: str, methods, images) -> dict[str, dict[int, np.ndarray]]:
        """``{method: {image: map}}`` of ``images`` stored for ``model`` (missing ones left out)."""
        world = get_world(self.config.world)
        spec = registry.get_spec(model, world.name)
        store = Store(self.cache)
        out = {}
        try:
            for name in methods:
                method = method_for(world, spec, name, self.config.preset, self.config.device)
                keys = {int(i): map_key(world, self.labels, spec, method, int(i), self.config.seed)
                        for i in images}
                found = store.get_maps(list(keys.values()))
                out[name] = {i: found[k] for i, k in keys.items() if k in found}
        finally:
            store.close()
        return out


@dataclass(frozen=True)
class RunResult:
    """``table``: the ScoreTable (``amx.pipeline.table``). ``stages``: what this call computed.
    ``throughput``: seconds per image of each computing model's plain batched passes.
    ``efficiency``: those passes' floor vs the stages' seconds. ``subsets``: the images of each
    model. ``maps``: the stored maps. ``device_name``: where runtimes were measured.
    ``unreadable``: ``{pool index: why}`` of the images left out because they did not decode."""

    config: RunConfig
    table: pd.DataFrame
    stages: list[Stage]
    throughput: dict[str, dict[str, float]]
    efficiency: dict
    subsets: dict[str, list[int]]
    metric_configs: dict[str, dict]
    device_name: str
    maps: StoredMaps
    unreadable: dict[int, str] = field(default_factory=dict)

    def meta(self) -> dict:
        """Everything but the table and the maps, JSON-ready (``save_table`` writes it beside the CSV)."""
        return {"config": asdict(self.config), "stages": [asdict(s) for s in self.stages],
                "throughput": self.throughput, "efficiency": self.efficiency, "subsets": self.subsets,
                "metric_configs": self.metric_configs, "device_name": self.device_name,
                "unreadable": {str(k): v for k, v in self.unreadable.items()}}


@dataclass
class _Context:
    config: RunConfig
    world: World
    store: Store
    specs: dict[str, ModelSpec]
    metrics: dict[str, tuple[MetricSpec, object]]  # name -> (spec, config)
    device_name: str
    pool: object  # the world's eval pool (``SplitArrays``: uint8 images, labels, boxes)
    executor: Executor
    stages: list[Stage] = field(default_factory=list)
    throughput: dict = field(default_factory=dict)
    metric_batch_size: int = 256  # halved for the rest of the run when CUDA runs out of memory

    @property
    def labels(self) -> np.ndarray:
        return self.pool.labels

    def task(self, model: str, method: str, rows, keys) -> MapTask:
        """The maps of ``method`` on ``model`` of pool ``rows``, stored under ``keys`` (None: timed only)."""
        cfg = self.config
        return MapTask(cfg.world, model, method, (), cfg.preset, cfg.seed, cfg.device, len(self.labels),
                       tuple(int(i) for i in rows), (tuple(keys),))

    def floats(self, index) -> torch.Tensor:
        """Pool images ``index`` on the device as floats in [0, 1] (pixel / 255), read when used."""
        return torch.from_numpy(self.pool.images[index]).to(self.config.device).float().div_(255.0)


def run(config: RunConfig, cache: str | None = None, progress: bool = True,
        on_stage: Callable[[Stage], None] | None = None, pool=None,
        executor: Executor | None = None) -> RunResult:
    """The ScoreTable of ``config`` and how it was computed, using and filling the cache; each
    stage computed is passed to ``on_stage`` as it ends. ``progress``: a bar per (model, method).
    ``pool``: the world's eval pool for ``config.n_images`` where the caller has it loaded.
    ``executor`` computes the maps (``amx.pipeline.executor``; None: in this process)."""
    world = get_world(config.world)
    specs = registry.specs(world.name)
    names = list(config.models) or runnable_models(specs, config.subset, config.pair)
    for name in names:
        registry.get_spec(name, world.name)  # an unknown name lists the valid ones
        if specs[name].sha256 is None:
            raise ValueError(f"model {name!r} of world {world.name!r} has no weight fingerprint (sha256): "
                             "its maps and scores could not be cached by content")
    if pool is None:
        pool = load_split(world, "eval", world.pool_size(config.n_images))
    configs = metric_configs(config.preset or world.preset, world.image_size, config.metrics)
    metrics = {name: (METRICS.get(name), configs[name]) for name in config.metrics}
    cache = str(cache or cache_dir())
    ctx = _Context(config, world, Store(cache), specs, metrics, device_name(config.device), pool,
                   executor or InProcess(),
                   stages=Ledger(on_stage),
                   metric_batch_size=max(config.metric_batch_size,
                                         inputs_per_pass(config.device, world.image_size) or 0))
    try:
        needed = with_twins(names, specs, config.subset, config.pair)
        predicted = predictions(world, [specs[n] for n in needed], pool, config.device, ctx.store, ctx.stages)
        chosen = image_sets(world, specs, names, config.subset, config.pair, config.n_images, config.seed,
                            pool, predicted)
        chosen = {name: images[:config.first] for name, images in chosen.items()}
        frames = [_model_rows(ctx, name, chosen[name], predicted[name], progress) for name in names]
    finally:
        ctx.store.close()
    table = pd.concat(frames, ignore_index=True)[table_columns(metrics[m][0] for m in config.metrics)]
    return RunResult(config=config, table=table, stages=list(ctx.stages), throughput=ctx.throughput,
                     efficiency=efficiency(ctx), subsets={k: v.tolist() for k, v in chosen.items()},
                     metric_configs={k: asdict(v) for k, v in configs.items()}, device_name=ctx.device_name,
                     maps=StoredMaps(config, cache, pool.labels), unreadable=unreadable_images(predicted))


def check_pair(subset: str, pair) -> None:
    """A CL subset needs the ``pair`` of regimes it compares (two distinct names)."""
    if subset == "cl" and (pair is None or len(pair) != 2 or pair[0] == pair[1]):
        raise ValueError(f"pair: the CL subset keeps the images that the models of two regimes of a family "
                         f"both classify correctly; name the two, e.g. ('vanilla', 'pgd'), got {pair!r}")


def _twins(specs: dict[str, ModelSpec], family: str, pair: tuple[str, str]) -> dict[str, str]:
    """``{regime: model}`` of ``family``'s models of the regimes ``pair``."""
    return {s.regime: n for n, s in specs.items() if s.architecture == family and s.regime in pair}


def runnable_models(specs: dict[str, ModelSpec], subset: str,
                    pair: tuple[str, str] | None = None) -> list[str]:
    """The models a run can score by default: weights found and, for the CL subset, their
    family's model of ``pair[0]`` and its ``pair[1]`` twin (where the zoo has one) found too. A
    world of user files may lack some; the claim cases that need them are reported as not
    applicable."""
    found = [n for n, s in specs.items() if s.sha256 is not None]
    if subset != "cl":
        return found
    check_pair(subset, pair)
    return [n for n in found if pair[0] in (twins := _twins(specs, specs[n].architecture, pair))
            and all(specs[t].sha256 is not None for t in twins.values())]


def with_twins(names: list[str], specs: dict[str, ModelSpec], subset: str,
               pair: tuple[str, str] | None = None) -> list[str]:
    """``names`` plus the models of ``pair`` their CL sets need (none for ``random``)."""
    needed = list(names)
    for name in names if subset == "cl" else ():
        twins = _twins(specs, specs[name].architecture, pair)
        absent = [t for t in twins.values() if specs[t].sha256 is None]
        if pair[0] not in twins or absent:
            raise ValueError(f"CL subset of {specs[name].architecture}: needs its {' and '.join(pair)} "
                             f"models, and the weights of {absent or f'a {pair[0]} model'} were not found")
        needed += [t for t in twins.values() if t not in needed]
    return needed


def predictions(world: World, specs: list[ModelSpec], pool, device: str, store: Store,
                stages: list) -> dict[str, dict]:
    """``{model: {"predicted", "p_label", "unreadable"}}``: each model's predicted class and
    p(label) on the ``pool`` (``SplitArrays``), cached per model. The models not cached run
    together in one pass over the pool, each image decoded once. An image that does not decode
    (a world of files) is predicted -1 with p(label) NaN, and its reason kept under
    ``unreadable`` (``{pool index: why}``), so no subset draws it. Each model computed is
    appended to ``stages`` (the pass's decoding shared equally)."""
    keys = {spec.name: content_key(kind="predictions", version=PREDICTIONS_VERSION, **world.key(),
                                   model=spec.fingerprint, n=len(pool.labels)) for spec in specs}
    cached = store.get_records(list(keys.values()))
    out = {name: cached[key] for name, key in keys.items() if key in cached}
    todo = [spec.name for spec in specs if spec.name not in out]
    if not todo:
        return out
    start = time.perf_counter()
    models = {name: registry.load(name, world.name, device=device) for name in todo}
    n = len(pool.labels)
    predicted = {name: np.full(n, -1, dtype=np.int64) for name in todo}
    p_label = {name: np.full(n, np.nan) for name in todo}
    seconds = dict.fromkeys(todo, 0.0)
    for begin in range(0, n, 256):
        rows = np.arange(begin, min(begin + 256, n))
        pixels, ok = readable(pool.images, rows)
        if not ok.any():
            continue
        x = torch.from_numpy(pixels).to(device).float().div_(255.0)
        labels = torch.from_numpy(pool.labels[rows[ok]]).to(device)
        for name, model in models.items():
            t0 = time.perf_counter()
            with torch.no_grad():
                logits = model(x)
            predicted[name][rows[ok]] = logits.argmax(1).cpu().numpy()
            p_label[name][rows[ok]] = target_probabilities(logits, labels).cpu().numpy()
            seconds[name] += time.perf_counter() - t0
    unreadable = {str(i): why for i, why in sorted(getattr(pool.images, "unreadable", {}).items())}
    decoding = (time.perf_counter() - start - sum(seconds.values())) / len(todo)
    for name in todo:
        record = {"predicted": predicted[name].tolist(), "p_label": p_label[name].tolist(),
                  "unreadable": unreadable}
        store.put_records([(keys[name], record)])
        out[name] = record
        stages.append(Stage("predict", name, None, None, n, seconds[name] + decoding, n, 0))
    return {spec.name: out[spec.name] for spec in specs}


def unreadable_images(predicted: dict) -> dict[int, str]:
    """``{pool index: why}`` of the images that did not decode, from models' ``predictions``."""
    return {int(i): why for record in predicted.values() for i, why in record.get("unreadable", {}).items()}


def image_sets(world: World, specs: dict[str, ModelSpec], names: list[str], subset: str, pair, n_images: int,
               seed: int, pool, predicted: dict) -> dict[str, np.ndarray]:
    """Per model of ``names``, the pool indices of its ``n_images`` images of ``subset``: the same
    random (or class-stratified) draw for every model, or the CL images of its family (those its
    models of the regimes ``pair`` both classify correctly, from ``predicted``: ``{model:
    predictions}``, twins included). An image that did not decode is never drawn."""
    ok = (world.eligible or subsets.eligible)(pool.boxes, world.image_size)
    ok[list(unreadable_images(predicted))] = False
    if subset == "random" and world.stratified:
        chosen = subsets.stratified_images(pool.labels, ok, n_images, seed, world.n_classes)
        return dict.fromkeys(names, chosen)
    if subset == "random":
        return dict.fromkeys(names, subsets.random_images(ok, n_images, seed))
    by_architecture = {}
    out = {}
    for name in names:
        arch = specs[name].architecture
        if arch not in by_architecture:
            twins = _twins(specs, arch, pair)  # both found: with_twins checked
            correct = [np.asarray(predicted[n]["predicted"]) == pool.labels for n in twins.values()]
            by_architecture[arch] = subsets.cl_images(correct, ok, n_images, seed, arch)
        out[name] = by_architecture[arch]
    return out


def method_for(world: World, spec: ModelSpec, name: str, preset: str | None, device: str, **overrides):
    """Method ``name`` with ``preset`` (None: the world's) for ``spec``'s Table A1 row, then
    ``overrides``, its inputs per pass sized to the device's memory on CUDA."""
    try:
        row = paper_model_name(spec.architecture, spec.regime)
    except KeyError:
        row = "Default"  # a model the paper's Table A1 has no row for
    return method_registry.get(name, preset=preset or world.preset, model=row, world=world.name,
                               batch_size=inputs_per_pass(device, world.image_size), **overrides)


def map_key(world: World, labels: np.ndarray, spec: ModelSpec, method, index: int, seed: int) -> str:
    """The content key of the map of pool image ``index`` by ``method`` on model ``spec``."""
    return content_key(kind="map", **world.key(), image=int(index), target=int(labels[index]),
                       model=spec.fingerprint,
                       method=method.name, method_version=method.version, config=asdict(method.config),
                       seed=seed)


def masks_for(world: World, spec: MetricSpec, config, rows: np.ndarray, device) -> torch.Tensor | None:
    """The exact object masks of eval images ``rows`` where ``spec`` with ``config`` reads them, else None."""
    if not spec.uses_masks(config):
        return None
    if world.object_masks is None:
        raise ValueError(f"metric {spec.name!r} ({config}) reads exact object masks, and world "
                         f"{world.name!r} has none")
    return torch.from_numpy(world.object_masks("eval", rows)).to(device)


def score_key(map_id: str, spec: MetricSpec, config) -> str:
    """The content key of ``spec``'s score (with ``config``) of the map stored under ``map_id``."""
    return content_key(kind="score", map=map_id, metric=spec.name, metric_version=spec.version,
                       config=asdict(config))


def _model_rows(ctx: _Context, name: str, index: np.ndarray, predictions: dict,
                progress: bool) -> pd.DataFrame:
    cfg, spec = ctx.config, ctx.specs[name]
    model = registry.load(name, ctx.world.name, device=cfg.device)
    base = pd.DataFrame({
        "model": name, "architecture": spec.architecture, "regime": spec.regime, "image": index,
        "label": ctx.labels[index], "predicted": np.asarray(predictions["predicted"])[index],
        "confidence": np.asarray(predictions["p_label"])[index]})
    base["correct"] = base["predicted"] == base["label"]
    frames, work = {}, []
    for method_name in cfg.methods:
        method = method_for(ctx.world, spec, method_name, cfg.preset, cfg.device)
        rows = base.assign(method=method_name, family=method.family)
        try:
            method.check_applicable(model)
        except method_registry.NotApplicableError as err:
            frames[method_name] = rows.assign(status="n/a", note=str(err))
            continue
        work.append((method, rows, [map_key(ctx.world, ctx.labels, spec, method, i, cfg.seed)
                                    for i in index]))
    # The bar counts (image, stage) pairs: its map, then its scores. Every method's tasks go to the
    # executor together, so that a parallel one has them all at once.
    # A method a task of which failed (``failed``: {method: why}) keeps its rows as "error" rows
    # naming the task, and the other methods' rows are computed (amx.claims.spec.Evidence.ok).
    bar = tqdm(total=2 * len(index) * len(work), desc=name, unit="img", disable=not progress, leave=False)
    failed: dict[str, str] = {}
    attributed = _attribute_missing(ctx, name, work, index, bar, failed)
    runtimes = {}
    for method, _, keys in work:
        if method.name not in failed:
            try:
                runtimes[method.name] = _runtimes(ctx, name, method, index, keys)
            except TaskFailed as err:
                failed[method.name] = str(err)
    computed = [w for w in work if w[0].name not in failed]
    scores, scored = _score_missing(ctx, name, computed, index, bar, failed)
    bar.close()
    for method, rows, keys in work:
        # the ledger per method, as planned: its maps, then its scores
        stages = [attributed[method.name], *scored.get(method.name, [])]
        ctx.stages.extend([s for s in stages if s is not None])
        if method.name in failed:
            frames[method.name] = rows.assign(status="error", note=failed[method.name])
            continue
        frames[method.name] = rows.assign(status="ok", note="", **scores[method.name],
                                          runtime_s=[runtimes[method.name].get(k, np.nan) for k in keys])
    if any(stage.model == name for stage in ctx.stages):
        ctx.throughput[name] = throughput(model, spec, ctx.floats(index[:64]), cfg.device)
    return pd.concat([frames[m] for m in cfg.methods], ignore_index=True)


_THROUGHPUT: dict[tuple, dict[str, float]] = {}  # (weights, device, input shape): measured in this process


def throughput(model, spec: ModelSpec, sample: torch.Tensor, device: str) -> dict[str, float]:
    """Seconds per image of a plain batched forward and forward + backward pass of ``model``, the
    floor of a run's efficiency, in the methods' batches (64 inputs at 64 px, 10 at 224 px on a
    CPU; by memory on CUDA), forwards 4x as many; measured once per process for a model's weights,
    device and input shape (at 224 px on a CPU the probe takes seconds per model, and every table
    of a session would repeat it)."""
    key = (spec.fingerprint, device, tuple(sample.shape[1:]))
    if key not in _THROUGHPUT:
        batch = (inputs_per_pass(device, sample.shape[-1])
                 or method_registry.base.default_inputs_per_pass(sample[:1]))
        _THROUGHPUT[key] = {"forward": pass_seconds(model, sample, min(4 * batch, 256), repeats=3),
                            "forward_backward": pass_seconds(model, sample, batch, backward=True, repeats=3)}
    return _THROUGHPUT[key]


def efficiency(ctx: _Context) -> dict:
    """The methods' and metrics' passes against their models' plain batched throughput:
    ``floor_seconds`` (what the passes would take at that throughput) / the seconds the stages
    took (the predictions, plain passes themselves, are left out)."""
    floor = seconds = 0.0
    for stage in ctx.stages:
        rate = ctx.throughput.get(stage.model)
        if rate is None or stage.stage == "predict":
            continue
        floor += stage.forwards * rate["forward"] + stage.forward_backwards * rate["forward_backward"]
        seconds += stage.seconds
    return {"floor_seconds": round(floor, 1), "stage_seconds": round(seconds, 1),
            "efficiency": round(floor / seconds, 3) if seconds else None}


def _stage(ctx: _Context, kind: str, name: str, method, images: int, seconds: float,
           record: bool = True) -> Stage:
    """The stage of ``method`` on ``images`` images, appended to the ledger (``record``)."""
    fwd, fwd_bwd = method.passes((ctx.world.image_size,) * 2)
    stage = Stage(kind, name, method.name, None, images, seconds, fwd * images, fwd_bwd * images)
    if record:
        ctx.stages.append(stage)
    return stage


def _attribute_missing(ctx: _Context, name, work, index, bar,
                       failed: dict[str, str]) -> dict[str, Stage | None]:
    """Compute (by the run's executor, in tasks of ``chunk_images``, every method's at once) and
    store the maps not cached, with their runtime on this device. ``work``: ``(method, rows,
    keys)`` per applicable method. Returns each method's stage (the seconds its tasks computed),
    or None where all its maps were cached; a method a task of which failed is in ``failed``
    with the failure (the others' tasks run on)."""
    batches, todo = [], []
    for method, _, keys in work:
        done = ctx.store.has_maps(keys)
        missing = [j for j, k in enumerate(keys) if k not in done]
        bar.update(len(keys) - len(missing))
        todo.append((method, len(missing)))
        batches.append([ctx.task(name, method.name, index[part], [keys[j] for j in part])
                        for part in chunked(missing, ctx.config.chunk_images)])
    bar.set_postfix_str("maps")

    def save(result) -> None:
        result.save(ctx.store, ctx.device_name)
        bar.update(len(result.task.rows))

    failures = {}
    seconds = run_batches(ctx.executor, ctx.pool, batches, save, failures)
    failed.update({work[b][0].name: str(err) for b, err in failures.items()})
    return {method.name: _stage(ctx, "attribute", name, method, n, took, record=False) if n else None
            for (method, n), took in zip(todo, seconds, strict=True)}


def _runtimes(ctx: _Context, name, method, index, keys) -> dict[str, float]:
    """``{key: seconds per image}`` measured on this run's device. Where the cache has none for
    this device (its maps came from another), the method is re-timed on a sample of the images."""
    runtime = ctx.store.get_runtimes(keys, ctx.device_name)
    if runtime:
        return runtime
    sample = list(range(min(ctx.config.runtime_sample, len(keys))))
    start = time.perf_counter()
    timed = ctx.task(name, method.name, index[sample], [None] * len(sample))  # timed, not stored
    [result] = ctx.executor.run([timed], ctx.pool)
    runtime = {keys[j]: result.seconds_per_image for j in sample}
    ctx.store.put_runtimes(runtime.items(), ctx.device_name)
    _stage(ctx, "retime", name, method, len(sample), time.perf_counter() - start)
    return runtime


def _score_missing(ctx: _Context, name, work, index, bar,
                   failed: dict[str, str]) -> tuple[dict[str, dict[str, list]], dict]:
    """Score every map of every method of ``work`` with every metric (the missing scores
    computed by the run's executor, a task per method, chunk and metric, made as the executor
    takes them). Returns per method the table's score columns, and per method its stages; a
    method a task of which failed is in ``failed`` with the failure, without columns."""
    cfg = ctx.config
    wanted = {(method.name, metric): [score_key(k, spec, config) for k in keys]
              for method, _, keys in work for metric, (spec, config) in ctx.metrics.items()}
    records = {part: ctx.store.get_records(keys) for part, keys in wanted.items()}
    scored = dict.fromkeys(wanted, 0)
    seconds = dict.fromkeys(wanted, 0.0)
    method_of = {}  # a task's first score key: its method

    def tasks():
        for method, _, keys in work:
            todo = sorted({j for metric in ctx.metrics for j, k in enumerate(wanted[method.name, metric])
                           if k not in records[method.name, metric]})
            bar.update(len(index) - len(todo))
            for part in chunked(todo, cfg.chunk_images):
                stored = ctx.store.get_maps([keys[j] for j in part])
                maps = np.stack([stored[keys[j]] for j in part])
                for metric in ctx.metrics:
                    score_keys = wanted[method.name, metric]
                    missing = [p for p, j in enumerate(part)
                               if score_keys[j] not in records[method.name, metric]]
                    if not missing:
                        bar.update(len(part) / len(ctx.metrics))
                        continue
                    scored[method.name, metric] += len(missing)
                    method_of[score_keys[part[missing[0]]]] = method.name
                    yield ScoreTask(cfg.world, name, metric, ctx.metrics[metric][1], cfg.device,
                                    len(ctx.labels), tuple(int(index[part[p]]) for p in missing),
                                    maps[missing], tuple(score_keys[part[p]] for p in missing),
                                    ctx.metric_batch_size)

    bar.set_postfix_str("scores")
    for result in ctx.executor.run(tasks(), ctx.pool, keep_going=True):
        task = result.task
        part = (method_of[task.keys[0]], task.metric)
        if isinstance(result, TaskFailed):
            failed.setdefault(part[0], str(result))
            continue
        result.save(ctx.store, ctx.device_name)
        records[part].update(zip(task.keys, result.values, strict=True))
        seconds[part] += result.seconds
        ctx.metric_batch_size = min(ctx.metric_batch_size, result.batch_size)  # kept once halved
        bar.update(len(task.rows) / len(ctx.metrics))
    n_pixels = ctx.world.image_size ** 2
    columns, stages = {}, {}
    for method, _, _ in work:
        columns[method.name], stages[method.name] = {}, []
        for metric, (spec, config) in ctx.metrics.items():
            part = (method.name, metric)
            if method.name not in failed:
                columns[method.name].update(spec.columns(config, [records[part][k] for k in wanted[part]]))
            if scored[part]:
                stages[method.name].append(Stage("score", name, None, metric, scored[part], seconds[part],
                                                 spec.forwards(config, n_pixels) * scored[part], 0))
    return columns, stages
