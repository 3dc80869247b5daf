"""The BIG claims' figures: Gradient, IG, AGI and BIG maps of a vanilla and a robust model on one
image; the distributions of B1's cosine distance per pair; B2's mean scores per method with 95%
CIs. ``figure_data`` makes them JSON-ready (``results.json``), ``render`` draws them."""

from __future__ import annotations

import numpy as np

from amx.claims.big_evidence import METHODS
from amx.report.figures import decode, plt, png
from amx.stats import bootstrap_mean_ci

REGIMES = (("vanilla", "tab:blue"), ("pgd", "tab:orange"))
LABELS = {"gradient": "Gradient", "ig": "IG", "agi": "AGI", "big": "BIG"}


def figure_data(evidence) -> dict:
    from amx.claims.big import B2_METRICS, paired_alignment

    found = evidence.collected_by("003")
    wide = paired_alignment(evidence)  # the images B1 tests (none where no search found a point)
    alignment = {arch: {regime: rows[regime].tolist() for regime, _ in REGIMES}
                 for arch, rows in wide["cos_distance"].groupby(level="architecture")} if len(wide) else {}
    scores = {}
    for metric, column in B2_METRICS.items():
        scores[metric] = {}
        for method, rows in found.scores.groupby("method"):
            values = rows[column].to_numpy(dtype=float)
            scores[metric][method] = [float(values.mean()), *bootstrap_mean_ci(values)]
    return {"strips": found.strips, "alignment": alignment, "scores": scores, "plan": found.plan,
            "notes": notes(found.plan)}


def notes(plan: dict) -> list[str]:
    """BIG's protocol as run, for the report."""
    pairs = ", ".join(f"{m['vanilla']} / {m['pgd']}" for m in plan.get("pairs", {}).values())
    return [f"BIG protocol on world {plan.get('world')} (preset {plan.get('preset')}): pairs {pairs}; "
            f"{plan.get('n_images')} CL images per architecture, the same for both twins.",
            f"Scale and budget: {plan.get('description', '')}",
            "B1's normal is the explained logit's gradient at the closest boundary point (BIG's Boundary "
            "Saliency Map); BIG's l2 figures are not between unit vectors and its code has no script for "
            "them, so amx tests the cosine distance and reports the raw gradients' l2.",
            "Departures from BIG's boundary search (amx.attacks.boundary): PGD steps 2 eps / steps (BIG's "
            "foolbox call steps 2 eps^2 / steps); [0, 1] pixel bounds; one random start per eps shared by "
            "the images; C&W's early abort judged per image (foolbox's watches the batch's summed loss); a "
            "successful C&W point replaces a failed PGD point. AGI "
            "follows the paper's accumulating path (its code restarts every step from the image)."]


def strips(data: dict) -> str | None:
    found = data.get("strips")
    if not found or "picture" not in found:
        return None
    size = found["size"]
    fig, axes = plt.subplots(2, len(METHODS) + 1, figsize=(1.3 * (len(METHODS) + 1), 2.8), squeeze=False)
    for r, (regime, _) in enumerate(REGIMES):
        axes[r, 0].imshow(decode(found["picture"], (size, size, 3)))
        axes[r, 0].set_ylabel(found["models"][regime], fontsize=6)
        for c, method in enumerate(METHODS, start=1):
            axes[r, c].imshow(decode(found[regime][method], (size, size)), cmap="inferno", vmin=0, vmax=255)
            if r == 0:
                axes[r, c].set_title(LABELS[method], fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return png(fig)


def alignment_boxes(data: dict) -> str | None:
    found = data.get("alignment")
    if not found:
        return None
    names = list(found)
    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 1.5, 2.8))
    for k, (regime, colour) in enumerate(REGIMES):
        positions = np.arange(len(names)) + (k - 0.5) * 0.38
        parts = ax.boxplot([found[n][regime] for n in names], positions=positions, widths=0.32,
                           patch_artist=True, showfliers=False)
        for box in parts["boxes"]:
            box.set_facecolor(colour)
        ax.plot([], [], color=colour, linewidth=6, label="robust" if regime == "pgd" else regime)
    ax.set_xticks(np.arange(len(names)), names, fontsize=7)
    ax.set_ylabel("1 - cos(grad at x, grad at x')", fontsize=7)
    ax.set_title("B1: gradient vs boundary normal (lower: aligned)", fontsize=8)
    ax.legend(fontsize=6)
    return png(fig)


def score_bars(data: dict) -> str | None:
    found = data.get("scores")
    if not found:
        return None
    fig, axes = plt.subplots(1, len(found), figsize=(2.4 * len(found), 2.6), squeeze=False)
    for ax, (metric, by_method) in zip(axes[0], found.items(), strict=True):
        names = [m for m in METHODS if m in by_method]
        means = np.array([by_method[m][0] for m in names])
        errors = [means - [by_method[m][1] for m in names], [by_method[m][2] for m in names] - means]
        ax.bar(np.arange(len(names)), means, yerr=errors, capsize=2,
               color=["tab:red" if m == "big" else "tab:grey" for m in names])
        ax.set_xticks(np.arange(len(names)), [LABELS[m] for m in names], fontsize=7)
        ax.set_title(metric, fontsize=8)
    return png(fig)


def render(data: dict) -> list[tuple[str, str]]:
    figures = [("BIG: Gradient, IG, AGI and BIG maps of a vanilla and a robust model", strips(data)),
               ("BIG B1: alignment of the gradient with the boundary normal", alignment_boxes(data)),
               ("BIG B2: localisation of BIG, IG and AGI (mean, 95% CI; every model of the pairs)",
                score_bars(data))]
    return [(title, uri) for title, uri in figures if uri is not None]
