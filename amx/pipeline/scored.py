"""Scores of maps a claim set computed itself (outside the ScoreTable: SAM's sweeps, BIG's
methods), with the registered metrics, cached by content as the ScoreTable's are: a score's key
is ``amx.pipeline.run.score_key`` of its map's key, so a map the ScoreTable also scored is not
scored twice.
"""

from __future__ import annotations

import numpy as np

from amx.metrics import METRICS
from amx.pipeline.executor import Executor, ScoreTask
from amx.pipeline.run import Stage, score_key
from amx.pipeline.store import Store

METRIC_BATCH = 256  # model inputs per pass of the causal metrics


def score_maps(store: Store, executor: Executor, world, pool, index: np.ndarray, map_ids: list[str],
               maps: np.ndarray, configs: dict, device: str, stages: list,
               model: str) -> list[dict[str, float]]:
    """Per map, ``{column: value}`` of the metrics' per-image ScoreTable columns for ``maps``
    (``[n, H, W]``, stored under ``map_ids``) of pool images ``index`` on ``model``, with
    ``configs`` (``{metric: config}``). Missing scores are computed by ``executor`` (a
    ``ScoreTask`` per metric, all given at once), stored and counted in ``stages``
    (``Stage("score", model, ...)``)."""
    out = [{} for _ in map_ids]
    specs = {name: METRICS.get(name) for name in configs}
    keys = {name: [score_key(k, specs[name], config) for k in map_ids] for name, config in configs.items()}
    records = {name: store.get_records(keys[name]) for name in configs}
    tasks = []
    for name, config in configs.items():
        missing = [j for j, k in enumerate(keys[name]) if k not in records[name]]
        if missing:
            tasks.append(ScoreTask(world.name, model, name, config, device, len(pool.labels),
                                   tuple(int(index[j]) for j in missing), np.asarray(maps)[missing],
                                   tuple(keys[name][j] for j in missing), METRIC_BATCH))
    for result in executor.run(tasks, pool):  # every metric's task at once
        task, spec = result.task, specs[result.task.metric]
        result.save(store, device)
        records[task.metric].update(zip(task.keys, result.values, strict=True))
        stages.append(Stage("score", model, None, task.metric, len(task.rows), result.seconds,
                            spec.forwards(configs[task.metric], world.image_size ** 2) * len(task.rows), 0))
    for name, config in configs.items():
        for column, values in specs[name].columns(config, [records[name][k] for k in keys[name]]).items():
            if isinstance(values, list):  # per-image columns (not WSL's one threshold)
                for j, value in enumerate(values):
                    out[j][column] = float(value)
    return out
