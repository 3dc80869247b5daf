"""Two claims runs compared case by case: ``amx diff OLD NEW``.

Either side is a ``results.json`` (``amx.report``) or a baseline (``amx.claims.baseline``). A case
whose verdict differs is a ``flipped`` one, or a ``borderline flip`` where either run labels it
borderline (``amx.claims.stability``), as the judge calls them; each changed case names the models
it reads (the newer run's ``reads``) whose fingerprints differ between the two runs.
"""

from __future__ import annotations

import json
from pathlib import Path

from amx.claims.baseline import changed_models

CHANGES = ("flipped", "borderline flip", "now judged", "no longer judged", "not judged", "new case", "gone",
           "unchanged")


def read_run(path: str | Path) -> dict:
    """``{"cases": {case id: {"verdict", "statistic", "label"}}, "models": {model: fingerprint} |
    None, "reads": {case id: [models]}, "world"}`` of a results.json or a baseline file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"amx diff: no file {path}")
    try:
        data = json.loads(path.read_text())
        cases = data["cases"]
    except (ValueError, KeyError):
        raise ValueError(f"amx diff: {path} is neither a results.json nor an amx baseline") from None
    if isinstance(cases, dict):  # a baseline
        return {"world": data.get("world"), "models": data.get("models"), "reads": {},
                "cases": {cid: _case(c.get("passed"), "judged", c) for cid, c in cases.items()}}
    prov = data.get("provenance", {})
    return {"world": prov.get("world"), "models": prov.get("model_fingerprints"),
            "reads": {c["case_id"]: c.get("reads") or [] for c in cases},
            "cases": {c["case_id"]: _case(c.get("passed"), c.get("outcome"), c) for c in cases}}


def _case(passed, outcome, case: dict) -> dict:
    verdict = ("error" if outcome == "error" else "not applicable") if passed is None else \
        "holds" if passed else "fails"
    return {"verdict": verdict, "statistic": case.get("statistic"),
            "label": (case.get("stability") or {}).get("label")}


def _change(old: dict | None, new: dict | None) -> str:
    if old is None:
        return "new case"
    if new is None:
        return "gone"
    judged = [v["verdict"] in ("holds", "fails") for v in (old, new)]
    if not any(judged):
        return "unchanged" if old["verdict"] == new["verdict"] else "not judged"
    if judged == [False, True]:
        return "now judged"
    if judged == [True, False]:
        return "no longer judged"
    if old["verdict"] == new["verdict"]:
        return "unchanged"
    return "borderline flip" if "borderline" in (old["label"], new["label"]) else "flipped"


def diff(old: dict, new: dict) -> dict:
    """Every case of either run with its change, and the models whose fingerprints differ
    (``{"models": {model: what changed}, "rows": [...]}``)."""
    models = changed_models(old["models"], new["models"] or {}) if old["models"] is not None else {}
    rows = []
    for cid in list(dict.fromkeys([*old["cases"], *new["cases"]])):
        before, after = old["cases"].get(cid), new["cases"].get(cid)
        change = _change(before, after)
        reads = new["reads"].get(cid) or old["reads"].get(cid) or []
        row = {"case_id": cid, "change": change}
        for side, found in (("old", before), ("new", after)):
            row.update({side: found and found["verdict"], f"{side}_statistic": found and found["statistic"],
                        f"{side}_label": found and found["label"]})
        row["changed_models"] = [m for m in reads if m in models] if change != "unchanged" else []
        rows.append(row)
    return {"models": models, "rows": rows,
            "counts": {c: sum(r["change"] == c for r in rows) for c in CHANGES}}


def _stat(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def table(result: dict, every: bool = False) -> str:
    """The changed cases (``every``: all cases) as a plain-text table, the changed models first."""
    lines = [("Models changed: " + "; ".join(f"{m} ({w})" for m, w in result["models"].items()))
             if result["models"] else "No model's fingerprint changed (or the older run recorded none)."]
    rows = [("case", "change", "old", "new", "statistic", "changed models it reads")]
    for r in result["rows"]:
        if every or r["change"] != "unchanged":
            old, new = (f"{r[s] or '-'}" + (f" ({r[s + '_label']})" if r[s + "_label"] else "")
                        for s in ("old", "new"))
            rows.append((r["case_id"], r["change"], old, new,
                         f"{_stat(r['old_statistic'])} -> {_stat(r['new_statistic'])}",
                         ", ".join(r["changed_models"]) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    counts = ", ".join(f"{n} {c}" for c, n in result["counts"].items() if n)
    return "\n".join(lines + [counts])
