"""Models across worlds: ``specs(world)``, ``get_spec``, ``load``, ``twins``. Each world owns its zoo
(``World.zoo``); this module only looks models up in it and attaches what methods read."""

from __future__ import annotations

import torch

from amx import kernels
from amx.data.worlds import DEFAULT_WORLD, get_world
from amx.registry import unknown_name
from amx.zoo.spec import ModelSpec


def specs(world: str = DEFAULT_WORLD) -> dict[str, ModelSpec]:
    """All model specs of ``world``, in Table 1 order."""
    w = get_world(world)
    return w.zoo.specs(w)


def get_spec(name: str, world: str = DEFAULT_WORLD) -> ModelSpec:
    """The spec called ``name``; an unknown name lists the valid ones and the closest match."""
    all_specs = specs(world)
    if name not in all_specs:
        raise unknown_name("model", name, all_specs)
    return all_specs[name]


def load(name: str, world: str = DEFAULT_WORLD, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The trained model ``name`` (eval mode, on ``device``), after its zoo checked its fingerprint.

    The model carries what attribution methods read from it (``amx.methods.base``): ``amx_name``,
    ``cam_layer`` and ``gap_head``, from its spec. Its weights are channels-last, which makes the
    zoo's convolutions about 1.5x faster on a CPU (inputs of either layout are accepted). On CUDA,
    float32 runs as IEEE float32, not TF32 (``amx.kernels.ieee_float32``).
    """
    if torch.device(device).type == "cuda":
        kernels.ieee_float32()
    spec = get_spec(name, world)
    model = get_world(world).zoo.load(spec, device).to(memory_format=torch.channels_last)
    model.amx_name, model.cam_layer, model.gap_head = spec.name, spec.cam_layer, spec.gap_head
    return model


def twins(world, pair: tuple[str, str], families: tuple[str, ...] | None = None) -> dict[str, dict[str, str]]:
    """``{family: {pair[0]: model, pair[1]: model}}``: the models of ``world`` (a ``World``) of the
    two regimes ``pair`` (a claim set's, e.g. ``("vanilla", "pgd")``) in each family that has both
    with weights found, of ``families`` if given."""
    out = {}
    for name, spec in world.zoo.specs(world).items():
        if spec.sha256 is None or spec.regime not in pair:
            continue
        if families is None or spec.architecture in families:
            out.setdefault(spec.architecture, {})[spec.regime] = name
    return {a: m for a, m in out.items() if len(m) == 2}
