"""The control maps: a centred Gaussian, seeded noise and Sobel edges, none of which reads the
model or the target; edges equal scikit-image's ``filters.sobel(color.rgb2gray(image))``."""

import numpy as np
import pytest
import torch
from skimage import color, filters

from amx import methods
from amx.methods.controls import CentreConfig


class Refuses(torch.nn.Module):
    """A model a control must never call."""

    def forward(self, x):
        raise AssertionError("a control map read the model")


def _images(n=3, height=20, width=28, dtype=torch.float32):
    return torch.rand(n, 3, height, width, generator=torch.Generator().manual_seed(0), dtype=dtype)


def _targets(n):
    return torch.zeros(n, dtype=torch.long)


@pytest.mark.parametrize("name", ["centre", "random", "edges"])
def test_controls_read_neither_the_model_nor_the_target(name):
    images = _images()
    method = methods.get(name)
    maps = method(Refuses(), images, torch.tensor([1, 2, 3]), seed=4)
    again = method(Refuses(), images, torch.tensor([7, 7, 7]), seed=4)
    assert maps.shape == (3, 20, 28) and maps.dtype == torch.float32
    assert torch.equal(maps, again)
    assert method.family == "control" and method.passes((20, 28)) == (0, 0)


def test_centre_is_a_gaussian_at_the_centre_with_a_quarter_of_the_side():
    maps = methods.get("centre")(Refuses(), _images(height=21, width=31, dtype=torch.float64), _targets(3))
    y, x = np.mgrid[:21, :31]
    sigma = 0.25 * 21
    expected = np.exp(-((y - 10) ** 2 + (x - 15) ** 2) / (2 * sigma ** 2))
    np.testing.assert_allclose(maps[1].numpy(), expected, rtol=0, atol=1e-15)
    assert maps[0, 10, 15] == 1.0
    with pytest.raises(ValueError, match="CentreConfig.sigma"):
        CentreConfig(sigma=0)


def test_random_is_seeded_uniform_noise_shared_by_the_images_of_every_batch():
    method, images = methods.get("random"), _images(n=4)
    maps = method(Refuses(), images, _targets(4), seed=1)
    assert ((maps >= 0) & (maps < 1)).all() and torch.equal(maps[0], maps[3])
    assert torch.equal(method(Refuses(), images[2:3], _targets(1), seed=1)[0], maps[2])  # alone
    assert not torch.equal(method(Refuses(), images, _targets(4), seed=2), maps)


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-14), (torch.float32, 1e-6)])
def test_edges_are_scikit_images_sobel_of_the_grey_image(dtype, tolerance):
    images = _images(dtype=dtype)
    maps = methods.get("edges")(Refuses(), images, _targets(3))
    for image, got in zip(images.numpy().astype(np.float64), maps.numpy(), strict=True):
        expected = filters.sobel(color.rgb2gray(image.transpose(1, 2, 0)))
        np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance)
