"""Hyperparameter presets: which method and metric hyperparameters a run uses.

A ``Preset`` gives a method's config overrides for a model and each metric's config for an image
size. ``paper`` is the paper's values: its per-model Table A1 (``fixtures/paper/
tableA1_tuned_hyperparameters.csv``, for 224-px ImageNet inputs, ``table_a1_overrides``); a world
whose images or budgets differ registers its own preset through the ``amx.presets`` entry-point
group (the embedded world's ``mini``: ``amx.zoo.mini.PRESET``, the paper's values scaled, with
its departures tabulated there) and names it as ``World.preset``.

``preset_overrides(method, preset, model)`` returns config overrides for a model's paper row
(which ``amx.zoo.spec.paper_model_name(architecture, regime)`` gives for a zoo spec);
``amx.methods.get(name, preset=..., model=...)`` applies them. ``metric_configs(preset, size,
names)`` gives the metrics' configs; a metric the preset does not mention (a plugin's) gets its
config's defaults.

>>> preset_overrides("rise", "paper", "ResNet-R")
{'cells': 4, 'n_masks': 7000}
>>> metric_configs("paper", 224, ["insertion"])["insertion"].n_steps
112
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from amx.attacks.boundary import BoundaryConfig
from amx.files import PAPER_DIR
from amx.registry import Registry

TABLE_A1 = PAPER_DIR / "tableA1_tuned_hyperparameters.csv"


@dataclass(frozen=True)
class Preset:
    """A named preset. ``method_overrides(method, model)`` -> config overrides of ``method`` for
    the model whose paper row is ``model`` (a Table A1 row name, ``Default`` for a model the paper
    has no row for; None: every method's defaults). ``metric_configs(image_size)`` -> ``{metric:
    config}`` (None or a missing metric: defaults). ``zoo_eval_images``: the zoo evaluation's
    (Table 1's) images under this preset (None: the world's)."""

    name: str
    description: str
    method_overrides: Callable[[str, str], dict] | None = None
    metric_configs: Callable[[int], dict] | None = None
    zoo_eval_images: int | None = None


@functools.cache
def table_a1() -> dict[str, dict]:
    """Table A1 by row name (``Default``, ``ResNet``, ``ResNet-R``, ``PGD-1`` ...)."""
    with open(TABLE_A1, newline="") as f:
        return {row["model"]: {
            "ep_areas": tuple(float(a) for a in row["ep_areas"].split(";")),
            "mp_steps": int(row["mp_steps"]), "rise_cells": int(row["rise_mask_size"]),
            "rise_n_masks": int(row["rise_n_masks"]), "lime_superpixels": int(row["lime_superpixels"]),
        } for row in csv.DictReader(f)}


def table_a1_row(model: str) -> dict:
    """Table A1's row ``model``; an unknown name lists the rows."""
    rows = table_a1()
    if model not in rows:
        raise KeyError(f"model: no Table A1 row {model!r}; valid: {sorted(rows)}")
    return rows[model]


def table_a1_overrides(method: str, model: str) -> dict:
    """The ``paper`` preset's per-model values (Table A1, tuned per model for 224-px inputs): EP's
    areas, MP's iterations, RISE's cells and masks, LIME's superpixels of ``model``'s row."""
    row = table_a1_row(model)
    return {
        "ep": {"areas": row["ep_areas"]},
        "mp": {"iterations": row["mp_steps"]},
        "rise": {"cells": row["rise_cells"], "n_masks": row["rise_n_masks"]},
        "lime": {"n_superpixels": row["lime_superpixels"]},
    }.get(method, {})


def budgeted(fixed: dict[str, dict], mp_max_iterations: int, rise_mask_divisor: int) -> Callable:
    """``Preset.method_overrides`` for a smaller compute budget: the ``paper`` preset's Table A1
    values (``table_a1_overrides``), then ``fixed[method]``, with MP's iterations capped at
    ``mp_max_iterations`` and RISE's masks divided by ``rise_mask_divisor`` (the ``mini``,
    ``photos`` and ``smoke`` presets)."""
    def overrides(method: str, model: str) -> dict:
        row = table_a1_row(model)
        out = {**table_a1_overrides(method, model), **fixed.get(method, {})}
        if method == "mp":
            out["iterations"] = min(row["mp_steps"], mp_max_iterations)
        if method == "rise":
            out["n_masks"] = row["rise_n_masks"] // rise_mask_divisor
        return out
    return overrides


