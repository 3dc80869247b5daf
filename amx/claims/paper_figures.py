"""The main paper's (001) figures, regenerated for the report: ``figure_data(evidence)`` gathers
their data (aggregates with bootstrap CIs, never the raw table) for ``results.json``;
``render(data)`` draws them as embedded PNGs, so ``amx report`` re-renders them alone.

Fig 1: every method's map for the ResNet variants on the first CL images, with the ground-truth
boxes drawn on inputs and maps. Fig 2: vanilla vs robust per method family and metric. Fig 3:
AdvProp. Fig 4: the method ranking. Fig 5: accuracy vs explainability. Fig 6: confidence vs
Deletion, whether that confidence bias survives normalising the AUCs by p(label | image), and
the correlation between metrics. Figs 2-5 show the control maps (``amx.methods.controls``) beside
the paper's methods, marked as controls and scored on each CNN's first images
(``amx.evidence.with_controls``): Figs 2, 3 and 5 give their means there beside the methods' on
every image, and Fig 4 ranks them with the methods on those images alone. The claims' own
rankings leave them out.
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


def _control_means(rows, metrics) -> dict:
    """``{control: {metric: mean}}`` of the control maps' rows."""
    return {c: {m: float(r[m].mean()) for m in metrics} for c, r in rows.groupby("method")}


CONFIDENCE_BIAS_COLUMNS = ("insertion", "deletion", "road_lerf", "road_morf", "road")


def road_bias(evidence) -> dict:
    """Sec 3.5 beside ROAD: on the same maps (001's ROAD table: the paper's methods on the first
    CL images of the 10 CNNs), the image-level Spearman of confidence with Insertion, Deletion and
    ROAD (each order, and combined), as P9 takes Deletion's; and each method's and control map's
    mean ROAD. Empty where the session computed no ROAD table."""
    from amx.claims.paper import PAIR, PAPER_METHODS

    try:
        table = evidence.collected_by("001").table
    except ValueError:  # no ROAD table: a synthetic evidence, or its request failed
        return {}
    rows = table[(table["status"] == "ok") & table["regime"].isin(PAIR)]
    paper = rows[rows["method"].isin(PAPER_METHODS)]
    if len(paper) < stats.SPEARMAN_MIN_PAIRS:
        return {}
    rho = {}
    for column in CONFIDENCE_BIAS_COLUMNS:
        t = stats.spearman(paper["confidence"], paper[column])
        rho[column] = {"rho": t.effect, "ci": [t.ci_low, t.ci_high], "n": t.n}
    means = rows.groupby("method")["road"].mean()
    return {"images_per_model": int(paper.groupby("model")["image"].nunique().max()), "rho": rho,
            "road_means": {m: float(v) for m, v in means.items()},
            "controls": sorted(set(rows.loc[rows["family"] == "control", "method"]))}


