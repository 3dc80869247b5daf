"""``claims.html``: one self-contained file (figures embedded as PNG data URIs) from results.json.

Sections: summary (claims holding), the verdict table grouped by claim (statement, the
regenerated statistic with its 95% CI and p-value, threshold, the paper's value, outcome, change
against the baseline), the claims' choices, figures 1-6, Table 1, and the run's provenance.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from amx.files import write_atomic  # noqa: E402

OUTCOME_COLOURS = {"passed": "#1a7f37", "failed": "#cf222e", "expected failure": "#9a6700",
                   "flipped": "#8250df"}
STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#1f2328}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
td,th{border:1px solid #d0d7de;padding:3px 6px;vertical-align:top}
th{background:#f6f8fa} tr.claim td{background:#eef2f7;font-weight:600}
.outcome{font-weight:600;color:white;padding:1px 5px;border-radius:3px}
img{max-width:100%} code{font-size:12px} .small{font-size:12px;color:#57606a}
"""


def _png(fig) -> str:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _decode(data: str, shape) -> np.ndarray:
    return np.frombuffer(base64.b64decode(data), dtype=np.uint8).reshape(shape)


def fig1_heatmaps(heatmaps: dict) -> str | None:
    if not heatmaps or not heatmaps.get("maps"):
        return None
    size, models, methods = heatmaps["size"], heatmaps["models"], heatmaps["methods"]
    images = heatmaps["images"]
    rows = [(m, i) for m in models for i in images]
    fig, axes = plt.subplots(len(rows), len(methods) + 1, figsize=(1.3 * (len(methods) + 1), 1.3 * len(rows)),
                             squeeze=False)
    for r, (model, image) in enumerate(rows):
        axes[r, 0].imshow(_decode(heatmaps["images"][image], (size, size, 3)))
        axes[r, 0].set_ylabel(f"{model}\n#{image}", fontsize=6)
        for c, method in enumerate(methods, start=1):
            data = heatmaps["maps"].get(model, {}).get(method, {}).get(image)
            if data is not None:
                axes[r, c].imshow(_decode(data, (size, size)), cmap="jet")
            else:
                axes[r, c].text(0.5, 0.5, "N/A", ha="center", va="center", fontsize=7)
            if r == 0:
                axes[r, c].set_title(method, fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_title("input", fontsize=7)
    return _png(fig)


def fig2_family_regime(data: list[dict]) -> str | None:
    if not data:
        return None
    metrics = sorted({d["metric"] for d in data}, key=["pointing_game", "wsl", "insertion", "deletion"].index)
    families = sorted({d["family"] for d in data})
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 2.8))
    for ax, metric in zip(np.atleast_1d(axes), metrics, strict=True):
        for k, regime in enumerate(("vanilla", "pgd")):
            rows = [next((d for d in data if d["family"] == f and d["metric"] == metric
                          and d["regime"] == regime), None) for f in families]
            means = [r["mean"] if r else np.nan for r in rows]
            err = np.array([[r["mean"] - r["ci"][0], r["ci"][1] - r["mean"]] if r else [0, 0]
                            for r in rows]).T
            ax.bar(np.arange(len(families)) + 0.38 * k, means, 0.38, yerr=err,
                   label="robust" if regime == "pgd" else "vanilla")
        ax.set_xticks(np.arange(len(families)) + 0.19, families, fontsize=8)
        ax.set_title(metric + (" (lower better)" if metric == "deletion" else ""), fontsize=9)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    return _png(fig)


def fig3_advprop(data: list[dict]) -> str | None:
    if not data:
        return None
    order = {"vanilla": 0, "advprop-pgd1": 1, "advprop-pgd5": 2, "pgd": 3}
    data = sorted(data, key=lambda d: order.get(d["regime"], 9))
    metrics = ("pointing_game", "wsl", "insertion", "deletion")
    fig, axes = plt.subplots(1, 4, figsize=(12, 2.6))
    for ax, metric in zip(axes, metrics, strict=True):
        ax.bar(range(len(data)), [d[metric] for d in data], color="#4c72b0")
        ax.set_xticks(range(len(data)), [d["model"].replace("resnet-mini", "R") or "R" for d in data],
                      fontsize=7, rotation=30)
        ax.set_title(metric, fontsize=9)
    return _png(fig)


