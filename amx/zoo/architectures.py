"""Five small CNN families that mirror the paper's five ImageNet architectures (001, Sec 2.2).

Every network takes images in [0, 1] and normalises inside (``Normalize``), so methods and
metrics all see the same input space. Downsampling is by max-pooling, which trains far better
than strided convolutions at 64 px. Each family keeps the trait of its namesake that matters to
attribution methods:

==============  =====================================  =======================  =========
family          mirrors                                 CAM/GradCAM layer        GAP head
==============  =====================================  =======================  =========
``alexnet``     plain conv stack, max-pool + MLP head   ``features.conv5``       no
``googlenet``   inception blocks (1x1/3x3/5x5/pool)     ``features.inception4``  yes
``resnet``      basic residual blocks + BN              ``features.layer3``      yes
``densenet``    dense blocks + transitions              ``features.dense3``      yes
``mobilenet``   inverted residuals, depthwise convs     ``features.last``        no*
==============  =====================================  =======================  =========

(*) torchvision's MobileNet-v2 has a dropout + linear head after GAP; the paper treats CAM as not
applicable to it, and so does amx (``gap_head=False``).

``resnet`` optionally carries an auxiliary BatchNorm for adversarial batches (AdvProp, Xie et
al. 2020): ``DualBatchNorm`` routes a batch to the auxiliary BN while ``model.adversarial(True)``
is set; evaluation always uses the main BN.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from amx.colour import IMAGENET_MEAN, IMAGENET_STD


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel; images enter the model in [0, 1]."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class DualBatchNorm(nn.Module):
    """BatchNorm with an auxiliary copy for adversarial examples (AdvProp, Xie et al. 2020)."""

    def __init__(self, channels: int):
        super().__init__()
        self.main = nn.BatchNorm2d(channels)
        self.aux = nn.BatchNorm2d(channels)
        self.route_to_aux = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.aux(x) if self.route_to_aux else self.main(x)


def _bn(channels: int, dual: bool) -> nn.Module:
    return DualBatchNorm(channels) if dual else nn.BatchNorm2d(channels)


def _conv_bn_relu(cin: int, cout: int, k: int = 3, dual: bool = False) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), _bn(cout, dual), nn.ReLU(inplace=True)
    )


class Classifier(nn.Module):
    """``normalize -> features -> head``; ``features`` is an ``nn.Sequential`` of named stages."""

    def __init__(self, features: nn.Sequential, head: nn.Module, normalize: Normalize):
        super().__init__()
        self.normalize = normalize
        self.features = features
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.normalize(x)))

    def adversarial(self, on: bool) -> None:
        """Route batches through the auxiliary BatchNorms (AdvProp); no-op without them."""
        for m in self.modules():
            if isinstance(m, DualBatchNorm):
                m.route_to_aux = on


def _gap_head(channels: int, n_classes: int) -> nn.Sequential:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, n_classes))


def alexnet(n_classes: int, normalize: Normalize) -> Classifier:
    """AlexNet-like: a plain conv stack and a fully connected (MLP) head that is not
    GAP -> linear, so CAM does not apply, as for the paper's AlexNet.

    Departures, both needed for training to leave chance level on this world's low-contrast
    class patterns (AdamW lr 1.5e-4..3e-3, default and Kaiming init, up to 500 steps):
    a BatchNorm after each conv (AlexNet has none), and the MLP head reads a global *max*-pool
    of the last feature map instead of a flattened 6x6 grid.
    """
    conv = _conv_bn_relu
    features = nn.Sequential(OrderedDict(
        conv1=conv(3, 24, 5), pool1=nn.MaxPool2d(2),          # 32
        conv2=conv(24, 48), pool2=nn.MaxPool2d(2),           # 16
        conv3=conv(48, 64), conv4=conv(64, 64),
        conv5=conv(64, 128), pool5=nn.MaxPool2d(2),            # 8
    ))
    # pool5 follows conv5, so GradCAM at conv5 sees 16x16 maps (AlexNet: features.10 before pool).
    head = nn.Sequential(
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Dropout(0.3),
        nn.Linear(128, 256), nn.ReLU(inplace=True), nn.Dropout(0.3), nn.Linear(256, n_classes),
    )
    return Classifier(features, head, normalize)


class Inception(nn.Module):
    """GoogLeNet block: concat of 1x1, 1x1->3x3, 1x1->3x3->3x3 (the "5x5") and pool->1x1."""

    def __init__(self, cin: int, b1: int, b3: int, b5: int, bp: int):
        super().__init__()
        self.b1 = _conv_bn_relu(cin, b1, 1)
        self.b3 = nn.Sequential(_conv_bn_relu(cin, b3 // 2, 1), _conv_bn_relu(b3 // 2, b3))
        self.b5 = nn.Sequential(_conv_bn_relu(cin, b5 // 2, 1), _conv_bn_relu(b5 // 2, b5))
        self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1), _conv_bn_relu(cin, bp, 1))
        self.out_channels = b1 + b3 + b5 + bp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], 1)


def googlenet(n_classes: int, normalize: Normalize) -> Classifier:
    features = nn.Sequential(OrderedDict(
        stem=_conv_bn_relu(3, 24), pool1=nn.MaxPool2d(2),                  # 32
        conv2=_conv_bn_relu(24, 48), pool2=nn.MaxPool2d(2),                # 16
        inception3=Inception(48, 16, 32, 16, 16), pool3=nn.MaxPool2d(2),   # 8
        inception4=Inception(80, 32, 48, 24, 24),
    ))
    return Classifier(features, _gap_head(128, n_classes), normalize)


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv-BN, identity (or 1x1 projection) shortcut, ReLU."""

    def __init__(self, cin: int, cout: int, dual: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = _bn(cout, dual)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = _bn(cout, dual)
        self.shortcut = (
            nn.Identity() if cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), _bn(cout, dual))
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def resnet(n_classes: int, normalize: Normalize, dual_bn: bool = False) -> Classifier:
    features = nn.Sequential(OrderedDict(
        stem=_conv_bn_relu(3, 24, dual=dual_bn), pool1=nn.MaxPool2d(2),     # 32
        layer1=BasicBlock(24, 32, dual_bn), pool2=nn.MaxPool2d(2),          # 16
        layer2=BasicBlock(32, 64, dual_bn), pool3=nn.MaxPool2d(2),          # 8
        layer3=BasicBlock(64, 128, dual_bn),
    ))
    return Classifier(features, _gap_head(128, n_classes), normalize)


