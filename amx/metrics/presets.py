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

>>> metric_configs("mini", 64)["insertion"].n_steps
16
"""

from __future__ import annotations

from amx.metrics.causal import CausalConfig
from amx.metrics.pointing import PointingGameConfig
from amx.metrics.wsl import WSLConfig

PRESETS = ("paper", "mini")
MINI_CAUSAL_STEPS = 16


def metric_configs(preset: str, image_size: int) -> dict[str, object]:
    """``{metric name: config}`` of ``preset`` for square images of ``image_size`` pixels."""
    if preset not in PRESETS:
        raise ValueError(f"preset: unknown {preset!r}; valid: {PRESETS}")
    causal = CausalConfig() if preset == "paper" else CausalConfig(n_steps=MINI_CAUSAL_STEPS)
    pointing = PointingGameConfig() if preset == "paper" else PointingGameConfig.for_image_size(image_size)
    return {"pointing_game": pointing, "wsl": WSLConfig(), "insertion": causal, "deletion": causal}
