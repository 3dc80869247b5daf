"""Kernel-path stability: do the claims' verdicts depend on the CPU kernel path?
(``amx stability --kernels default avx512``)

A CPU runs the widest of ATen's kernel paths it has (``amx.kernels``), and float32 results of two
paths differ in the last bits, which iterative methods amplify. ``regenerate(path, ...)`` runs the
claims under one path (``ATEN_CPU_CAPABILITY``, in its own process and its own cache, so that
nothing computed under one path is read under another); ``kernel_stability`` compares two or more
such runs:

* map by map, every attribution map both caches hold under the same content key (the key names
  what was computed, never where), per method: how many, how many differ at all, and the 99th
  percentile and the largest of each map's largest difference relative to its scale (the larger of
  the two maps' largest values, so that a map at rounding level against its twin counts 1, not
  1e3; maps are stored as float16 of ``map / max|map|``, so a difference below 2^-11 = 4.9e-4 of the
  scale may not show); BIG's boundary points likewise, in pixel units;
* case by case, the verdicts (a case judged under one path and not applicable under another
  differs too) and the stability labels (``amx.claims.stability``).

The check passes when every verdict and every label is the same under every path, with two
exceptions, listed apart: a label whose shares differ by less than twice the standard error of a
difference of two shares of ``n`` resamples (``sqrt(2 p (1 - p) / n)``, 0.022 at p = 0.95 and n =
200: a share at the 0.95 threshold is not resolved finer by 200 resamples; ``within_resampling``),
and a case of a claim that reads runtimes (``Claim.timed``: the paths run at other speeds;
``timed``).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from amx import kernels
from amx.claims.rerun import claims_run
from amx.pipeline.store import Store

FILE = "kernel_stability.json"


def regenerate(path: str, report_dir: Path, cache_dir: Path, world: str, n_images: int | None, seed: int,
               world_args: list[str]) -> tuple[Path, Path]:
    """Run the claims of ``world`` under kernel path ``path`` with a cache of its own; the paths of
    its ``results.json`` and of its cache."""
    cache = Path(cache_dir) / "kernels" / path
    options = ["--seed", str(seed), "--world", world, "--cache-dir", str(cache),
               *(["--n-images", str(n_images)] if n_images is not None else []), *world_args]
    results = claims_run(f"kernel path {path}", Path(report_dir) / "kernels" / path, options,
                         env=kernels.environment(path))
    return results, cache


def compare_stores(first: Path, other: Path) -> dict:
    """Per method (and ``boundary_points``): the maps (arrays) both caches hold, how many differ and
    by how much (each map's largest difference, relative to the larger scale of the two; points: in
    pixel units): the 99th percentile and the largest; and how many one cache holds that the other
    lacks. ``unlabelled``: entries of either cache without a label
    (written before labels existed), which are not compared."""
    a, b = Store(first), Store(other)
    try:
        out = {}
        for table, get in (("maps", Store.get_maps), ("arrays", Store.get_arrays)):
            labels_a, labels_b = a.labelled(table), b.labelled(table)
            keys = defaultdict(lambda: (set(), set()))
            for labels, side in ((labels_a, 0), (labels_b, 1)):
                for key, (_, what) in labels.items():
                    keys[what][side].add(key)
            for what, (in_a, in_b) in sorted(keys.items()):
                shared = sorted(in_a & in_b)
                values_a, values_b = get(a, shared), get(b, shared)
                largest = [_largest(values_a[k], values_b[k], relative=table == "maps") for k in shared]
                differing = [d for d in largest if d > 0]
                out[what] = {"compared": len(shared), "differ": len(differing),
                             "p99": float(np.quantile(largest, 0.99)) if largest else 0.0,
                             "largest": float(max(largest, default=0.0)),
                             "unit": "of the map's scale" if table == "maps" else "pixel units",
                             "only_first": len(in_a - in_b), "only_other": len(in_b - in_a)}
        out["unlabelled"] = {"first": _unlabelled(a), "other": _unlabelled(b)}
        return out
    finally:
        a.close()
        b.close()


def _unlabelled(store: Store) -> int:
    counts = store.counts()
    return counts["maps"] + counts["arrays"] - len(store.labelled("maps")) - len(store.labelled("arrays"))


def _largest(x: np.ndarray, y: np.ndarray, relative: bool) -> float:
    diff = float(np.abs(x.astype(np.float64) - y).max()) if x.size else 0.0
    scale = max(float(np.abs(x).max()), float(np.abs(y).max())) if relative and x.size else 1.0
    return diff / scale if scale > 0 else diff


def _judged(results: dict) -> dict[str, dict]:
    """Per case: its claim, whether it holds (None: not applicable), its stability label and share
    and the share's number of resamples."""
    return {c["case_id"]: {"claim": c["claim"],
                           "passed": None if c["outcome"] == "not applicable" else bool(c["passed"]),
                           "label": (c.get("stability") or {}).get("label"),
                           "share": (c.get("stability") or {}).get("share"),
                           "n_draws": (c.get("stability") or {}).get("n_draws")}
            for c in results["cases"]}


