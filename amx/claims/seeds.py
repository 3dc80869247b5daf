"""Seed stability: per case, under how many seeds its verdict holds (``amx stability --seeds 0 1 2``).

A claims run with another ``--seed`` draws other images (the CL subset) and seeds the stochastic
methods (RISE's masks, LIME's and SHAP's samples, MP's jitter) anew; the cache makes such a rerun
incremental. ``amx stability --seeds`` runs one claims session per seed in its process
(``amx.session.Session``) and writes its report under ``seeds/S``; ``seed_stability`` sums their
results up: per case, the verdict and stability label under
each seed, how many seeds it holds under, and whether it flips between seeds. The claims report
shows the table and a figure (``figure``) when ``seed_stability.json`` sits beside its
``results.json`` and was made on the same world and image budget.
"""

from __future__ import annotations

import json
from pathlib import Path

FILE = "seed_stability.json"


def seed_stability(results: dict[int, dict]) -> dict:
    """``results``: ``{seed: results.json}``. Per judged case: its verdict and stability label under
    each seed; how many seeds it holds under; whether it flips between seeds. Counts over cases."""
    seeds = sorted(results)
    first = results[seeds[0]]["provenance"]
    for seed in seeds:
        prov = results[seed]["provenance"]
        if (prov["world"], prov["n_images"]) != (first["world"], first["n_images"]):
            raise ValueError(f"amx stability: seed {seed}'s run is on world {prov['world']!r} with "
                             f"{prov['n_images']} images, seed {seeds[0]}'s on {first['world']!r} with "
                             f"{first['n_images']}")
    judged: dict[str, dict] = {}
    for seed in seeds:
        for case in results[seed]["cases"]:
            if case["outcome"] == "not applicable":
                continue
            row = judged.setdefault(case["case_id"], {"claim": case["claim"], "holds": {}, "labels": {}})
            row["holds"][str(seed)] = bool(case["passed"])
            row["labels"][str(seed)] = (case.get("stability") or {}).get("label")
    cases = {}
    for case_id, row in judged.items():  # in the runs' order: claim sets, then claims
        held = list(row["holds"].values())
        cases[case_id] = {**row, "judged": len(held), "held": sum(held),
                          "flips": len(set(held)) > 1,
                          "borderline": any(label == "borderline" for label in row["labels"].values())}
    complete = [c for c in cases.values() if c["judged"] == len(seeds)]
    summary = {"cases": len(complete), "hold_under_all": sum(c["held"] == len(seeds) for c in complete),
               "hold_under_none": sum(c["held"] == 0 for c in complete),
               "flip": sum(c["flips"] for c in complete),
               "borderline": sum(c["borderline"] for c in complete),
               "flip_and_stable": sum(c["flips"] and not c["borderline"] for c in complete)}
    return {"world": first["world"], "world_version": first.get("world_version"),
            "n_images": first["n_images"], "seeds": seeds, "git_commit": first.get("git_commit"),
            "summary": summary, "cases": cases}


def load_matching(report_dir: Path, world: str, n_images: int) -> dict | None:
    """The ``seed_stability.json`` beside a report, if it was made on ``world`` with ``n_images``."""
    path = Path(report_dir) / FILE
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return record if (record.get("world"), record.get("n_images")) == (world, n_images) else None
