"""The SAM claims' figures: for each swept method, a strip of maps across its values for a vanilla
and a robust model on one image; SSIM with the default map, robust vs vanilla, per sweep; the
accuracy scores' variation (S4); and S3's SmoothGrad-to-robust-gradient curves. ``figure_data``
makes them JSON-ready (``results.json``), ``render`` draws them."""

from __future__ import annotations

import numpy as np

from amx.report.figures import decode, plt, png
from amx.stats import bootstrap_mean_ci

REGIMES = (("vanilla", "tab:blue"), ("pgd", "tab:orange"))


def _mean_ci(values) -> list[float]:
    values = np.asarray(values, dtype=float)
    return [float(values.mean()), *bootstrap_mean_ci(values)] if len(values) else [np.nan] * 3


def figure_data(evidence) -> dict:
    from amx.claims import sam

    found = evidence.collected_by("002")
    ssim = {}
    for sweep in found.similarity["sweep"].unique():
        table = sam.per_image_ssim(evidence, sweep)
        ssim[sweep] = {r: _mean_ci(table.loc[table["regime"] == r, "mean"]) for r, _ in REGIMES}
    variation = {}
    for metric in sam.sam_sweeps.SCORES:
        table = sam.variation(evidence, metric)
        variation[metric] = {r: _mean_ci(table.loc[table["regime"] == r, "cv"]) for r, _ in REGIMES}
    smoothing = {}
    for sweep, rows in found.smoothing.groupby("sweep"):
        means = rows.groupby("value")["ssim"].mean()
        smoothing[sweep] = {"values": [float(v) for v in means.index], "ssim": means.tolist()}
    return {"strips": found.strips, "ssim": ssim, "variation": variation, "smoothing": smoothing,
            "plan": found.plan, "notes": notes(found.plan)}


def notes(plan: dict) -> list[str]:
    """The SAM protocol as run, for the report: models, images, every sweep, the departures."""
    sweeps = "; ".join(f"{s['name']} {', '.join(map(str, s['values']))} (default {s['default']})"
                       for s in plan.get("sweeps", []))
    pairs = ", ".join(f"{m['vanilla']} / {m['pgd']}" for m in plan.get("pairs", {}).values())
    return [f"SAM protocol on world {plan.get('world')} (preset {plan.get('preset')}): pairs {pairs}; "
            f"{plan.get('n_images')} CL images per architecture. Sweeps: {sweeps}.",
            f"Scale and budget: {plan.get('description', '')}",
            f"S6 band: {plan.get('outline_band')} px around the "
            + ("exact object mask's outline" if plan.get("object_masks") else "top 10% Sobel edges")
            + f"; S7 noise variance {plan.get('noise_variance')}; S8 converged within "
            f"{plan.get('converged', 0):.0%} of the loss drop.",
            "Departures from SAM's code (amx.claims.sam_sweeps): settings compared with the default's map; "
            "Sliding-Patch fills black and averages overlapping windows; MP upsamples bilinearly and "
            "returns 1 - mask unblurred; amx chooses the sample counts and iterations SAM's code does "
            "not list; LIME superpixels swept over 10-60; S7 noise per image from the seed."]


def strips(data: dict) -> str | None:
    found = data.get("strips")
    if not found:
        return None
    size, sweeps = found["size"], found["sweeps"]
    width = max(len(s["values"]) for s in sweeps.values()) + 1
    rows = [(name, regime) for name in sweeps for regime, _ in REGIMES]
    fig, axes = plt.subplots(len(rows), width, figsize=(1.05 * width, 1.1 * len(rows)), squeeze=False)
    picture = decode(found["picture"], (size, size, 3))
    for r, (name, regime) in enumerate(rows):
        sweep = sweeps[name]
        axes[r, 0].imshow(picture)
        axes[r, 0].set_ylabel(f"{name}\n{found['models'][regime]}", fontsize=6)
        for c, (value, encoded) in enumerate(zip(sweep["values"], sweep[regime], strict=True), start=1):
            cmap = "jet" if name.split("-")[0] == "mp" else "bwr"  # MP's mask in [0, 1]; signed maps
            axes[r, c].imshow(decode(encoded, (size, size)), cmap=cmap, vmin=0, vmax=255)
            bold = " (default)" if value == sweep["default"] else ""
            axes[r, c].set_title(f"{value}{bold}", fontsize=6)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        if not ax.images:
            ax.axis("off")
    return png(fig)


def _bars(ax, groups: dict, title: str, ylabel: str) -> None:
    names = list(groups)
    x = np.arange(len(names))
    for k, (regime, colour) in enumerate(REGIMES):
        means = np.array([groups[n][regime][0] for n in names])
        low = means - np.array([groups[n][regime][1] for n in names])
        high = np.array([groups[n][regime][2] for n in names]) - means
        ax.bar(x + (k - 0.5) * 0.38, means, 0.38, yerr=[low, high], color=colour, capsize=2,
               label="robust" if regime == "pgd" else regime)
    ax.set_xticks(x, names, rotation=35, ha="right", fontsize=6)
    ax.set_title(title, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=7)
    ax.legend(fontsize=6)


def similarity_bars(data: dict) -> str | None:
    if not data.get("ssim"):
        return None
    fig, ax = plt.subplots(figsize=(7, 3))
    _bars(ax, data["ssim"], "S1-S2: SSIM with the default setting's map (95% CI)", "mean SSIM")
    ax.axhline(0.95, color="grey", linestyle=":", linewidth=0.8)
    return png(fig)


def variation_bars(data: dict) -> str | None:
    if not data.get("variation"):
        return None
    fig, ax = plt.subplots(figsize=(3.5, 3))
    _bars(ax, data["variation"], "S4: score variation across settings (95% CI)", "std / mean")
    return png(fig)


def smoothing_curves(data: dict) -> str | None:
    if not data.get("smoothing"):
        return None
    count = len(data["smoothing"])
    fig, axes = plt.subplots(1, count, figsize=(3.2 * count, 2.6), squeeze=False)
    for ax, (sweep, curve) in zip(axes[0], data["smoothing"].items(), strict=True):
        ax.plot(curve["values"], curve["ssim"], marker="o")
        ax.set_xlabel(sweep.split("-", 1)[1], fontsize=7)
        ax.set_ylabel("SSIM(SG vanilla, Grad robust)", fontsize=7)
        ax.set_title(f"S3: {sweep}", fontsize=8)
    return png(fig)


def render(data: dict) -> list[tuple[str, str]]:
    figures = [("SAM: maps across each sweep's values, vanilla and robust, one image", strips(data)),
               ("SAM S1-S2: SSIM with the default map, robust vs vanilla", similarity_bars(data)),
               ("SAM S4: variation of the accuracy scores across settings", variation_bars(data)),
               ("SAM S3: SmoothGrad of vanilla models vs Gradient of their robust twins",
                smoothing_curves(data))]
    return [(title, uri) for title, uri in figures if uri is not None]
