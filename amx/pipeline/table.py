"""The ScoreTable: one row per (model, method, image), as a pandas DataFrame.

Columns (``table_columns``): the model (``model``, ``architecture``, ``regime``), the method
(``method``, ``family``), the image (``image`` = index in the world's eval split, ``label``), the
model on the clean image (``predicted``, ``confidence`` = p(label | image), ``correct``), then
each metric's columns in run order (``MetricSpec.column_names``; the paper's: ``pointing_game``
hit 0/1; ``wsl`` hit 0/1, ``wsl_iou`` at the set's threshold ``wsl_threshold``, so MaxBoxAcc =
mean ``wsl``; ``insertion``, ``deletion`` AUCs and their ``_normalized`` AUC / p(label | image)),
the method's ``runtime_s`` per image on the run's device (NaN where only a sample was re-timed),
and ``status`` ("ok" or "n/a" where the method does not apply to the model, with the reason in
``note``; N/A rows have NaN scores).

Saved as CSV (``save_table``) with the run's metadata (``RunResult.meta()``) in a JSON beside it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from amx.files import write_atomic

BASE_COLUMNS = ["model", "architecture", "regime", "method", "family", "image", "label", "predicted",
                "confidence", "correct"]
TAIL_COLUMNS = ["runtime_s", "status", "note"]


def table_columns(metric_specs: Iterable) -> list[str]:
    """The ScoreTable's columns for metrics with these specs, in order."""
    return BASE_COLUMNS + [c for spec in metric_specs for c in spec.column_names] + TAIL_COLUMNS


def save_table(result, path: str | Path) -> Path:
    """Write a ``RunResult``'s table as CSV and its ``meta()`` as ``<path>.meta.json`` (atomically)."""
    path = Path(path)
    csv_text = result.table.to_csv(index=False)
    write_atomic(path, lambda f: f.write(csv_text.encode()))
    meta = json.dumps(result.meta(), indent=1, default=str)
    write_atomic(path.with_suffix(path.suffix + ".meta.json"), lambda f: f.write(meta.encode()))
    return path


def load_table(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """A table written by ``save_table`` and its metadata ({} without the JSON); a file without
    amx's columns is an error naming it."""
    path = Path(path)
    table = pd.read_csv(path, dtype={"note": str}, keep_default_na=True)
    missing = [c for c in BASE_COLUMNS + TAIL_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: not an amx ScoreTable, missing columns {missing}")
    table["note"] = table["note"].fillna("")
    meta = path.with_suffix(path.suffix + ".meta.json")
    return table, (json.loads(meta.read_text()) if meta.is_file() else {})
