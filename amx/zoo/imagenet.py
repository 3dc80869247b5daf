"""The ``imagenet`` world's zoo: the paper's 12 published CNNs (001, Table 1), from files the user has.

Nothing is downloaded. Each checkpoint is looked up by its published file name in
``--weights-dir DIR`` (``$AMX_WEIGHTS``), then in torch's own cache ``$TORCH_HOME/hub/checkpoints``;
``amx zoo check --world imagenet`` lists per model whether it was found, the path, its sha256
and where the paper got it. A model whose file is missing has no fingerprint (``sha256`` None):
a claims run leaves it out and reports the claim cases that need it as not applicable, naming the
file. Files are loaded weights-only (``amx.zoo.checkpoints``); torchvision's files carry the first
8 hex digits of their sha256 in their name, which is checked.

The models (``MODELS``; the paper's code: ``Gullesh/VanillaVsARobust``, ``load_model.py``):

* vanilla: torchvision's ``IMAGENET1K_V1`` weights (the paper's accuracies are V1's; ResNet-50's
  and MobileNet-v2's torchvision default is now V2), GoogLeNet with ``transform_input=True``;
* PGD-L2 eps 3 robust: ResNet-50-R is MadryLab's ``imagenet_l2_3_0.pt`` (Engstrom et al.; not
  Salman et al.'s ResNet-50, whose accuracy does not match the paper's 56.25%), DenseNet-161-R
  and MobileNet-v2-R Salman et al.'s, AlexNet-R from ``anguyen8/shape-bias``, GoogLeNet-R from
  ``anguyen8/sam`` (built with ``transform_input=True``, the default of SAM's own GoogLeNet class
  it was trained as; unverified on the file here: its published 50.94% top-1 decides, which
  ``amx zoo eval --world imagenet`` measures);
* AdvProp ResNet-50 PGD-1 and PGD-5 (the authors' own, not public), normalised with mean = std =
  0.5 instead of ImageNet's.

CAM / GradCAM layers are the paper's GradCAM targets: ResNet ``layer4``, GoogLeNet
``inception5b``, AlexNet ``features.11``, DenseNet ``features.norm5`` (before torchvision's
functional ReLU: CAM's weights then see the pre-ReLU maps, as the paper's layer choice implies),
MobileNet ``features.18``. CAM applies to GAP heads only (not AlexNet, not MobileNet-v2).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from amx.colour import IMAGENET_MEAN, IMAGENET_STD
from amx.zoo.architectures import Normalize
from amx.zoo.checkpoints import convert, load_checkpoint
from amx.zoo.spec import ModelSpec, WeightsMismatchError, cached_sha256, paper_table1

WEIGHTS_ENV = "AMX_WEIGHTS"
ADVPROP_MEAN = ADVPROP_STD = (0.5, 0.5, 0.5)
TORCHVISION_V1 = "https://download.pytorch.org/models/ (torchvision IMAGENET1K_V1)"


@dataclass(frozen=True)
class Published:
    """One of the paper's models: its published file (and other names of the same weights), format,
    architecture, regime, source, and what the zoo needs to run it."""

    name: str
    architecture: str
    regime: str
    files: tuple[str, ...]
    format: str
    source: str
    cam_layer: str
    gap_head: bool
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    transform_input: bool = False  # GoogLeNet only


MODELS = (
    Published("AlexNet", "alexnet", "vanilla", ("alexnet-owt-7be5be79.pth",), "torchvision", TORCHVISION_V1,
              "features.11", False),
    Published("AlexNet-R", "alexnet", "pgd", ("alexnet-r.pt",), "robustness",
              "anguyen8/shape-bias (PGD-L2 eps 3, robustness library)", "features.11", False),
    Published("GoogLeNet", "googlenet", "vanilla", ("googlenet-1378be20.pth",), "torchvision", TORCHVISION_V1,
              "inception5b", True, transform_input=True),
    Published("GoogLeNet-R", "googlenet", "pgd", ("GoogLeNet_R.pt",), "robustness",
              "anguyen8/sam (PGD-L2 eps 3, robustness library)", "inception5b", True, transform_input=True),
    Published("ResNet", "resnet", "vanilla", ("resnet50-0676ba61.pth", "resnet50-19c8e357.pth"),
              "torchvision", TORCHVISION_V1, "layer4", True),
    Published("ResNet-R", "resnet", "pgd", ("imagenet_l2_3_0.pt",), "robustness",
              "MadryLab robustness library, ImageNet L2 eps 3.0 (Engstrom et al. 2019)", "layer4", True),
    Published("PGD-1", "resnet", "advprop-pgd1", ("pgd_1.pth.tar",), "advprop",
              "the paper's authors (AdvProp, Xie et al. 2020, PGD-1; not public)", "layer4", True,
              ADVPROP_MEAN, ADVPROP_STD),
    Published("PGD-5", "resnet", "advprop-pgd5", ("pgd_5.pth.tar",), "advprop",
              "the paper's authors (AdvProp, Xie et al. 2020, PGD-5; not public)", "layer4", True,
              ADVPROP_MEAN, ADVPROP_STD),
    Published("DenseNet", "densenet", "vanilla", ("densenet161-8d451a50.pth",), "torchvision", TORCHVISION_V1,
              "features.norm5", True),
    Published("DenseNet-R", "densenet", "pgd", ("densenet_l2_eps3.ckpt",), "robustness",
              "Salman et al. 2020, robust ImageNet models (L2 eps 3)", "features.norm5", True),
    Published("MobileNet", "mobilenet", "vanilla", ("mobilenet_v2-b0353104.pth",), "torchvision",
              TORCHVISION_V1, "features.18", False),
    Published("MobileNet-R", "mobilenet", "pgd", ("mobilenet_l2_eps3.ckpt",), "robustness",
              "Salman et al. 2020, robust ImageNet models (L2 eps 3)", "features.18", False),
)
_BY_NAME = {m.name: m for m in MODELS}
_FAMILIES = {"alexnet": "AlexNet", "googlenet": "GoogLeNet", "resnet": "ResNet", "densenet": "DenseNet",
             "mobilenet": "MobileNet"}  # the paper's model names; a twin is "<family>-R"



def _joined(*paths: str) -> str:
    return "+".join(f"net.{p}" for p in paths)


# The blocks the sanity checks (claim set 004) randomise, from the logits down, per torchvision
# architecture (the robust checkpoints are converted to the same modules).
BLOCKS = {
    "alexnet": tuple(_joined(p) for p in ("classifier", "features.10", "features.8", "features.6",
                                          "features.3", "features.0")),
    "googlenet": (_joined("fc"), _joined("inception5b", "inception5a"),
                  _joined(*(f"inception4{c}" for c in "edcba")), _joined("inception3b", "inception3a"),
                  _joined("conv3", "conv2", "conv1")),
    "resnet": (_joined("fc"), _joined("layer4"), _joined("layer3"), _joined("layer2"), _joined("layer1"),
               _joined("conv1", "bn1")),
    "densenet": (_joined("classifier"), _joined("features.norm5", "features.denseblock4"),
                 *(_joined(f"features.transition{k}", f"features.denseblock{k}") for k in (3, 2, 1)),
                 _joined("features.norm0", "features.conv0")),
    "mobilenet": (_joined("classifier"), _joined("features.18"),
                  _joined(*(f"features.{k}" for k in range(17, 13, -1))),
                  _joined(*(f"features.{k}" for k in range(13, 6, -1))),
                  _joined(*(f"features.{k}" for k in range(6, 1, -1))), _joined("features.1", "features.0")),
}
_TORCHVISION = {"alexnet": "alexnet", "googlenet": "googlenet", "resnet": "resnet50",
                "densenet": "densenet161", "mobilenet": "mobilenet_v2"}


def search_dirs() -> list[Path]:
    """Where checkpoints are looked up: ``$AMX_WEIGHTS`` (``--weights-dir``), then torch's cache."""
    dirs = [Path(os.environ[WEIGHTS_ENV]).expanduser()] if os.environ.get(WEIGHTS_ENV) else []
    return dirs + [Path(torch.hub.get_dir()) / "checkpoints"]


