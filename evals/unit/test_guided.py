"""Guided Backpropagation and Guided GradCAM: equal to Captum's on a network of ReLU modules
(where Captum is right), and guided where Captum's module hooks are not (functional ReLUs, a ReLU
module used twice)."""

import pytest
import torch
import torch.nn.functional as F
from captum.attr import GuidedBackprop as CaptumGuidedBackprop
from captum.attr import GuidedGradCam as CaptumGuidedGradCam

from amx import methods
from amx.methods.guided import guided_gradients

pytestmark = pytest.mark.numerics


def _network():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 5)).double().eval()


def _inputs():
    images = torch.rand(4, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    return images, torch.tensor([0, 1, 2, 4])


def test_guided_backprop_equals_captums_on_relu_modules():
    model, (images, targets) = _network(), _inputs()
    reference = CaptumGuidedBackprop(model).attribute(images, target=targets)
    ours = methods.get("guided_backprop").raw(model, images, targets)
    torch.testing.assert_close(ours, reference, rtol=1e-12, atol=1e-15)
    plain = torch.autograd.grad(model(images.requires_grad_())[range(4), targets].sum(), images)[0]
    assert not torch.allclose(ours, plain)  # the rule changed the gradient


def test_guided_gradcam_equals_captums_with_bilinear_upsampling():
    model, (images, targets) = _network(), _inputs()
    model.cam_layer = "3"
    captum = CaptumGuidedGradCam(model, model[3])
    reference = captum.attribute(images, target=targets, interpolate_mode="bilinear")
    ours = methods.get("guided_gradcam").raw(model, images, targets)
    torch.testing.assert_close(ours, reference, rtol=1e-12, atol=1e-15)
    maps = methods.get("guided_gradcam")(model.float(), images.float(), targets)
    assert maps.shape == (4, 16, 16)


class _Functional(torch.nn.Module):
    """The network of ``_network`` with functional ReLUs, the first one's module reused."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        n = self.net
        x = n[2](F.relu(n[0](x)))
        x = n[1](n[3](x))  # the first ReLU module, used again
        return n[7](n[6](n[5](x)))


def test_functional_and_reused_relus_are_guided():
    net, (images, targets) = _network(), _inputs()
    expected = guided_gradients(net, images, targets, 4)
    torch.testing.assert_close(guided_gradients(_Functional(net), images, targets, 4), expected,
                               rtol=1e-12, atol=1e-15)
    # Captum's hooks see module calls only: its result on the functional network differs
    captum = CaptumGuidedBackprop(_Functional(net)).attribute(images, target=targets)
    assert not torch.allclose(captum, expected)


def test_the_reduction_is_checked():
    with pytest.raises(ValueError, match="GuidedConfig.reduction"):
        methods.get("guided_backprop", reduction="max")
