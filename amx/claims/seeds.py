"""Seed stability: per case, under how many seeds its verdict holds (``amx stability --seeds 0 1 2``).

A claims run with another ``--seed`` draws other images (the CL subset) and seeds the stochastic
methods (RISE's masks, LIME's and SHAP's samples, MP's jitter) anew; the cache makes such a rerun
incremental. ``regenerate(seed, ...)`` runs one claims session per seed (in a subprocess, as a user
would: ``pytest --pyargs amx.claims.suite -m claims --seed S``; ``amx.claims.rerun``) and
``seed_stability`` sums their ``results.json`` up: per case, the verdict and stability label under
each seed, how many seeds it holds under, and whether it flips between seeds. The claims report
shows the table and a figure (``figure``) when ``seed_stability.json`` sits beside its
``results.json`` and was made on the same world and image budget.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from amx.claims.rerun import claims_run

FILE = "seed_stability.json"


def regenerate(seed: int, report_dir: Path, world: str, n_images: int | None, gpu: bool,
               cache_dir: str | None, world_args: list[str]) -> Path:
    """Run the claims of ``world`` with ``seed``; the path of its ``results.json``."""
    options = ["--seed", str(seed), "--world", world,
               *(["--n-images", str(n_images)] if n_images is not None else []), *(["--gpu"] if gpu else []),
               *(["--cache-dir", cache_dir] if cache_dir else []), *world_args]
    return claims_run(f"seed {seed}", Path(report_dir) / "seeds" / str(seed), options)


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


def figure(record: dict) -> str:
    """Per claim, its cases that hold under every seed, under none, and that flip between seeds
    (stacked bars), as a PNG data URI."""
    from amx.report.figures import plt, png

    claims = list(dict.fromkeys(c["claim"] for c in record["cases"].values()))
    n = len(record["seeds"])
    groups = {"holds under every seed": lambda c: c["held"] == n,
              "flips between seeds": lambda c: 0 < c["held"] < n,
              "holds under none": lambda c: c["held"] == 0}
    colours = {"holds under every seed": "#1a7f37", "flips between seeds": "#bc4c00",
               "holds under none": "#8c959f"}
    fig, ax = plt.subplots(figsize=(max(6.0, 0.42 * len(claims)), 3.2))
    bottom = np.zeros(len(claims))
    for name, test in groups.items():
        counts = np.array([sum(test(c) for c in record["cases"].values() if c["claim"] == claim
                               and c["judged"] == n) for claim in claims], dtype=float)
        ax.bar(claims, counts, bottom=bottom, color=colours[name], label=name)
        bottom += counts
    ax.set_ylabel("cases")
    ax.set_title(f"Verdicts under seeds {', '.join(map(str, record['seeds']))} (world {record['world']}, "
                 f"{record['n_images']} images)", fontsize=10)
    ax.tick_params(axis="x", labelsize=8, rotation=90)
    ax.legend(fontsize=8, frameon=False)
    return png(fig)
