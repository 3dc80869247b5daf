"""A zoo from a file: the user's own models, one TOML table each, on any world with images
(``--zoo my.toml`` on ``pytest evals -m claims``, ``amx run`` and ``amx zoo list | check``)::

    [models.my-resnet50-r]
    constructor = "torchvision:resnet50"     # or "timm:vit_tiny_patch16_224", "pkg.mod:build"
    weights = "ckpt/resnet50_l2_eps3.safetensors"   # relative to this file
    strip_prefix = "module.model."           # optional
    family = "resnet"                        # vanilla/robust twins share a family
    regime = "pgd"                           # a regime the claim sets compare (vanilla, pgd, ...)
    mean = [0.485, 0.456, 0.406]             # or normalize = "tf-edge": (255 x - 127) / 128
    std = [0.229, 0.224, 0.225]
    input_size = 224                         # optional: the world's images are resized to it
    cam_layer = "layer4"                     # optional; gap_head = true where CAM applies
    blocks = ["fc", "layer4", "layer3", "layer2", "layer1", "conv1+bn1"]   # optional (claim set 004)

``constructor`` builds the network without weights: ``torchvision:<name>``
(``torchvision.models.get_model(name, weights=None)``), ``timm:<name>`` (``timm.create_model(name,
pretrained=False)``) or ``package.module:callable`` (``constructor_args``: its keyword arguments,
for the other two as well). ``weights`` is a file relative to the zoo file, or
``package:<module>/<path>`` inside an installed package; ``.safetensors`` files are read with
safetensors, ``.pth``/``.pt``/``.tar`` weights-only with amx's trust rules
(``amx.zoo.checkpoints``), a ``state_dict`` / ``model`` entry unwrapped. The model takes the
world's images in [0, 1]: amx resizes them to ``input_size`` (bilinear) and normalises them
before the network, and ``cam_layer`` is the network's module path. A vision transformer's
``cam_layer`` gives tokens; GradCAM reshapes them to their grid (``amx.methods.gradcam``) and CAM
needs ``gap_head = true``, which a transformer's head is not. ``blocks``: the network's blocks from
the logits down (module paths, several joined by ``+``), which the sanity checks (claim set 004)
randomise one after another; without them those checks do not apply to the model.

The model's fingerprint (the ``model`` of every cache key) is its weights' sha256 combined with
the file's recipe for it (constructor and its arguments, prefix, normalisation, input size, CAM
layer), so a
changed weights file or recipe recomputes that model's rows only. Every error names the file, the
model and the key.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib
import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from amx.colour import IMAGENET_MEAN, IMAGENET_STD
from amx.zoo.architectures import Normalize
from amx.zoo.checkpoints import find_state_dict, load_checkpoint
from amx.zoo.spec import ModelSpec, WeightsMismatchError, cached_sha256

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

NORMALIZATIONS = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD),
                  # TensorFlow's edge models (EfficientNet-Lite, MobileNet): (255 x - 127) / 128
                  "tf-edge": ((127 / 255,) * 3, (128 / 255,) * 3)}
REQUIRED = ("constructor", "weights")
OPTIONAL = ("constructor_args", "strip_prefix", "family", "regime", "mean", "std", "normalize",
            "input_size", "cam_layer", "gap_head", "blocks", "description")
TOP_LEVEL = ("models", "description")
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".tar", ".bin")


class ZooFileError(ValueError):
    """A zoo file that cannot be used; the message names the file, the model and the key."""


@dataclass(frozen=True)
class ZooEntry:
    """One ``[models.<name>]`` table, validated."""

    name: str
    constructor: str
    constructor_args: tuple  # sorted (key, value) pairs
    weights: Path
    strip_prefix: str
    family: str
    regime: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    input_size: int | None
    cam_layer: str
    gap_head: bool
    description: str
    blocks: tuple[str, ...] = ()

    @property
    def recipe(self) -> str:
        """What, beside the weights, decides the model's outputs and its CAM / GradCAM maps (part of
        its fingerprint)."""
        return json.dumps({"constructor": self.constructor, "args": self.constructor_args,
                           "strip_prefix": self.strip_prefix, "mean": self.mean, "std": self.std,
                           "input_size": self.input_size, "cam_layer": self.cam_layer}, sort_keys=True)


def _fail(path: Path, model: str | None, key: str | None, message: str) -> ZooFileError:
    where = f"zoo file {path}" + (f", model {model!r}" if model else "") + (f", key {key!r}" if key else "")
    return ZooFileError(f"{where}: {message}")


def _unknown(path: Path, model: str | None, key: str, valid) -> ZooFileError:
    close = difflib.get_close_matches(key, list(valid), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return _fail(path, model, key, f"unknown key{hint} Valid keys: {', '.join(valid)}")


def known_regimes() -> set[str]:
    """The regimes some registered claim set compares (its cases' ``requires``), and ``vanilla``."""
    from amx.claims import CLAIM_SETS

    return {"vanilla"} | {r for _, claim_set in CLAIM_SETS.items() for case in claim_set.cases()
                          for r in case.requires}


def resolve_weights(path: Path, name: str, text: str) -> Path:
    """``text`` relative to the zoo file, or ``package:<module>/<path>`` in an installed package."""
    if text.startswith("package:"):
        module, _, inside = text[len("package:"):].partition("/")
        try:
            spec = importlib.util.find_spec(module) if module else None
        except ImportError:  # a dotted name whose parent package is missing
            spec = None
        if spec is None or not spec.submodule_search_locations:
            raise _fail(path, name, "weights", f"{text!r}: package {module!r} is not installed")
        return Path(next(iter(spec.submodule_search_locations))) / inside
    return (path.parent / text).resolve()


def _model(path: Path, name: str, table: dict, regimes: set[str]) -> ZooEntry:
    if not isinstance(table, dict):
        raise _fail(path, name, None, f"is not a table ([models.{name}])")
    for key in table:
        if key not in REQUIRED + OPTIONAL:
            raise _unknown(path, name, key, REQUIRED + OPTIONAL)
    for key in REQUIRED:
        if not isinstance(table.get(key), str) or not table[key]:
            raise _fail(path, name, key, "is required (a string)")
    constructor = table["constructor"]
    source, _, target = constructor.partition(":")
    if not source or not target:
        raise _fail(path, name, "constructor", f"{constructor!r} is not 'torchvision:<name>', "
                                               "'timm:<name>' or 'package.module:callable'")
    find_constructor(path, name, constructor)  # an unknown one is named before anything runs
    args = table.get("constructor_args", {})
    if not isinstance(args, dict):
        raise _fail(path, name, "constructor_args", "must be a table of keyword arguments")
    weights = resolve_weights(path, name, table["weights"])
    if not weights.is_file():
        raise _fail(path, name, "weights", f"no file {weights}")
    if weights.suffix not in WEIGHT_SUFFIXES:
        raise _fail(path, name, "weights", f"{weights.name}: not one of {', '.join(WEIGHT_SUFFIXES)}")
    regime = table.get("regime", "vanilla")
    if regime not in regimes:
        close = difflib.get_close_matches(regime, sorted(regimes), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise _fail(path, name, "regime", f"{regime!r} is a regime no claim set compares.{hint} Known: "
                                          f"{', '.join(sorted(regimes))}")
    if "normalize" in table:
        if "mean" in table or "std" in table:
            raise _fail(path, name, "normalize", "give either normalize or mean and std, not both")
        if not isinstance(table["normalize"], str) or table["normalize"] not in NORMALIZATIONS:
            raise _fail(path, name, "normalize",
                        f"{table['normalize']!r}; valid: {', '.join(NORMALIZATIONS)}")
        mean, std = NORMALIZATIONS[table["normalize"]]
    else:
        for key in ("mean", "std"):
            value = table.get(key)
            if not (isinstance(value, list) and len(value) == 3
                    and all(isinstance(v, (int, float)) for v in value)):
                raise _fail(path, name, key, "needs three numbers per channel (or normalize = "
                                             f"{' | '.join(repr(n) for n in NORMALIZATIONS)})")
        if any(s <= 0 for s in table["std"]):
            raise _fail(path, name, "std", "must be positive")
        mean, std = table["mean"], table["std"]
    size = table.get("input_size")
    if size is not None and (not isinstance(size, int) or size < 8):
        raise _fail(path, name, "input_size", f"{size!r} is not a side in pixels (>= 8)")
    for key, kind in (("cam_layer", str), ("gap_head", bool), ("strip_prefix", str), ("family", str),
                      ("description", str)):
        if key in table and not isinstance(table[key], kind):
            raise _fail(path, name, key, f"must be a {kind.__name__}")
    if table.get("gap_head") and not table.get("cam_layer"):
        raise _fail(path, name, "gap_head", "CAM reads the feature maps at cam_layer; give cam_layer too")
    blocks = table.get("blocks", [])
    if not (isinstance(blocks, list) and all(isinstance(b, str) and b for b in blocks)):
        raise _fail(path, name, "blocks", "must be a list of module paths (several joined by '+'), from the "
                                          "logits down")
    return ZooEntry(name=name, constructor=constructor, constructor_args=tuple(sorted(args.items())),
                     weights=weights, strip_prefix=table.get("strip_prefix", ""),
                     family=table.get("family", name), regime=regime,
                     mean=tuple(float(m) for m in mean), std=tuple(float(s) for s in std), input_size=size,
                     cam_layer=table.get("cam_layer", ""), gap_head=table.get("gap_head", False),
                     description=table.get("description", ""),
                     blocks=tuple("+".join(f"net.{p}" for p in b.split("+")) for b in blocks))


class FileZoo:
    """The models of a zoo file (``FileZoo.read(path)``); a ``amx.data.worlds.Zoo``."""

    def __init__(self, path: Path, models: dict[str, ZooEntry], description: str = ""):
        self.path, self.models, self.description = path, models, description

    @classmethod
    def read(cls, path: str | Path) -> FileZoo:
        """The zoo of the file at ``path``, parsed and validated once per version of the file."""
        path = Path(path).expanduser().resolve()
        if not path.is_file():
            raise ZooFileError(f"zoo file {path} does not exist")
        stat = path.stat()
        return cls._read(path, stat.st_mtime_ns, stat.st_size)

    @classmethod
    @functools.cache
    def _read(cls, path: Path, mtime_ns: int, size: int) -> FileZoo:
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ZooFileError(f"zoo file {path} is not valid TOML: {err}") from None
        for key in data:
            if key not in TOP_LEVEL:
                raise _unknown(path, None, key, TOP_LEVEL)
        tables = data.get("models")
        if not isinstance(tables, dict) or not tables:
            raise _fail(path, None, "models", "needs at least one [models.<name>] table")
        regimes = known_regimes()
        return cls(path, {name: _model(path, name, table, regimes) for name, table in tables.items()},
                   data.get("description", ""))

    def specs(self, world) -> dict[str, ModelSpec]:
        """One spec per model, in the file's order; ``sha256`` is the weights file's."""
        return {m.name: self.spec(world, m) for m in self.models.values()}

    def spec(self, world, m: ZooEntry) -> ModelSpec:
        if not m.weights.is_file():  # removed since the file was read
            raise _fail(self.path, m.name, "weights", f"no file {m.weights}")
        return ModelSpec(
            name=m.name, world=world.name, architecture=m.family, regime=m.regime, weights=str(m.weights),
            weights_source="file", sha256=cached_sha256(m.weights),
            input_size=m.input_size or world.image_size, n_classes=world.n_classes, mean=m.mean, std=m.std,
            cam_layer=f"net.{m.cam_layer}" if m.cam_layer else "", gap_head=m.gap_head, recipe=m.recipe,
            blocks=m.blocks,
            provenance=m.description or f"{m.constructor}, weights {m.weights.name}, zoo file {self.path}")

    def load(self, spec: ModelSpec, device: str | torch.device = "cpu") -> nn.Module:
        """The network of ``spec`` with its weights, behind its resize and normalisation, in eval mode."""
        m = self.models[spec.name]
        net = build(self.path, m)
        state = read_weights(self.path, m, spec.sha256)
        load_state(self.path, m, net, state)
        model = FileModel(net, m.mean, m.std, m.input_size).eval()
        if m.cam_layer:
            try:
                model.get_submodule(spec.cam_layer)
            except AttributeError:
                raise _fail(self.path, m.name, "cam_layer", f"{m.cam_layer!r} is not a module of "
                                                            f"{m.constructor}") from None
        return model.to(device)


class FileModel(nn.Module):
    """The network behind the world's images: resized to ``input_size`` (bilinear, when set and
    different), then normalised."""

    def __init__(self, net: nn.Module, mean, std, input_size: int | None):
        super().__init__()
        self.normalize, self.net, self.input_size = Normalize(mean, std), net, input_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_size and tuple(x.shape[-2:]) != (self.input_size,) * 2:
            x = F.interpolate(x, size=(self.input_size,) * 2, mode="bilinear", align_corners=False)
        return self.net(self.normalize(x))


def find_constructor(path: Path, name: str, text: str):
    """The callable ``text`` names (``torchvision:<name>``, ``timm:<name>``, ``package.module:callable``),
    taking the constructor's keyword arguments; an unknown one is a ``ZooFileError``."""
    source, _, target = text.partition(":")
    try:
        if source == "torchvision":
            import torchvision

            if target not in torchvision.models.list_models():
                raise ValueError(f"torchvision has no model {target!r}")
            return functools.partial(torchvision.models.get_model, target, weights=None)
        if source == "timm":
            import timm

            if not timm.is_model(target):
                raise ValueError(f"timm has no model {target!r}")
            return functools.partial(timm.create_model, target, pretrained=False)
        found = importlib.import_module(source)
        for part in target.split("."):
            found = getattr(found, part)
        if not callable(found):
            raise TypeError(f"{target} is not callable")
        return found
    except ImportError as err:
        extra = " (pip install 'amx[timm]')" if source == "timm" else ""
        raise _fail(path, name, "constructor", f"{text!r} cannot be built: {err}{extra}") from None
    except (AttributeError, ValueError, TypeError) as err:
        raise _fail(path, name, "constructor", f"{text!r} cannot be built: {err}") from None


def build(path: Path, m: ZooEntry) -> nn.Module:
    """The network of ``m.constructor``, without weights."""
    make = find_constructor(path, m.name, m.constructor)
    try:
        return make(**dict(m.constructor_args))
    except (TypeError, ValueError, KeyError) as err:
        raise _fail(path, m.name, "constructor_args", f"{m.constructor!r} cannot be built with "
                                                      f"{dict(m.constructor_args)}: {err}") from None


def read_weights(path: Path, m: ZooEntry, sha256: str) -> dict[str, torch.Tensor]:
    """The state dict in ``m.weights`` (checked against ``sha256``, the fingerprint its spec was
    made with), ``m.strip_prefix`` removed from the keys that have it."""
    if m.weights.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load as load_safetensors

        data = m.weights.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        try:
            state = load_safetensors(data)
        except SafetensorError as err:
            raise _fail(path, m.name, "weights", f"{m.weights} cannot be read: {err}") from None
    else:
        try:
            checkpoint, digest = load_checkpoint(m.weights)
            state = find_state_dict(checkpoint, ("state_dict", "model"))
        except ValueError as err:
            raise _fail(path, m.name, "weights", str(err)) from None
    if digest != sha256:
        raise WeightsMismatchError(f"zoo file {path}, model {m.name!r}, key 'weights': {m.weights} changed "
                                   f"while amx ran (sha256 {sha256} -> {digest})")
    if m.strip_prefix:
        state = {k[len(m.strip_prefix):] if k.startswith(m.strip_prefix) else k: v for k, v in state.items()}
    return state


def load_state(path: Path, m: ZooEntry, net: nn.Module, state: dict) -> None:
    """``state`` into ``net`` (strict); a mismatch lists the first differing keys and shapes."""
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} in the file, {tuple(v.shape)} in the network"
              for k, v in own.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or shapes:
        parts = [f"{what} ({len(keys)}): {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
                 for what, keys in (("missing in the file", missing), ("not in the network", unexpected),
                                    ("shapes differ", shapes)) if keys]
        hint = "" if m.strip_prefix or not unexpected else "; a key prefix to strip (strip_prefix)?"
        raise _fail(path, m.name, "weights", f"{m.weights.name} does not fit {m.constructor}: "
                                             f"{'; '.join(parts)}{hint}")
    net.load_state_dict(state)
