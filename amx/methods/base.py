"""The attribution-method interface shared by every method in ``amx.methods``.

Calling convention: ``method(model, images, targets, seed=0) -> maps``, images ``[B, 3, H, W]``
in [0, 1], targets ``[B]`` class indices, maps float32 ``[B, H, W]`` at input resolution (coarse
maps are upsampled bilinearly inside the method). A float64 model given float64 images runs in
float64 and returns float64 maps (the tests check properties of the algorithms that way, free of
float32 rounding). The target of a map is the class whose logit
(pre-softmax score) the method explains.

A model is any ``nn.Module`` mapping images to class scores ``[B, K]``. Zoo models also carry
``cam_layer`` (the name of the convolutional layer CAM and GradCAM read), ``gap_head`` (whether
the head is global-average-pooling -> linear) and ``amx_name``; ``amx.zoo.registry.load`` sets them.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import ClassVar

import torch
import torch.nn.functional as F

from amx.scoring import balanced_chunks, target_scores

FAMILIES = ("gradient", "cam", "perturbation", "control")  # control: amx.methods.controls
# What a method's maps guarantee across batch compositions, CPU kernel paths and devices (README,
# "Reproducibility across machines"); for every method, an image's map does not depend on its batch
# (tested in float64) and its draws are the same bits everywhere (``amx.draws``):
#   single-pass: float32 maps carry the rounding of the model's passes (a pass's logits lie within
#                ``amx.kernels.pass_tolerance``), and a gradient jumps where rounding switches a
#                ReLU or a max-pool;
#   iterative:   an optimisation or attack whose steps amplify float32 rounding, with no useful
#                bound; float64 maps agree between kernel paths (to 1e-9 at the tests' budgets);
#   ties:        a step decides between values equal in exact arithmetic, so rounding decides it
#                and even float64 maps can differ between kernel paths (Extremal Perturbation);
#                the method's ``without_ties`` config overrides switch that step off, and the
#                float64 checks hold the rest of the algorithm to 1e-9.
NUMERICS = ("single-pass", "iterative", "ties")
REDUCTIONS = ("max_abs", "abs_sum", "mean")


class NotApplicableError(ValueError):
    """The method does not apply to the model (e.g. CAM without a GAP head): the paper's N/A."""


def model_name(model) -> str:
    return getattr(model, "amx_name", type(model).__name__)


def reduce_channels(attributions: torch.Tensor, how: str) -> torch.Tensor:
    """``[B, C, H, W] -> [B, H, W]``: ``max_abs`` = max_c |a_c| (TorchRay's saliency),
    ``abs_sum`` = |sum_c a_c| (Captum's default ``visualize_image_attr``, sign 'absolute_value'),
    ``mean`` = mean_c a_c, signed (the sensitivity study's, SAM, seed 002)."""
    if how == "max_abs":
        return attributions.abs().amax(1)
    if how == "abs_sum":
        return attributions.sum(1).abs()
    if how == "mean":
        return attributions.mean(1)
    raise ValueError(f"reduction: unknown {how!r}; valid: {REDUCTIONS}")


def map_dtype(images: torch.Tensor) -> torch.dtype:
    """Maps are float32, or float64 for float64 images."""
    return torch.promote_types(images.dtype, torch.float32)


