"""``ModelSpec``: one zoo entry owns its architecture, training regime, weights, preprocessing
and provenance (the timm ``PretrainedCfg`` idea).

The same type describes the embedded world's models (weights shipped in ``fixtures/zoo``) and
the paper's 12 ImageNet CNNs (torchvision weights, MadryLab ``robustness`` checkpoints, AdvProp
checkpoints; their loaders come with the ImageNet world).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from amx.files import PAPER_DIR

# package: installed with a Python package; code: built by a plugin; file: a zoo file (amx.zoo.file)
WEIGHT_SOURCES = ("fixtures", "torchvision", "robustness", "advprop", "package", "code", "file")
_PAPER_FAMILIES = {"alexnet": "AlexNet", "googlenet": "GoogLeNet", "resnet": "ResNet",
                   "densenet": "DenseNet", "mobilenet": "MobileNet"}


def paper_model_name(architecture: str, regime: str) -> str:
    """The paper's name for a zoo model (its Table 1 and Table A1 rows): ``ResNet``,
    ``ResNet-R``, ``PGD-1``, ``PGD-5`` ..."""
    if regime.startswith("advprop-pgd"):
        return f"PGD-{regime[-1]}"
    if architecture not in _PAPER_FAMILIES or regime not in ("vanilla", "pgd"):
        raise KeyError(f"no paper model for architecture {architecture!r} and regime {regime!r}; "
                       f"architectures: {sorted(_PAPER_FAMILIES)}, regimes: vanilla, pgd, advprop-pgd1, "
                       "advprop-pgd5")
    return _PAPER_FAMILIES[architecture] + ("-R" if regime == "pgd" else "")


@functools.cache
def paper_table1() -> dict[str, dict[str, float]]:
    """The paper's Table 1 (``fixtures/paper/table1_models.csv``) by model name: ``top1``,
    ``pgd_top1`` and ``confidence_mean``."""
    with open(PAPER_DIR / "table1_models.csv", newline="") as f:
        return {row["model"]: {"top1": float(row["imagenet_top1"]), "pgd_top1": float(row["adv_top1"]),
                               "confidence_mean": float(row["confidence_mean"])}
                for row in csv.DictReader(f)}


@dataclass(frozen=True)
class ModelSpec:
    """A zoo entry.

    ``cam_layer`` is the dotted module path used by CAM / GradCAM. ``gap_head`` says whether CAM
    applies (the head is global-average-pool -> linear, as the paper judged it: not AlexNet, not
    MobileNet-v2). ``sha256`` is the expected sha256 of ``weights``; loading refuses a file
    whose hash differs. ``paper``: the paper's Table 1 figures of this very model (``top1``,
    ``pgd_top1``, ``confidence_mean``), where the world's model is the paper's; Table 1 shows them
    beside the regenerated ones. ``architecture`` names the model's family (vanilla and robust
    twins share it); ``regime`` how it was trained, an open name (``vanilla``, ``pgd``, ``trades``,
    ``advprop-pgd1`` ...): a claim set says which regimes it compares. ``recipe``: what beside the
    weights decides the outputs, where the user states it (a zoo file's constructor, normalisation
    and input size); ``fingerprint``, the model in every cache key, covers it. ``blocks``: the
    network's blocks from the logits down, each a module path or several joined by ``+`` (the
    sanity checks' randomisation order, claim set 004; none named: those checks do not apply).
    """

    name: str
    world: str
    architecture: str
    regime: str
    weights: str
    weights_source: str
    sha256: str | None
    input_size: int
    n_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    cam_layer: str
    gap_head: bool
    pair: str | None = None
    provenance: str = ""
    recipe: str = ""
    blocks: tuple[str, ...] = ()
    training: dict = field(default_factory=dict, compare=False, hash=False)
    paper: dict = field(default_factory=dict, compare=False, hash=False)  # its Table 1 row, if the paper's

    @property
    def fingerprint(self) -> str | None:
        """The model in cache keys and baselines: the weights' sha256, combined with the recipe when
        there is one (None: weights not found)."""
        if self.sha256 is None or not self.recipe:
            return self.sha256
        return hashlib.sha256(f"{self.sha256}\n{self.recipe}".encode()).hexdigest()

    def __post_init__(self):
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", self.regime):
            raise ValueError(f"model {self.name!r}: regime {self.regime!r} is not a lower-case name "
                             "(letters, digits, '.', '_', '-'), e.g. 'vanilla', 'pgd', 'trades'")
        if self.weights_source not in WEIGHT_SOURCES:
            raise ValueError(
                f"model {self.name!r}: unknown weights_source {self.weights_source!r}; "
                f"valid: {WEIGHT_SOURCES}"
            )


class WeightsMismatchError(RuntimeError):
    """A weights file whose sha256 differs from the one its manifest records."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@functools.cache
def _sha256_of_version(path: Path, mtime_ns: int, size: int) -> str:
    return sha256_of(path)


def cached_sha256(path: Path) -> str:
    """The sha256 of ``path``, hashed once per process and file version (path, modification time,
    size)."""
    stat = Path(path).stat()
    return _sha256_of_version(Path(path), stat.st_mtime_ns, stat.st_size)


def verify_weights(spec: ModelSpec, path: Path) -> None:
    """Raise ``WeightsMismatchError`` naming the file and both hashes if ``path`` is not ``spec``'s."""
    if not path.is_file():
        raise FileNotFoundError(f"model {spec.name!r}: weights file {path} does not exist")
    actual = sha256_of(path)
    if spec.sha256 is not None and actual != spec.sha256:
        raise WeightsMismatchError(
            f"model {spec.name!r}: weights file {path} has sha256 {actual}, but the manifest "
            f"expects {spec.sha256}; the file is corrupt or was replaced. Retrain it with "
            f"`amx zoo train --model {spec.name}` or restore it from git."
        )
