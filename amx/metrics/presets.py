"""Metric configs per preset, as for the methods (``amx.methods.presets``).

``paper``: the paper's values at 224 px (Pointing Game tolerance 15 px, WSL thresholds every
0.01 with IoU 0.5, Insertion/Deletion in 112 steps of 448 px). ``mini`` departs for the embedded
world's 64-px images and 2-core CPU budget:

=========================  ====================  ======================================
metric                     paper (224 px)        mini (64 px)
=========================  ====================  ======================================
pointing_game tolerance    15 px                 4.29 px (x 64/224)
insertion / deletion       112 steps             16 steps of 256 px (CPU budget: the two
                                                 curves are a third of a claims run's passes)
=========================  ====================  ======================================

A metric a preset does not mention (a registered plugin's) gets its config's defaults.

>>> metric_configs("mini", 64, ["insertion"])["insertion"].n_steps
16
"""

from __future__ import annotations

from collections.abc import Iterable

from amx.metrics.causal import CausalConfig
from amx.metrics.pointing import PointingGameConfig
from amx.metrics.specs import METRICS

PRESETS = ("paper", "mini")
MINI_CAUSAL_STEPS = 16


def _preset(preset: str, image_size: int) -> dict[str, object]:
    if preset == "paper":
        return {}
    causal = CausalConfig(n_steps=MINI_CAUSAL_STEPS)
    return {"pointing_game": PointingGameConfig.for_image_size(image_size), "insertion": causal,
            "deletion": causal}


def metric_configs(preset: str | None, image_size: int, names: Iterable[str]) -> dict[str, object]:
    """``{metric name: config}`` of ``preset`` (None: every metric's defaults) for the metrics
    ``names``, on square images of ``image_size`` pixels."""
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"preset: unknown {preset!r}; valid: {PRESETS}")
    chosen = _preset(preset, image_size) if preset else {}
    return {name: chosen.get(name) or METRICS.get(name).config() for name in names}
