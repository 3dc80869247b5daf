"""Tasks and executors: how a request's model passes are computed.

A request splits the work it lacks into tasks: one model, one computation with its config, one
chunk of the world's pool images, each output named by its content key. ``MapTask`` makes
attribution maps (``amx.pipeline.run.map_key``), ``ScoreTask`` scores maps with a metric
(``amx.pipeline.run.score_key``); a claim set may define its own (BIG's boundary search and
maps: ``amx.claims.big_evidence``; SAM's MP loss traces: ``amx.claims.sam_sweeps.TraceTask``).
A task (``Task``) is plain data (names, numbers, keys and arrays: picklable, no model, tensor or
open file) with ``compute(runner)``, so an executor may run it wherever it likes: a ``TaskRunner`` computes
tasks where it runs, looking the world and the model up by name and loading each model once, and
returns results. The driver saves each result
(``result.save(store, device)``): it is the content store's single writer, whatever runs the tasks.

``InProcess``, the default, runs the tasks one after another in this process on the driver's pool
of images; ``amx.pipeline.ray_executor.RayExecutor`` runs them on a Ray cluster. A task that
raises fails as ``TaskFailed``, naming its model, method or metric and images, on either; with
``keep_going`` the executor yields the ``TaskFailed`` in the task's place and runs the others, so
that a ScoreTable keeps the rows of every task that worked (``amx.pipeline.run``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import torch

from amx.pipeline.batching import halving
from amx.pipeline.store import content_key


class Task:
    """What every task has: ``keys``, the content keys of its outputs (per output for a
    ``MapTask``), and ``key``, the task's own content key, made of them."""

    @property
    def key(self) -> str:
        """The task's content key: the outputs it computes."""
        return content_key(kind="task", keys=self.keys)


@dataclass(frozen=True)
class MapTask(Task):
    """The maps of pool images ``rows`` (of the first ``pool`` eval images of ``world``) by method
    ``method`` with config ``overrides`` (over ``preset``, None: the world's) and ``seed``, on
    ``model``, on ``device``. ``keys``: per output, the content key of each row's map (None: not
    wanted). A method whose ``nested`` hyperparameter takes every one of ``values`` in one
    computation (``Method.attribute_nested``) has one output per value; otherwise ``values`` is
    empty and there is one output."""

    world: str
    model: str
    method: str
    overrides: tuple[tuple[str, Any], ...]
    preset: str | None
    seed: int
    device: str
    pool: int
    rows: tuple[int, ...]
    keys: tuple[tuple[str | None, ...], ...]
    values: tuple = ()

    def __post_init__(self):
        outputs = len(self.values) or 1
        if len(self.keys) != outputs or any(len(k) != len(self.rows) for k in self.keys):
            raise ValueError(f"MapTask of {self.model} {self.method}: needs {outputs} key list(s) of "
                             f"{len(self.rows)} (one per row), got {[len(k) for k in self.keys]}")

    def compute(self, runner: TaskRunner) -> MapResult:
        """The maps, on the runner's model and images (out-of-memory batches halved)."""
        from amx.pipeline.run import method_for

        world, spec, model, images, targets = runner.inputs(self)
        method = method_for(world, spec, self.method, self.preset, self.device, **dict(self.overrides))
        start = time.perf_counter()
        if self.values:
            found = method.attribute_nested(model, images, targets, list(self.values), seed=self.seed)
            maps = tuple(found[v] for v in self.values)
        else:
            def step(size: int) -> torch.Tensor:
                method.batch_size = size
                return method(model, images, targets, seed=self.seed)

            maps = (halving(step, method.inputs_per_pass(images), f"{self.model} {method.name}")[0],)
        seconds = (time.perf_counter() - start) / len(self.rows)
        return MapResult(self, tuple(m.detach().cpu().numpy() for m in maps), seconds)


