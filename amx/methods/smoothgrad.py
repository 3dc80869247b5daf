"""SmoothGrad (Smilkov et al. 2017), as the sensitivity study (SAM, seed 002) used it.

``map = max_c | mean_n d logit_target / d x_c (x + eps_n) |`` with ``eps_n ~ N(0, sigma^2)``,
``sigma = noise * (max(x) - min(x))`` per image (Smilkov's noise level; SAM: 50 samples at 15%).
Gradients are averaged raw, as Captum's ``NoiseTunnel(nt_type='smoothgrad')``, then reduced like
``gradient``. Every image gets the same ``n`` standard-normal draws (from ``seed``, on the CPU,
in float64: ``amx.draws.normal``), so a batch gives the same maps as its images one by one, on any
device, and the draws are the same bits on every CPU kernel path. Noisy copies of all images are
batched together. The draws of ``n`` samples are the first ``n`` of any larger number's (torch's
CPU generator fills in blocks of 16; ``3 H W`` is a multiple of 16 at 64 and 224 px), so
``attribute_nested`` gives the maps of every sample count up to ``n`` from one pass of ``n``.

Reproducibility: the draws are bitwise; the maps are single-pass gradients averaged, within
float32 rounding across kernel paths, except where a noisy copy puts a ReLU's input within
rounding of 0 and the gradient through it switches (see the README's "Reproducibility across
machines").
"""

from __future__ import annotations

from dataclasses import dataclass

from amx.draws import normal
from amx.methods.base import AttributionMethod, input_gradients, reduce_channels


@dataclass(frozen=True)
class SmoothGradConfig:
    """``n_samples`` 50 and ``noise`` 0.15 (SAM); ``reduction`` as ``gradient``."""

    n_samples: int = 50
    noise: float = 0.15
    reduction: str = "max_abs"

    def __post_init__(self):
        if self.n_samples < 1 or self.noise < 0:
            raise ValueError(f"SmoothGradConfig: n_samples >= 1 and noise >= 0, got "
                             f"{self.n_samples}, {self.noise}")


class SmoothGrad(AttributionMethod):
    name = "smoothgrad"
    family = "gradient"
    needs_gradients = True
    stochastic = True
    nested = "n_samples"
    # 2: the mean of the gradients as a cumulative sum (for the nested prefixes); 3: float64 draws
    version = 3
    Config = SmoothGradConfig

    def passes(self, size):
        return (0, self.config.n_samples)

    def attribute(self, model, images, targets, generator):
        return self.attribute_prefixes(model, images, targets, generator, [self.config.n_samples])[
            self.config.n_samples]

    def attribute_prefixes(self, model, images, targets, generator, values):
        """The maps of the first ``k`` noise samples for every ``k`` in ``values``, from one draw."""
        n = max(values)
        span = (images.flatten(1).amax(1) - images.flatten(1).amin(1)).view(-1, 1, 1, 1)
        noise = normal((n, 1, *images.shape[1:]), generator, images.dtype).to(images.device)
        noisy = (images[None] + noise * (self.config.noise * span)[None]).flatten(0, 1)
        grads = input_gradients(model, noisy, targets.repeat(n), self.inputs_per_pass(images))
        sums = grads.view(n, *images.shape).cumsum(0)
        return {k: reduce_channels(sums[k - 1] / k, self.config.reduction) for k in values}
