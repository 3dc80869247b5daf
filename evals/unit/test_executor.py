"""The executor interface: a run's maps and scores are computed as tasks that are plain data
(picklable, keyed by content, run anywhere from the world's and model's names), and the driver
stores what comes back."""

import pickle

import numpy as np
import pandas as pd
import pytest

from amx.data.arrays import load_split
from amx.data.worlds import get_world
from amx.pipeline import RunConfig, run
from amx.pipeline.executor import InProcess, MapTask, ScoreTask, TaskRunner
from amx.pipeline.store import Store
from amx.pipeline.sweep import Sweep, SweepInputs, sweep_maps
from amx.zoo import registry

CONFIG = RunConfig(models=("resnet-mini", "resnet-mini-R"), methods=("gradient", "smoothgrad"),
                   metrics=("pointing_game",), n_images=3, chunk_images=2, pair=("vanilla", "pgd"))


class Elsewhere:
    """An executor as a distributed one runs: each task pickled, sent to a runner that shares
    nothing with the driver (no pool, no model: it loads them by name), its result returned."""

    def __init__(self):
        self.tasks: list[MapTask] = []

    def run(self, tasks, pool=None, keep_going=False):
        for task in tasks:
            self.tasks.append(task)
            yield TaskRunner()(pickle.loads(pickle.dumps(task)))


def test_tasks_run_elsewhere_store_the_same_maps_and_scores_as_in_process(tmp_path):
    elsewhere = Elsewhere()
    remote = run(CONFIG, cache=str(tmp_path / "remote"), progress=False, executor=elsewhere)
    local = run(CONFIG, cache=str(tmp_path / "local"), progress=False, executor=InProcess())
    timed = ["runtime_s"]
    pd.testing.assert_frame_equal(remote.table.drop(columns=timed), local.table.drop(columns=timed))
    stores = [Store(tmp_path / name) for name in ("remote", "local")]
    try:
        maps = [s.labelled("maps") for s in stores]
        assert maps[0] == maps[1] and len(maps[0]) == 2 * 2 * 3  # 2 models x 2 methods x 3 images
        remote_maps, local_maps = (s.get_maps(list(maps[0])) for s in stores)
        assert all(np.array_equal(remote_maps[k], local_maps[k]) for k in maps[0])
    finally:
        for s in stores:
            s.close()
    # a map task per (model, method, chunk of 2 images) and a re-timing one each, and a score task
    # per (model, method, chunk, metric), each keyed by content
    maps = [t for t in elsewhere.tasks if isinstance(t, MapTask) and t.keys[0][0] is not None]
    scores = [t for t in elsewhere.tasks if isinstance(t, ScoreTask)]
    assert len(maps) == len(scores) == 2 * 2 * 2 and len({t.key for t in maps + scores}) == 16
    elsewhere.tasks.clear()
    run(CONFIG, cache=str(tmp_path / "remote"), progress=False, executor=elsewhere)
    assert elsewhere.tasks == []  # a repeated run has no task to run


def test_a_nested_sweep_is_one_task_per_chunk_with_a_key_list_per_value(tmp_path):
    world = get_world("mini")
    pool = load_split(world, "eval", world.pool_size(4))
    elsewhere = Elsewhere()
    inputs = SweepInputs(world=world, specs=registry.specs("mini"), pool=pool, seed=0, device="cpu",
                         cache=str(tmp_path), chunk_images=2, executor=elsewhere)
    sweep = Sweep("smoothgrad", "n_samples", (2, 4), 4)
    handle = sweep_maps(inputs, [sweep], {"resnet-mini": np.array([0, 1, 2])}, log=lambda m: None)
    assert sorted(len(t.rows) for t in elsewhere.tasks) == [1, 2]  # balanced chunks of at most 2
    assert all(t.values == (2, 4) and len(t.keys) == 2 for t in elsewhere.tasks)
    maps = handle.get("resnet-mini", sweep, [0, 1, 2])
    assert set(maps) == {2, 4} and maps[2].shape == (3, 64, 64) and not np.array_equal(maps[2], maps[4])


def test_a_task_names_its_keys_per_output():
    with pytest.raises(ValueError, match="needs 2 key list"):
        MapTask("mini", "resnet-mini", "smoothgrad", (), None, 0, "cpu", 300, (0, 1), (("a", "b"),), (2, 4))