def upsample(coarse: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling ``[B, h, w] -> [B, H, W]`` (half-pixel centres, as ``cv2.resize``)."""
    return F.interpolate(coarse[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


PIXELS_PER_PASS = 2 ** 19
MAX_INPUTS_PER_PASS = 64


def default_inputs_per_pass(images: torch.Tensor) -> int:
    """Model inputs per pass when ``batch_size`` is not given: ``PIXELS_PER_PASS`` / (H W), at
    most 64 (64 at 64 px, 41 at 112 px, 10 at 224 px).

    Measured on a 2-core CPU (``pass_seconds``): the 64-px zoo models pass as fast per image in
    batches of 16 to 128, but a channels-last 224-px ResNet-50's forward + backward costs 58-66
    ms per image in batches of 4 to 16 and 120 ms in batches of 64, once activations outgrow the
    caches. Not tuned for GPUs, where larger batches pay: pass ``batch_size`` there.
    """
    return max(1, min(MAX_INPUTS_PER_PASS, PIXELS_PER_PASS // (images.shape[-2] * images.shape[-1])))


class AttributionMethod:
    """One attribution method: a frozen ``Config`` with the paper's defaults, capabilities as
    class attributes, and ``attribute`` doing the work on checked inputs."""

    name: ClassVar[str]
    family: ClassVar[str]
    needs_gradients: ClassVar[bool]
    stochastic: ClassVar[bool]
    numerics: ClassVar[str] = "single-pass"  # one of NUMERICS
    without_ties: ClassVar[dict] = {}  # numerics "ties": config overrides without the deciding step
    requires: ClassVar[tuple[str, ...]] = ()  # "gap_head", "cam_layer"
    # The config field naming the world whose data the method reads (SHAP's background), bound
    # to the run's world by the pipeline; None: the method reads no world's data.
    world_field: ClassVar[str | None] = None
    # Part of every cached map's key: bump it when a change alters the maps the method returns.
    version: ClassVar[int] = 1
    # The config field whose smaller values' maps come out of one computation at its largest value
    # (SmoothGrad's samples, MP's iterations): ``attribute_nested`` gives them all. None: no such field.
    nested: ClassVar[str | None] = None
    Config: ClassVar[type]

    def __init__(self, config=None, batch_size: int | None = None):
        self.config = self.Config() if config is None else config
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 (or None: by image size), got {batch_size}")
        self.batch_size = batch_size

    def inputs_per_pass(self, images: torch.Tensor) -> int:
        """Model inputs per pass (the memory budget): ``batch_size`` if given, else
        ``default_inputs_per_pass`` for these images."""
        return self.batch_size or default_inputs_per_pass(images)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in asdict(self.config).items())
        return f"{self.name}({fields})"

    def __call__(self, model, images: torch.Tensor, targets: torch.Tensor, seed: int = 0) -> torch.Tensor:
        self._check_inputs(images, targets)
        self.check_applicable(model)
        # Random draws are made on the CPU from ``seed`` and shared by the images of a batch, so
        # that maps do not depend on the device or on which images share a batch.
        generator = torch.Generator().manual_seed(seed) if self.stochastic else None
        maps = self.attribute(model, images, targets.long(), generator)
        return maps.detach().to(map_dtype(images))

    def attribute_nested(self, model, images: torch.Tensor, targets: torch.Tensor, values,
                         seed: int = 0) -> dict:
        """``{value: maps}`` for every ``value`` of the ``nested`` field, from one computation at the
        largest value; each equals the maps of the method with that value (a test holds them equal)."""
        if self.nested is None:
            raise ValueError(f"{self.name} has no nested hyperparameter")
        self._check_inputs(images, targets)
        self.check_applicable(model)
        generator = torch.Generator().manual_seed(seed) if self.stochastic else None
        steps = sorted(set(int(v) for v in values))
        out = self.attribute_prefixes(model, images, targets.long(), generator, steps)
        return {v: out[v].detach().to(map_dtype(images)) for v in steps}

    def attribute_prefixes(self, model, images, targets, generator, values: list[int]) -> dict:
        raise NotImplementedError

    def check_applicable(self, model) -> None:
        """Raise ``NotApplicableError`` when the model lacks what the method needs."""
        if "gap_head" in self.requires and not getattr(model, "gap_head", False):
            raise NotApplicableError(f"{self.name} does not apply to model {model_name(model)!r}: "
                                     "its head is not global-average-pooling -> linear")
        if "cam_layer" in self.requires and not getattr(model, "cam_layer", None):
            raise NotApplicableError(f"{self.name} needs the model's cam_layer; model "
                                     f"{model_name(model)!r} names none")

    def passes(self, size: tuple[int, int]) -> tuple[int, int]:
        """Model passes per image at image ``size`` (the paper's Table 2 counts):
        ``(forward only, forward + backward)``. They set the method's speed floor."""
        raise NotImplementedError

    def attribute(self, model, images, targets, generator) -> torch.Tensor:
        raise NotImplementedError

    @staticmethod
    def _check_inputs(images: torch.Tensor, targets: torch.Tensor) -> None:
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"images: expected [B, 3, H, W], got {shape}")
        low, high = images.min().item(), images.max().item()
        if low < 0 or high > 1:
            raise ValueError(f"images: values must be in [0, 1] (models normalise inside), "
                             f"got {low:.3g}..{high:.3g}")
        if targets.dim() != 1 or len(targets) != len(images) or targets.is_floating_point():
            raise ValueError(f"targets: expected {len(images)} integer class indices, got "
                             f"{targets.dtype} {tuple(targets.shape)}")
        if len(targets) and int(targets.min()) < 0:
            raise ValueError(f"targets: negative class index {int(targets.min())}")


def input_gradients(model, images: torch.Tensor, targets: torch.Tensor, batch_size: int) -> torch.Tensor:
    """d logit_target / d image for every image, at most ``batch_size`` images per backward pass."""
    out = torch.empty_like(images)
    for chunk in balanced_chunks(len(images), batch_size):
        x = images[chunk].detach().requires_grad_(True)
        with torch.enable_grad():
            out[chunk] = torch.autograd.grad(target_scores(model(x), targets[chunk]).sum(), x)[0]
    return out
