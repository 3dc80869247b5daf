"""The paper's evaluation metrics (Sec 2.4): pure, batched functions over maps ``[B, H, W]``.

Localisation: ``pointing_game`` (TorchRay's rule), ``max_box_acc`` (wsolevaluation's MaxBoxAcc,
"WSL"). Causal: ``insertion`` and ``deletion`` (RISE's CausalMetric). Conventions are in
``amx.metrics.inputs``; each module's docstring gives the formula and where amx departs from the
reference implementation.

``METRICS`` declares, once, each per-image score's direction and config, for the pipeline and the
report:

>>> METRICS["deletion"].higher_is_better
False
"""

from __future__ import annotations

from dataclasses import dataclass

from amx.metrics.boxes import box_iou
from amx.metrics.causal import CausalConfig, CausalResult, deletion, insertion
from amx.metrics.pointing import PointingGameConfig, pointing_game
from amx.metrics.wsl import BoxAccuracy, WSLConfig, box_iou_curves, max_box_acc, select_threshold


@dataclass(frozen=True)
class MetricInfo:
    """A per-image score: its name, whether higher is better, its config type, a description, and
    the version that keys its cached scores (bump it when a change alters the scores)."""

    name: str
    higher_is_better: bool
    config: type
    description: str
    version: int = 1


METRICS: dict[str, MetricInfo] = {info.name: info for info in (
    MetricInfo("pointing_game", True, PointingGameConfig,
               "hit of the map's maximum within the tolerance of a GT box"),
    MetricInfo("wsl", True, WSLConfig,
               "IoU >= 0.5 of the largest-region box at the set's best threshold (MaxBoxAcc)"),
    MetricInfo("insertion", True, CausalConfig, "AUC of p(target) as top pixels are inserted"),
    MetricInfo("deletion", False, CausalConfig, "AUC of p(target) as top pixels are deleted"),
    MetricInfo("insertion_normalized", True, CausalConfig, "insertion AUC / p(target | image)"),
    MetricInfo("deletion_normalized", False, CausalConfig, "deletion AUC / p(target | image)"),
)}

__all__ = [
    "METRICS", "BoxAccuracy", "CausalConfig", "CausalResult", "MetricInfo", "PointingGameConfig",
    "WSLConfig", "box_iou", "box_iou_curves", "deletion", "insertion", "max_box_acc",
    "pointing_game", "select_threshold",
]
