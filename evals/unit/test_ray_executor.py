"""The Ray executor on a local 2-CPU cluster: the same content keys, maps, scores and verdicts as
the in-process run; a worker killed mid-task is retried; an interrupted run resumes without
recomputing a finished task; a task that fails names its model, method and images, and only
the cases that read it fail."""

import dataclasses
import os
import signal
import sqlite3
import threading
import time

import numpy as np
import pandas as pd
import pytest
import torch

from amx.claims import CLAIM_SETS
from amx.claims.spec import Case, Claim, ClaimSet, Greater, verdict
from amx.data.worlds import get_world
from amx.evidence import Scores, ZooTable, control_methods
from amx.pipeline import RunConfig, run
from amx.pipeline.executor import InProcess, ScoreTask, TaskFailed
from amx.pipeline.store import Store
from amx.session import Session

pytest.importorskip("ray", reason="the Ray executor's tests need Ray: pip install 'amx[ray]'")

from amx.pipeline.ray_executor import RayExecutor, RayOptions, from_options  # noqa: E402

CONFIG = RunConfig(models=("resnet-mini", "resnet-mini-R"), methods=("gradient", "smoothgrad"),
                   metrics=("pointing_game", "insertion"), n_images=4, chunk_images=2,
                   pair=("vanilla", "pgd"))


@pytest.fixture(scope="module")
def ray_executor():
    """One local Ray cluster of 2 CPUs for the module (a worker per CPU)."""
    executor = RayExecutor(RayOptions(num_cpus=2), progress=False)
    assert executor.slots() == 2  # started here
    yield executor
    executor.close()


def _stored(cache) -> tuple[dict, dict]:
    """``({map key: map}, {record key: record})`` of every map and record in the store at ``cache``."""
    store = Store(cache)
    try:
        with sqlite3.connect(os.path.join(cache, "store.sqlite")) as db:
            map_keys = [k for (k,) in db.execute("SELECT key FROM maps")]
            record_keys = [k for (k,) in db.execute("SELECT key FROM records")]
        return store.get_maps(map_keys), store.get_records(record_keys)
    finally:
        store.close()


def _same_tables(one, other) -> None:
    """Two runs' ScoreTables are equal but for the measured runtimes."""
    timed = ["runtime_s"]
    pd.testing.assert_frame_equal(one.table.drop(columns=timed), other.table.drop(columns=timed))


class Counting:
    """An executor that records the tasks it runs (on ``inner``) and raises KeyboardInterrupt, as
    Ctrl-C in the driver does, after ``stop_after`` results."""

    def __init__(self, inner, stop_after: int | None = None):
        self.inner, self.stop_after, self.keys, self.models, self.saved = inner, stop_after, [], [], 0

    def run(self, tasks, pool=None, keep_going=False):
        def recorded():
            for task in tasks:
                self.keys.append(task.key)
                self.models.append(task.model)
                yield task

        for result in self.inner.run(recorded(), pool, keep_going):
            if self.stop_after is not None and self.saved >= self.stop_after:
                raise KeyboardInterrupt
            self.saved += 1
            yield result

    def close(self):
        pass


def test_ray_stores_the_same_keys_maps_and_scores_as_in_process(ray_executor, tmp_path):
    """Bitwise, with the in-process run's threads per task: the same arithmetic on the same
    inputs, however the tasks travel (pickled, the images through the object store)."""
    threads = RayExecutor(RayOptions(cpus_per_task=torch.get_num_threads()), progress=False)  # on the cluster
    remote = run(CONFIG, cache=str(tmp_path / "ray"), progress=False, executor=threads)
    threads.close()
    local = run(CONFIG, cache=str(tmp_path / "local"), progress=False, executor=InProcess())
    _same_tables(remote, local)
    (ray_maps, ray_records), (maps, records) = (_stored(str(tmp_path / n)) for n in ("ray", "local"))
    assert set(ray_maps) == set(maps) and len(maps) == 2 * 2 * 4  # models x methods x images
    assert all(np.array_equal(ray_maps[k], maps[k]) for k in maps)  # bitwise: 1 thread per task vs 2
    assert ray_records == records


