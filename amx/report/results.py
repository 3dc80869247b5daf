"""``results.json``: everything the report shows, so that ``amx report`` re-renders it alone.

``build_results(verdicts, outcomes, table, zoo, provenance, heatmaps)`` gathers the claims (as
data), one entry per judged case (verdict, outcome, baseline comparison), a per-claim summary,
the figures' data (aggregates of the ScoreTable with bootstrap CIs, never the raw table) and the
provenance of the run.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import amx
from amx import stats
from amx.claims import paper, table1
from amx.files import write_atomic
from amx.pipeline.table import SCORES

SCHEMA_VERSION = 1
OUTCOMES = ("passed", "failed", "expected failure", "flipped")


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


def provenance(world, device: str, run_config: dict | None, fingerprints: dict, stage_seconds: dict,
               passes: dict | None = None) -> dict:
    return {"amx_version": amx.__version__, "git_commit": git_commit(), "torch": torch.__version__,
            "device": device, "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "world": world.name, "world_version": world.version, "world_seed": world.seed,
            "world_description": world.description, "world_departures": world.departures,
            "run": run_config, "model_fingerprints": fingerprints, "stage_seconds": stage_seconds,
            "passes": passes}


def claims_catalogue() -> dict:
    return {cid: asdict(c) for cid, c in {**paper.CLAIMS, "P11": table1.P11}.items()}


def _claim_order(cid: str) -> int:
    return int(cid[1:]) if cid[1:].isdigit() else 999


def summarise(entries: list[dict]) -> list[dict]:
    """Per claim: cases judged, passed, and whether the claim holds (every case passed)."""
    out = []
    for cid in sorted({e["claim"] for e in entries}, key=_claim_order):
        mine = [e for e in entries if e["claim"] == cid]
        passed = sum(e["passed"] for e in mine)
        out.append({"claim": cid, "cases": len(mine), "passed": passed, "holds": passed == len(mine)})
    return out


def figure_data(table: pd.DataFrame | None, zoo: list[dict] | None) -> dict:
    """Aggregates behind Figs 2-6 (means with 95% bootstrap CIs), JSON-ready."""
    if table is None or table.empty:
        return {}
    ok = table[table["status"] == "ok"]
    ten = ok[ok["regime"].isin(["vanilla", "pgd"])]
    fig2 = []
    for family, rows in ten.groupby("family"):
        for metric in SCORES:
            for regime, r in rows.groupby("regime"):
                low, high = stats.bootstrap_mean_ci(r[metric], n_boot=200)
                fig2.append({"family": family, "metric": metric, "regime": regime,
                             "mean": float(r[metric].mean()), "ci": [low, high]})
    resnet = ok[ok["architecture"] == "resnet"]
    fig3 = [{"model": m, "regime": r["regime"].iloc[0],
             **{k: float(r.groupby("method")[k].mean().mean()) for k in SCORES}}
            for m, r in resnet.groupby("model")]
    evidence = paper.Evidence(table, zoo or [])
    ranks = paper.method_average_ranks(evidence)
    per_model = paper.per_model(evidence, list(SCORES) + ["confidence"])
    top1 = {r["model"]: r["top1"] for r in (zoo or [])}
    fig5 = [{"model": m, "top1": top1.get(m), **{k: float(v) for k, v in row.items()}}
            for m, row in per_model.iterrows()]
    columns = [paper.TEST_COLUMN[m] for m in SCORES]
    corr = ten[columns].corr(method="spearman").to_numpy()
    return {"fig2_family_regime": fig2, "fig3_advprop": fig3,
            "fig4_method_ranks": {m: float(r) for m, r in ranks.items()},
            "fig4_method_means": ten.groupby("method")[list(SCORES)].mean().to_dict(orient="index"),
            "fig5_per_model": fig5,
            "fig6_image_level": ten.sample(min(len(ten), 2000), random_state=0)[
                ["model", "confidence", "deletion"]].to_dict(orient="list"),
            "fig6_metric_correlation": {"metrics": list(SCORES), "spearman": np.round(corr, 4).tolist()}}


def build_results(entries: list[dict], table: pd.DataFrame | None, zoo: list[dict] | None,
                  prov: dict, heatmaps: dict | None = None) -> dict:
    return {"schema": SCHEMA_VERSION, "provenance": prov, "claims": claims_catalogue(),
            "summary": summarise(entries), "cases": entries, "zoo_table": zoo or [],
            "figures": figure_data(table, zoo), "heatmaps": heatmaps or {}}


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
