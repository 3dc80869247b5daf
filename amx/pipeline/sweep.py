"""The sweep stage: the maps of (model, method, hyperparameter, value, seed, image), cached by
content, for claims about how maps change with their hyperparameters (the SAM study, seed 002).

A ``Sweep`` names a method, the config it starts from (``base``: a paper's variant of the method,
e.g. SAM's signed channel mean), one hyperparameter (a config field, or ``seed``) and its values,
the default among them. ``sweep_maps`` computes the maps of every value on every model's images,
batched, and stores each under the key a run of the method with that value uses
(``amx.pipeline.run.map_key``): a repeated sweep computes nothing, a changed model (new weight
fingerprint) recomputes only its own maps. A method's ``nested`` field (SmoothGrad's sample count,
MP's iterations) is swept in one computation at its largest missing value, not once per value.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from amx import methods as method_registry
from amx.bench import device_name
from amx.pipeline.executor import Executor, InProcess, MapTask, run_batches
from amx.pipeline.run import Stage, map_key, method_for
from amx.pipeline.store import Store
from amx.scoring import chunked

SEED = "seed"


@dataclass(frozen=True)
class Sweep:
    """``method`` from ``base`` (config overrides over the world's preset), ``parameter`` over
    ``values`` (``default`` among them). ``label`` tells two sweeps of one parameter apart."""

    method: str
    parameter: str
    values: tuple
    default: Any
    base: tuple[tuple[str, Any], ...] = ()
    label: str = ""

    def __post_init__(self):
        cls = method_registry.METHODS.get(self.method)
        valid = {f.name for f in fields(cls.Config)}
        unknown = sorted({k for k, _ in self.base} - valid)
        if unknown or self.parameter not in valid | {SEED}:
            raise ValueError(f"sweep of {self.method}: unknown parameter(s) "
                             f"{unknown or [self.parameter]}; valid: {sorted(valid | {SEED})}")
        if len(set(self.values)) < 2 or self.default not in self.values:
            raise ValueError(f"sweep {self.name}: needs two or more distinct values with the default among "
                             f"them, got {self.values} (default {self.default})")

    @property
    def name(self) -> str:
        return f"{self.method}-{self.label or self.parameter}"

    @property
    def nested(self) -> bool:
        """One computation gives every value (the method's ``nested`` field)."""
        return method_registry.METHODS.get(self.method).nested == self.parameter

    def overrides(self, value) -> dict:
        """The method's config overrides for ``value``."""
        out = dict(self.base)
        if self.parameter != SEED:
            out[self.parameter] = value
        return out

    def seed(self, value, seed: int) -> int:
        """The seed of ``value``'s maps: the value of a seed sweep, else the run's ``seed``."""
        return int(value) if self.parameter == SEED else seed


def sweep_method(world, spec, sweep: Sweep, value, preset: str | None, device: str):
    """``sweep``'s method at ``value`` for model ``spec`` (``amx.pipeline.run.method_for``)."""
    return method_for(world, spec, sweep.method, preset, device, **sweep.overrides(value))


@dataclass(frozen=True)
class SweepInputs:
    """What the sweeps run on: the ``world``, its zoo ``specs``, its eval ``pool``
    (``SplitArrays``: the images and the labels, the maps' targets), the run's ``seed``, ``preset``
    (None: the world's) and ``device``, the ``cache`` directory, and the ``executor`` of the maps'
    tasks (``amx.pipeline.executor``)."""

    world: Any
    specs: dict
    pool: Any
    seed: int
    device: str
    cache: str
    preset: str | None = None
    chunk_images: int = 32
    executor: Executor = field(default_factory=InProcess)

    @property
    def images(self):
        """The pool's uint8 ``[N, 3, H, W]`` images."""
        return self.pool.images

    @property
    def labels(self) -> np.ndarray:
        return self.pool.labels


class SweepMaps:
    """The stored maps of a set of sweeps: ``get(model, sweep, images) -> {value: [n, H, W]}``.
    ``stages``: what ``sweep_maps`` computed."""

    def __init__(self, inputs: SweepInputs, stages: list[Stage]):
        self.inputs, self.stages = inputs, stages

    def keys(self, model: str, sweep: Sweep, value, images) -> list[str]:
        x = self.inputs
        spec = x.specs[model]
        method = sweep_method(x.world, spec, sweep, value, x.preset, x.device)
        return [map_key(x.world, x.labels, spec, method, int(i), sweep.seed(value, x.seed)) for i in images]

    def get(self, model: str, sweep: Sweep, images) -> dict:
        store = Store(self.inputs.cache)
        try:
            out = {}
            for value in sweep.values:
                keys = self.keys(model, sweep, value, images)
                found = store.get_maps(keys)
                missing = [int(i) for i, k in zip(images, keys, strict=True) if k not in found]
                if missing:
                    raise KeyError(f"sweep {sweep.name}={value} of {model}: no stored maps of images "
                                   f"{missing}")
                out[value] = np.stack([found[k] for k in keys])
            return out
        finally:
            store.close()


def sweep_maps(inputs: SweepInputs, sweeps: list[Sweep], images: dict[str, np.ndarray],
               log=print, stages: list | None = None) -> SweepMaps:
    """Compute and store the maps of every ``sweep`` value on every model's ``images`` (``{model:
    pool indices}``) that the cache lacks; the handle reads them back. Each (model, sweep) stage
    computed is appended to ``stages`` (and to the handle's)."""
    handle = SweepMaps(inputs, [] if stages is None else stages)
    store = Store(inputs.cache)
    try:
        jobs = []  # (model, sweep, images, passes, tasks): every model's sweeps run as one batch
        scheduled: set[str] = set()  # a map two models share (the same weights) is made once
        for model_name, index in images.items():
            index = np.asarray(index)
            for sweep in sweeps:
                todo = {}
                for value in sweep.values:
                    keys = handle.keys(model_name, sweep, value, index)
                    have = store.has_maps(keys) | scheduled
                    missing = [j for j, k in enumerate(keys) if k not in have]
                    if missing:
                        todo[value] = (keys, missing)
                        scheduled.update(keys[j] for j in missing)
                if todo:
                    n = len({j for _, missing in todo.values() for j in missing})
                    jobs.append((model_name, sweep, n, *_tasks(inputs, model_name, sweep, index, todo)))
        device = device_name(inputs.device)
        computed: dict[str, float] = {}

        def done(b: int, took: float) -> None:
            model_name, sweep, n, passes, _ = jobs[b]
            handle.stages.append(Stage("sweep", model_name, sweep.name, None, n, took, *passes))
            computed[model_name] = computed.get(model_name, 0.0) + took

        run_batches(inputs.executor, inputs.pool, [job[4] for job in jobs],
                    lambda result: result.save(store, device), done=done)
        for model_name, took in computed.items():
            log(f"amx: sweeps of {model_name}: {len(images[model_name])} image(s), maps not cached computed "
                f"in {took:.1f} s")
    finally:
        store.close()
    return handle


def _tasks(inputs: SweepInputs, model_name: str, sweep: Sweep, index: np.ndarray,
           todo: dict) -> tuple[tuple[int, int], list[MapTask]]:
    """The (forward, forward + backward) passes and the tasks (of ``chunk_images`` images) of the
    missing maps of ``todo`` (``{value: (keys, missing positions)}``). A nested sweep's values
    are one task per chunk, at the largest value."""
    x = inputs
    spec = x.specs[model_name]
    size = (x.world.image_size,) * 2
    forwards = backwards = 0
    groups = [(max(todo), sorted(todo))] if sweep.nested else [(v, [v]) for v in todo]
    tasks = []
    for value, values in groups:
        method = sweep_method(x.world, spec, sweep, value, x.preset, x.device)
        rows = sorted({j for v in values for j in todo[v][1]})
        wanted = {v: set(todo[v][1]) for v in values}
        nested = tuple(values) if sweep.nested else ()
        for part in chunked(rows, x.chunk_images):
            keys = tuple(tuple(todo[v][0][j] if j in wanted[v] else None for j in part) for v in values)
            overrides = tuple(sweep.overrides(value).items())
            tasks.append(MapTask(x.world.name, model_name, sweep.method, overrides, x.preset,
                                 sweep.seed(value, x.seed), x.device, len(x.labels),
                                 tuple(int(i) for i in index[part]), keys, nested))
        fwd, bwd = method.passes(size)
        forwards, backwards = forwards + fwd * len(rows), backwards + bwd * len(rows)
    return (forwards, backwards), tasks