def find(model: Published) -> Path | None:
    """The first of ``model``'s file names found in ``search_dirs()``."""
    for directory in search_dirs():
        for name in model.files:
            if (directory / name).is_file():
                return directory / name
    return None


def specs(world) -> dict[str, ModelSpec]:
    """The 12 specs in Table 1 order; ``sha256`` is the found file's (None: not found)."""
    out = {}
    for m in MODELS:
        path = find(m)
        family = _FAMILIES[m.architecture]
        out[m.name] = ModelSpec(
            name=m.name, world=world.name, architecture=m.architecture, regime=m.regime,
            weights=str(path) if path else m.files[0], weights_source=m.format,
            sha256=cached_sha256(path) if path else None, input_size=world.image_size, n_classes=1000,
            mean=m.mean, std=m.std, cam_layer=f"net.{m.cam_layer}", gap_head=m.gap_head,
            blocks=BLOCKS[m.architecture],
            pair=f"{family}-R" if m.regime == "vanilla" else family, provenance=m.source,
            paper=paper_table1()[m.name])
    return out


class Normalized(nn.Module):
    """``net(normalize(x))``: images enter in [0, 1]; the CAM layer is ``net.<layer>``."""

    def __init__(self, net: nn.Module, mean, std):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))


def network(model: Published) -> nn.Module:
    """The torchvision architecture of ``model``, randomly initialised, without auxiliary heads."""
    import torchvision

    builder = getattr(torchvision.models, _TORCHVISION[model.architecture])
    if model.architecture == "googlenet":
        return builder(weights=None, aux_logits=False, transform_input=model.transform_input,
                       init_weights=False)
    return builder(weights=None)


