"""The content-addressed cache of a claims run: one SQLite file, ``<cache>/store.sqlite``.

A key is the SHA-256 of the canonical JSON of everything a value depends on (``content_key``):
the world and image id, the model's weight fingerprint, the method's or metric's name, version
and config. Values are never pickled:

* ``maps``: one attribution map per key, stored as float16 bytes of ``map / scale`` with its
  float32 ``scale`` = max |map| (so float16 neither overflows nor loses the map's relative
  precision);
* ``runtimes``: the seconds per image a map took, per (map key, device it was measured on): a
  CPU's timings never stand in for a GPU's;
* ``records``: a JSON document per key (metric scores, a model's predictions);
* ``arrays``: one float32 array per key, stored exactly (BIG's decision-boundary points);
* ``labels``: what each map or array is of (its model and its method, or ``boundary_points``),
  so that two stores can be compared method by method (``amx stability --kernels``).

Each ``put_*`` call is one SQLite transaction: a killed run keeps every finished call and never
leaves a half-written entry. The pipeline reads maps back through the store, so a cold and a
warm run score exactly the same (float16-rounded) maps.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS maps (key TEXT PRIMARY KEY, height INTEGER, width INTEGER,
                                 scale REAL, data BLOB);
CREATE TABLE IF NOT EXISTS runtimes (key TEXT, device TEXT, seconds REAL, PRIMARY KEY (key, device));
CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS arrays (key TEXT PRIMARY KEY, shape TEXT, data BLOB);
CREATE TABLE IF NOT EXISTS labels (key TEXT PRIMARY KEY, model TEXT, what TEXT);
"""


def content_key(**parts) -> str:
    """SHA-256 of the canonical JSON of ``parts`` (sorted keys; tuples as lists).

    >>> content_key(a=1, b=(2, 3)) == content_key(b=[2, 3], a=1)
    True
    """
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def encode_map(score_map: np.ndarray) -> tuple[float, bytes]:
    """(scale, float16 bytes of map / scale); an all-zero map has scale 1."""
    m = np.asarray(score_map, dtype=np.float32)
    if not np.isfinite(m).all():
        raise ValueError("encode_map: the map has NaN or inf values")
    scale = float(np.abs(m).max()) or 1.0
    return scale, (m / scale).astype(np.float16).tobytes()


def decode_map(height: int, width: int, scale: float, data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.float16).reshape(height, width).astype(np.float32) * np.float32(scale)


class Store:
    """The cache at ``<root>/store.sqlite``; ``root`` is created on first use."""

    def __init__(self, root: Path | str):
        self.path = Path(root) / "store.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path)
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as err:
            raise RuntimeError(f"cache {self.path}: not a readable amx store ({err}); "
                               "move it away or point --cache-dir elsewhere") from None

    def close(self) -> None:
        self._db.close()

    def _select(self, table: str, columns: str, keys: list[str], where: str = "", args=()) -> list[tuple]:
        rows = []
        for first in range(0, len(keys), 500):  # SQLite's bound-parameter limit
            chunk = keys[first:first + 500]
            marks = ",".join("?" * len(chunk))
            rows += self._db.execute(f"SELECT key, {columns} FROM {table} WHERE key IN ({marks}){where}",
                                     [*chunk, *args]).fetchall()
        return rows

    def get_maps(self, keys: list[str]) -> dict[str, np.ndarray]:
        """``{key: map float32 [H, W]}`` for the keys present."""
        rows = self._select("maps", "height, width, scale, data", keys)
        return {k: decode_map(h, w, s, d) for k, h, w, s, d in rows}

    def has_maps(self, keys: list[str]) -> set[str]:
        """The keys whose map is stored (without decoding them)."""
        return {k for k, _ in self._select("maps", "1", keys)}

    def put_maps(self, items: Iterable[tuple[str, np.ndarray, float]], device: str,
                 of: tuple[str, str]) -> None:
        """Store ``(key, map [H, W], seconds per image on device)`` items in one transaction; ``of``:
        the ``(model, method)`` the maps are of."""
        maps, runtimes = [], []
        for key, score_map, seconds in items:
            scale, data = encode_map(score_map)
            maps.append((key, *score_map.shape, scale, data))
            runtimes.append((key, device, float(seconds)))
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO maps (key, height, width, scale, data) "
                                 "VALUES (?, ?, ?, ?, ?)", maps)
            self._db.executemany("INSERT OR REPLACE INTO runtimes VALUES (?, ?, ?)", runtimes)
            self._label([m[0] for m in maps], of)

    def get_runtimes(self, keys: list[str], device: str) -> dict[str, float]:
        """``{key: seconds per image}`` measured on ``device``, for the keys that have one."""
        return dict(self._select("runtimes", "seconds", keys, " AND device = ?", (device,)))

    def put_runtimes(self, items: Iterable[tuple[str, float]], device: str) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO runtimes VALUES (?, ?, ?)",
                                 [(k, device, float(s)) for k, s in items])

    def get_records(self, keys: list[str]) -> dict[str, dict]:
        return {k: json.loads(v) for k, v in self._select("records", "value", keys)}

    def put_records(self, items: Iterable[tuple[str, dict]]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?)",
                                 [(k, json.dumps(v)) for k, v in items])

    def get_arrays(self, keys: list[str]) -> dict[str, np.ndarray]:
        """``{key: float32 array}`` for the keys present."""
        return {k: np.frombuffer(d, dtype=np.float32).reshape(json.loads(shape))
                for k, shape, d in self._select("arrays", "shape, data", keys)}

    def put_arrays(self, items: Iterable[tuple[str, np.ndarray]], of: tuple[str, str]) -> None:
        """Store ``(key, array)`` items as float32 in one transaction; ``of``: the ``(model, what)``
        they are of."""
        rows = []
        for key, array in items:
            array = np.ascontiguousarray(array, dtype=np.float32)
            if not np.isfinite(array).all():
                raise ValueError(f"put_arrays: the array of key {key[:12]}... has NaN or inf values")
            rows.append((key, json.dumps(list(array.shape)), array.tobytes()))
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO arrays VALUES (?, ?, ?)", rows)
            self._label([r[0] for r in rows], of)

    def _label(self, keys: list[str], of: tuple[str, str]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO labels VALUES (?, ?, ?)", [(k, *of) for k in keys])

    def labelled(self, table: str) -> dict[str, tuple[str, str]]:
        """``{key: (model, what)}`` of every entry of ``table`` (``maps`` or ``arrays``) whose label
        was stored (a store written before labels existed has unlabelled entries)."""
        if table not in ("maps", "arrays"):
            raise ValueError(f"labelled: table must be 'maps' or 'arrays', got {table!r}")
        rows = self._db.execute(f"SELECT {table}.key, labels.model, labels.what FROM {table} "
                                f"JOIN labels ON labels.key = {table}.key").fetchall()
        return {k: (model, what) for k, model, what in rows}

    def counts(self) -> dict[str, int]:
        return {t: self._db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("maps", "runtimes", "records", "arrays")}