def figure_data(evidence) -> dict:
    """The data of Figs 1-6, JSON-ready; the control maps beside the paper's methods in Figs 2-5
    (their entries marked ``control``; the claims never read them)."""
    from amx.claims.paper import PAIR, PAPER_METRICS, method_average_ranks, per_model, scored_controls, ten

    table, zoo = evidence.scores, evidence.zoo
    if table is None or table.empty:
        return {}
    paper_rows = ten(evidence)
    all_controls = scored_controls(evidence)  # the control maps on every model
    controls = all_controls[all_controls["regime"].isin(PAIR)]  # on the paper's 10 CNNs
    fig2 = []
    for group, rows in [*paper_rows.groupby("family"), *controls.groupby("method")]:
        for metric in PAPER_METRICS:
            for regime, r in rows.groupby("regime"):
                low, high = stats.bootstrap_mean_ci(r[metric], n_boot=200)
                fig2.append({"family": group, "metric": metric, "regime": regime,
                             "mean": float(r[metric].mean()), "ci": [low, high],
                             "control": bool((r["family"] == "control").all())})
    resnet = evidence.ok[evidence.ok["architecture"] == "resnet"]
    resnet_controls = all_controls[all_controls["architecture"] == "resnet"]
    fig3 = [{"model": m, "regime": r["regime"].iloc[0],
             **{k: float(r.groupby("method")[k].mean().mean()) for k in PAPER_METRICS},
             "controls": _control_means(resnet_controls[resnet_controls["model"] == m], PAPER_METRICS)}
            for m, r in resnet.groupby("model")]
    top1 = {r["model"]: r["top1"] for r in (zoo or [])}
    fig5 = [{"model": m, "top1": top1.get(m), **{k: float(v) for k, v in row.items()},
             "controls": _control_means(controls[controls["model"] == m], PAPER_METRICS)}
            for m, row in per_model(evidence, list(PAPER_METRICS) + ["confidence"]).iterrows()]
    columns = [METRICS.get(m).per_image_column for m in PAPER_METRICS]
    corr = paper_rows[columns].corr(method="spearman").to_numpy()
    bias = {}
    for metric in ("insertion", "deletion"):
        for column in (metric, f"{metric}_normalized"):
            if column in paper_rows:
                t = stats.spearman(paper_rows["confidence"], paper_rows[column])
                bias[column] = {"rho": t.effect, "ci": [t.ci_low, t.ci_high], "n": t.n}
    ranks = method_average_ranks(evidence, controls=True) if len(controls) else None
    control_images = int(controls.groupby("model")["image"].nunique().max()) if len(controls) else None
    return {"control_images": control_images, "fig1_heatmaps": heatmaps(evidence), "fig2_family_regime": fig2,
            "fig3_advprop": fig3,
            "fig4_method_ranks": {m: float(r) for m, r in method_average_ranks(evidence).items()},
            "fig4_with_controls": None if ranks is None else {
                "ranks": {m: float(r) for m, r in ranks.items()},
                "controls": sorted(set(controls["method"])), "images": control_images},
            "fig5_per_model": fig5,
            "fig6_image_level": paper_rows.sample(min(len(paper_rows), 2000), random_state=0)[
                ["model", "confidence", "deletion"]].to_dict(orient="list"),
            "fig6_confidence_bias": bias, "fig6_road_bias": road_bias(evidence),
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


CONTROL_MARKERS = ("D", "X", "^", "s", "v")  # the control maps' markers, in their sorted order


def _control_label(name: str) -> str:
    return f"{name}\n(control)"


def fig2(data: list[dict]) -> str | None:
    if not data:
        return None
    metrics = [m for m in _paper_metrics() if any(d["metric"] == m for d in data)]
    families = sorted({d["family"] for d in data if not d.get("control")})
    controls = sorted({d["family"] for d in data if d.get("control")})
    groups = families + controls
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics) + 0.4 * len(controls), 2.8),
                             squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for k, regime in enumerate(("vanilla", "pgd")):
            rows = [next((d for d in data if d["family"] == f and d["metric"] == metric
                          and d["regime"] == regime), None) for f in groups]
            means = [r["mean"] if r else np.nan for r in rows]
            err = np.array([[r["mean"] - r["ci"][0], r["ci"][1] - r["mean"]] if r else [0, 0]
                            for r in rows]).T
            bars = ax.bar(np.arange(len(groups)) + 0.38 * k, means, 0.38, yerr=err,
                          label="robust" if regime == "pgd" else "vanilla")
            for bar in bars[len(families):]:  # the controls: hatched, paler
                bar.set_hatch("///")
                bar.set_alpha(0.45)
        if controls:
            ax.axvline(len(families) - 0.31, color="grey", linewidth=0.6, linestyle=":")
        ax.set_xticks(np.arange(len(groups)) + 0.19, families + [_control_label(c) for c in controls],
                      fontsize=7, rotation=30 if controls else 0)
        ax.set_title(_title(metric), fontsize=9)
    axes[0, 0].legend(fontsize=7)
    return png(fig)


def _control_points(ax, xs, entries, metric) -> None:
    """The control maps' means beside the methods': one marker per control at each x."""
    names = sorted({c for d in entries for c in d.get("controls", {})})
    for name, marker in zip(names, CONTROL_MARKERS, strict=False):
        points = [(x, d["controls"][name][metric]) for x, d in zip(xs, entries, strict=True)
                  if name in d.get("controls", {})]
        ax.scatter(*zip(*points, strict=True), marker=marker, s=22, color="black", edgecolors="white",
                   linewidths=0.5, zorder=3, label=f"{name} (control)")


def _legend_below(fig, ax) -> None:
    """``ax``'s legend under the figure (a figure legend: ``tight_layout`` leaves the axes be)."""
    fig.legend(*ax.get_legend_handles_labels(), fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 0.02),
               ncol=4, frameon=False)


def fig3(data: list[dict]) -> str | None:
    if not data:
        return None
    order = {"vanilla": 0, "advprop-pgd1": 1, "advprop-pgd5": 2, "pgd": 3}
    data = sorted(data, key=lambda d: order.get(d["regime"], 9))
    metrics = _paper_metrics()
    fig, axes = plt.subplots(1, len(metrics), figsize=(12, 2.6))
    for ax, metric in zip(axes, metrics, strict=True):
        ax.bar(range(len(data)), [d[metric] for d in data], color="#4c72b0", label="mean over methods")
        _control_points(ax, range(len(data)), data, metric)
        ax.set_xticks(range(len(data)), [d["regime"] for d in data], fontsize=7, rotation=30)
        ax.set_title(_title(metric), fontsize=9)
    _legend_below(fig, axes[0])
    return png(fig)