def check_torchvision_hash(path: Path, digest: str) -> None:
    """torchvision's files end in the first hex digits of their sha256 (``resnet50-0676ba61.pth``)."""
    match = re.search(r"-([0-9a-f]{8,})\.pth$", path.name)
    if match and not digest.startswith(match[1]):
        raise WeightsMismatchError(f"weights file {path}: its name says sha256 {match[1]}..., the file's is "
                                   f"{digest}; it is corrupt or not the published file")


def load_published(model: Published, path: Path, sha256: str | None = None) -> nn.Module:
    """``model`` with the weights of ``path`` (any of its formats), wrapped in its normalisation.
    ``sha256``: the fingerprint the file must still have (checked on the bytes loaded)."""
    checkpoint, digest = load_checkpoint(path)
    if sha256 is not None and digest != sha256:
        raise WeightsMismatchError(f"model {model.name!r}: {path} changed since it was fingerprinted "
                                   f"({sha256} -> {digest})")
    if model.format == "torchvision":
        check_torchvision_hash(path, digest)
    net = network(model)
    state = convert(checkpoint, model.format, model.architecture)
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"model {model.name!r}: {path} does not hold a {model.format}-format "
                         f"{_TORCHVISION[model.architecture]} ({' '.join(str(err).split())[:300]})") from None
    return Normalized(net, model.mean, model.std).eval()


def load(spec: ModelSpec, device: str | torch.device = "cpu") -> nn.Module:
    """The model of ``spec``, from the file it was fingerprinted by (refused if it changed)."""
    model = _BY_NAME[spec.name]
    path = Path(spec.weights)
    if spec.sha256 is None or not path.is_file():
        raise FileNotFoundError(
            f"model {spec.name!r}: no weights file {' or '.join(model.files)} in "
            f"{', '.join(str(d) for d in search_dirs())} (pass --weights-dir DIR; source: {model.source})")
    return load_published(model, path, spec.sha256).to(device)
