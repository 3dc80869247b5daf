"""Loading published checkpoints without running their code, and the user's trust in a file.

``torch.load(weights_only=True)`` unpickles tensors, containers and primitive types only; the
``robustness`` library's checkpoints also hold an ``argparse.Namespace`` (their training
arguments), allow-listed here (``SAFE_GLOBALS``) because rebuilding one runs no code. A file that
still cannot be loaded this way (old files pickled with ``dill``, say) is refused with its sha256
and the reason, until the user confirms it: ``amx zoo trust PATH`` records the file's sha256 in
``trusted-checkpoints.json`` of amx's user cache directory (``$XDG_CACHE_HOME/amx`` or
``~/.cache/amx``), and only a file with that exact sha256 is then loaded with full unpickling
(from the very bytes that were hashed). A file the weights-only loader rejects for any other
reason (truncated, not a torch file) is named as unreadable, never offered for trust.

Key conversions (``convert``) turn each published format into torchvision's key names:

* ``torchvision``: as published; DenseNet's old ``norm.1``-style names are renamed the way
  torchvision's own ``densenet`` loader does; GoogLeNet's auxiliary heads (``aux1``, ``aux2``,
  training only) are dropped in every format;
* ``robustness`` (MadryLab, Salman et al.): the ``model`` (old files: ``state_dict``) entry, keys
  ``module.model.`` (or ``module.model.model.``) + torchvision names; ``module.normalizer.*`` and
  ``module.attacker.*`` dropped; AlexNet-R's ``last_layer.*`` -> ``classifier.6.*``; GoogLeNet-R's
  ``.branch4_conv.`` -> ``.branch4.1.``;
* ``advprop``: ``{epoch, state_dict, ...}``, keys ``module.`` + ResNet names, each BatchNorm with
  a duplicate auxiliary set ``.aux_bn.`` (for adversarial examples), dropped: clean images are
  evaluated with the main BatchNorm, as the paper's code sets ``batch_type = 'clean'``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import pickle
import re
import time
from collections.abc import Mapping
from pathlib import Path

import torch

from amx.files import write_atomic
from amx.zoo.spec import sha256_of

SAFE_GLOBALS = [argparse.Namespace]
FORMATS = ("torchvision", "robustness", "advprop")
_DENSENET_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$")


class UntrustedCheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded weights-only and that the user has not trusted."""


def user_cache_dir() -> Path:
    """amx's per-user directory: ``$XDG_CACHE_HOME/amx`` or ``~/.cache/amx``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "amx"


def trust_file() -> Path:
    return user_cache_dir() / "trusted-checkpoints.json"


def trusted() -> dict[str, dict]:
    """``{sha256: {"path", "trusted"}}`` of the files the user confirmed."""
    path = trust_file()
    return json.loads(path.read_text()) if path.is_file() else {}


def trust(path: Path) -> str:
    """Record ``path``'s sha256 as confirmed by the user; returns it."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"amx zoo trust: no file {path}")
    digest = sha256_of(path)
    entries = {**trusted(), digest: {"path": str(path), "trusted": time.strftime("%Y-%m-%d %H:%M:%S")}}
    text = json.dumps(entries, indent=1, sort_keys=True) + "\n"
    write_atomic(trust_file(), lambda f: f.write(text.encode()))
    return digest


def load_checkpoint(path: Path) -> tuple[object, str]:
    """The unpickled checkpoint at ``path`` and the sha256 of the bytes it was read from. The file
    is read once: the bytes hashed are the bytes unpickled, weights-only (with ``SAFE_GLOBALS``),
    or fully where the weights-only loader refuses a global and the user trusted that sha256."""
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True), digest
    except pickle.UnpicklingError as err:
        refused = next((x.strip() for x in str(err).splitlines() if "Unsupported global" in x), None)
        if refused is None:  # not a refused class or function: a damaged or foreign file
            raise ValueError(f"checkpoint {path} cannot be read: {' '.join(str(err).split())[:300]}") \
                from None
        if digest not in trusted():
            raise UntrustedCheckpointError(
                f"checkpoint {path} (sha256 {digest}) cannot be loaded weights-only: {refused}. "
                f"Loading it fully would run code pickled in the file; if you trust where it came from, "
                f"run `amx zoo trust {path}` (recorded in {trust_file()})") from None
    except (OSError, RuntimeError, EOFError) as err:  # truncated file, not a torch archive
        raise ValueError(f"checkpoint {path} cannot be read: {' '.join(str(err).split())[:300]}") from None
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False), digest


def find_state_dict(checkpoint: object, keys: tuple[str, ...]) -> dict[str, torch.Tensor]:
    if isinstance(checkpoint, Mapping):
        for key in keys:
            if key in checkpoint and isinstance(checkpoint[key], Mapping):
                return dict(checkpoint[key])
        if all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
            return dict(checkpoint)
    found = sorted(checkpoint)[:8] if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
    raise ValueError(f"checkpoint holds no state dict under {keys} (top-level keys: {found})")


def _strip(state: dict, prefixes: tuple[str, ...]) -> dict:
    """Keys with the longest matching prefix removed; keys with none of them dropped."""
    out = {}
    for key, value in state.items():
        prefix = next((p for p in sorted(prefixes, key=len, reverse=True) if key.startswith(p)), None)
        if prefix is not None:
            out[key[len(prefix):]] = value
    return out


def convert(checkpoint: object, fmt: str, architecture: str) -> dict[str, torch.Tensor]:
    """The torchvision state dict of ``architecture`` in a published checkpoint of format ``fmt``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown checkpoint format {fmt!r}; valid: {FORMATS}")
    if architecture == "googlenet":  # amx builds GoogLeNet without its auxiliary (training) heads
        return {k: v for k, v in _convert(checkpoint, fmt, architecture).items()
                if not k.startswith(("aux1.", "aux2."))}
    return _convert(checkpoint, fmt, architecture)


def _convert(checkpoint: object, fmt: str, architecture: str) -> dict[str, torch.Tensor]:
    if fmt == "torchvision":
        state = find_state_dict(checkpoint, ("state_dict",))
        return {_DENSENET_OLD_KEY.sub(lambda m: m[1] + m[2], k): v for k, v in state.items()}
    if fmt == "advprop":
        state = _strip(find_state_dict(checkpoint, ("state_dict",)), ("module.", ""))
        return {k: v for k, v in state.items() if ".aux_bn." not in k}
    state = find_state_dict(checkpoint, ("model", "state_dict"))
    if any(k.startswith("module.model.model.") for k in state):
        state = _strip(state, ("module.model.model.",))
    else:
        state = _strip(state, ("module.model.",))
    if architecture == "alexnet":
        state = {k.replace("last_layer.", "classifier.6.", 1) if k.startswith("last_layer.") else k: v
                 for k, v in state.items()}
    if architecture == "googlenet":
        state = {k.replace(".branch4_conv.", ".branch4.1."): v for k, v in state.items()}
    return state
