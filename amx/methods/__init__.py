"""Attribution-map methods behind one interface (``amx.methods.base``) and one registry.

>>> len(names()), names()[:3]
(20, ['agi', 'big', 'cam'])
>>> get("ig", n_steps=20).config.n_steps
20

``get(name, preset=None, model="Default", **overrides)`` returns the method with the paper's
defaults (its frozen ``Config``), then a preset's values for a Table A1 row
(``amx.presets``: ``paper``, or a world's such as ``mini``), then ``overrides``, field
by field; an unknown name, preset, row or field is an error that lists the valid ones.
"""

from __future__ import annotations

from dataclasses import fields, replace

from amx.methods.agi import AGI
from amx.methods.base import AttributionMethod, NotApplicableError
from amx.methods.big import BIG
from amx.methods.cam import CAM
from amx.methods.controls import Centre, Edges, RandomMap
from amx.methods.deeplift import DeepLift
from amx.methods.ep import ExtremalPerturbation
from amx.methods.gradcam import GradCAM
from amx.methods.gradient import Gradient
from amx.methods.gradient_x_input import GradientXInput
from amx.methods.guided import GuidedBackprop, GuidedGradCAM
from amx.methods.ig import IntegratedGradients
from amx.methods.lime import LIME
from amx.methods.mp import MeaningfulPerturbation
from amx.methods.rise import RISE
from amx.methods.shap import SHAP
from amx.methods.sliding_patch import SlidingPatch
from amx.methods.smoothgrad import SmoothGrad
from amx.presets import preset_overrides
from amx.registry import Registry

METHODS: Registry[type[AttributionMethod]] = Registry("method", "amx.methods", AttributionMethod)
for _cls in (Gradient, GradientXInput, SmoothGrad, IntegratedGradients, CAM, GradCAM, RISE, SlidingPatch,
             SHAP, LIME, ExtremalPerturbation, MeaningfulPerturbation, DeepLift, AGI, BIG,
             GuidedBackprop, GuidedGradCAM, Centre, RandomMap, Edges):
    METHODS.register(_cls.name, _cls, source=_cls.__module__)


def names() -> list[str]:
    """Registered method names, sorted."""
    return METHODS.names()


def get(name: str, preset: str | None = None, model: str = "Default", batch_size: int | None = None,
        world: str | None = None, **overrides) -> AttributionMethod:
    """The method ``name``: paper defaults, then ``preset`` for Table A1 row ``model``, then
    ``overrides`` of its config fields. ``batch_size``: model inputs per pass (default: by image
    size, ``amx.methods.base.default_inputs_per_pass``). ``world``: the world whose data the
    method may read (its ``world_field``, e.g. SHAP's background), unless overridden."""
    cls = METHODS.get(name)
    if preset is not None:
        overrides = {**preset_overrides(name, preset, model), **overrides}
    if world is not None and cls.world_field is not None:
        overrides = {cls.world_field: world, **overrides}
    valid = {f.name for f in fields(cls.Config)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise ValueError(f"method {name!r}: unknown parameter(s) {unknown}; valid: {sorted(valid)}")
    return cls(replace(cls.Config(), **overrides), batch_size=batch_size)


__all__ = ["METHODS", "AttributionMethod", "NotApplicableError", "get", "names"]
