"""The Ray executor (``--executor ray``): a run's tasks on a local or remote Ray cluster.

The tasks are those of the in-process run (``amx.pipeline.executor``: one model x one method or
metric with its config x one chunk of pool images, named by the content keys of its outputs), so
the content store sees the same keys and, on the same kernels, the same values. Each task is a Ray
task with ``cpus_per_task`` CPUs (torch's thread count inside it) and ``gpus_per_task`` GPUs
(fractions pack several onto one GPU); a worker process keeps one ``TaskRunner`` for its life, so
each model is loaded once per worker, and the driver's image pool goes to the object store once
per pool and is read from there by every task.

The store has one writer: the driver saves each result as it arrives (``result.save``), in one
transaction per task. Workers never open the SQLite file (one file written from several processes,
or over a network filesystem, is what SQLite warns against). So a run that is interrupted (Ctrl-C,
a lost node) keeps every task that ended, and the next run computes only the rest.

Faults: a task whose worker process dies (killed, out of host memory, a lost node) is retried by
Ray (``max_retries``); a task that raises (a bad checkpoint, CUDA out of memory at one input per
pass) is not retried: it raises ``TaskFailed`` naming its model, method or metric and images, and
only the request that asked for it fails (``amx.session``).

Workers find worlds and zoos by name, as the driver does: the driver's ``AMX_*`` environment
(``--zoo``, ``--imagenet-root``, ...) is passed to them (``runtime_env``), and on a local cluster
they start in the driver's working directory. On a remote cluster, amx and the user's files must
be where the workers run (README: "Run on several GPUs or a cluster").
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from tqdm.auto import tqdm

from amx.pipeline.executor import TaskFailed, TaskRunner

EXECUTORS = ("inprocess", "ray")


@dataclass(frozen=True)
class RayOptions:
    """Where and how the tasks run. ``address``: None starts a local cluster in this process
    (``ray.init()``, ``num_cpus`` CPUs: None, all of them); ``"auto"`` joins the cluster this
    machine belongs to; ``HOST:PORT`` (or ``ray://HOST:PORT``) a remote one. ``cpus_per_task``
    (torch's threads in a task: its integer part, at least 1) and ``gpus_per_task`` (None: 1 when
    the run's device is CUDA, else 0; 0.25 packs four tasks on one GPU) are each task's Ray
    resources; ``max_retries``: how often a task whose worker died is run again."""

    address: str | None = None
    num_cpus: int | None = None
    cpus_per_task: float = 1.0
    gpus_per_task: float | None = None
    max_retries: int = 3

    def __post_init__(self):
        if self.cpus_per_task <= 0:
            raise ValueError(f"--cpus-per-task must be > 0, got {self.cpus_per_task}")
        if self.gpus_per_task is not None and not 0 <= self.gpus_per_task:
            raise ValueError(f"--gpus-per-task must be >= 0, got {self.gpus_per_task}")
        if self.gpus_per_task is not None and self.gpus_per_task > 1 and self.gpus_per_task != int(
                self.gpus_per_task):
            raise ValueError(f"--gpus-per-task above 1 must be a whole number (Ray's rule), got "
                             f"{self.gpus_per_task}")
        if self.num_cpus is not None and self.num_cpus < 1:
            raise ValueError(f"num_cpus must be >= 1, got {self.num_cpus}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")

    def gpus(self, device: str) -> float:
        """A task's GPUs on ``device``; a CUDA run needs at least a fraction of one."""
        gpus = (1.0 if str(device).startswith("cuda") else 0.0) if self.gpus_per_task is None \
            else self.gpus_per_task
        if str(device).startswith("cuda") and gpus == 0:
            raise ValueError("--gpus-per-task 0 with a CUDA run: each task needs a GPU (a fraction, e.g. "
                             "0.25, packs several tasks on one)")
        return gpus


def worker_environment() -> dict[str, str]:
    """What workers need of the driver's environment: every ``AMX_*`` variable (the world's
    options, the zoo file, the cache and trust settings), a relative path that exists here made
    absolute (a worker may start elsewhere)."""
    return {k: os.path.abspath(v) if v and not os.path.isabs(v) and os.path.exists(v) else v
            for k, v in os.environ.items() if k.startswith("AMX_")}


_RUNNER: TaskRunner | None = None  # one per worker process: its models stay loaded between tasks


def _compute(task, pool, tally, threads: int):
    """A task's result, computed in a Ray worker on its ``TaskRunner`` (``pool``: the driver's
    images, from the object store)."""
    global _RUNNER
    import torch

    tally.started.remote(task.key, os.getpid())
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if _RUNNER is None:
        _RUNNER = TaskRunner()
    if pool is not None:
        _RUNNER.pools.setdefault((task.world, task.pool), pool)
    return _RUNNER(task)


class _Tally:
    """A Ray actor that counts each task's starts (a start beyond the first is a retry) and
    the worker process of the latest one."""

    def __init__(self):
        self.starts: dict[str, int] = {}
        self.pids: dict[str, int] = {}

    def started(self, key: str, pid: int) -> None:
        self.starts[key] = self.starts.get(key, 0) + 1
        self.pids[key] = pid

    def counts(self) -> tuple[dict[str, int], dict[str, int]]:
        return self.starts, self.pids


class RayExecutor:
    """Runs tasks as Ray tasks (``RayOptions``) and yields each result as it ends; ``progress``
    shows one bar over every task it was given (done, running, retried). Ray starts (or is
    joined) on the first ``run``; ``close()`` shuts down a cluster this executor started."""

    def __init__(self, options: RayOptions | None = None, progress: bool = True, device: str = "cpu"):
        self.options = options or RayOptions()
        self.progress = progress
        self.device = device
        self.options.gpus(device)  # a CUDA run without GPUs per task is an error before any start
        self.started_ray = False
        self._remote = self._tally = self._bar = None
        self._slots, self._shown = 1, 0.0
        self._pools: dict[int, tuple[object, object]] = {}  # id(pool): (pool, its object ref)
        self.submitted = 0
        self.finished_keys: set[str] = set()

    def _start(self) -> None:
        import ray

        if not ray.is_initialized():
            ray.init(address=self.options.address, num_cpus=self.options.num_cpus if not self.options.address
                     else None, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                     runtime_env={"env_vars": worker_environment()})
            self.started_ray = True
        self._tally = ray.remote(num_cpus=0)(_Tally).remote()
        self._remote = ray.remote(_compute).options(
            num_cpus=self.options.cpus_per_task, num_gpus=self.options.gpus(self.device),
            max_retries=self.options.max_retries, retry_exceptions=False)
        self._slots = self.slots()
        self._bar = tqdm(total=0, unit="task", desc="ray tasks", disable=not self.progress, position=1,
                         leave=False, dynamic_ncols=True)

    def slots(self) -> int:
        """How many tasks the cluster runs at once: its CPUs (or GPUs, for a CUDA run) over each
        task's. A local cluster not started yet is not started for it (this machine's count)."""
        import ray

        if ray.is_initialized():
            resources = ray.cluster_resources()
        elif self.options.address is None:
            import torch

            resources = {"CPU": self.options.num_cpus or os.cpu_count() or 1,
                         "GPU": torch.cuda.device_count() if torch.cuda.is_available() else 0}
        else:
            self._start()
            resources = ray.cluster_resources()
        gpus = self.options.gpus(self.device)
        by_cpu = int(resources.get("CPU", 0) // self.options.cpus_per_task)
        return max(1, min(by_cpu, int(resources.get("GPU", 0) // gpus)) if gpus else by_cpu)

    def counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """``({task key: starts}, {task key: pid of its latest start})`` of every task started."""
        import ray

        return ray.get(self._tally.counts.remote())

    def _pool_ref(self, pool):
        import ray

        if pool is None:
            return None
        if id(pool) not in self._pools:
            self._pools[id(pool)] = (pool, ray.put(pool))  # the pool kept: its id stays its own
        return self._pools[id(pool)][1]

    def _show(self, pending: int) -> None:
        """The bar's running and retried counts, at most twice a second."""
        if self._bar.disable or time.monotonic() - self._shown < 0.5:
            return
        self._shown = time.monotonic()
        starts, _ = self.counts()
        retried = sum(n - 1 for n in starts.values())
        self._bar.total = self.submitted
        self._bar.set_postfix_str(f"running {max(0, min(pending, len(starts) - len(self.finished_keys)))}, "
                                  f"retried {retried}")
        self._bar.refresh()

    def run(self, tasks: Iterable, pool=None, keep_going: bool = False) -> Iterator:
        """Each task's result as it ends. ``tasks`` is read as slots free up (at most twice the
        cluster's slots in flight), so a lazy iterable's tasks are made only when needed. A task
        that raised raises ``TaskFailed`` (``keep_going``: is yielded as one, the others run on)."""
        import ray
        from ray.exceptions import RayTaskError

        todo, pending = iter(tasks), {}
        first = next(todo, None)
        if first is None:  # nothing to compute: Ray is not started for it
            return
        todo = itertools.chain([first], todo)
        if self._remote is None:
            self._start()
        window = 2 * self._slots
        threads = max(1, int(self.options.cpus_per_task))
        ref = self._pool_ref(pool)

        def submit() -> None:
            for task in todo:
                pending[self._remote.remote(task, ref, self._tally, threads)] = task
                self.submitted += 1
                if len(pending) >= window:
                    return

        try:
            submit()
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                for finished in done:
                    task = pending.pop(finished)
                    try:
                        result = ray.get(finished)
                    except RayTaskError as err:
                        cause = err.cause if isinstance(err.cause, BaseException) else err
                        if not keep_going:
                            raise TaskFailed(task, cause) from cause
                        result = TaskFailed(task, cause)
                    else:
                        self.finished_keys.add(task.key)
                    self._bar.update(1)
                    yield result
                submit()
                self._show(len(pending))
        finally:
            for left in pending:  # interrupted, or a task failed: the unfinished ones are dropped
                ray.cancel(left, force=True)

    def close(self) -> None:
        import ray

        if self._bar is not None:
            self._bar.close()
        self._pools.clear()
        if self.started_ray and ray.is_initialized():
            ray.shutdown()
        self.started_ray, self._remote = False, None


def make_executor(name: str, options: RayOptions | None = None, progress: bool = True, device: str = "cpu"):
    """The executor called ``name`` (``EXECUTORS``): ``inprocess``, or ``ray`` with ``options``
    (Ray is imported only then, and a missing Ray says how to install it)."""
    from amx.pipeline.executor import InProcess

    if name == "inprocess":
        return InProcess()
    if name != "ray":
        raise ValueError(f"--executor must be one of {EXECUTORS}, got {name!r}")
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ValueError("--executor ray needs Ray: pip install 'amx[ray]'") from None
    return RayExecutor(options, progress, device)




# The executor's options, as the pytest plugin, `amx run` and `amx stability` take them:
# (flag, argparse/pytest keyword arguments).
OPTIONS = (
    ("--executor", dict(default="inprocess", choices=EXECUTORS,
                        help="where the tasks run: inprocess (default: this process, nothing to start) or "
                             "ray (a local Ray cluster, or --ray-address's; pip install 'amx[ray]')")),
    ("--ray-address", dict(default=None, metavar="ADDRESS",
                           help="with --executor ray: auto (the cluster this machine is in) or HOST:PORT "
                                "(default: start a local cluster on this machine's CPUs and GPUs)")),
    ("--cpus-per-task", dict(type=float, default=1.0, metavar="N",
                             help="with --executor ray: CPUs per task, torch's threads in it (default 1)")),
    ("--gpus-per-task", dict(type=float, default=None, metavar="G",
                             help="with --executor ray: GPUs per task, fractions pack several on one GPU, "
                                  "e.g. 0.25 (default: 1 with --gpu, else 0)")),
)


def from_options(get, progress: bool = True, device: str = "cpu"):
    """The executor that ``OPTIONS`` select; ``get(dest)`` reads an option's value (``executor``,
    ``ray_address``, ``cpus_per_task``, ``gpus_per_task``). An executor option without
    ``--executor ray`` is an error (it would do nothing)."""
    name = get("executor")
    ray_set = [flag for flag, _ in OPTIONS[1:] if get(flag[2:].replace("-", "_")) not in (None, 1.0)]
    if name != "ray" and ray_set:
        raise ValueError(f"{', '.join(ray_set)} only applies with --executor ray")
    options = RayOptions(address=get("ray_address"), cpus_per_task=get("cpus_per_task"),
                         gpus_per_task=get("gpus_per_task")) if name == "ray" else None
    return make_executor(name, options, progress, device)
