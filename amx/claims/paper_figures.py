"""The main paper's (001) figures, regenerated for the report: ``figure_data(evidence)`` gathers
their data (aggregates with bootstrap CIs, never the raw table) for ``results.json``;
``render(data)`` draws them as embedded PNGs, so ``amx report`` re-renders them alone.

Fig 1: every method's map for the ResNet variants on the first CL images, with the ground-truth
boxes drawn on inputs and maps. Fig 2: vanilla vs robust per method family and metric. Fig 3:
AdvProp. Fig 4: the method ranking. Fig 5: accuracy vs explainability. Fig 6: confidence vs
Deletion, whether that confidence bias survives normalising the AUCs by p(label | image), and
the correlation between metrics.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from amx import stats
from amx.metrics import METRICS
from amx.report.figures import decode, encode, png

HEATMAP_ARCHITECTURE, HEATMAP_IMAGES = "resnet", 2


def _paper_metrics() -> tuple[str, ...]:
    from amx.claims.paper import PAPER_METRICS  # paper imports this module: looked up when drawn

    return PAPER_METRICS


def heatmaps(evidence) -> dict:
    """Fig 1's data: every method's map (min-max scaled to uint8) for the ResNet variants on the
    first CL images, with the images and their boxes."""
    from amx.data.arrays import load_split

    run, world, table = evidence.run, evidence.world, evidence.scores
    if run is None or world is None or table is None:
        return {}
    rows = table[table["architecture"] == HEATMAP_ARCHITECTURE]
    if rows.empty:
        return {}
    images = sorted(int(i) for i in rows["image"].unique())[:HEATMAP_IMAGES]
    models, methods = list(dict.fromkeys(rows["model"])), list(dict.fromkeys(rows["method"]))
    pool = load_split(world, "eval", world.pool_size(run.config.n_images))
    maps = {}
    for model in models:
        for method, found in run.maps.get(model, methods, images).items():
            for image, m in found.items():
                m = m - m.min()
                m = m / m.max() if m.max() > 0 else m
                maps.setdefault(model, {}).setdefault(method, {})[str(image)] = encode(255 * m)
    return {"size": world.image_size, "models": models, "methods": methods,
            "images": {str(i): encode(pool.images[i].transpose(1, 2, 0)) for i in images},
            "boxes": {str(i): pool.boxes[i].tolist() for i in images}, "maps": maps}


def figure_data(evidence) -> dict:
    """The data of Figs 1-6, JSON-ready."""
    from amx.claims.paper import PAPER_METRICS, method_average_ranks, per_model, ten

    table, zoo = evidence.scores, evidence.zoo
    if table is None or table.empty:
        return {}
    paper_rows = ten(evidence)
    fig2 = []
    for family, rows in paper_rows.groupby("family"):
        for metric in PAPER_METRICS:
            for regime, r in rows.groupby("regime"):
                low, high = stats.bootstrap_mean_ci(r[metric], n_boot=200)
                fig2.append({"family": family, "metric": metric, "regime": regime,
                             "mean": float(r[metric].mean()), "ci": [low, high]})
    resnet = evidence.ok[evidence.ok["architecture"] == "resnet"]
    fig3 = [{"model": m, "regime": r["regime"].iloc[0],
             **{k: float(r.groupby("method")[k].mean().mean()) for k in PAPER_METRICS}}
            for m, r in resnet.groupby("model")]
    top1 = {r["model"]: r["top1"] for r in (zoo or [])}
    fig5 = [{"model": m, "top1": top1.get(m), **{k: float(v) for k, v in row.items()}}
            for m, row in per_model(evidence, list(PAPER_METRICS) + ["confidence"]).iterrows()]
    columns = [METRICS.get(m).per_image_column for m in PAPER_METRICS]
    corr = paper_rows[columns].corr(method="spearman").to_numpy()
    bias = {}
    for metric in ("insertion", "deletion"):
        for column in (metric, f"{metric}_normalized"):
            if column in paper_rows:
                t = stats.spearman(paper_rows["confidence"], paper_rows[column])
                bias[column] = {"rho": t.effect, "ci": [t.ci_low, t.ci_high], "n": t.n}
    return {"fig1_heatmaps": heatmaps(evidence), "fig2_family_regime": fig2, "fig3_advprop": fig3,
            "fig4_method_ranks": {m: float(r) for m, r in method_average_ranks(evidence).items()},
            "fig5_per_model": fig5,
            "fig6_image_level": paper_rows.sample(min(len(paper_rows), 2000), random_state=0)[
                ["model", "confidence", "deletion"]].to_dict(orient="list"),
            "fig6_confidence_bias": bias,
            "fig6_metric_correlation": {"metrics": list(PAPER_METRICS),
                                        "spearman": np.round(corr, 4).tolist()}}


def _boxes(ax, boxes) -> None:
    for x0, y0, x1, y1 in boxes:  # inclusive pixel corners: the box spans x0-0.5 .. x1+0.5
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0 + 1, y1 - y0 + 1, fill=False,
                               edgecolor="white", linewidth=1.0))


def fig1(data: dict) -> str | None:
    if not data or not data.get("maps"):
        return None
    size, models, methods = data["size"], data["models"], data["methods"]
    rows = [(m, i) for m in models for i in data["images"]]
    fig, axes = plt.subplots(len(rows), len(methods) + 1, figsize=(1.3 * (len(methods) + 1), 1.3 * len(rows)),
                             squeeze=False)
    for r, (model, image) in enumerate(rows):
        boxes = data.get("boxes", {}).get(image, [])
        axes[r, 0].imshow(decode(data["images"][image], (size, size, 3)))
        _boxes(axes[r, 0], boxes)
        axes[r, 0].set_ylabel(f"{model}\n#{image}", fontsize=6)
        for c, method in enumerate(methods, start=1):
            found = data["maps"].get(model, {}).get(method, {}).get(image)
            if found is not None:
                axes[r, c].imshow(decode(found, (size, size)), cmap="jet")
                _boxes(axes[r, c], boxes)
            else:
                axes[r, c].text(0.5, 0.5, "N/A", ha="center", va="center", fontsize=7)
            if r == 0:
                axes[r, c].set_title(method, fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_title("input", fontsize=7)
    return png(fig)


def _title(metric: str) -> str:
    return metric + (" (higher is better)" if METRICS.get(metric).higher_is_better else " (lower is better)")


def fig2(data: list[dict]) -> str | None:
    if not data:
        return None
    metrics = [m for m in _paper_metrics() if any(d["metric"] == m for d in data)]
    families = sorted({d["family"] for d in data})
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 2.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for k, regime in enumerate(("vanilla", "pgd")):
            rows = [next((d for d in data if d["family"] == f and d["metric"] == metric
                          and d["regime"] == regime), None) for f in families]
            means = [r["mean"] if r else np.nan for r in rows]
            err = np.array([[r["mean"] - r["ci"][0], r["ci"][1] - r["mean"]] if r else [0, 0]
                            for r in rows]).T
            ax.bar(np.arange(len(families)) + 0.38 * k, means, 0.38, yerr=err,
                   label="robust" if regime == "pgd" else "vanilla")
        ax.set_xticks(np.arange(len(families)) + 0.19, families, fontsize=8)
        ax.set_title(_title(metric), fontsize=9)
    axes[0, 0].legend(fontsize=7)
    return png(fig)


def fig3(data: list[dict]) -> str | None:
    if not data:
        return None
    order = {"vanilla": 0, "advprop-pgd1": 1, "advprop-pgd5": 2, "pgd": 3}
    data = sorted(data, key=lambda d: order.get(d["regime"], 9))
    metrics = _paper_metrics()
    fig, axes = plt.subplots(1, len(metrics), figsize=(12, 2.6))
    for ax, metric in zip(axes, metrics, strict=True):
        ax.bar(range(len(data)), [d[metric] for d in data], color="#4c72b0")
        ax.set_xticks(range(len(data)), [d["regime"] for d in data], fontsize=7, rotation=30)
        ax.set_title(_title(metric), fontsize=9)
    return png(fig)


def fig4(ranks: dict) -> str | None:
    if not ranks:
        return None
    names = sorted(ranks, key=ranks.get)
    fig, ax = plt.subplots(figsize=(5, 0.3 * len(names) + 1))
    ax.barh(names[::-1], [ranks[n] for n in names[::-1]], color="#55a868")
    ax.set_xlabel("average rank over CNNs x metrics (1 = best)")
    return png(fig)


def fig5(per_model: list[dict]) -> str | None:
    rows = [d for d in per_model if d.get("top1") is not None]
    if not rows:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, metric in zip(axes, ("wsl", "insertion"), strict=True):
        ax.scatter([d["top1"] for d in rows], [d[metric] for d in rows])
        for d in rows:
            ax.annotate(d["model"], (d["top1"], d[metric]), fontsize=6)
        ax.set_xlabel("top-1 (%)")
        ax.set_ylabel(f"mean {metric}")
    return png(fig)


def fig6(image_level: dict, per_model: list[dict], bias: dict, correlation: dict) -> str | None:
    if not image_level or not correlation:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    axes[0].scatter(image_level["confidence"], image_level["deletion"], s=3, alpha=0.4)
    axes[0].set_xlabel("confidence p(label | image)")
    axes[0].set_ylabel("Deletion AUC")
    lines = [f"{c}: rho {b['rho']:.2f}" for c, b in (bias or {}).items()]
    rows = ["; ".join(lines[k:k + 2]) for k in range(0, len(lines), 2)]
    axes[0].set_title("\n".join(["image level: Spearman with confidence", *rows]), fontsize=7)
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
    return png(fig)


def render(data: dict) -> list[tuple[str, str]]:
    """``[(title, PNG data URI)]`` of the figures ``data`` has."""
    figures = [
        ("Fig 1: attribution maps of every method for the ResNet variants (boxes: ground truth)",
         fig1(data.get("fig1_heatmaps"))),
        ("Fig 2: vanilla vs robust per method family and metric (means, 95% bootstrap CI)",
         fig2(data.get("fig2_family_regime"))),
        ("Fig 3: ResNet vanilla, AdvProp PGD-1 / PGD-5 and robust (means over methods)",
         fig3(data.get("fig3_advprop"))),
        ("Fig 4: method ranking (average rank; CAM excluded)", fig4(data.get("fig4_method_ranks"))),
        ("Fig 5: accuracy vs explainability per CNN", fig5(data.get("fig5_per_model", []))),
        ("Fig 6: confidence vs Deletion (and the normalised AUCs' Spearman with confidence); "
         "correlation between metrics",
         fig6(data.get("fig6_image_level"), data.get("fig5_per_model", []), data.get("fig6_confidence_bias"),
              data.get("fig6_metric_correlation"))),
    ]
    return [(title, uri) for title, uri in figures if uri]
