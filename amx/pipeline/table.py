"""The ScoreTable: one row per (model, method, image), as a pandas DataFrame.

Columns (``COLUMNS``): the model (``model``, ``architecture``, ``regime``), the method
(``method``, ``family``), the image (``image`` = index in the world's eval split, ``label``), the
model on the clean image (``predicted``, ``confidence`` = p(label | image), ``correct``), the
scores (``pointing_game`` hit 0/1; ``wsl`` hit 0/1 and ``wsl_iou`` at the set's threshold
``wsl_threshold``, so MaxBoxAcc = mean ``wsl``; ``insertion`` and ``deletion`` AUCs), the
method's ``runtime_s`` per image, and ``status`` ("ok" or "n/a" where the method does not apply
to the model, with the reason in ``note``; N/A rows have NaN scores).

Saved as CSV (``save_table``) with the run's metadata (``table.attrs``) in a JSON beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from amx.files import write_atomic

COLUMNS = ["model", "architecture", "regime", "method", "family", "image", "label", "predicted",
           "confidence", "correct", "pointing_game", "wsl", "wsl_iou", "wsl_threshold", "insertion",
           "deletion", "runtime_s", "status", "note"]
SCORES = ("pointing_game", "wsl", "insertion", "deletion")


def save_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write ``table`` as CSV and its ``attrs`` as ``<path>.meta.json`` (both atomically)."""
    path = Path(path)
    csv_text = table.to_csv(index=False)
    write_atomic(path, lambda f: f.write(csv_text.encode()))
    meta = json.dumps(table.attrs, indent=1, default=str)
    write_atomic(path.with_suffix(path.suffix + ".meta.json"), lambda f: f.write(meta.encode()))
    return path


def load_table(path: str | Path) -> pd.DataFrame:
    """A table written by ``save_table``; a file without amx's columns is an error naming it."""
    path = Path(path)
    table = pd.read_csv(path, dtype={"note": str}, keep_default_na=True)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: not an amx ScoreTable, missing columns {missing}")
    table["note"] = table["note"].fillna("")
    meta = path.with_suffix(path.suffix + ".meta.json")
    if meta.is_file():
        table.attrs.update(json.loads(meta.read_text()))
    return table