@dataclass(frozen=True)
class MapResult:
    """A task's maps: per output of ``task.keys``, float32 ``[len(rows), H, W]``; the seconds per
    image they took. ``task``: a ``MapTask``, or another task with its ``model``, ``method``,
    ``rows`` and ``keys`` (the sanity checks' ``RandomisedMapTask``)."""

    task: MapTask
    maps: tuple[np.ndarray, ...]
    seconds_per_image: float

    @property
    def seconds_computed(self) -> float:
        return self.seconds_per_image * len(self.task.rows)

    def items(self) -> list[tuple[str, np.ndarray, float]]:
        """``(key, map, seconds per image)`` of every wanted map (``Store.put_maps``' items)."""
        return [(key, m, self.seconds_per_image) for keys, maps in zip(self.task.keys, self.maps, strict=True)
                for key, m in zip(keys, maps, strict=True) if key is not None]

    def save(self, store, device: str) -> None:
        """Store the wanted maps, with their runtime measured on ``device``, in one transaction."""
        store.put_maps(self.items(), device, of=(self.task.model, self.task.method))


@dataclass(frozen=True)
class ScoreTask(Task):
    """The scores by metric ``metric`` with ``config`` (its frozen config) of ``maps`` (float32
    ``[n, H, W]``, as stored; they travel with the task) of pool images ``rows`` (of the first
    ``pool`` eval images of ``world``) on ``model``, ``batch_size`` model inputs per pass (halved
    on CUDA out of memory); ``keys``: each map's score."""

    world: str
    model: str
    metric: str
    config: Any
    device: str
    pool: int
    rows: tuple[int, ...]
    maps: np.ndarray = field(compare=False, repr=False)
    keys: tuple[str, ...] = ()
    batch_size: int = 256

    def __post_init__(self):
        if not (len(self.rows) == len(self.keys) == len(self.maps)):
            raise ValueError(f"ScoreTask of {self.model} {self.metric}: {len(self.rows)} rows, "
                             f"{len(self.maps)} maps and {len(self.keys)} keys (one each)")

    def compute(self, runner: TaskRunner) -> Records:
        from amx.metrics import METRICS, ScoreBatch
        from amx.pipeline.run import masks_for

        world, _, model, images, targets = runner.inputs(self)
        metric = METRICS.get(self.metric)
        rows = np.asarray(self.rows)
        boxes = runner.pool(world, self.pool).boxes
        batch = ScoreBatch(model, images, torch.from_numpy(np.asarray(self.maps)).to(self.device), targets,
                           [torch.from_numpy(boxes[i]) for i in rows], self.batch_size,
                           masks_for(world, metric, self.config, rows, self.device))
        start = time.perf_counter()
        values, size = halving(lambda size: metric.score(self.config, replace(batch, batch_size=size)),
                               self.batch_size, f"{self.model} {self.metric}")
        return Records(self, list(values), time.perf_counter() - start, size)


@dataclass(frozen=True)
class Records:
    """A task's JSON records, one per key of ``task.keys`` (a ``ScoreTask``'s scores, an MP loss
    trace), the seconds they took and, for a batched metric, the model inputs per pass that worked."""

    task: Any
    values: list
    seconds: float
    batch_size: int | None = None

    @property
    def seconds_computed(self) -> float:
        return self.seconds

    def save(self, store, device: str) -> None:
        store.put_records(list(zip(self.task.keys, self.values, strict=True)))


def run_batches(executor: Executor, pool, batches: list[list[Task]], save,
                failed: dict[int, TaskFailed] | None = None, done=None) -> list[float]:
    """Run the tasks of every batch together on ``executor`` (a parallel one has them all at
    once), ``save(result)`` each result as it ends; per batch, the seconds its tasks computed
    (each result's ``seconds_computed``: in a worker, model loading left out). ``done(batch,
    seconds)`` is called as each batch's last task ends (a progress display follows it; never
    for a batch without tasks; with ``failed``, the seconds of its tasks that did not fail). A task
    that raises raises ``TaskFailed``; with ``failed`` given, it is kept there instead (``{batch:
    its first failed task}``) and the other tasks run on."""
    batch_of = {task.key: b for b, tasks in enumerate(batches) for task in tasks}
    seconds = [0.0] * len(batches)
    left = [len(tasks) for tasks in batches]
    tasks = [task for tasks in batches for task in tasks]
    for result in executor.run(tasks, pool, keep_going=failed is not None):
        b = batch_of[result.task.key]
        if isinstance(result, TaskFailed):
            failed.setdefault(b, result)
        else:
            save(result)
            seconds[b] += result.seconds_computed
        left[b] -= 1
        if not left[b] and done is not None:
            done(b, seconds[b])
    return seconds


