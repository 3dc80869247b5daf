"""Hyperparameter presets: the paper's values for 224-px ImageNet inputs, and the embedded
world's scaled values, both per model where the paper tuned per model (Table A1,
``fixtures/paper/tableA1_tuned_hyperparameters.csv``).

``preset_overrides(method, preset, model)`` returns config overrides; ``amx.methods.get(name,
preset=..., model=...)`` applies them. A model is named by its Table A1 row, which
``amx.zoo.spec.paper_model_name(architecture, regime)`` gives for a zoo spec.

The ``mini`` preset (64-px images; a claims run of 12 CNNs x 9 methods x 100+ images per
architecture on a 2-core CPU) departs from the paper as follows, each value next to the paper's:

=============  ==========================  =========================  ================================
method         parameter                   paper (224 px)             mini (64 px)
=============  ==========================  =========================  ================================
ep             step, sigma, max_blur       7, 21, 20                  2, 6, 6 (x 64/224)
ep             iterations                  800                        12 (CPU budget), with
ep             learning_rate, regul_growth 0.01, 1.0035               0.1, 1.0035^(800/12): the
                                                                      paper's total regulariser
                                                                      growth over 12 steps; maps:
                                                                      Spearman 0.96 (vanilla) and
                                                                      0.81 (robust ResNet) with 300
                                                                      paper-schedule iterations
mp             mask_size                   28                         8 (x 64/224)
mp             blur_kernel, blur_sigma     11, 5                      3, 1.5 (x 64/224)
mp             iterations                  Table A1 (500, 400, 10)    Table A1, at most 40 (CPU)
rise           n_masks                     Table A1 (8000 ...)        Table A1 / 32 (CPU budget)
lime           n_samples                   1000                       128 (the paper: N has no
                                                                      significant effect on LIME)
lime           sigma (SLIC smoothing)      3                          0.86 (x 64/224)
ig             n_steps                     50                         20 (CPU budget)
shap           n_samples                   200                        32 (CPU budget)
sliding_patch  patch, stride               29, 8                      8, 4 (x 64/224, rounded)
=============  ==========================  =========================  ================================

Unchanged: EP areas, RISE cells and LIME superpixels (fractions of the image), and every other
method's values (SmoothGrad 50 samples at 15%).
"""

from __future__ import annotations

import csv
import functools

from amx.files import PAPER_DIR

PRESETS = ("paper", "mini")
TABLE_A1 = PAPER_DIR / "tableA1_tuned_hyperparameters.csv"

_MINI_FIXED = {
    "ep": {"step": 2, "sigma": 6.0, "max_blur": 6.0, "iterations": 12, "learning_rate": 0.1,
           "regul_growth": 1.0035 ** (800 / 12)},
    "mp": {"mask_size": 8, "blur_kernel": 3, "blur_sigma": 1.5},
    "lime": {"n_samples": 128, "sigma": 0.86},
    "ig": {"n_steps": 20},
    "shap": {"n_samples": 32},
    "sliding_patch": {"patch": 8, "stride": 4},
}
MINI_MP_MAX_ITERATIONS = 40
MINI_RISE_MASK_DIVISOR = 32


@functools.cache
def table_a1() -> dict[str, dict]:
    """Table A1 by row name (``Default``, ``ResNet``, ``ResNet-R``, ``PGD-1`` ...)."""
    with open(TABLE_A1, newline="") as f:
        return {row["model"]: {
            "ep_areas": tuple(float(a) for a in row["ep_areas"].split(";")),
            "mp_steps": int(row["mp_steps"]), "rise_cells": int(row["rise_mask_size"]),
            "rise_n_masks": int(row["rise_n_masks"]), "lime_superpixels": int(row["lime_superpixels"]),
        } for row in csv.DictReader(f)}


def preset_overrides(method: str, preset: str = "paper", model: str = "Default") -> dict:
    """Config overrides for ``method`` under ``preset`` for the Table A1 row ``model``."""
    if preset not in PRESETS:
        raise ValueError(f"preset: unknown {preset!r}; valid: {PRESETS}")
    rows = table_a1()
    if model not in rows:
        raise KeyError(f"model: no Table A1 row {model!r}; valid: {sorted(rows)}")
    row = rows[model]
    tuned = {
        "ep": {"areas": row["ep_areas"]},
        "mp": {"iterations": row["mp_steps"]},
        "rise": {"cells": row["rise_cells"], "n_masks": row["rise_n_masks"]},
        "lime": {"n_superpixels": row["lime_superpixels"]},
    }.get(method, {})
    if preset == "paper":
        return tuned
    out = {**tuned, **_MINI_FIXED.get(method, {})}
    if method == "mp":
        out["iterations"] = min(row["mp_steps"], MINI_MP_MAX_ITERATIONS)
    if method == "rise":
        out["n_masks"] = row["rise_n_masks"] // MINI_RISE_MASK_DIVISOR
    return out