PRESETS: Registry[Preset] = Registry("preset", "amx.presets", Preset)
PAPER = Preset("paper", "the paper's values (Table A1, Sec 2.4) for 224-px ImageNet inputs",
               method_overrides=table_a1_overrides)
PRESETS.register(PAPER.name, PAPER, source=__name__)


def _sam_metric_configs(image_size: int) -> dict:
    """The sensitivity study's (SAM, seed 002) accuracy scores at any image size: Insertion and
    Deletion in 28 steps (1,792 px per step at 224 px) from the normalised-space zero (the mean
    colour), AUC / the curve's maximum; WSL as one box around ``map >= alpha max``."""
    from amx.metrics.causal import CausalConfig
    from amx.metrics.wsl import AlphaBoxConfig

    causal = CausalConfig(n_steps=28, substrate="mean", divide_by_max=True)
    return {"insertion": causal, "deletion": causal, "wsl_alpha": AlphaBoxConfig()}


SAM = Preset("sam", "the sensitivity study's (SAM, seed 002) accuracy scores; methods as the paper's",
             method_overrides=table_a1_overrides, metric_configs=_sam_metric_configs)
PRESETS.register(SAM.name, SAM, source=__name__)


def _smoke_metric_configs(image_size: int) -> dict:
    """Insertion and Deletion in 4 steps, ROAD at 50 % only; the other metrics as the paper's, at
    any image size."""
    from amx.metrics.causal import CausalConfig
    from amx.metrics.pointing import PointingGameConfig
    from amx.metrics.road import RoadConfig

    causal = CausalConfig(n_steps=4)
    return {"pointing_game": PointingGameConfig.for_image_size(image_size), "insertion": causal,
            "deletion": causal, "road": RoadConfig(percentages=(0.5,))}


SMOKE_BOUNDARY = BoundaryConfig(eps=(8.0,), pgd_steps=2, cw_steps=0)  # one large eps: trained CNNs flip
SMOKE_METHODS = {  # a few passes per map (MP 2 iterations and RISE 1/1000 of Table A1's masks: budgeted)
    "ep": {"areas": (0.1,), "iterations": 2}, "lime": {"n_samples": 8, "n_superpixels": 20},
    "shap": {"n_samples": 4, "background_size": 2}, "ig": {"n_steps": 4}, "smoothgrad": {"n_samples": 2},
    "sliding_patch": {"patch": 112, "stride": 112}, "agi": {"iterations": 2, "n_classes": 2},
    "big": {"n_steps": 2, "boundary": SMOKE_BOUNDARY}}
SMOKE = Preset("smoke", "a few passes per method and metric at any image size, Table 1 on 4 images: checks "
               "that a world's data, models and claims run end to end on a CPU in minutes (its verdicts "
               "mean nothing)", budgeted(SMOKE_METHODS, 2, 1000), _smoke_metric_configs, zoo_eval_images=4)
PRESETS.register(SMOKE.name, SMOKE, source=__name__)


def preset_overrides(method: str, preset: str = "paper", model: str = "Default") -> dict:
    """Config overrides for ``method`` under ``preset`` for the model whose paper row is ``model``
    (a Table A1 row name; the preset's ``method_overrides``, none for a preset without them)."""
    chosen = PRESETS.get(preset)
    return {} if chosen.method_overrides is None else chosen.method_overrides(method, model)


def metric_configs(preset: str, image_size: int, names: Iterable[str]) -> dict[str, object]:
    """``{metric name: config}`` of ``preset`` for the metrics ``names`` on square images of
    ``image_size`` pixels."""
    from amx.metrics import METRICS

    chosen = PRESETS.get(preset)
    configs = chosen.metric_configs(image_size) if chosen.metric_configs else {}
    return {name: configs.get(name) or METRICS.get(name).config() for name in names}