def _starts(executor) -> dict:
    return executor.counts()[0]


class Killer(threading.Thread):
    """Kills (SIGKILL) the worker process of the first task it sees running on ``executor``."""

    def __init__(self, executor):
        super().__init__()
        self.executor, self.killed = executor, None
        self.before = dict(executor.counts()[0]) if executor.started_ray else {}

    def run(self):
        deadline = time.monotonic() + 300
        while self.killed is None and time.monotonic() < deadline:
            if self.executor._remote is not None:
                starts, pids = self.executor.counts()
                running = [k for k in starts
                           if starts[k] > self.before.get(k, 0) and k not in self.executor.finished_keys]
                if running:
                    os.kill(pids[running[0]], signal.SIGKILL)
                    self.killed = running[0]
            time.sleep(0.01)

    def starts(self) -> int:
        """How often the killed task started in this test."""
        return self.executor.counts()[0][self.killed] - self.before.get(self.killed, 0)


def test_a_worker_killed_mid_task_is_retried_and_every_task_stored_once(ray_executor, tmp_path):
    config = dataclasses.replace(CONFIG, methods=("smoothgrad",), metrics=("insertion",), n_images=6)
    killer = Killer(ray_executor)
    killer.start()
    remote = run(config, cache=str(tmp_path / "ray"), progress=False, executor=ray_executor)
    killer.join()
    assert killer.killed is not None, "no task was seen running"
    assert killer.starts() == 2  # killed once, run again
    local = run(config, cache=str(tmp_path / "local"), progress=False, executor=InProcess())
    _same_tables(remote, local)
    (ray_maps, ray_records), (maps, records) = (_stored(str(tmp_path / n)) for n in ("ray", "local"))
    assert set(ray_maps) == set(maps) and len(maps) == 2 * 6 and ray_records == records


def test_the_paper_s_claims_on_ray_with_a_worker_killed_give_the_in_process_verdicts(ray_executor, tmp_path):
    """Claim set 001 on ``mini`` (smoke preset, 4 images per architecture), a worker killed on
    the way: the same maps' keys and every verdict, statistic and stability label equal, but the
    cases of claims that read runtimes (``Claim.timed``: two runs measure two speeds). A task
    runs on 1 thread here and the in-process run on the machine's; float32 convolutions round by
    thread count (README, "Reproducibility across machines"), so some maps differ in their last
    bits (mobilenet-mini's Gradient and googlenet-mini's CAM by up to 3e-3 of their scale here)."""
    world = dataclasses.replace(get_world("mini"), zoo_eval_images=8)
    paper = CLAIM_SETS.get("001")
    timed = {c.id for c in paper.claims if c.timed}

    def judged(executor, cache):
        session = Session(world, n_images=4, preset="smoke", cache=str(cache), progress=False,
                          claim_sets=[paper], executor=executor, controls=None)  # no case reads them
        session.run()
        return [(e["case_id"], e["outcome"], e["statistic"], (e.get("stability") or {}).get("label"))
                for e in session.judge().entries if e["claim"] not in timed]

    killer = Killer(ray_executor)
    killer.start()
    on_ray = judged(ray_executor, tmp_path / "ray")
    killer.join()
    assert killer.killed is not None and killer.starts() == 2
    in_process = judged(InProcess(), tmp_path / "local")
    assert on_ray == in_process and len(in_process) > 50
    (ray_maps, _), (maps, _) = (_stored(str(tmp_path / n)) for n in ("ray", "local"))
    assert set(ray_maps) == set(maps)  # the same content keys; the values round as threads do (above)


