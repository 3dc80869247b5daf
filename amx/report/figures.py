"""Helpers for the report's figures: a matplotlib figure as an embedded PNG, and the uint8 arrays
that ``results.json`` carries base64-encoded (Fig 1's images and maps)."""

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