def fig4_ranks(ranks: dict) -> str | None:
    if not ranks:
        return None
    names = sorted(ranks, key=ranks.get)
    fig, ax = plt.subplots(figsize=(5, 0.3 * len(names) + 1))
    ax.barh(names[::-1], [ranks[n] for n in names[::-1]], color="#55a868")
    ax.set_xlabel("average rank over CNNs x metrics (1 = best)")
    return _png(fig)


def fig5_accuracy(per_model: list[dict]) -> str | None:
    rows = [d for d in per_model if d.get("top1") is not None]
    if not rows:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, metric in zip(axes, ("wsl", "insertion"), strict=True):
        ax.scatter([d["top1"] for d in rows], [d[metric] for d in rows])
        for d in rows:
            ax.annotate(d["model"].replace("-mini", ""), (d["top1"], d[metric]), fontsize=6)
        ax.set_xlabel("top-1 (%)")
        ax.set_ylabel(f"mean {metric}")
    return _png(fig)


def fig6_confidence(image_level: dict, per_model: list[dict], correlation: dict) -> str | None:
    if not image_level or not correlation:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    axes[0].scatter(image_level["confidence"], image_level["deletion"], s=3, alpha=0.4)
    axes[0].set_xlabel("confidence p(label | image)")
    axes[0].set_ylabel("Deletion AUC")
    axes[0].set_title("image level", fontsize=9)
    axes[1].scatter([d["confidence"] for d in per_model], [d["deletion"] for d in per_model])
    axes[1].set_xlabel("mean confidence")
    axes[1].set_ylabel("mean Deletion")
    axes[1].set_title("network level", fontsize=9)
    matrix, names = np.array(correlation["spearman"]), correlation["metrics"]
    axes[2].imshow(matrix, vmin=-1, vmax=1, cmap="coolwarm")
    axes[2].set_xticks(range(len(names)), names, fontsize=7, rotation=30)
    axes[2].set_yticks(range(len(names)), names, fontsize=7)
    for i in range(len(names)):
        for j in range(len(names)):
            axes[2].text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7)
    axes[2].set_title("Spearman between metrics (all maps)", fontsize=9)
    return _png(fig)


def _fmt(value, digits=3) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return html.escape(str(value))