class DenseBlock(nn.Module):
    """DenseNet block: each layer (BN-ReLU-1x1-BN-ReLU-3x3) appends ``growth`` channels."""

    def __init__(self, cin: int, growth: int, n_layers: int):
        super().__init__()
        self.layers = nn.ModuleList()
        for i in range(n_layers):
            c = cin + i * growth
            self.layers.append(nn.Sequential(
                nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.Conv2d(c, 2 * growth, 1, bias=False),
                nn.BatchNorm2d(2 * growth), nn.ReLU(inplace=True),
                nn.Conv2d(2 * growth, growth, 3, padding=1, bias=False),
            ))
        self.out_channels = cin + n_layers * growth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.cat([x, layer(x)], 1)
        return x


def _transition(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, cout, 1, bias=False),
        nn.MaxPool2d(2),
    )


def densenet(n_classes: int, normalize: Normalize) -> Classifier:
    features = nn.Sequential(OrderedDict(
        stem=_conv_bn_relu(3, 24), pool1=nn.MaxPool2d(2),                        # 32
        dense1=DenseBlock(24, 12, 2), trans1=_transition(48, 40),                # 16
        dense2=DenseBlock(40, 16, 3), trans2=_transition(88, 64),                # 8
        dense3=DenseBlock(64, 16, 4),                                            # 128 channels
        norm=nn.BatchNorm2d(128), relu=nn.ReLU(inplace=True),
    ))
    return Classifier(features, _gap_head(128, n_classes), normalize)


class InvertedResidual(nn.Module):
    """MobileNet-v2 block: 1x1 expand, 3x3 depthwise, 1x1 linear project; residual if same shape."""

    def __init__(self, cin: int, cout: int, expand: int):
        super().__init__()
        hidden = cin * expand
        self.block = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout),
        )
        self.residual = cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.residual else out


def mobilenet(n_classes: int, normalize: Normalize) -> Classifier:
    features = nn.Sequential(OrderedDict(
        stem=_conv_bn_relu(3, 16), pool1=nn.MaxPool2d(2),                     # 32
        ir1=InvertedResidual(16, 24, 2), pool2=nn.MaxPool2d(2),               # 16
        ir2=InvertedResidual(24, 32, 4), ir3=InvertedResidual(32, 48, 4),
        pool3=nn.MaxPool2d(2),                                                # 8
        ir4=InvertedResidual(48, 64, 4), ir5=InvertedResidual(64, 64, 4),
        last=nn.Sequential(nn.Conv2d(64, 160, 1, bias=False), nn.BatchNorm2d(160),
                           nn.ReLU6(inplace=True)),
    ))
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
                         nn.Linear(160, n_classes))
    return Classifier(features, head, normalize)


ARCHITECTURES = {
    "alexnet": alexnet,
    "googlenet": googlenet,
    "resnet": resnet,
    "densenet": densenet,
    "mobilenet": mobilenet,
}


def build(architecture: str, n_classes: int, mean=IMAGENET_MEAN, std=IMAGENET_STD,
          dual_bn: bool = False) -> Classifier:
    """Build an untrained network of ``architecture`` (a key of ``ARCHITECTURES``)."""
    if architecture not in ARCHITECTURES:
        raise KeyError(f"unknown architecture {architecture!r}; valid: {sorted(ARCHITECTURES)}")
    normalize = Normalize(mean, std)
    if dual_bn:
        if architecture != "resnet":
            raise ValueError("dual_bn (AdvProp auxiliary BatchNorm) is implemented for 'resnet' only")
        return resnet(n_classes, normalize, dual_bn=True)
    return ARCHITECTURES[architecture](n_classes, normalize)