def test_an_interrupted_run_resumes_without_recomputing_a_finished_task(ray_executor, tmp_path):
    cache = str(tmp_path / "cache")
    first = Counting(ray_executor, stop_after=3)
    with pytest.raises(KeyboardInterrupt):
        run(CONFIG, cache=cache, progress=False, executor=first)
    assert first.saved == 3
    second = Counting(ray_executor)
    resumed = run(CONFIG, cache=cache, progress=False, executor=second)
    cold = Counting(InProcess())
    local = run(CONFIG, cache=str(tmp_path / "cold"), progress=False, executor=cold)
    not_rerun = [k for k in cold.keys if k not in second.keys]
    assert len(not_rerun) == 3  # exactly the three whose results were saved
    assert len(second.keys) == len(cold.keys) - 3 and set(second.keys) <= set(cold.keys)
    _same_tables(resumed, local)


def test_a_failing_task_names_its_model_metric_and_images(ray_executor):
    world = get_world("mini")
    bad = ScoreTask("mini", "resnet-mini", "insertion", None, "cpu", world.pool_size(4), (0, 2),
                    np.zeros((2, 64, 64), np.float32), ("a", "b"))  # no metric config: the metric raises
    named = r"resnet-mini insertion on world mini's pool images 0, 2 \(2 images\)"
    with pytest.raises(TaskFailed, match=named):
        list(ray_executor.run([bad]))
    with pytest.raises(TaskFailed, match="resnet-mini insertion"):
        list(InProcess().run([bad]))
    for executor in (ray_executor, InProcess()):  # keep_going: the failure in the task's place
        [failed] = executor.run([bad], keep_going=True)
        assert isinstance(failed, TaskFailed) and failed.task.key == bad.key


def _positive_insertion(cid):
    return lambda ev: verdict(cid, Greater(0.0, "mean"), float(ev.ok["insertion"].mean()), "mean insertion")


SCORED = ClaimSet(
    name="q", prefix="Q", title="reads the ScoreTable", source="this test",
    claims=(Claim("Q1", "q", "s", "Insertion is positive.", "mean insertion", "> 0", "-"),
            Claim("Q2", "q", "s", "Some model is accurate.", "top-1", "> 0", "-")),
    cases=lambda: [Case("Q1", "pooled", _positive_insertion("Q1[pooled]")),
                   *[Case("Q1", arch, _positive_insertion(f"Q1[{arch}]"), architecture=arch)
                     for arch in ("resnet", "alexnet")],
                   Case("Q2", "accurate", lambda ev: verdict(  # reads every model, but not the ScoreTable
                       "Q2[accurate]", Greater(0.0, "max"), max(r["top1"] for r in ev.zoo), "best top-1"))],
    evidence=(Scores(("gradient", "smoothgrad"), ("insertion",), pair=("vanilla", "pgd")), ZooTable()))


class FailsOn:
    """Runs tasks in this process, except that the tasks of ``model`` computing ``what`` (a
    method's maps or a metric's scores) fail, as a bad checkpoint on a worker would."""

    def __init__(self, model, what):
        self.model, self.what, self.inner = model, what, InProcess()

    def run(self, tasks, pool=None, keep_going=False):
        for task in tasks:
            computes = (getattr(task, "method", None), getattr(task, "metric", None))
            if task.model == self.model and self.what in computes:
                failed = TaskFailed(task, RuntimeError("the checkpoint does not load"))
                if not keep_going:
                    raise failed
                yield failed
                continue
            yield from self.inner.run([task], pool, keep_going)

    def close(self):
        pass


