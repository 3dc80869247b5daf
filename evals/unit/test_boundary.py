"""BIG's decision-boundary search (``amx.attacks.boundary``) and its random start."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from amx.attacks import uniform_l2_ball
from amx.attacks.boundary import BIG_EPS, BoundaryConfig, boundary_search
from amx.data.arrays import load_split
from amx.data.worlds import get_world
from amx.pipeline.store import Store
from amx.zoo import registry

CHEAP = BoundaryConfig(eps=(2.0, 8.0), pgd_steps=4, cw_steps=5, cw_binary_steps=3)


@pytest.fixture(scope="module")
def model():
    return registry.load("resnet-mini", world="mini")


@pytest.fixture(scope="module")
def batch(model):
    images, labels = load_split(get_world("mini"), "eval", 12).batch(slice(None))
    with torch.no_grad():
        correct = model(images).argmax(1) == labels
    return images[correct][:4], labels[correct][:4]


def test_eps_are_bigs_in_normalised_units_scaled_to_pixels_and_the_image_size():
    cfg = BoundaryConfig()
    assert cfg.eps == BIG_EPS and cfg.pgd_steps == 40 and cfg.cw_steps == 100 and cfg.cw_binary_steps == 9
    assert cfg.pixel_eps(224)[0] == pytest.approx(36 / 255 * 0.226)
    assert cfg.pixel_eps(64)[-1] == pytest.approx(1.1 * 0.226 * 64 / 224)
    assert cfg.passes() == 7 * 40 + 9 * 100


@pytest.mark.parametrize("bad", [dict(eps=()), dict(eps=(0.5, 0.3)), dict(eps=(-1.0,)), dict(pgd_steps=0),
                                 dict(cw_steps=-1), dict(cw_stepsize=0.0)])
def test_bad_settings_are_specific_errors(bad):
    with pytest.raises(ValueError, match="BoundaryConfig"):
        BoundaryConfig(**bad)


def test_random_starts_lie_in_the_ball_and_follow_the_generator():
    draws = uniform_l2_ball((500, 3, 4, 4), 0.7, torch.Generator().manual_seed(1))
    norms = draws.flatten(1).norm(dim=1)
    assert (norms <= 0.7 + 1e-6).all() and norms.mean() > 0.6  # uniform in 48-d: mass near the surface
    assert torch.equal(draws, uniform_l2_ball((500, 3, 4, 4), 0.7, torch.Generator().manual_seed(1)))


def test_found_points_are_misclassified_at_their_distance(model, batch):
    images, labels = batch
    found = boundary_search(model, images, labels, CHEAP, torch.Generator().manual_seed(0))
    with torch.no_grad():
        predicted = model(found.points).argmax(1)
    assert found.found.all() and (predicted != labels).all()
    assert found.points.min() >= 0 and found.points.max() <= 1
    torch.testing.assert_close(found.distance, (found.points - images).flatten(1).norm(dim=1))
    assert set(found.source) <= {"pgd", "cw"}


def test_pgd_only_keeps_the_smallest_successful_eps(model, batch):
    images, labels = batch
    cfg = BoundaryConfig(eps=(0.5, 4.0, 12.0), pgd_steps=5, cw_steps=0)
    found = boundary_search(model, images, labels, cfg, torch.Generator().manual_seed(0))
    assert set(found.source) <= {"pgd", "none"} and found.found.any()
    # the smallest eps draws the same start from the same seed: where it succeeds alone, its point is kept
    first = boundary_search(model, images, labels, replace(cfg, eps=cfg.eps[:1]),
                            torch.Generator().manual_seed(0))
    assert torch.equal(found.points[first.found], first.points[first.found])
    with pytest.raises(ValueError, match="model 'resnet-mini' is in training mode"):
        boundary_search(model.train(), images, labels, cfg, torch.Generator())
    model.eval()


def test_a_successful_carlini_wagner_point_replaces_a_failed_pgd_one(model, batch):
    images, labels = batch
    cfg = BoundaryConfig(eps=(1e-3,), pgd_steps=2, cw_steps=20, cw_binary_steps=4)  # PGD cannot cross
    found = boundary_search(model, images, labels, cfg, torch.Generator().manual_seed(0))
    assert found.source == ("cw",) * len(images) and found.found.all()


def test_an_image_s_point_does_not_depend_on_the_rest_of_its_batch(model, batch):
    images, labels = batch
    together = boundary_search(model, images, labels, CHEAP, torch.Generator().manual_seed(3))
    for j in range(len(images)):
        alone = boundary_search(model, images[j:j + 1], labels[j:j + 1], CHEAP,
                                torch.Generator().manual_seed(3))
        torch.testing.assert_close(alone.points[0], together.points[j], rtol=0, atol=1e-4)
        assert alone.source[0] == together.source[j]


def test_the_store_keeps_arrays_exactly(tmp_path):
    store = Store(tmp_path)
    points = np.random.default_rng(0).random((3, 5, 5)).astype(np.float32)
    store.put_arrays([("a", points)])
    assert np.array_equal(store.get_arrays(["a", "b"])["a"], points) and store.counts()["arrays"] == 1
    with pytest.raises(ValueError, match="NaN"):
        store.put_arrays([("c", np.full(3, np.nan))])
    store.close()


def test_the_black_image_foolbox_returns_where_carlini_wagner_failed_is_no_boundary_point(model, batch,
                                                                                          monkeypatch):
    from amx.attacks import boundary

    images, labels = batch
    monkeypatch.setattr(boundary, "_carlini_wagner", lambda model, x, y, cfg: torch.zeros_like(x))
    cfg = BoundaryConfig(eps=(1e-3,), pgd_steps=2, cw_steps=1, cw_binary_steps=1)  # neither attack crosses
    found = boundary_search(model, images, labels, cfg, torch.Generator().manual_seed(0))
    assert found.source == ("none",) * len(images) and not found.found.any()
    assert (found.distance <= cfg.pixel_eps(64)[0] + 1e-6).all()  # the first eps's point, as BIG keeps it