def _ranking(ax, values: dict, controls=(), lower_is_better: bool = True,
             xlabel: str = "average rank over CNNs x metrics (1 = best)") -> None:
    """``values`` as horizontal bars, the best on top, the control maps hatched."""
    names = sorted(values, key=values.get, reverse=not lower_is_better)[::-1]
    ax.barh([_control_label(n).replace("\n", " ") if n in controls else n for n in names],
            [values[n] for n in names], color=["#bbbbbb" if n in controls else "#55a868" for n in names],
            hatch=["///" if n in controls else "" for n in names])
    ax.set_xlabel(xlabel)


def fig4(ranks: dict, with_controls: dict | None = None) -> str | None:
    if not ranks:
        return None
    panels = 2 if with_controls else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 0.3 * (len(ranks) + 3) + 1), squeeze=False)
    _ranking(axes[0, 0], ranks)
    if with_controls:
        n = with_controls.get("images")
        axes[0, 0].set_title("the paper's methods (the claims' ranking, every image)", fontsize=9)
        _ranking(axes[0, 1], with_controls["ranks"], with_controls["controls"])
        axes[0, 1].set_title("with the control maps (hatched)" + (f", first {n} images per CNN" if n else ""),
                             fontsize=9)
    return png(fig)


def fig5(per_model: list[dict]) -> str | None:
    rows = [d for d in per_model if d.get("top1") is not None]
    if not rows:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, metric in zip(axes, ("wsl", "insertion"), strict=True):
        ax.scatter([d["top1"] for d in rows], [d[metric] for d in rows], label="mean over methods")
        _control_points(ax, [d["top1"] for d in rows], rows, metric)
        for d in rows:
            ax.annotate(d["model"], (d["top1"], d[metric]), fontsize=6)
        ax.set_xlabel("top-1 (%)")
        ax.set_ylabel(f"mean {metric}")
    _legend_below(fig, axes[0])
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


def fig6_road(data: dict) -> str | None:
    if not data:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    names = list(data["rho"])
    rho = [data["rho"][c]["rho"] for c in names]
    err = np.clip([[r - data["rho"][c]["ci"][0], data["rho"][c]["ci"][1] - r]  # Fisher's CI clips rho +-1
                   for c, r in zip(names, rho, strict=True)], 0, None).T
    axes[0].bar(names, rho, yerr=err, color=["#4c72b0" if c.startswith("road") else "#dd8452" for c in names])
    axes[0].axhline(0, color="black", linewidth=0.6)
    axes[0].set_ylabel("Spearman rho with confidence")
    axes[0].tick_params(axis="x", labelsize=7)
    axes[0].set_title(f"on the same {data['rho'][names[0]]['n']} maps (the paper's methods, "
                      f"{data['images_per_model']} images per CNN)", fontsize=8)
    _ranking(axes[1], data["road_means"], data["controls"], lower_is_better=False,
             xlabel="mean ROAD, (LeRF - MoRF) / 2 (higher is better)")
    axes[1].set_title("each method's mean ROAD (hatched: control maps)", fontsize=8)
    return png(fig)


def render(data: dict) -> list[tuple[str, str]]:
    """``[(title, PNG data URI)]`` of the figures ``data`` has."""
    n = data.get("control_images")
    on = f", on each CNN's first {n} images" if n else ""
    among = f", on each CNN's first {n} images (where the controls were scored)" if n else ""
    figures = [
        ("Fig 1: attribution maps of every method for the ResNet variants (boxes: ground truth)",
         fig1(data.get("fig1_heatmaps"))),
        (f"Fig 2: vanilla vs robust per method family and metric, and each control map (hatched{on}) "
         "(means, 95% bootstrap CI)",
         fig2(data.get("fig2_family_regime"))),
        (f"Fig 3: ResNet vanilla, AdvProp PGD-1 / PGD-5 and robust (means over methods; markers: the "
         f"control maps{on})",
         fig3(data.get("fig3_advprop"))),
        (f"Fig 4: method ranking (average rank; CAM excluded), and with the control maps among them{among}",
         fig4(data.get("fig4_method_ranks"), data.get("fig4_with_controls"))),
        (f"Fig 5: accuracy vs explainability per CNN (markers: the control maps{on})",
         fig5(data.get("fig5_per_model", []))),
        ("Fig 6: confidence vs Deletion (and the normalised AUCs' Spearman with confidence); "
         "correlation between metrics",
         fig6(data.get("fig6_image_level"), data.get("fig5_per_model", []), data.get("fig6_confidence_bias"),
              data.get("fig6_metric_correlation"))),
        ("Fig 6, beyond the paper: is ROAD (noisy linear imputation) as predictable from confidence as "
         "Insertion and Deletion? Image-level Spearman on the same maps, and the methods' mean ROAD",
         fig6_road(data.get("fig6_road_bias"))),
    ]
    return [(title, uri) for title, uri in figures if uri]