def within_resampling(shares: list[float], draws: list[int]) -> bool:
    """Whether shares of resamples agree within twice the standard error of a difference of two of
    them, ``2 sqrt(2 p (1 - p) / n)`` at their mean ``p`` and fewest resamples ``n``.

    >>> within_resampling([0.95, 0.94], [200, 200]), within_resampling([0.41, 0.025], [200, 200])
    (True, False)
    """
    p, n = float(np.mean(shares)), min(draws)
    return bool(max(shares) - min(shares) <= 2 * np.sqrt(2 * p * (1 - p) / n))


def _timed_claims(results: dict) -> set[str]:
    return {cid for s in results.get("claim_sets", []) for cid, c in s["claims"].items() if c.get("timed")}


def kernel_stability(runs: dict[str, tuple[dict, Path]]) -> dict:
    """``runs``: ``{path: (results.json, cache directory)}``, the first the reference. The maps'
    differences and every case's verdict and label under each path; ``summary.same`` is True when
    no verdict and no label differs."""
    paths = list(runs)
    first = runs[paths[0]][0]["provenance"]
    for path in paths:
        ran = runs[path][0]["provenance"].get("kernel_path")
        if ran != path:
            raise ValueError(f"amx stability: the run meant for kernel path {path} ran on {ran!r} (does this "
                             f"torch honour {kernels.VARIABLE}?)")
    for path in paths[1:]:
        prov = runs[path][0]["provenance"]
        if any(prov[k] != first[k] for k in ("world", "n_images", "seed")):
            raise ValueError(f"amx stability: the run under {path} is on world {prov['world']!r} with "
                             f"{prov['n_images']} images and seed {prov['seed']}, the run under {paths[0]} "
                             f"on {first['world']!r} with {first['n_images']} and seed {first['seed']}")
    judged = {path: _judged(results) for path, (results, _) in runs.items()}
    cases = {}  # a case one run judged and another did not (not applicable, or absent) differs too
    for case_id in dict.fromkeys(c for p in paths for c in judged[p]):
        under = {p: judged[p].get(case_id) or {"claim": None, "passed": None, "label": None} for p in paths}
        cases[case_id] = {"claim": next(v["claim"] for v in under.values() if v["claim"]),
                          "holds": {p: v["passed"] for p, v in under.items()},
                          "labels": {p: v["label"] for p, v in under.items()},
                          "shares": {p: v.get("share") for p, v in under.items()}}
    timed = set().union(*(_timed_claims(results) for results, _ in runs.values()))
    verdicts, labels, close, timed_differ = [], [], [], []
    for case_id, row in cases.items():
        verdict_differs = len(set(row["holds"].values())) > 1
        label_differs = len(set(row["labels"].values())) > 1
        if (verdict_differs or label_differs) and row["claim"] in timed:
            timed_differ.append(case_id)
        elif verdict_differs:
            verdicts.append(case_id)
        elif label_differs:
            shares = list(row["shares"].values())
            draws = [judged[p][case_id]["n_draws"] for p in paths]
            resolved = None not in shares and None not in draws and within_resampling(shares, draws)
            (close if resolved else labels).append(case_id)
    maps = {path: compare_stores(runs[paths[0]][1], runs[path][1]) for path in paths[1:]}
    return {"world": first["world"], "n_images": first["n_images"], "seed": first["seed"],
            "paths": paths, "git_commit": first.get("git_commit"),
            "summary": {"cases": sum(None not in row["holds"].values() for row in cases.values()),
                        "verdicts_differ": verdicts, "labels_differ": labels,
                        "labels_within_resampling": close, "timed": timed_differ,
                        "same": not verdicts and not labels},
            "maps": maps, "cases": cases}


def table(record: dict) -> str:
    """The per-method differences as aligned text, one block per compared path."""
    lines = []
    for path, methods in record["maps"].items():
        lines.append(f"{record['paths'][0]} vs {path}:")
        header = ("method", "compared", "differ", "99th pct", "largest")
        lines.append("  {:18s} {:>8s} {:>7s} {:>9s} {:>9s}  unit".format(*header))
        for what, row in methods.items():
            if what == "unlabelled":
                continue
            lines.append(f"  {what:18s} {row['compared']:8d} {row['differ']:7d} {row['p99']:9.2e} "
                         f"{row['largest']:9.2e}  {row['unit']}")
    return "\n".join(lines)
