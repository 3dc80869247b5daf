"""Scores of maps a claim set computed itself (outside the ScoreTable: SAM's sweeps, BIG's
methods), with the registered metrics, cached by content as the ScoreTable's are: a score's key
is ``amx.pipeline.run.score_key`` of its map's key, so a map the ScoreTable also scored is not
scored twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from amx.metrics import METRICS, ScoreBatch
from amx.pipeline.run import Stage, masks_for, score_key
from amx.pipeline.store import Store

METRIC_BATCH = 256  # model inputs per pass of the causal metrics


def score_maps(store: Store, load_model: Callable[[], torch.nn.Module], world, pool, index: np.ndarray,
               map_ids: list[str], maps: np.ndarray, configs: dict, device: str, stages: list,
               model: str) -> list[dict[str, float]]:
    """Per map, ``{column: value}`` of the metrics' per-image ScoreTable columns for ``maps``
    (``[n, H, W]``, stored under ``map_ids``) of pool images ``index``, with ``configs`` (``{metric:
    config}``). Missing scores are computed (``load_model()`` is called only then), stored and
    counted in ``stages`` (``Stage("score", model, ...)``)."""
    out = [{} for _ in map_ids]
    for name, config in configs.items():
        spec = METRICS.get(name)
        keys = [score_key(k, spec, config) for k in map_ids]
        records = store.get_records(keys)
        missing = [j for j, k in enumerate(keys) if k not in records]
        if missing:
            rows = index[missing]
            masks = masks_for(world, spec, config, rows, device)
            images = torch.from_numpy(pool.images[rows]).to(device).float().div_(255.0)
            batch = ScoreBatch(load_model(), images,
                               torch.from_numpy(np.asarray(maps)[missing]).to(device),
                               torch.from_numpy(pool.labels[rows]).to(device),
                               [torch.from_numpy(pool.boxes[i]) for i in rows], METRIC_BATCH, masks)
            start = time.perf_counter()
            new = list(zip([keys[j] for j in missing], spec.score(config, batch), strict=True))
            stages.append(Stage("score", model, None, name, len(missing), time.perf_counter() - start,
                                spec.forwards(config, images[0, 0].numel()) * len(missing), 0))
            store.put_records(new)
            records.update(new)
        for column, values in spec.columns(config, [records[k] for k in keys]).items():
            if isinstance(values, list):  # per-image columns (not WSL's one threshold)
                for j, value in enumerate(values):
                    out[j][column] = float(value)
    return out
