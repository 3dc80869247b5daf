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
    ``ScoreTask`` per metric), stored and counted in ``stages`` (``Stage("score", model, ...)``)."""
    out = [{} for _ in map_ids]
    for name, config in configs.items():
        spec = METRICS.get(name)
        keys = [score_key(k, spec, config) for k in map_ids]
        records = store.get_records(keys)
        missing = [j for j, k in enumerate(keys) if k not in records]
        if missing:
            task = ScoreTask(world.name, model, name, config, device, len(pool.labels),
                             tuple(int(index[j]) for j in missing), np.asarray(maps)[missing],
                             tuple(keys[j] for j in missing), METRIC_BATCH)
            [result] = executor.run([task], pool)
            result.save(store, device)
            records.update(zip(task.keys, result.values, strict=True))
            stages.append(Stage("score", model, None, name, len(missing), result.seconds,
                                spec.forwards(config, world.image_size ** 2) * len(missing), 0))
        for column, values in spec.columns(config, [records[k] for k in keys]).items():
            if isinstance(values, list):  # per-image columns (not WSL's one threshold)
                for j, value in enumerate(values):
                    out[j][column] = float(value)
    return out
