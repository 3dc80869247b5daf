"""``run(RunConfig)``: the ScoreTable of a world's zoo x methods x metrics x images.

For each model, for each method: the images whose map is not cached are attributed in chunks of
``chunk_images`` (each chunk stored in one transaction), then every metric scores the maps whose
score is not cached, again chunk by chunk. A repeated run computes nothing; a changed model
(new weight fingerprint) recomputes only its rows; a killed run resumes after its last stored
chunk. Each stage's seconds and model passes are recorded in ``table.attrs["stages"]``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from amx import methods as method_registry
from amx.bench import pass_seconds
from amx.data.arrays import cache_dir, load_split
from amx.data.worlds import World, get_world
from amx.metrics import METRICS, box_iou_curves, deletion, insertion, pointing_game, select_threshold
from amx.metrics.presets import metric_configs
from amx.pipeline import subsets
from amx.pipeline.store import Store, content_key
from amx.pipeline.table import COLUMNS
from amx.scoring import balanced_chunks, target_probabilities
from amx.zoo import registry
from amx.zoo.spec import ModelSpec, paper_model_name

PAPER_METHODS = ("gradient", "ig", "shap", "cam", "gradcam", "rise", "lime", "mp", "ep")
PAPER_METRICS = ("pointing_game", "wsl", "insertion", "deletion")
PREDICTIONS_VERSION = 1


@dataclass(frozen=True)
class RunConfig:
    """What a claims run regenerates. Empty ``models`` = the world's whole zoo. ``seed`` draws
    the subsets and seeds stochastic methods."""

    world: str = "mini"
    models: tuple[str, ...] = ()
    methods: tuple[str, ...] = PAPER_METHODS
    metrics: tuple[str, ...] = PAPER_METRICS
    subset: str = "cl"
    n_images: int = 100
    preset: str = "mini"
    seed: int = 0
    device: str = "cpu"
    chunk_images: int = 32
    metric_batch_size: int = 256

    def __post_init__(self):
        if self.subset not in subsets.SUBSETS:
            raise ValueError(f"subset: unknown {self.subset!r}; valid: {subsets.SUBSETS}")
        if self.n_images < 1 or self.chunk_images < 1:
            raise ValueError(f"n_images and chunk_images must be >= 1, got {self.n_images}, "
                             f"{self.chunk_images}")
        for name in self.metrics:
            if name not in PAPER_METRICS:
                raise ValueError(f"metric: unknown {name!r}; valid: {list(PAPER_METRICS)}")
        for name in self.methods:
            if name not in method_registry.METHODS:
                raise ValueError(f"method: unknown {name!r}; valid: {method_registry.names()}")


@dataclass
class _Context:
    config: RunConfig
    world: World
    store: Store
    specs: dict[str, ModelSpec]
    images: torch.Tensor  # the pool, float [N, 3, H, W] on the device
    labels: np.ndarray
    boxes: np.ndarray
    stages: list = field(default_factory=list)
    throughput: dict = field(default_factory=dict)


def run(config: RunConfig, cache: str | None = None, progress: bool = True) -> pd.DataFrame:
    """The ScoreTable (``amx.pipeline.table``) of ``config``, using and filling the cache."""
    world = get_world(config.world)
    specs = registry.specs(world.name)
    names = list(config.models) or list(specs)
    for name in names:
        if name not in specs:
            registry.get_spec(name, world.name)  # raises with the valid names
    pool = load_split(world, "eval", subsets.pool_size(config.n_images))
    images, _ = pool.batch(slice(None), config.device)
    ctx = _Context(config, world, Store(cache or cache_dir()), specs, images, pool.labels, pool.boxes)
    try:
        predictions = {name: _predictions(ctx, name) for name in _with_twins(names, specs)}
        image_sets = _image_sets(ctx, names, predictions)
        frames = [_model_rows(ctx, name, image_sets[name], predictions[name], progress) for name in names]
    finally:
        ctx.store.close()
    table = pd.concat(frames, ignore_index=True)[COLUMNS]
    table.attrs.update(stages=ctx.stages, throughput=ctx.throughput, efficiency=efficiency(ctx),
                       config=asdict(config),
                       subsets={k: v.tolist() for k, v in image_sets.items()},
                       metric_configs={k: asdict(v) for k, v in metric_configs(config.preset,
                                                                              world.image_size).items()})
    return table


def _twins(specs: dict[str, ModelSpec], architecture: str) -> dict[str, str]:
    """``{regime: model}`` of the vanilla and robust models of ``architecture``."""
    return {s.regime: n for n, s in specs.items()
            if s.architecture == architecture and s.regime in ("vanilla", "pgd")}


def _with_twins(names: list[str], specs: dict[str, ModelSpec]) -> list[str]:
    """``names`` plus the vanilla and robust models their CL sets need."""
    needed = list(names)
    for name in names:
        needed += [t for t in _twins(specs, specs[name].architecture).values() if t not in needed]
    return needed


def _predictions(ctx: _Context, name: str) -> dict:
    """Predicted class and p(label) of model ``name`` on the pool (cached)."""
    spec = ctx.specs[name]
    key = content_key(kind="predictions", version=PREDICTIONS_VERSION, world=ctx.world.name,
                      world_version=ctx.world.version, world_seed=ctx.world.seed, model=spec.sha256,
                      n=len(ctx.labels))
    cached = ctx.store.get_records([key])
    if key in cached:
        return cached[key]
    model = registry.load(name, ctx.world.name, device=ctx.config.device)
    labels = torch.from_numpy(ctx.labels).to(ctx.images.device)
    with torch.no_grad():
        logits = torch.cat([model(ctx.images[i:i + 256]) for i in range(0, len(labels), 256)])
    record = {"predicted": logits.argmax(1).cpu().tolist(),
              "p_label": target_probabilities(logits, labels).cpu().tolist()}
    ctx.store.put_records([(key, record)])
    return record


def _image_sets(ctx: _Context, names: list[str], predictions: dict) -> dict[str, np.ndarray]:
    cfg = ctx.config
    ok = subsets.eligible(ctx.boxes, ctx.world.image_size)
    if cfg.subset == "random":
        chosen = subsets.random_images(ok, cfg.n_images, cfg.seed)
        return dict.fromkeys(names, chosen)
    by_architecture = {}
    out = {}
    for name in names:
        arch = ctx.specs[name].architecture
        if arch not in by_architecture:
            twins = _twins(ctx.specs, arch)
            if set(twins) != {"vanilla", "pgd"}:
                raise ValueError(f"CL subset of {arch}: needs a vanilla and a robust model, "
                                 f"the zoo has {sorted(twins)}")
            correct = {r: np.asarray(predictions[n]["predicted"]) == ctx.labels for r, n in twins.items()}
            by_architecture[arch] = subsets.cl_images(correct["vanilla"], correct["pgd"], ok,
                                                      cfg.n_images, cfg.seed, arch)
        out[name] = by_architecture[arch]
    return out


def _map_key(ctx: _Context, spec: ModelSpec, method, index: int) -> str:
    w = ctx.world
    return content_key(kind="map", world=w.name, world_version=w.version, world_seed=w.seed,
                       image=int(index), target=int(ctx.labels[index]), model=spec.sha256,
                       method=method.name, method_version=method.version, config=asdict(method.config),
                       seed=ctx.config.seed)


def _score_key(map_key: str, metric: str, config) -> str:
    return content_key(kind="score", map=map_key, metric=metric, metric_version=METRICS[metric].version,
                       config=asdict(config))


def _model_rows(ctx: _Context, name: str, index: np.ndarray, predictions: dict,
                progress: bool) -> pd.DataFrame:
    cfg, spec = ctx.config, ctx.specs[name]
    model = registry.load(name, ctx.world.name, device=cfg.device)
    configs = metric_configs(cfg.preset, ctx.world.image_size)
    base = pd.DataFrame({
        "model": name, "architecture": spec.architecture, "regime": spec.regime, "image": index,
        "label": ctx.labels[index], "predicted": np.asarray(predictions["predicted"])[index],
        "confidence": np.asarray(predictions["p_label"])[index]})
    base["correct"] = base["predicted"] == base["label"]
    frames = []
    for method_name in cfg.methods:
        method = method_registry.get(method_name, preset=cfg.preset,
                                     model=paper_model_name(spec.architecture, spec.regime))
        rows = base.assign(method=method_name, family=method.family)
        try:
            method.check_applicable(model)
        except method_registry.NotApplicableError as err:
            frames.append(rows.assign(status="n/a", note=str(err)))
            continue
        keys = [_map_key(ctx, spec, method, i) for i in index]
        # The bar counts (image, stage) pairs: its map, then its scores.
        bar = tqdm(total=2 * len(index), desc=f"{name} {method_name}", unit="img", disable=not progress,
                   leave=False)
        runtime = _attribute_missing(ctx, model, name, method, index, keys, bar)
        scores = _score_missing(ctx, model, name, index, keys, configs, bar)
        bar.close()
        rows = rows.assign(status="ok", note="", runtime_s=[runtime[k] for k in keys], **scores)
        frames.append(rows)
    if any(stage["model"] == name for stage in ctx.stages):
        ctx.throughput[name] = {  # seconds per image of a plain batched pass, for the efficiency
            "forward": pass_seconds(model, ctx.images[:64], 256, repeats=3),
            "forward_backward": pass_seconds(model, ctx.images[:64], 64, backward=True, repeats=3)}
    return pd.concat(frames, ignore_index=True)


def efficiency(ctx: _Context) -> dict:
    """The run's passes against its models' plain batched throughput: ``floor_seconds`` (what
    the passes would take at that throughput) / the seconds the stages took."""
    floor = seconds = 0.0
    for stage in ctx.stages:
        rate = ctx.throughput.get(stage["model"])
        if rate is None:
            continue
        floor += stage["forwards"] * rate["forward"] + stage["forward_backwards"] * rate["forward_backward"]
        seconds += stage["seconds"]
    return {"floor_seconds": round(floor, 1), "stage_seconds": round(seconds, 1),
            "efficiency": round(floor / seconds, 3) if seconds else None}


def _chunks(todo: list[int], size: int) -> list[list[int]]:
    """``todo`` in the fewest parts of at most ``size``, of equal sizes (``balanced_chunks``)."""
    return [todo[chunk] for chunk in balanced_chunks(len(todo), size)]


def _attribute_missing(ctx, model, name, method, index, keys, bar) -> dict[str, float]:
    """Compute and store the maps not cached; ``{key: seconds per image}`` of every map."""
    runtime = {k: seconds for k, (_, seconds) in ctx.store.get_maps(keys).items()}
    todo = [j for j, k in enumerate(keys) if k not in runtime]
    bar.set_postfix_str("maps")
    bar.update(len(keys) - len(todo))
    if not todo:
        return runtime
    start, cfg = time.perf_counter(), ctx.config
    for part in _chunks(todo, cfg.chunk_images):
        rows = index[part]
        images = ctx.images[rows]
        targets = torch.from_numpy(ctx.labels[rows]).to(images.device)
        t0 = time.perf_counter()
        maps = method(model, images, targets, seed=cfg.seed).cpu().numpy()
        per_image = (time.perf_counter() - t0) / len(part)
        ctx.store.put_maps([(keys[j], m, per_image) for j, m in zip(part, maps, strict=True)])
        runtime.update((keys[j], per_image) for j in part)
        bar.update(len(part))
    fwd, fwd_bwd = method.passes((ctx.world.image_size,) * 2)
    ctx.stages.append({"stage": "attribute", "model": name, "method": method.name, "images": len(todo),
                       "seconds": time.perf_counter() - start, "forwards": fwd * len(todo),
                       "forward_backwards": fwd_bwd * len(todo)})
    return runtime


def _score_missing(ctx, model, name, index, keys, configs, bar) -> dict[str, list]:
    """Score every map with every metric (missing scores computed); the table's score columns."""
    cfg = ctx.config
    wanted = {m: [_score_key(k, m, configs[m]) for k in keys] for m in cfg.metrics}
    records = {m: ctx.store.get_records(v) for m, v in wanted.items()}
    todo = sorted({j for m, v in wanted.items() for j, k in enumerate(v) if k not in records[m]})
    bar.update(len(index) - len(todo))
    bar.set_postfix_str("scores")
    if todo:
        seconds = dict.fromkeys(cfg.metrics, 0.0)
        for part in _chunks(todo, cfg.chunk_images):
            rows = index[part]
            maps = ctx.store.get_maps([keys[j] for j in part])
            maps = torch.from_numpy(np.stack([maps[keys[j]][0] for j in part])).to(ctx.images.device)
            images = ctx.images[rows]
            targets = torch.from_numpy(ctx.labels[rows]).to(images.device)
            boxes = [torch.from_numpy(ctx.boxes[i][None]) for i in rows]
            for metric in cfg.metrics:
                missing = [p for p, j in enumerate(part) if wanted[metric][j] not in records[metric]]
                if not missing:
                    continue
                t0 = time.perf_counter()
                values = _score(metric, configs[metric], model, images[missing], maps[missing],
                                targets[missing], [boxes[p] for p in missing], cfg.metric_batch_size)
                seconds[metric] += time.perf_counter() - t0
                new = [(wanted[metric][part[p]], v) for p, v in zip(missing, values, strict=True)]
                ctx.store.put_records(new)
                records[metric].update(new)
            bar.update(len(part))
        for metric in cfg.metrics:
            causal = metric in ("insertion", "deletion")
            forwards = len(configs[metric].boundaries(ctx.images[0, 0].numel())) if causal else 0
            ctx.stages.append({"stage": "score", "model": name, "method": None, "metric": metric,
                               "images": len(todo), "seconds": seconds[metric],
                               "forwards": forwards * len(todo), "forward_backwards": 0})
    return _columns(cfg.metrics, wanted, records, configs)


