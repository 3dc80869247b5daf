"""Baselines: a claims run's verdicts stored to judge later runs against (``--baseline PATH``).

A baseline records the world, its version, n_images, seed, device, amx version, ``--holm`` and
the resampling setting beside every case's verdict, statistic and stability. One recorded on
another world or world version cannot be compared (its verdicts are about other data); one
recorded with another setting is compared all the same, with a warning naming each difference.
A baseline also records each model's fingerprint (``models``), so that a later run names the
models that changed since (``changed_models``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from amx.files import write_atomic

SAME_DATA = ("world", "world_version")
SETTINGS = ("n_images", "seed", "preset", "device", "device_name", "amx_version", "holm", "stability")


class AmxBaselineWarning(UserWarning):
    """The baseline was recorded with another n_images, seed, device, amx version, ``--holm`` or
    resampling setting."""


def load(path: Path, record: dict) -> tuple[dict, list[str]]:
    """The baseline at ``path`` (``{"cases": {case id: ...}, "models": {model: fingerprint}, ...}``)
    and a warning per setting of ``record`` (the run's, ``Session.record``) that differs from the
    baseline's. A missing or foreign file, or one of other data, is a ``ValueError`` naming it."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--baseline: no file {path}; create it with --update-baseline")
    try:
        data = json.loads(path.read_text())
        data["cases"]
    except (ValueError, KeyError) as err:
        raise ValueError(f"--baseline: {path} is not an amx baseline ({err})") from None
    for key in SAME_DATA:
        if data.get(key) != record[key]:
            raise ValueError(f"--baseline: {path} was recorded with {key} {data.get(key)!r}, this session "
                             f"runs with {record[key]!r}; its verdicts are about other data")
    warnings = [f"--baseline {path} was recorded with {key} {data.get(key)!r}, this session has "
                f"{record[key]!r}" for key in SETTINGS if data.get(key) != record[key]
                and not (key == "preset" and key not in data)]  # recorded before --preset: the world's
    return data, warnings


def changed_models(old: dict | None, new: dict) -> dict[str, str]:
    """``{model: what changed}`` between the fingerprints ``old`` (a baseline's ``models``; None:
    recorded before baselines had them, nothing is named) and ``new``: a changed fingerprint, a
    model added or a model gone."""
    if old is None:
        return {}
    out = {}
    for name in {**old, **new}:
        before, after = old.get(name), new.get(name)
        if before != after:
            out[name] = ("new model" if before is None else "gone" if after is None
                         else f"fingerprint {before[:12]} -> {after[:12]}")
    return dict(sorted(out.items()))


def write(path: Path, record: dict, verdicts: list, entries: list[dict]) -> Path:
    """Store ``verdicts`` (with the stabilities of their ``entries``) and ``record`` at ``path``."""
    stable = {e["case_id"]: e["stability"] for e in entries if e.get("stability")}
    data = {**record, "created": time.strftime("%Y-%m-%d"),
            "cases": {v.case_id: {"passed": v.passed, "statistic": v.statistic,
                                  **({"stability": {k: stable[v.case_id][k] for k in ("share", "label")}}
                                     if v.case_id in stable else {})} for v in verdicts}}
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    write_atomic(Path(path), lambda f: f.write(text.encode()))
    return Path(path)
