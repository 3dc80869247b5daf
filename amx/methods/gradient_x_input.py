"""Gradient x Input (Shrikumar et al. 2016), as Captum's ``InputXGradient``.

``map = |sum_c x_c * d logit_target / d x_c|``, the channel sum made absolute as Captum's default
visualisation does. Used by the sensitivity study (SAM, seed 002), not the main paper.
"""

from __future__ import annotations

from dataclasses import dataclass

from amx.methods.base import AttributionMethod, input_gradients, reduce_channels


@dataclass(frozen=True)
class GradientXInputConfig:
    """``reduction``: channel reduction, ``abs_sum`` as Captum's visualisation."""

    reduction: str = "abs_sum"


class GradientXInput(AttributionMethod):
    name = "gradient_x_input"
    family = "gradient"
    needs_gradients = True
    stochastic = False
    Config = GradientXInputConfig

    def passes(self, size):
        return (0, 1)

    def attribute(self, model, images, targets, generator):
        grads = input_gradients(model, images, targets, self.inputs_per_pass(images))
        return reduce_channels(grads * images, self.config.reduction)