def _score(metric, config, model, images, maps, targets, boxes, batch_size) -> list[dict]:
    """Per-image records of one metric (what the cache stores)."""
    if metric == "pointing_game":
        return [{"hit": bool(h)} for h in pointing_game(maps, boxes, config.tolerance).cpu()]
    if metric == "wsl":
        return [{"iou_curve": c.tolist()} for c in box_iou_curves(maps.cpu(), boxes, config)]
    score = insertion if metric == "insertion" else deletion
    result = score(model, images, maps, targets, config, batch_size=batch_size)
    return [{"auc": float(a), "p_image": float(p)} for a, p in zip(result.auc, result.p_image, strict=True)]


def _columns(metrics, wanted, records, configs) -> dict[str, list]:
    """Score columns from the records; WSL picks one threshold for the (model, method) set."""
    out = {}
    for metric in metrics:
        values = [records[metric][k] for k in wanted[metric]]
        if metric == "pointing_game":
            out["pointing_game"] = [float(v["hit"]) for v in values]
        elif metric == "wsl":
            curves = torch.tensor([v["iou_curve"] for v in values], dtype=torch.float64)
            best = select_threshold(curves, configs["wsl"])
            out.update(wsl=best.hit.double().tolist(), wsl_iou=best.iou.tolist(),
                       wsl_threshold=best.tau)
        else:
            out[metric] = [v["auc"] for v in values]
    return out


def cached_maps(config: RunConfig, model: str, methods, images, cache: str | None = None) -> dict:
    """``{method: {image: map}}`` of ``images`` that a run of ``config`` stored for ``model``
    (missing ones are left out)."""
    world = get_world(config.world)
    spec = registry.get_spec(model, world.name)
    pool = load_split(world, "eval", subsets.pool_size(config.n_images))
    ctx = _Context(config, world, Store(cache or cache_dir()), {model: spec}, torch.empty(0),
                   pool.labels, pool.boxes)
    out = {}
    try:
        for method in methods:
            attributor = method_registry.get(method, preset=config.preset,
                                             model=paper_model_name(spec.architecture, spec.regime))
            keys = {int(i): _map_key(ctx, spec, attributor, int(i)) for i in images}
            found = ctx.store.get_maps(list(keys.values()))
            out[method] = {i: found[k][0] for i, k in keys.items() if k in found}
    finally:
        ctx.store.close()
    return out