@pytest.mark.parametrize("what", ["gradient", "insertion"])  # a map task, a score task
def test_a_failed_task_fails_only_the_cases_that_read_its_model(what, tmp_path):
    world = dataclasses.replace(get_world("mini"), zoo_eval_images=4)
    session = Session(world, n_images=2, cache=str(tmp_path), claim_sets=[SCORED], progress=False,
                      executor=FailsOn("alexnet-mini-R", what))
    logged = []
    session.run(log=logged.append)
    named = f"alexnet-mini-R {what} on world mini's pool images"
    assert any(named in line and "checkpoint does not load" in line for line in logged)
    table = session.result(SCORED.scores).table
    error = table[table["status"] == "error"]
    # the failed (model, method)'s rows are kept as errors naming the task, every other row is scored
    # a metric's failed task scores every method of the model, and the controls' (their own table)
    failed_methods = {"gradient"} if what == "gradient" else {"gradient", "smoothgrad"}
    assert set(error["model"]) == {"alexnet-mini-R"} and set(error["method"]) == failed_methods
    controls = session.evidence(SCORED).controls
    failed_controls = controls.loc[controls["status"] == "error", ["model", "method"]]
    assert set(map(tuple, failed_controls.to_numpy())) == (
        set() if what == "gradient" else {("alexnet-mini-R", c) for c in control_methods()})
    assert error["note"].str.contains(named).all()
    assert (table.loc[table["status"] != "error", "status"] == "ok").all()
    assert table.loc[table["status"] == "ok", "insertion"].notna().all()
    entries = {e["case_id"]: e for e in session.judge().entries}
    for cid in ("Q1[pooled]", "Q1[alexnet]"):  # they read alexnet-mini-R's rows
        assert entries[cid]["outcome"] == "error"
        assert named in entries[cid]["message"]
    for cid in ("Q1[resnet]", "Q2[accurate]"):  # other models, or not the ScoreTable
        assert entries[cid]["outcome"] == "passed"
    # a rerun with a working executor computes only the failed rows' tasks
    counting = Counting(InProcess())
    Session(world, n_images=2, cache=str(tmp_path), claim_sets=[SCORED], progress=False,
            executor=counting).run()
    assert counting.keys and set(counting.models) == {"alexnet-mini-R"}


def test_executor_options_are_checked_before_anything_starts():
    def options(**given):
        values = {"executor": "inprocess", "ray_address": None, "cpus_per_task": 1.0, "gpus_per_task": None}
        return lambda dest: {**values, **given}[dest]

    assert isinstance(from_options(options()), InProcess)
    with pytest.raises(ValueError, match="--gpus-per-task only applies with --executor ray"):
        from_options(options(gpus_per_task=0.5))
    with pytest.raises(ValueError, match="--gpus-per-task 0 with a CUDA run"):
        from_options(options(executor="ray", gpus_per_task=0.0), device="cuda")
    with pytest.raises(ValueError, match="--cpus-per-task must be > 0"):
        from_options(options(executor="ray", cpus_per_task=0.0))
    with pytest.raises(ValueError, match="whole number"):
        RayOptions(gpus_per_task=1.5)


def test_workers_get_the_driver_s_amx_settings_with_absolute_paths(monkeypatch, tmp_path):
    from amx.pipeline.ray_executor import worker_environment

    monkeypatch.chdir(tmp_path)
    (tmp_path / "my.toml").write_text("")
    monkeypatch.setenv("AMX_ZOO", "my.toml")
    monkeypatch.setenv("AMX_IMAGENET_ROOT", "not-here")
    monkeypatch.setenv("OTHER", "x")
    found = worker_environment()
    assert found["AMX_ZOO"] == str(tmp_path / "my.toml") and found["AMX_IMAGENET_ROOT"] == "not-here"
    assert "OTHER" not in found


def test_the_dry_run_prices_the_plan_on_the_cluster_s_task_slots(monkeypatch):
    import ray

    from amx.pipeline.plan import PlannedStage, describe

    stages = [PlannedStage("attribute", "resnet-mini", "gradient", 10, 0, 10)]
    rates = {"resnet-mini": (0.01, 0.06)}
    assert "task slots" not in describe(stages, rates)
    assert "on 4 task slots like the probed device, 0.0 min" in describe(stages, rates, workers=4)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # a local cluster, not started for it
    assert RayExecutor(RayOptions(num_cpus=6, cpus_per_task=2)).slots() == 3
