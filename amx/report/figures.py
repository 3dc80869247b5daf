"""Helpers for the report's figures: a matplotlib figure as an embedded PNG, and the uint8 arrays
that ``results.json`` carries base64-encoded (Fig 1's images and maps); the seed-stability figure
(``amx stability --seeds``)."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def png(fig) -> str:
    """``fig`` as a PNG data URI (the figure is closed)."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def encode(array) -> str:
    """A uint8 array as base64 text (its shape travels separately)."""
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.uint8).tobytes()).decode()


def decode(data: str, shape) -> np.ndarray:
    return np.frombuffer(base64.b64decode(data), dtype=np.uint8).reshape(shape)


def seed_stability(record: dict) -> str:
    """Per claim, its cases that hold under every seed, under none, and that flip between seeds
    (stacked bars), as a PNG data URI."""
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