class TaskRunner:
    """Runs tasks where it is: worlds and models looked up by name, each model loaded once per
    runner; ``pools`` (``{(world, pool size): SplitArrays}``) the image pools it was given, the
    others loaded on first use (``amx.data.arrays.load_split``)."""

    def __init__(self, pools: dict | None = None):
        self.pools = dict(pools or {})
        self.models: dict[tuple, torch.nn.Module] = {}

    def model(self, world: str, spec, device: str) -> torch.nn.Module:
        """Model ``spec`` of ``world`` on ``device``, loaded once per weight fingerprint."""
        from amx.zoo import registry

        key = (world, spec.name, spec.fingerprint, device)
        if key not in self.models:
            self.models[key] = registry.load(spec.name, world, device=device)
        return self.models[key]

    def pool(self, world, n: int):
        from amx.data.arrays import load_split

        if (world.name, n) not in self.pools:
            self.pools[world.name, n] = load_split(world, "eval", n)
        return self.pools[world.name, n]

    def inputs(self, task) -> tuple:
        """``(world, spec, model, images, targets)`` of a task: its world and model spec looked up
        by name, the model loaded (once), its pool rows as floats in [0, 1] on its device."""
        from amx.data.worlds import get_world
        from amx.zoo import registry

        world = get_world(task.world)
        spec = registry.get_spec(task.model, world.name)
        model = self.model(world.name, spec, task.device)
        pool = self.pool(world, task.pool)
        rows = np.asarray(task.rows)
        images = torch.from_numpy(pool.images[rows]).to(task.device).float().div_(255.0)
        return world, spec, model, images, torch.from_numpy(pool.labels[rows]).to(task.device)

    def __call__(self, task):
        """``task.compute(self)``: its result."""
        return task.compute(self)


class TaskFailed(RuntimeError):
    """A task raised (a bad checkpoint, CUDA out of memory at one input per pass, ...): names
    the task's model, method or metric and images, and keeps the cause."""

    def __init__(self, task, cause: BaseException):
        self.task, self.cause = task, cause
        super().__init__(f"{describe_task(task)} failed: {type(cause).__name__}: {cause}")


def describe_task(task) -> str:
    """``resnet-mini gradient on world mini's pool images 0, 3, 5 (3 images)``: what a task computes."""
    what = getattr(task, "method", None) or getattr(task, "metric", None) or type(task).__name__
    rows = [int(r) for r in getattr(task, "rows", ())]
    shown = ", ".join(map(str, rows[:8])) + (", ..." if len(rows) > 8 else "")
    return (f"{getattr(task, 'model', '?')} {what} on world {getattr(task, 'world', '?')}'s pool images "
            f"{shown} ({len(rows)} images)")


class Executor(Protocol):
    """Runs ``tasks`` and yields each one's result (with its ``seconds_computed``) as it ends
    (in any order), raising ``TaskFailed`` for a task that raised (with ``keep_going``: yielding
    it in the task's place and running the others). ``pool`` is the driver's image pool of the tasks' world,
    for an executor that can share it. ``close()`` frees what the executor started."""

    def run(self, tasks: Iterable[Task], pool=None, keep_going: bool = False) -> Iterator: ...

    def close(self) -> None: ...


class InProcess:
    """The default executor: the tasks one after another in this process, on the driver's pool,
    each model loaded once for the executor's life."""

    def __init__(self):
        self.runner = TaskRunner()

    def run(self, tasks: Iterable[Task], pool=None, keep_going: bool = False) -> Iterator:
        for task in tasks:
            if pool is not None:
                self.runner.pools.setdefault((task.world, task.pool), pool)
            try:
                result = self.runner(task)
            except Exception as err:
                if not keep_going:
                    raise TaskFailed(task, err) from err
                result = TaskFailed(task, err)
            yield result

    def close(self) -> None:
        self.runner.models.clear()
