"""``MetricSpec``: what the pipeline and the report need to know of a metric, and the registry.

A spec names the metric, says once whether higher is better, gives its config type, the function
that scores a batch of maps (per-image JSON records, which the cache stores), the function that
turns the records of one (model, method) set into ScoreTable columns (WSL picks one threshold
for the whole set there), those columns' names (the first is the metric's score) and its model
forwards per image (the pass floor). The pipeline and the report loop over specs; a new metric is
one more ``METRICS.register`` (or an ``amx.metrics`` entry point), never a pipeline edit.

>>> METRICS.get("deletion").higher_is_better
False
>>> METRICS.get("insertion").column_names
('insertion', 'insertion_normalized')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from amx.metrics.causal import CausalConfig, causal_forwards, deletion, insertion
from amx.metrics.energy import EnergyConfig, box_region, energy_pointing_game
from amx.metrics.pointing import PointingGameConfig, pointing_game
from amx.metrics.pxap import PxAPConfig, average_precision, pixel_histograms
from amx.metrics.road import RoadConfig, road_curves
from amx.metrics.wsl import (
    AlphaBoxConfig,
    BoxAccV2Config,
    WSLConfig,
    alpha_box_ious,
    box_acc_v2_hits,
    box_iou_curves,
    from_run_lengths,
    run_lengths,
    select_threshold,
)
from amx.registry import Registry


@dataclass(frozen=True)
class ScoreBatch:
    """What a metric may read to score maps: the ``model``, images ``[B, 3, H, W]`` in [0, 1], the
    maps ``[B, H, W]``, targets ``[B]``, each image's boxes (``[k, 4]`` xyxy inclusive), the
    model inputs per pass (``batch_size``) and, for a metric whose spec ``uses_masks``, the exact
    object masks (bool ``[B, H, W]``) of a world that has them."""

    model: torch.nn.Module
    images: torch.Tensor
    maps: torch.Tensor
    targets: torch.Tensor
    boxes: Sequence[torch.Tensor]
    batch_size: int
    masks: torch.Tensor | None = None


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric (see the module docstring). ``version`` keys its cached scores: bump it
    when a change alters them. ``test_column`` is the per-image column statistical tests use.
    ``uses_masks(config)``: whether scoring with ``config`` reads the world's exact object masks."""

    name: str
    higher_is_better: bool
    config: type
    description: str
    score: Callable[[Any, ScoreBatch], list[dict]]
    columns: Callable[[Any, list[dict]], dict[str, Any]]
    column_names: tuple[str, ...]
    forwards: Callable[[Any, int], int] = lambda config, n_pixels: 0
    test_column: str | None = None
    version: int = 1
    uses_masks: Callable[[Any], bool] = lambda config: False

    def __post_init__(self):
        if not self.column_names:
            raise ValueError(f"metric {self.name!r}: column_names must name at least its score column")

    @property
    def column(self) -> str:
        """The ScoreTable column of the metric's per-image score."""
        return self.column_names[0]

    @property
    def per_image_column(self) -> str:
        return self.test_column or self.column


def _pointing_score(config: PointingGameConfig, b: ScoreBatch) -> list[dict]:
    return [{"hit": bool(h)} for h in pointing_game(b.maps, b.boxes, config.tolerance).cpu()]


def _wsl_score(config: WSLConfig, b: ScoreBatch) -> list[dict]:
    return [{"iou_curve": c.tolist()} for c in box_iou_curves(b.maps.cpu(), b.boxes, config)]


def _object_region(metric: str, region: str, b: ScoreBatch) -> torch.Tensor:
    """The object's pixels: the world's exact masks (``region == "mask"``) or its boxes' union."""
    if region == "mask":
        if b.masks is None:
            raise ValueError(f"{metric} with region='mask' needs the world's exact object masks, "
                             "and this world has none; use region='box'")
        return b.masks.bool()
    return box_region(b.boxes, *b.maps.shape[1:])


def _energy_score(config: EnergyConfig, b: ScoreBatch) -> list[dict]:
    region = _object_region("energy_pointing_game", config.region, b)
    return [{"energy": float(e)} for e in energy_pointing_game(b.maps, region).cpu()]


def _pxap_score(config: PxAPConfig, b: ScoreBatch) -> list[dict]:
    inside, outside = pixel_histograms(b.maps, _object_region("pxap", config.region, b), config)
    return [{"inside": i.tolist(), "outside": o.tolist()} for i, o in zip(inside, outside, strict=True)]


def _pxap_columns(config: PxAPConfig, records: list[dict]) -> dict:
    """Each image's own AP, and the set's PxAP of the summed histograms (the reference's)."""
    inside = np.array([r["inside"] for r in records])
    outside = np.array([r["outside"] for r in records])
    return {"pxap": [average_precision(i, o) for i, o in zip(inside, outside, strict=True)],
            "pxap_set": average_precision(inside.sum(0), outside.sum(0))}


def _road_score(config: RoadConfig, b: ScoreBatch) -> list[dict]:
    curves = road_curves(b.model, b.images, b.maps, b.targets, config, b.batch_size)
    return [{"morf": c[0].tolist(), "lerf": c[1].tolist()} for c in curves]


