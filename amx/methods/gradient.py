"""Gradient (Simonyan et al. 2014), as TorchRay's ``attribution.gradient``, which the paper used.

``map = max_c |d logit_target / d x_c|``: the gradient of the target's logit with respect to the
input, reduced over colour channels by the maximum absolute value (TorchRay's
``gradient_to_saliency``). Departure: amx differentiates with respect to the [0, 1] image,
TorchRay with respect to the model's (normalised) input, which scales channel ``c`` by its
normalisation ``std_c``; the per-channel maximum can then pick a different channel.
"""

from __future__ import annotations

from dataclasses import dataclass

from amx.methods.base import AttributionMethod, input_gradients, reduce_channels


@dataclass(frozen=True)
class GradientConfig:
    """``reduction``: channel reduction, ``max_abs`` as TorchRay."""

    reduction: str = "max_abs"


class Gradient(AttributionMethod):
    name = "gradient"
    family = "gradient"
    needs_gradients = True
    stochastic = False
    Config = GradientConfig

    def passes(self, size):
        return (0, 1)

    def attribute(self, model, images, targets, generator):
        grads = input_gradients(model, images, targets, self.inputs_per_pass(images))
        return reduce_channels(grads, self.config.reduction)
