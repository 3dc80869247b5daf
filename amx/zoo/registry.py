"""The model registry across worlds: ``specs(world)``, ``get_spec``, ``load``.

Each world has one zoo module. Only the embedded world ``mini`` ships a zoo today; the ImageNet
world's loaders (torchvision, MadryLab ``robustness`` and AdvProp checkpoints) come with it.
"""

from __future__ import annotations

import torch

from amx.data.worlds import get_world
from amx.zoo import mini
from amx.zoo.spec import ModelSpec, unknown_name

_ZOOS = {"mini": mini}


def _zoo(world: str):
    get_world(world)  # an unknown world lists the valid ones
    if world not in _ZOOS:
        raise unknown_name("zoo world", world, _ZOOS)
    return _ZOOS[world]


def specs(world: str = "mini") -> dict[str, ModelSpec]:
    """All model specs of ``world``, in Table 1 order."""
    return _zoo(world).specs()


def get_spec(name: str, world: str = "mini") -> ModelSpec:
    """The spec called ``name``; an unknown name lists the valid ones and the closest match."""
    return _zoo(world).get_spec(name)


def load(name: str, world: str = "mini", device: str | torch.device = "cpu") -> torch.nn.Module:
    """The trained model ``name`` (eval mode, on ``device``), after checking its fingerprint.

    The model carries what attribution methods read from it (``amx.methods.base``): ``amx_name``,
    ``cam_layer`` and ``gap_head``, from its spec. Its weights are channels-last, which makes the
    zoo's convolutions about 1.5x faster on a CPU (inputs of either layout are accepted).
    """
    spec = get_spec(name, world)
    model = _zoo(world).load(name, device=device).to(memory_format=torch.channels_last)
    model.amx_name, model.cam_layer, model.gap_head = spec.name, spec.cam_layer, spec.gap_head
    return model


def attack_eps(world: str) -> float:
    """The PGD-L2 eps of the world's Table 1 attack (the paper's eps 3 at 224 px, scaled)."""
    return _zoo(world).ATTACK_EPS