def _verdict_rows(results: dict) -> str:
    out = []
    claims = results["claims"]
    by_claim = {}
    for case in results["cases"]:
        by_claim.setdefault(case["claim"], []).append(case)
    for summary in results["summary"]:
        cid = summary["claim"]
        claim = claims.get(cid, {})
        verdict = "holds" if summary["holds"] else "does not hold"
        out.append(f"<tr class='claim'><td id='{cid}'>{cid}</td><td colspan='7'>"
                   f"{html.escape(claim.get('statement', ''))} <span class='small'>"
                   f"({claim.get('section', '')}; {summary['passed']}/{summary['cases']} cases pass: "
                   f"{verdict})</span></td></tr>")
        for case in by_claim.get(cid, []):
            ci = case.get("ci")
            stat = _fmt(case["statistic"]) + (f" [{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "")
            colour = OUTCOME_COLOURS.get(case["outcome"], "#57606a")
            out.append(
                f"<tr><td>{html.escape(case['case_id'])}</td><td>{stat}</td><td>{_fmt(case.get('p_value'))}</td>"
                f"<td>{html.escape(case['threshold'])}</td><td>{_fmt(case.get('paper_value'))}</td>"
                f"<td><span class='outcome' style='background:{colour}'>{case['outcome']}</span></td>"
                f"<td>{html.escape(case['baseline_change'])}</td>"
                f"<td class='small'>{html.escape(case['message'])}</td></tr>")
    return "\n".join(out)


def render(results: dict) -> str:
    """The report's HTML."""
    prov = results["provenance"]
    summary = results["summary"]
    holding = sum(s["holds"] for s in summary)
    figs = results.get("figures", {})
    figures = [
        ("Fig 1: attribution maps of every method for the ResNet variants",
         fig1_heatmaps(results.get("heatmaps"))),
        ("Fig 2: vanilla vs robust per method family and metric (means, 95% bootstrap CI)",
         fig2_family_regime(figs.get("fig2_family_regime"))),
        ("Fig 3: ResNet vanilla, AdvProp PGD-1 / PGD-5 and robust (means over methods)",
         fig3_advprop(figs.get("fig3_advprop"))),
        ("Fig 4: method ranking (average rank; CAM excluded)", fig4_ranks(figs.get("fig4_method_ranks"))),
        ("Fig 5: accuracy vs explainability per CNN", fig5_accuracy(figs.get("fig5_per_model", []))),
        ("Fig 6: confidence vs Deletion; correlation between metrics",
         fig6_confidence(figs.get("fig6_image_level"), figs.get("fig5_per_model", []),
                         figs.get("fig6_metric_correlation"))),
    ]
    fig_html = "\n".join(f"<h3>{html.escape(t)}</h3><img src='{src}' alt='{html.escape(t)}'>"
                         for t, src in figures if src)
    choices = "\n".join(f"<li><b>{cid}</b>: {html.escape(c['choices'])}</li>"
                        for cid, c in sorted(results["claims"].items(), key=lambda kv: int(kv[0][1:]))
                        if c.get("choices"))
    zoo_rows = "\n".join(
        f"<tr><td>{html.escape(r['model'])}</td><td>{r['regime']}</td><td>{r['top1']:.1f}</td>"
        f"<td>{r['pgd_top1']:.1f}</td><td>{r['confidence_mean']:.3f}</td><td><code>{str(r['sha256'])[:12]}</code></td></tr>"
        for r in results.get("zoo_table", []))
    prov_rows = "\n".join(f"<tr><th>{html.escape(k)}</th><td><code>{html.escape(str(v))}</code></td></tr>"
                          for k, v in prov.items())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>amx claims report</title>
<style>{STYLE}</style></head><body>
<h1>amx claims report: world <code>{html.escape(prov['world'])}</code></h1>
<p><b>{holding} of {len(summary)} claims hold</b> (a claim holds when every one of its cases passes);
{sum(s['passed'] for s in summary)} of {sum(s['cases'] for s in summary)} cases pass.
Generated {html.escape(prov['created'])} by amx {html.escape(prov['amx_version'])}
(commit <code>{html.escape(str(prov['git_commit']))}</code>) on {html.escape(prov['device'])}.</p>
<p class="small">World departures from the paper: {html.escape(prov.get('world_departures', ''))}</p>
<h2>Verdicts</h2>
<table><tr><th>case</th><th>statistic [95% CI]</th><th>p</th><th>pass when</th><th>paper</th>
<th>outcome</th><th>vs baseline</th><th>details</th></tr>
{_verdict_rows(results)}</table>
<h2>Choices amx made where the paper leaves one open</h2><ul>{choices}</ul>
<h2>Figures</h2>{fig_html}
<h2>Table 1 (regenerated)</h2>
<table><tr><th>model</th><th>regime</th><th>top-1</th><th>PGD top-1</th><th>confidence</th>
<th>sha256</th></tr>
{zoo_rows}</table>
<h2>Provenance</h2><table>{prov_rows}</table>
</body></html>
"""


def write_html(results: dict, path: str | Path) -> Path:
    path = Path(path)
    text = render(results)
    write_atomic(path, lambda f: f.write(text.encode()))
    return path
