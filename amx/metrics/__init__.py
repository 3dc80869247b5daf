"""The paper's evaluation metrics (Sec 2.4): pure, batched functions over maps ``[B, H, W]``.

Localisation: ``pointing_game`` (TorchRay's rule), ``max_box_acc`` (wsolevaluation's MaxBoxAcc,
"WSL"), ``max_box_acc_v2`` and ``pxap`` (wsolevaluation's MaxBoxAccV2 and pixel average
precision). Causal: ``insertion`` and ``deletion`` (RISE's CausalMetric), ``road`` (ROAD's
removal orders with noisy linear imputation). Conventions are in
``amx.metrics.inputs``; each module's docstring gives the formula and where amx departs from the
reference implementation.

``METRICS`` (``amx.metrics.specs``) registers each metric once: its direction, config, scoring
function and ScoreTable columns, for the pipeline and the report:

>>> METRICS.get("deletion").higher_is_better
False
"""

from __future__ import annotations

from amx.metrics.boxes import box_iou
from amx.metrics.causal import CausalConfig, CausalResult, deletion, insertion
from amx.metrics.pointing import PointingGameConfig, pointing_game
from amx.metrics.specs import METRICS, MetricSpec, ScoreBatch
from amx.metrics.wsl import BoxAccuracy, WSLConfig, box_iou_curves, max_box_acc, select_threshold

__all__ = [
    "METRICS", "BoxAccuracy", "CausalConfig", "CausalResult", "MetricSpec", "PointingGameConfig",
    "ScoreBatch", "WSLConfig", "box_iou", "box_iou_curves", "deletion", "insertion", "max_box_acc",
    "pointing_game", "select_threshold",
]
