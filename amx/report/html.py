"""``claims.html``: one self-contained page (figures embedded as PNG data URIs) from results.json.

Read from the top: how many claims hold; the claim summary (one row per claim of every claim
set judged: statement, cases passing, holds or not, the headline statistic beside the paper's
figure); then per claim set, each claim's cases in a collapsible section (statistic with its 95%
CI and p-value, threshold, the paper's value, outcome, change against the baseline) with the
choices amx made in prose; the claim sets' figures; Table 1; and the provenance as tables
(versions, world, seconds and passes per model x method, fingerprints).
"""

from __future__ import annotations

import html
from pathlib import Path

from amx.files import write_atomic

OUTCOME_COLOURS = {"passed": "#1a7f37", "failed": "#cf222e", "expected failure": "#9a6700",
                   "flipped": "#8250df", "borderline flip": "#bc4c00", "stable": "#57606a",
                   "borderline": "#bc4c00", "error": "#82071e"}
STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#1f2328;
     line-height:1.45}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:13px}
td,th{border:1px solid #d0d7de;padding:3px 7px;vertical-align:top;text-align:left}
th{background:#f6f8fa} td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{font-weight:600;color:white;padding:1px 6px;border-radius:3px;white-space:nowrap}
details{border:1px solid #d0d7de;border-radius:6px;margin:.5em 0;padding:.3em .8em}
details[open]{padding-bottom:.6em} summary{cursor:pointer;font-weight:600}
summary .small{font-weight:400}
img{max-width:100%} code{font-size:12px} .small{font-size:12px;color:#57606a}
.choices{background:#f6f8fa;padding:.4em .8em;border-radius:6px;font-size:13px}
"""


def _esc(value) -> str:
    return html.escape("" if value is None else str(value))


def _fmt(value, digits=3) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return _esc(value)


def _badge(outcome: str, text: str | None = None) -> str:
    colour = OUTCOME_COLOURS.get(outcome, "#57606a")
    return f"<span class='badge' style='background:{colour}'>{_esc(text or outcome)}</span>"


def _verdict(summary: dict) -> str:
    if summary.get("errors"):
        error = _badge("error", f"{summary['errors']} case(s) could not be judged")
        return error if summary["holds"] is None else f"{_verdict({**summary, 'errors': 0})} {error}"
    if summary["holds"] is None and summary.get("not_applicable"):
        return _badge("not applicable")
    if summary["holds"] is None:
        return _badge("not run", "not run")
    return _badge("passed", "holds") if summary["holds"] else _badge("failed", "does not hold")


def _statistic(case: dict) -> str:
    """The statistic with its 95% CI; where the statistic is a test's p-value (shown in its own
    column), the effect the CI belongs to (rank-biserial r) takes its place."""
    ci = case.get("ci")
    effect = (case.get("details") or {}).get("effect")
    if effect is not None and case.get("p_value") == case.get("statistic"):
        value = f"r = {_fmt(effect)}"
    else:
        value = _fmt(case.get("statistic"))
    return value + (f" [{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "")


def _table(headers: list[str], rows) -> str:
    """A table with ``headers`` over ``rows`` (each a string of ``<td>`` cells)."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    return f"<table><tr>{head}</tr>" + "\n".join(f"<tr>{row}</tr>" for row in rows) + "</table>"


def _borderline(summary: dict) -> str:
    n = summary.get("borderline")
    return f"<div class='small'>{n} borderline</div>" if n else ""


def _summary_table(results: dict) -> str:
    rows = (f"<td><a href='#{_esc(s['claim'])}'>{_esc(s['claim'])}</a></td>"
            f"<td>{_esc(s.get('statement'))}</td>"
            f"<td class='num'>{s['passed']} / {s['cases']}{_borderline(s)}</td>"
            f"<td>{_verdict(s)}</td>{_headline_cells(s)}"
            for s in results["summary"])
    return _table(["claim", "statement", "cases passing", "verdict", "headline statistic [95% CI]", "paper"],
                  rows)


def _headline_cells(summary: dict) -> str:
    """The headline case's statistic (with p where it has one) and threshold, then the paper's."""
    head = summary.get("headline")
    paper = f"<div class='small'>{_esc(summary.get('paper_value'))}</div>"
    if not head:
        why = ("not applicable on this world" if summary.get("not_applicable") else
               "could not be judged: see its cases" if summary.get("errors") else "not run")
        return f"<td class='small'>{why}</td><td>{paper}</td>"
    p = f", p = {_fmt(head['p_value'])}" if head.get("p_value") is not None else ""
    return (f"<td><code>{_esc(head['case_id'])}</code>: {_statistic(head)}{p}"
            f"<div class='small'>needs {_esc(head.get('threshold'))}</div></td>"
            f"<td>{_fmt(head.get('paper_value'))}{paper}</td>")


def _stability(case: dict) -> str:
    """The share of resamples in which the case holds, and its label."""
    found = case.get("stability")
    if case.get("stability_error"):
        return f"<td class='small'>resampling failed: {_esc(case['stability_error'])}</td>"
    if not found:
        return "<td class='small'>not resampled</td>"
    return (f"<td class='num'>{_badge(found['label'])}<div class='small'>holds in {found['share']:.0%} of "
            f"{found['n_draws']}</div></td>")


def _holm(case: dict) -> str:
    held = case.get("p_holm")
    return "" if held is None else f"<div class='small'>Holm {_fmt(held)}</div>"


def _case_rows(cases: list[dict]) -> str:
    rows = (f"<td><code>{_esc(case['case_id'])}</code></td><td class='num'>{_statistic(case)}</td>"
            f"<td class='num'>{_fmt(case.get('p_value'))}{_holm(case)}</td><td>{_esc(case['threshold'])}</td>"
            f"<td class='num'>{_fmt(case.get('paper_value'))}</td><td>{_badge(case['outcome'])}</td>"
            f"{_stability(case)}"
            f"<td>{_esc(case['baseline_change'])}</td><td class='small'>{_esc(case['message'])}</td>"
            for case in cases)
    headers = ["case", "statistic [95% CI]", "p (Holm within the claim)", "pass when", "paper", "outcome",
               "stability", "vs baseline", "details"]
    return _table(headers, rows)


def _stability_line(results: dict) -> str:
    """How many judged cases are stable and borderline, and the borderline flips."""
    judged = [c for c in results["cases"] if c.get("stability")]
    if not judged:
        return ""
    borderline = [c for c in judged if c["stability"]["label"] == "borderline"]
    flips = [c["case_id"] for c in results["cases"] if c["outcome"] == "borderline flip"]
    bounds = results["provenance"].get("stability") or {"n_draws": judged[0]["stability"]["n_draws"],
                                                        "high": 0.95, "low": 0.05}
    line = (f"<p><b>{len(judged) - len(borderline)} of {len(judged)} verdicts are stable</b> (the case holds "
            f"in at least {bounds['high']:.0%} or at most {bounds['low']:.0%} of {bounds['n_draws']} "
            f"bootstrap resamples of the images); {len(borderline)} are "
            "borderline: " + (", ".join(f"<code>{_esc(c['case_id'])}</code>" for c in borderline) or "none")
            + ".</p>")
    if flips:
        line += ("<p><b>Borderline flips</b> (the verdict differs from the baseline where a run is "
                 "borderline; not failures without <code>--strict-verdicts</code>): "
                 + ", ".join(f"<code>{_esc(c)}</code>" for c in flips) + ".</p>")
    return line


def _claim_sections(results: dict) -> str:
    by_claim: dict[str, list[dict]] = {}
    for case in results["cases"]:
        by_claim.setdefault(case["claim"], []).append(case)
    summary = {s["claim"]: s for s in results["summary"]}
    out = []
    for claim_set in results.get("claim_sets", []):
        judged = [c for cid, c in claim_set["claims"].items() if cid in by_claim]
        if not judged:
            continue
        out.append(f"<h3>{_esc(claim_set['title'])} <span class='small'>(claim set "
                   f"{_esc(claim_set['name'])}, source {_esc(claim_set['source'])})</span></h3>")
        for claim in judged:
            s = summary[claim["id"]]
            verdict = _verdict(s)
            choices = (f"<p class='choices'><b>Choices amx made:</b> {_esc(claim['choices'])}</p>"
                       if claim.get("choices") else "")
            out.append(
                f"<details id='{_esc(claim['id'])}'><summary>{_esc(claim['id'])}: {_esc(claim['statement'])} "
                f"{verdict} <span class='small'>{s['passed']} / {s['cases']} cases pass; "
                + (f"{s['not_applicable']} not applicable; " if s.get("not_applicable") else "")
                + (f"{s['errors']} could not be judged; " if s.get("errors") else "") +
                f"{_esc(claim['section'])}</span></summary>"
                f"<p class='small'>Statistic: {_esc(claim['statistic'])}. Passes when: "
                f"{_esc(claim['pass_when'])}. Paper: {_esc(claim['paper_value'])}.</p>{choices}"
                f"{_case_rows(by_claim[claim['id']])}</details>")
    return "\n".join(out)


def _sample_size_section(results: dict) -> str:
    """Per case, the share of resamples at smaller image budgets and the smallest stable one."""
    found = results.get("sample_sizes")
    if not found:
        return ("<p class='small'>No case of this run reads images whose number <code>--n-images</code> "
                "sets.</p>")
    sizes, cases = found["sizes"], found["cases"]
    depending = {cid: c for cid, c in cases.items() if c["depends"]}
    passed = {c["case_id"]: bool(c["passed"]) for c in results["cases"] if c["case_id"] in depending}

    def needs(holding: bool) -> str:
        mine = [c for cid, c in depending.items() if passed.get(cid) == holding]
        counts = {n: sum(c["smallest_stable"] == n for c in mine) for n in sizes}
        never = sum(c["smallest_stable"] is None for c in mine)
        spread = ", ".join(f"{counts[n]} from {n} images" for n in sizes if counts[n])
        return (f"of the {len(mine)} that {'hold' if holding else 'fail'}, {spread or 'none'}"
                + (f" ({never} not stable even at {found['n_images']})" if never else ""))
    rows = (f"<td><code>{_esc(cid)}</code></td>"
            + "".join(f"<td class='num'>{c['shares'][str(n)]:.0%}</td>" for n in sizes)
            + f"<td class='num'>{c['smallest_stable'] or 'not stable'}</td>"
            for cid, c in depending.items())
    table = _table(["case", *[f"holds at {n}" for n in sizes], "smallest stable"], rows)
    return (f"<p>Each case re-judged on runs of N images per architecture, resampled from this run's "
            f"{found['n_images']} (the m-out-of-n bootstrap: each image drawn Poisson(N / "
            f"{found['n_images']}) times). The smallest stable N is the smallest from which on the verdict "
            f"keeps this run's side in nearly all resamples, so <code>--n-images</code> at least that "
            f"big is needed for it. Of {len(depending)} cases whose images follow <code>--n-images</code>, "
            f"{needs(True)}; {needs(False)}. ({len(cases) - len(depending)} more, Table 1's, do not depend "
            "on it.)</p>"
            f"<details><summary>Every case at every N</summary>{table}</details>")


def _seed_section(results: dict) -> str:
    """``amx stability``'s table and figure: per case, under how many seeds it holds."""
    record = results.get("seed_stability")
    if not record:
        return ("<p class='small'>Not measured for this world and image budget: <code>amx stability --seeds "
                "0 1 2</code> reruns the claims with each seed and adds the table and figure here.</p>")
    from amx.report.figures import seed_stability

    s, seeds = record["summary"], record["seeds"]

    def cell(case: dict, seed: int) -> str:
        holds = case["holds"].get(str(seed))
        if holds is None:
            return "<td class='small'>not judged</td>"
        label = case["labels"].get(str(seed))
        return (f"<td>{_badge('passed' if holds else 'failed', 'holds' if holds else 'fails')}"
                + (f" <span class='small'>{_esc(label)}</span>" if label else "") + "</td>")

    rows = (f"<td><code>{_esc(cid)}</code></td><td class='num'>{c['held']} of {c['judged']}</td>"
            + "".join(cell(c, seed) for seed in seeds)
            + f"<td>{_badge('borderline flip', 'flips') if c['flips'] else ''}</td>"
            for cid, c in record["cases"].items())
    table = _table(["case", "holds under", *[f"seed {x}" for x in seeds], "between seeds"], rows)
    return (f"<p>Made by <code>amx stability --seeds {' '.join(map(str, seeds))}</code> (commit "
            f"<code>{_esc(record.get('git_commit'))}</code>): each seed draws other CL images and seeds the "
            f"stochastic methods anew. Of {s['cases']} cases, <b>{s['hold_under_all']} hold under every "
            f"seed, {s['hold_under_none']} under none and {s['flip']} flip between seeds</b> "
            f"({s['flip_and_stable']} of them stable under every seed by the resampling above); "
            f"{s['borderline']} are borderline under some seed.</p>"
            f"<img src='{seed_stability(record)}' alt='verdicts under each seed'>"
            f"<details><summary>Every case under every seed</summary>{table}</details>")


def _figures(results: dict, renderers: dict) -> str:
    out = []
    for name, data in results.get("figures", {}).items():
        if renderers.get(name) is None:
            out.append(f"<p class='small'>Claim set {_esc(name)} is not installed here: its figures are "
                       "not rendered.</p>")
            continue
        for title, uri in renderers[name](data):
            out.append(f"<h3>{_esc(title)}</h3><img src='{uri}' alt='{_esc(title)}'>")
        out += [f"<p class='small'>{_esc(note)}</p>" for note in data.get("notes", [])]
    return "\n".join(out)


def _controls_section(results: dict) -> str:
    """Per claim set with a ScoreTable: every method's mean score per metric beside the control maps'
    (marked), and how many of the claim set's methods beat each control."""
    out = []
    for name, found in (results.get("controls") or {}).items():
        metrics = found["metrics"]
        if not metrics:
            continue
        head = [f"{m} ({'higher' if found['higher_is_better'][m] else 'lower'} is better)" for m in metrics]

        def cells(method: str, found=found, metrics=metrics) -> str:
            return "".join(f"<td class='num'>{_fmt(found['means'][m].get(method))}</td>" for m in metrics)

        rows = [f"<td>{_esc(m)}</td>{cells(m)}" for m in found["methods"]]
        rows += [f"<td>{_esc(c)} <span class='badge' style='background:#57606a'>control</span></td>{cells(c)}"
                 for c in found["controls"]]
        rows += [f"<td><b>methods beating {_esc(c)}</b></td>"
                 + "".join(f"<td class='num'>{found['beats'][c].get(m, '-')} / {found['n_methods'][m]}</td>"
                           for m in metrics) for c in found["controls"]]
        on = found.get("images_per_model")
        out.append(f"<h3>Claim set {_esc(name)}</h3>"
                   + (f"<p class='small'>On the (model, image) rows the controls were scored on: the first "
                      f"{on} images per model.</p>" if on else "")
                   + _table(["method", *head], rows))
    if not out:
        return "<p class='small'>No control maps were scored in this run (or their table failed).</p>"
    return ("<p class='small'>Each method's mean score beside those of three control maps that know "
            "nothing of the model, on the same (model, image) rows: the controls are a floor, scored on the "
            "first images per model of its claim set's ScoreTable. <i>centre</i> is a Gaussian at the "
            "image centre, <i>random</i> seeded uniform noise and <i>edges</i> the image's Sobel magnitude. "
            "No case reads the controls; the paper's rankings rank only its methods.</p>"
            + "\n".join(out))


def _zoo_table(rows: list[dict]) -> str:
    if not rows:
        return "<p class='small'>No claim here needed Table 1.</p>"
    def value(r: dict, key: str, digits: int) -> str:
        paper = (r.get("paper") or {}).get(key)
        note = f" <span class='small'>(paper {paper:.{digits}f})</span>" if paper is not None else ""
        return f"<td class='num'>{r[key]:.{digits}f}{note}</td>"

    cells = (f"<td>{_esc(r['model'])}</td><td>{_esc(r['regime'])}</td>{value(r, 'top1', 1)}"
             f"{value(r, 'pgd_top1', 1)}{value(r, 'confidence_mean', 2)}"
             f"<td><code>{_esc(str(r.get('sha256'))[:12])}</code></td>" for r in rows)
    return _table(["model", "regime", "top-1 (%)", "PGD top-1 (%)", "confidence", "sha256"], cells)


def _key_values(pairs) -> str:
    return "<table>" + "".join(f"<tr><th>{_esc(k)}</th><td>{v}</td></tr>" for k, v in pairs) + "</table>"


def _column(stage: dict) -> str:
    """A stage's column: its method (maps, re-timings) or metric (scores), else its kind and what it
    computed (``sweep: mp-iterations``, ``boundary: boundary_points``, ``predict``, ``table1``)."""
    what = stage.get("method") or stage.get("metric") or ""
    if stage["stage"] in ("attribute", "retime", "score"):
        return what
    return f"{stage['stage']}: {what}" if what else stage["stage"]


def _stage_table(stages: list[dict]) -> str:
    """Seconds and passes of what this run computed: a row per model, a column per method (maps),
    per metric (scores) and per other kind of stage (predictions, Table 1, sweeps, boundary
    points, measurements); a re-timing of cached maps adds to its method's cell."""
    if not stages:
        return "<p class='small'>Everything came from the cache: no stage ran.</p>"
    order = {"attribute": 0, "retime": 0, "score": 1}
    columns = list(dict.fromkeys(_column(x) for x in sorted(stages, key=lambda x: order.get(x["stage"], 2))))
    cells: dict[tuple[str, str], list[float]] = {}
    for x in stages:
        cell = cells.setdefault((x["model"], _column(x)), [0.0, 0, 0])
        cell[0] += x["seconds"]
        cell[1] += x["forwards"]
        cell[2] += x["forward_backwards"]

    def show(cell) -> str:
        if cell is None:
            return "<td></td>"
        passes = " + ".join(f"{n:,} {what}" for n, what in ((cell[1], "fwd"), (cell[2], "fwd+bwd")) if n)
        return f"<td class='num'>{cell[0]:.1f} s<div class='small'>{passes}</div></td>"

    rows = (f"<th>{_esc(m)}</th>" + "".join(show(cells.get((m, c))) for c in columns)
            for m in dict.fromkeys(x["model"] for x in stages))
    return ("<h3>Seconds and model passes per model x method, model x metric and model x stage</h3>"
            + _table(["model", *columns], rows))


def _provenance(prov: dict) -> str:
    baseline = prov.get("baseline") or {}
    general = [("amx", _esc(prov.get("amx_version"))),
               ("git commit", f"<code>{_esc(prov.get('git_commit'))}</code>"),
               ("torch", _esc(prov.get("torch"))), ("created", _esc(prov.get("created"))),
               ("device", f"{_esc(prov.get('device'))} ({_esc(prov.get('device_name'))})"),
               *([("CPU kernel path", f"<code>{_esc(prov['kernel_path'])}</code>, "
                                      f"{_esc(prov.get('threads'))} threads (float32 results differ in the "
                                      "last bits between paths; verdicts are compared with stability "
                                      "labels)")] if prov.get("kernel_path") else []),
               ("world", f"{_esc(prov.get('world'))} version {_esc(prov.get('world_version'))}, "
                         f"seed {_esc(prov.get('world_seed'))}"),
               ("world", _esc(prov.get("world_description"))),
               ("departures from the paper", _esc(prov.get("world_departures"))),
               *([("images left out", f"{len(prov['unreadable_images'])} of the pool did not decode: "
                    + "".join(f"<div class='small'>{_esc(why)}</div>" for why in prov["unreadable_images"]))]
                 if prov.get("unreadable_images") else []),
               ("run seed, images", f"seed {_esc(prov.get('seed'))}, {_esc(prov.get('n_images'))} images per "
                                    "architecture"),
               ("baseline", _esc(baseline.get("path") or "none")
                + "".join(f"<div class='small'>warning: {_esc(w)}</div>"
                          for w in baseline.get("warnings", []))),
               ("seconds per stage",
                ", ".join(f"{_esc(k)} {v}" for k, v in (prov.get("stage_seconds") or {}).items()))]
    out = [_key_values(general)]
    run = prov.get("run")
    if run:
        settings = [(k, f"<code>{_esc(v)}</code>" if v is not None else "the world's")
                    for k, v in run.items() if k != "metric_configs"]
        settings += [(f"config of {m}", f"<code>{_esc(c)}</code>")
                     for m, c in (run.get("metric_configs") or {}).items()]
        out.append("<h3>Run configuration</h3>" + _key_values(settings))
    passes = prov.get("passes")
    if passes:
        efficiency = (f"The ScoreTable's stages would take {passes['floor_seconds']} s of their "
                      f"{passes['stage_seconds']} s at their models' plain batched throughput (efficiency "
                      f"{_fmt(passes['efficiency'])})." if passes.get("efficiency") is not None else
                      "No ScoreTable stage ran (its maps and scores came from the cache): no efficiency.")
        out.append(f"<h3>Computation</h3><p>{passes['forwards']:,} forward and "
                   f"{passes['forward_backwards']:,} forward + backward passes in "
                   f"{passes['compute_seconds']} s of stages (what the cache lacked). {efficiency}</p>")
        out.append(_stage_table(passes.get("stages", [])))
    fingerprints = prov.get("model_fingerprints") or {}
    if fingerprints:
        out.append("<h3>Model fingerprints (sha256 of the weights; with a zoo file's recipe, of both)</h3>"
                   + _key_values((m, f"<code>{_esc(sha)}</code>") for m, sha in fingerprints.items()))
    return "\n".join(out)


def _not_applicable(results: dict) -> str:
    cases = sum(s.get("not_applicable", 0) for s in results["summary"])
    claims = sum(1 for s in results["summary"] if s["holds"] is None and s.get("not_applicable"))
    return f"; {cases} cases ({claims} whole claims) are not applicable on this world" if cases else ""


def _changed_section(results: dict) -> str:
    """"Changed since the baseline" (only where one was given): the models whose fingerprints
    changed and the cases whose verdict changed, each with the changed models it reads."""
    baseline = results["provenance"].get("baseline") or {}
    if not baseline.get("compared"):  # no baseline, or one being written (--update-baseline)
        return ""
    models = baseline.get("changed_models") or {}
    changed = [c for c in results["cases"] if c["outcome"] in ("flipped", "borderline flip")
               or (c["outcome"] in ("error", "not applicable") and c.get("baseline"))]
    model_line = ("Models changed since the baseline: " + "; ".join(
        f"<code>{_esc(m)}</code> ({_esc(what)})" for m, what in models.items()) if models
                  else "No model's fingerprint changed since the baseline.")
    def named(models):
        return ", ".join(f"<code>{_esc(m)}</code>" for m in models or []) or "-"

    rows = [f"<td>{_esc(c['case_id'])}</td><td>{_badge(c['outcome'])}</td>"
            f"<td>{_esc(c['baseline_change'])}</td><td>{named(c.get('changed_models'))}</td>"
            for c in changed]
    cases = (_table(["case", "outcome", "change", "changed models it reads"], rows) if rows
             else "<p>No verdict changed.</p>")
    return (f"<h2>Changed since the baseline</h2><p>Against <code>{_esc(baseline['path'])}</code>: "
            f"{len(changed)} case(s) changed. {model_line}</p>{cases}")


def render(results: dict, renderers: dict | None = None) -> str:
    """The report's HTML; ``renderers``: ``{claim set: render_figures(data) -> [(title, PNG URI)]}``
    of the claim sets whose figures it draws (``amx.claims.renderers()``: those installed)."""
    prov = results["provenance"]
    summary = [s for s in results["summary"] if s["holds"] is not None]  # the claims judged
    holding = sum(s["holds"] for s in summary)
    sets = ", ".join(_esc(cs["title"]) for cs in results.get("claim_sets", []))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>amx claims report</title>
<style>{STYLE}</style></head><body>
<h1>amx claims report: world <code>{_esc(prov['world'])}</code></h1>
<p><b>{holding} of {len(summary)} claims hold</b> (a claim holds when every one of its cases passes);
{sum(s['passed'] for s in summary)} of {sum(s['cases'] for s in summary)} cases pass\
{_not_applicable(results)}.
Claims of: {sets}. Generated {_esc(prov['created'])} by amx {_esc(prov['amx_version'])}
(commit <code>{_esc(prov['git_commit'])}</code>) on {_esc(prov['device'])}.</p>
{_stability_line(results)}
<p class="small">World departures from the paper: {_esc(prov.get('world_departures'))}</p>
{_changed_section(results)}
<h2>Claims</h2>
{_summary_table(results)}
<h2>Cases, claim by claim</h2>
<p class="small">Outcomes: <i>passed</i>; <i>failed</i>; <i>expected failure</i> (it failed in the baseline
too); <i>flipped</i> (the verdict differs from the baseline and the case is stable in both runs, which
fails the run, as any flip does with <code>--strict-verdicts</code>); <i>borderline flip</i> (it
differs where either run is borderline: reported, not a failure); <i>not applicable</i> (the world's
zoo lacks the models the case compares, e.g. robust ones: not judged); <i>error</i> (the case's check
raised, e.g. too few images with the evidence it needs: no verdict, and the run does not succeed).
Stability: the share of bootstrap resamples of the images (each image's scores by every method, model
and metric kept together) in which the case holds; <i>stable</i> when nearly all of them agree with the
verdict. Click a claim to see its cases.</p>
{_claim_sections(results)}
<h2>How many images a verdict needs</h2>
{_sample_size_section(results)}
<h2>Verdicts under other seeds</h2>
{_seed_section(results)}
<h2>Controls: the methods against maps that ignore the model</h2>
{_controls_section(results)}
<h2>Figures</h2>{_figures(results, renderers or {})}
<h2>Table 1 (regenerated)</h2>
{_zoo_table(results.get('zoo_table', []))}
<h2>Provenance</h2>
{_provenance(prov)}
</body></html>
"""


def write_html(results: dict, path: str | Path, renderers: dict | None = None) -> Path:
    path = Path(path)
    text = render(results, renderers)
    write_atomic(path, lambda f: f.write(text.encode()))
    return path
