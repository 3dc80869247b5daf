"""``results.json``: everything the report shows, so that ``amx report`` re-renders it alone.

A session (``amx.session.build_results``) gathers the claim sets (claims as data), one entry per
judged case (verdict, outcome, baseline comparison), a per-claim summary (``summarise``) with
its headline statistic, each claim set's figure data (aggregates with bootstrap CIs, never the
raw table), its methods against the control maps (``against_controls``), Table 1 and the
provenance of the run (``provenance``).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import amx
from amx import kernels
from amx.files import write_atomic

SCHEMA_VERSION = 2


def git_commit() -> str | None:
    """The working tree's commit (with ``-dirty`` if it has changes), or None outside git."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def provenance(world, device: str, device_name: str, seed: int, n_images: int, run_config: dict | None,
               fingerprints: dict, stage_seconds: dict, passes: dict | None = None) -> dict:
    """Where and how the run was made: versions, commit, device (with the CPU kernel path and
    threads, which float32 results depend on: ``amx.kernels``), world, seeds, config, models."""
    return {"amx_version": amx.__version__, "git_commit": git_commit(), "torch": torch.__version__,
            "device": device, "device_name": device_name, "kernel_path": kernels.current(),
            "threads": torch.get_num_threads(), "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "world": world.name, "world_version": world.version, "world_seed": world.seed,
            "world_description": world.description, "world_departures": world.departures,
            "seed": seed, "n_images": n_images, "run": run_config, "model_fingerprints": fingerprints,
            "stage_seconds": stage_seconds, "passes": passes}


def _headline(claim: dict | None, mine: list[dict]) -> dict:
    wanted = f"{claim['id']}[{claim['headline']}]" if claim and claim.get("headline") else None
    case = next((e for e in mine if e["case_id"] == wanted), mine[0])
    return {k: case.get(k) for k in ("case_id", "statistic", "ci", "p_value", "threshold", "paper_value",
                                     "passed", "details")}


def summarise(entries: list[dict], claim_sets: list[dict] | None = None) -> list[dict]:
    """One row per claim of the claim sets' catalogues (in their order) and per other claim
    judged (in the order judged): its set and statement, cases judged and passed, cases not
    applicable on the world, cases that could not be judged (``errors``), whether it holds
    (every judged case passed; None when none was judged), and its headline case."""
    claims = {cid: (cs["name"], c) for cs in claim_sets or [] for cid, c in cs["claims"].items()}
    out = []
    for cid in dict.fromkeys([*claims, *(e["claim"] for e in entries)]):
        of_claim = [e for e in entries if e["claim"] == cid]
        mine = [e for e in of_claim if e.get("outcome") not in ("not applicable", "error")]
        not_applicable = [e for e in of_claim if e.get("outcome") == "not applicable"]
        errors = [e for e in of_claim if e.get("outcome") == "error"]
        passed = sum(e["passed"] for e in mine)
        set_name, claim = claims.get(cid, (None, None))
        out.append({"claim": cid, "claim_set": set_name, "statement": claim["statement"] if claim else "",
                    "section": claim["section"] if claim else "",
                    "paper_value": claim["paper_value"] if claim else "", "cases": len(mine),
                    "passed": passed, "not_applicable": len(not_applicable), "errors": len(errors),
                    "borderline": sum((e.get("stability") or {}).get("label") == "borderline" for e in mine),
                    "holds": passed == len(mine) if mine else None,
                    "headline": _headline(claim, mine) if mine else None})
    return out


def against_controls(evidence, metrics: tuple[str, ...]) -> dict:
    """A claim set's methods against the control maps (``amx.methods.controls``) on its ScoreTable
    (``evidence.ok`` and ``evidence.controls``), on the (model, image) rows the controls were
    scored on (``amx.evidence.with_controls``: a table's first images): per metric, each method's
    and each control's mean score there, and per control and metric how many of the methods beat it
    (a higher mean; a lower one where lower is better, Deletion)."""
    from amx.metrics import METRICS

    controls = evidence.controls[evidence.controls["status"] == "ok"]
    table = pd.concat([evidence.at_control_images(), controls])
    methods = list(dict.fromkeys(evidence.ok["method"]))
    names = list(dict.fromkeys(controls["method"]))
    means, beats, higher = {}, {c: {} for c in names}, {}
    for metric in metrics:
        spec = METRICS.get(metric)
        column = spec.column_names[0]
        if column not in table:
            continue
        found = table.groupby("method")[column].mean().dropna()
        means[metric] = {m: float(found[m]) for m in methods + names if m in found}
        higher[metric] = spec.higher_is_better
        for control in names:
            if control in found:
                beats[control][metric] = sum(
                    (found[m] > found[control]) if spec.higher_is_better else (found[m] < found[control])
                    for m in methods if m in found)
    return {"methods": methods, "controls": names, "metrics": list(means), "higher_is_better": higher,
            "means": means, "beats": beats,
            "n_methods": {k: sum(m in v for m in methods) for k, v in means.items()},
            "images_per_model": int(controls.groupby("model")["image"].nunique().max()) if len(controls)
            else None}


def holm_within_claims(entries: list[dict]) -> None:
    """Set ``p_holm`` on each entry whose p-value decides its verdict: Holm's adjustment among
    those of its claim the session judged (the one ``--holm`` judged on, where it did)."""
    from amx.stats import holm

    family: dict[str, list[dict]] = {}
    for entry in entries:
        if (entry.get("details") or {}).get("p_holm") is not None:
            entry["p_holm"] = entry["details"]["p_holm"]
        elif entry.get("p_decides") and entry.get("p_value") is not None:
            family.setdefault(entry["claim"], []).append(entry)
    for members in family.values():
        for entry, adjusted in zip(members, holm([e["p_value"] for e in members]), strict=True):
            entry["p_holm"] = float(adjusted)


def write_results(results: dict, path: str | Path) -> Path:
    path = Path(path)
    text = json.dumps(results, indent=1, default=_json_default) + "\n"
    write_atomic(path, lambda f: f.write(text.encode()))
    return path


def load_results(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no results file; run `pytest evals -m claims` first")
    results = json.loads(path.read_text())
    if results.get("schema") != SCHEMA_VERSION:
        raise ValueError(f"{path}: results schema {results.get('schema')!r}, this amx reads {SCHEMA_VERSION}")
    return results


def _json_default(value):
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