def _road_columns(config: RoadConfig, records: list[dict]) -> dict:
    morf = torch.tensor([r["morf"] for r in records], dtype=torch.float64)
    lerf = torch.tensor([r["lerf"] for r in records], dtype=torch.float64)
    return {"road": ((lerf - morf) / 2).mean(1).tolist(), "road_morf": morf.mean(1).tolist(),
            "road_lerf": lerf.mean(1).tolist()}


def _box_acc_v2_score(config: BoxAccV2Config, b: ScoreBatch) -> list[dict]:
    curves = box_iou_curves(b.maps.cpu(), b.boxes, config.curves)
    return [{"iou_runs": run_lengths(c.tolist())} for c in curves]


def _box_acc_v2_columns(config: BoxAccV2Config, records: list[dict]) -> dict:
    """MaxBoxAccV2: each IoU threshold's best tau for the whole set; per image, its mean hit."""
    curves = torch.tensor([from_run_lengths(r["iou_runs"]) for r in records], dtype=torch.float64)
    return {"max_box_acc_v2": box_acc_v2_hits(curves, config).tolist()}


def _wsl_columns(config: WSLConfig, records: list[dict]) -> dict:
    """MaxBoxAcc picks one threshold for the whole set, then each map's hit and IoU at it."""
    best = select_threshold(torch.tensor([r["iou_curve"] for r in records], dtype=torch.float64), config)
    return {"wsl": best.hit.double().tolist(), "wsl_iou": best.iou.tolist(), "wsl_threshold": best.tau}


def _causal(score):
    def run(config: CausalConfig, b: ScoreBatch) -> list[dict]:
        result = score(b.model, b.images, b.maps, b.targets, config, batch_size=b.batch_size)
        pairs = zip(result.auc, result.p_image, strict=True)
        return [{"auc": float(a), "p_image": float(p)} for a, p in pairs]
    return run


def _causal_columns(name: str):
    def columns(config: CausalConfig, records: list[dict]) -> dict:
        return {name: [r["auc"] for r in records],
                f"{name}_normalized": [r["auc"] / r["p_image"] for r in records]}
    return columns


METRICS: Registry[MetricSpec] = Registry("metric", "amx.metrics", MetricSpec)
for _spec in (
    MetricSpec("pointing_game", True, PointingGameConfig,
               "hit of the map's maximum within the tolerance of a GT box", _pointing_score,
               lambda config, records: {"pointing_game": [float(r["hit"]) for r in records]},
               ("pointing_game",)),
    MetricSpec("wsl", True, WSLConfig,
               "IoU >= 0.5 of the largest-region box at the set's best threshold (MaxBoxAcc)", _wsl_score,
               _wsl_columns, ("wsl", "wsl_iou", "wsl_threshold"), test_column="wsl_iou",
               version=2),  # 2: multi_contour takes the holes' contours too, as OpenCV's RETR_TREE
    MetricSpec("wsl_alpha", True, AlphaBoxConfig,
               "mean over alpha 0.1-0.5 of the IoU of one box around map >= alpha max (SAM's WSL)",
               lambda config, b: [{"ious": r.tolist()}
                                  for r in alpha_box_ious(b.maps.cpu(), b.boxes, config)],
               lambda config, records: {"wsl_alpha": [sum(r["ious"]) / len(r["ious"]) for r in records]},
               ("wsl_alpha",)),
    MetricSpec("energy_pointing_game", True, EnergyConfig,
               "share of the map's positive mass inside the object's boxes (or exact mask)", _energy_score,
               lambda config, records: {"energy_pointing_game": [r["energy"] for r in records]},
               ("energy_pointing_game",), uses_masks=lambda config: config.region == "mask"),
    MetricSpec("max_box_acc_v2", True, BoxAccV2Config,
               "MaxBoxAcc over every contour's box, averaged over IoU 0.3/0.5/0.7 (wsolevaluation's V2)",
               _box_acc_v2_score, _box_acc_v2_columns, ("max_box_acc_v2",)),
    MetricSpec("pxap", True, PxAPConfig,
               "average precision of the map's pixels against the object mask (per image; _set: the set's)",
               _pxap_score, _pxap_columns, ("pxap", "pxap_set"),
               uses_masks=lambda config: config.region == "mask"),
    MetricSpec("road", True, RoadConfig,
               "ROAD: mean over 10-90% removed of (P(target) after LeRF - after MoRF) / 2, noisy linear "
               "imputation; _morf, _lerf: each order's mean P(target)", _road_score, _road_columns,
               ("road", "road_morf", "road_lerf"),
               forwards=lambda config, n_pixels: 2 * len(config.percentages)),
    MetricSpec("insertion", True, CausalConfig,
               "AUC of p(target) as top pixels are inserted; _normalized: AUC / p(target | image)",
               _causal(insertion), _causal_columns("insertion"), ("insertion", "insertion_normalized"),
               forwards=causal_forwards, version=2),  # 2: the substrate's forward shared (amx.metrics.causal)
    MetricSpec("deletion", False, CausalConfig,
               "AUC of p(target) as top pixels are deleted; _normalized: AUC / p(target | image)",
               _causal(deletion), _causal_columns("deletion"), ("deletion", "deletion_normalized"),
               forwards=causal_forwards, version=2),  # 2: the substrate's forward shared (amx.metrics.causal)
):
    METRICS.register(_spec.name, _spec, source=__name__)
