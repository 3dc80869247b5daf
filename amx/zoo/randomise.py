"""Model parameter randomisation (Adebayo et al., "Sanity checks for saliency maps", NeurIPS 2018,
Sec 3.1; code adebayoj/sanity_checks_saliency): a copy of a trained model whose named blocks
(``ModelSpec.blocks``, from the logits down) have their learned weights re-drawn.

``cascading(blocks, k)``: the top ``k`` blocks randomised (the cascade from the logits down);
``independent(blocks, k)``: block ``k`` alone. In a randomised block every convolution's and linear
layer's weight is re-drawn from a normal truncated at two standard deviations (as TensorFlow's
``truncated_normal_initializer``, which the paper's Inception v3 was initialised with),

    w ~ N(0, std^2) restricted to [-2 std, 2 std],   std = gain / sqrt(fan_in),

its bias set to 0; a normalisation layer's scale set to 1 and its shift to 0, its running statistics
kept (as the reference code kept BatchNorm's moving averages). Departure: the reference re-drew
from each layer's own initialiser (Inception v3's); amx's zoo is trained from PyTorch's default
initialisation, so amx draws at He's scale (``gain`` sqrt(2), ``RandomisationConfig``), which keeps
the randomised network's activations in range. The draws come from a CPU generator seeded with
``seed`` and the block's name, so a block's new weights do not depend on the device, on the other
blocks or on the order they are randomised in.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

MODES = ("cascading", "independent")


@dataclass(frozen=True)
class RandomisationConfig:
    """``gain``: the std of a layer's new weights is ``gain / sqrt(fan_in)`` (He: sqrt 2);
    ``truncation``: the draws are kept within ``truncation`` stds (TensorFlow: 2)."""

    gain: float = math.sqrt(2.0)
    truncation: float = 2.0

    def __post_init__(self):
        if not self.gain > 0:
            raise ValueError(f"RandomisationConfig.gain must be > 0, got {self.gain}")
        if not self.truncation > 0:
            raise ValueError(f"RandomisationConfig.truncation must be > 0, got {self.truncation}")


def cascading(blocks: tuple[str, ...], k: int) -> tuple[str, ...]:
    """The blocks randomised at step ``k`` (1-based) of the cascade from the logits down."""
    return tuple(blocks[:k])


def independent(blocks: tuple[str, ...], k: int) -> tuple[str, ...]:
    """The block randomised alone at step ``k`` (1-based)."""
    return (blocks[k - 1],)


def randomised(model: nn.Module, blocks: tuple[str, ...], seed: int, name: str = "model",
               config: RandomisationConfig = RandomisationConfig()) -> nn.Module:
    """A copy of ``model`` (in eval mode) with ``blocks`` (module paths, several joined by ``+``)
    re-initialised; ``model`` is left as it was. An error names ``name`` and a path that is not
    one of its modules."""
    out = copy.deepcopy(model).eval()
    _reinitialise_blocks(out, blocks, seed, name, config)
    return out


@contextlib.contextmanager
def randomisation(model: nn.Module, blocks: tuple[str, ...], seed: int, name: str = "model",
                  config: RandomisationConfig = RandomisationConfig()):
    """``model`` itself with ``blocks`` re-initialised as ``randomised`` does, inside the ``with``
    block; its parameters are restored bit for bit on leaving it (no copy of the whole network: a
    task runner's cached model serves every randomisation in turn)."""
    saved = [(p, p.detach().clone()) for p in _block_parameters(model, blocks, name)]
    try:
        _reinitialise_blocks(model, blocks, seed, name, config)
        yield model
    finally:
        with torch.no_grad():
            for parameter, value in saved:
                parameter.copy_(value)


def _modules(model: nn.Module, block: str, name: str) -> list[nn.Module]:
    out = []
    for path in block.split("+"):
        try:
            out.append(model.get_submodule(path))
        except AttributeError:
            raise ValueError(f"model {name!r}: block {block!r} names {path!r}, which is not one of its "
                             "modules (ModelSpec.blocks)") from None
    return out


def _block_parameters(model: nn.Module, blocks: tuple[str, ...], name: str) -> list[torch.nn.Parameter]:
    found = {id(p): p for block in blocks for module in _modules(model, block, name)
             for p in module.parameters()}
    return list(found.values())


# A block's new parameters, drawn once per (block, seed, config, shapes) and process: a cascade
# re-randomises the top blocks at every step, and the truncated normal's inverse-CDF draws of a
# 224-px network's blocks (tens of millions of weights) cost seconds each time.
_DRAWN: OrderedDict[tuple, list[torch.Tensor]] = OrderedDict()
_DRAWN_ELEMENTS = 100_000_000  # the most kept, in weights (400 MB of float32)


def _reinitialise_blocks(model: nn.Module, blocks: tuple[str, ...], seed: int, name: str,
                         config: RandomisationConfig) -> None:
    for block in blocks:
        parameters = _block_parameters(model, (block,), name)
        key = (block, seed, config, tuple((tuple(p.shape), p.dtype, str(p.device)) for p in parameters))
        drawn = _DRAWN.get(key)
        if drawn is not None:
            _DRAWN.move_to_end(key)
            with torch.no_grad():
                for parameter, value in zip(parameters, drawn, strict=True):
                    parameter.copy_(value)
            continue
        generator = torch.Generator().manual_seed(_block_seed(seed, block))
        for module in _modules(model, block, name):
            for layer in module.modules():
                _reinitialise(layer, generator, config)
        _DRAWN[key] = [p.detach().clone() for p in parameters]
        while len(_DRAWN) > 1 and sum(v.numel() for vs in _DRAWN.values() for v in vs) > _DRAWN_ELEMENTS:
            _DRAWN.popitem(last=False)


def _block_seed(seed: int, block: str) -> int:
    digest = hashlib.sha256(f"{seed}:{block}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2 ** 63 - 1)


def _reinitialise(layer: nn.Module, generator: torch.Generator, config: RandomisationConfig) -> None:
    with torch.no_grad():
        if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            weight = layer.weight
            fan_in = weight[0].numel()
            std = config.gain / math.sqrt(fan_in)
            cut = config.truncation * std
            draw = torch.empty(weight.shape, dtype=torch.float32)
            nn.init.trunc_normal_(draw, 0.0, std, -cut, cut, generator=generator)
            weight.copy_(draw.to(weight.dtype))
            if layer.bias is not None:
                layer.bias.zero_()
        elif isinstance(layer, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)):
            if getattr(layer, "weight", None) is not None:
                layer.weight.fill_(1.0)
            if getattr(layer, "bias", None) is not None:
                layer.bias.zero_()
