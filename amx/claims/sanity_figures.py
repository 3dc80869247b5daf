"""The sanity checks' figures (004): the cascading randomisation curves of the paper's four methods
per similarity measure (the paper's Fig 4), the same for every method (Spearman of |map|), vanilla
against robust, and the maps of one image across the cascade (the paper's Fig 2).
``figure_data`` makes them JSON-ready (``results.json``), ``render`` draws them."""

from __future__ import annotations

import numpy as np

from amx.claims.sanity_evidence import MEASURES, PAPER_METHODS
from amx.report.figures import decode, plt, png

REGIMES = (("vanilla", "-"), ("pgd", "--"))
LABELS = {"gradient": "Gradient", "gradcam": "GradCAM", "guided_backprop": "Guided BP",
          "guided_gradcam": "Guided GradCAM"}
MEASURE_LABELS = {"spearman_abs": "Spearman |map|", "spearman_signed": "Spearman signed", "ssim": "SSIM",
                  "hog": "HOG Pearson"}


def figure_data(evidence) -> dict:
    found = evidence.collected_by("004")
    table = found.similarity
    curves: dict = {}
    for (mode, regime, method), rows in table.groupby(["mode", "regime", "method"]):
        means = rows.groupby("step")[list(MEASURES)].mean()
        curves.setdefault(mode, {}).setdefault(regime, {})[method] = {
            m: [None if np.isnan(v) else float(v) for v in means[m]] for m in MEASURES}
    return {"curves": curves, "strips": found.strips, "plan": found.plan, "notes": notes(found.plan)}


def notes(plan: dict) -> list[str]:
    """The protocol as run, for the report."""
    models = ", ".join(m["model"] for m in plan.get("models", []))
    return [f"Sanity checks on world {plan.get('world')} (preset {plan.get('preset')}): models {models}; "
            f"the paper's four methods on {plan.get('n_images')} CL images per model, cascading and "
            f"independent; {len(plan.get('others', []))} more methods on {plan.get('n_others')} images, "
            "cascading only.",
            f"Scale and budget: {plan.get('description', '')}",
            "Randomisation (amx.zoo.randomise): convolution and linear weights re-drawn from a normal "
            "truncated at 2 std, std sqrt(2 / fan_in) (the paper: its Inception v3's own initialisers), "
            "biases 0, norm layers' scale 1 and shift 0, running statistics kept.",
            "Departures (amx.claims.sanity_evidence): |map| is |mean over channels| of the signed map; SSIM "
            "with a 5-px uniform window on maps scaled to [0, 1] (the reference: Gaussian 11 px); HOG "
            "features compared by Pearson correlation; the explained class stays the image's label."]


def cascade_curves(data: dict) -> str | None:
    found = data.get("curves", {}).get("cascading")
    if not found:
        return None
    fig, axes = plt.subplots(1, len(MEASURES), figsize=(2.5 * len(MEASURES), 2.6), squeeze=False)
    colours = dict(zip(PAPER_METHODS, ("tab:blue", "tab:green", "tab:red", "tab:purple"), strict=True))
    for ax, measure in zip(axes[0], MEASURES, strict=True):
        for regime, style in REGIMES:
            for method in PAPER_METHODS:
                values = found.get(regime, {}).get(method, {}).get(measure)
                if values:
                    ax.plot(np.arange(1, len(values) + 1), [np.nan if v is None else v for v in values],
                            style, color=colours[method], marker=".",
                            label=f"{LABELS[method]}" if regime == "vanilla" else None)
        ax.axhline(0.5, color="grey", linewidth=0.6, linestyle=":")
        ax.set_ylim(-0.2, 1.05)
        ax.set_title(MEASURE_LABELS[measure], fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.tick_params(labelsize=6)
    fig.supxlabel("blocks randomised, from the logits down (1: the head alone)", fontsize=7)
    axes[0, 0].set_ylabel("similarity to the trained model's map", fontsize=7)
    axes[0, 0].legend(fontsize=6, title="solid: vanilla, dashed: robust", title_fontsize=6)
    return png(fig)


def every_method(data: dict) -> str | None:
    found = data.get("curves", {}).get("cascading")
    if not found:
        return None
    methods = sorted({m for regime in found.values() for m in regime})
    fig, ax = plt.subplots(figsize=(6.5, 3.0))
    for k, method in enumerate(methods):
        colour = plt.cm.tab20(k % 20)
        for regime, style in REGIMES:
            values = found.get(regime, {}).get(method, {}).get("spearman_abs")
            if values:
                ax.plot(np.arange(1, len(values) + 1), [np.nan if v is None else v for v in values], style,
                        color=colour, label=method if regime == "vanilla" else None, linewidth=1)
    ax.axhline(0.5, color="grey", linewidth=0.6, linestyle=":")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("blocks randomised, from the logits down (1: the head alone)", fontsize=7)
    ax.set_ylabel("Spearman |map| with the trained map", fontsize=7)
    ax.legend(fontsize=5, ncol=2, loc="center left", bbox_to_anchor=(1.0, 0.5),
              title="solid: vanilla, dashed: robust", title_fontsize=5)
    ax.tick_params(labelsize=6)
    return png(fig)


def strips(data: dict) -> str | None:
    found = data.get("strips")
    if not found or not found.get("maps"):
        return None
    size, maps = found["size"], found["maps"]
    steps = len(next(iter(maps.values())))
    fig, axes = plt.subplots(len(maps), steps + 1, figsize=(1.1 * (steps + 1), 1.2 * len(maps)),
                             squeeze=False)
    for r, (method, row) in enumerate(maps.items()):
        axes[r, 0].imshow(decode(found["picture"], (size, size, 3)))
        axes[r, 0].set_ylabel(LABELS.get(method, method), fontsize=6)
        for c, image in enumerate(row, start=1):
            axes[r, c].imshow(decode(image, (size, size)), cmap="inferno", vmin=0, vmax=255)
            if r == 0:
                axes[r, c].set_title("trained" if c == 1 else f"+{found['blocks'][c - 2]}", fontsize=6)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return png(fig)


def render(data: dict) -> list[tuple[str, str]]:
    figures = [("Sanity checks A1: cascading randomisation of the paper's four methods (mean over images)",
                cascade_curves(data)),
               ("Sanity checks A3: every method's cascade, vanilla vs robust (Spearman of |map|)",
                every_method(data)),
               (f"Sanity checks: maps across the cascade ({(data.get('strips') or {}).get('model', '')}, one "
                "image)", strips(data))]
    return [(title, uri) for title, uri in figures if uri is not None]
