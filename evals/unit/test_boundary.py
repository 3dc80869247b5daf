"""BIG's decision-boundary search (``amx.attacks.boundary``) and its random start."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from amx.attacks import pgd, uniform_l2_ball
from amx.attacks.boundary import BIG_EPS, BoundaryConfig, boundary_search
from amx.data.arrays import load_split
from amx.data.worlds import get_world
from amx.pipeline.store import Store
from amx.zoo import registry

pytestmark = pytest.mark.numerics  # kernel-path sensitive: .ci/run reruns these on the default path

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


@pytest.mark.parametrize("abort_early", [True, False])
def test_found_points_are_misclassified_at_their_distance(model, batch, abort_early):
    images, labels = batch
    cfg = replace(CHEAP, cw_abort_early=abort_early)
    found = boundary_search(model, images, labels, cfg, torch.Generator().manual_seed(0))
    with torch.no_grad():
        predicted = model(found.points).argmax(1)
    assert (predicted[found.found] != labels[found.found]).all()
    assert found.points.min() >= 0 and found.points.max() <= 1
    torch.testing.assert_close(found.distance, (found.points - images).flatten(1).norm(dim=1))
    assert set(found.source) <= {"pgd", "cw", "none"} and found.found.tolist() == [
        s != "none" for s in found.source]
    # measured: every step finds all 4 (one by C&W); 5-step Adam runs checked at every step stop
    # before C&W crosses for that one (3 of 4)
    assert found.found.sum() >= (4 if not abort_early else 3)
    assert 0 < found.passes <= len(images) * cfg.passes()  # an eps that succeeds ends the PGD ensemble


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


# Batch independence is a property of the search's algorithm (shared starts, C&W's abort judged
# per image), so it is checked in float64. Float32 passes differ between batch sizes and
# kernel paths by rounding (about 1e-6 of a gradient), which the search's steps amplify (to 3.5e-4
# in a pixel on a 64-thread Xeon: x350, the tolerance this test once had and failed by); float64
# passes differ by about 1e-16, so even amplified 1e5-fold they stay below this tolerance, while a
# real dependence moves a point by a start's or a step's size (>= 1e-3 per pixel here).
BATCH_TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def model64():
    return registry.load("resnet-mini", world="mini").double()


def _largest_batch_dependence(model, images, labels, search=boundary_search) -> float:
    """The largest difference between an image's point searched in the batch and alone (inf where
    the attack that found it differs)."""
    together = search(model, images, labels, CHEAP, torch.Generator().manual_seed(3))
    largest = 0.0
    for j in range(len(images)):
        alone = search(model, images[j:j + 1], labels[j:j + 1], CHEAP, torch.Generator().manual_seed(3))
        if alone.source[0] != together.source[j]:
            return float("inf")
        largest = max(largest, (alone.points[0] - together.points[j]).abs().max().item())
    return largest


def test_an_image_s_point_does_not_depend_on_the_rest_of_its_batch(model64, batch):
    images, labels = batch
    assert _largest_batch_dependence(model64, images.double(), labels) <= BATCH_TOLERANCE


def _generator_advanced_by_the_batch(model, images, labels, cfg, generator):
    """A search whose draws depend on the batch: the generator is advanced once per image first, as
    if each image drew its own start in turn (alone, an image gets another image's draws)."""
    torch.rand(len(images), generator=generator)
    return boundary_search(model, images, labels, cfg, generator)


def _starts_per_row(monkeypatch):
    """A search that gives the i-th image of a batch the i-th start (alone, every image gets the
    first row's start)."""
    from amx.attacks import boundary

    def pgd_from_row_starts(model, images, labels, attack, start):
        rows = uniform_l2_ball((len(images), *images.shape[1:]), attack.eps, torch.Generator().manual_seed(0))
        return pgd(model, images, labels, attack, start=rows.to(images))

    monkeypatch.setattr(boundary, "pgd", pgd_from_row_starts)
    return boundary_search


@pytest.mark.parametrize("mutant", ["generator", "start"])
def test_the_batch_check_fails_for_a_search_whose_draws_depend_on_the_batch(mutant, model64, batch,
                                                                             monkeypatch):
    images, labels = batch
    search = _generator_advanced_by_the_batch if mutant == "generator" else _starts_per_row(monkeypatch)
    assert _largest_batch_dependence(model64, images.double(), labels, search) > 1e-3  # measured 0.03-0.04


def test_the_store_keeps_arrays_exactly(tmp_path):
    store = Store(tmp_path)
    points = np.random.default_rng(0).random((3, 5, 5)).astype(np.float32)
    store.put_arrays([("a", points)], of=("resnet-mini", "boundary_points"))
    assert np.array_equal(store.get_arrays(["a", "b"])["a"], points) and store.counts()["arrays"] == 1
    assert store.labelled("arrays") == {"a": ("resnet-mini", "boundary_points")}
    with pytest.raises(ValueError, match="NaN"):
        store.put_arrays([("c", np.full(3, np.nan))], of=("resnet-mini", "boundary_points"))
    store.close()


def test_where_no_attack_crosses_the_first_eps_s_point_stays_not_found(model, batch, monkeypatch):
    from amx.attacks import boundary

    images, labels = batch
    monkeypatch.setattr(boundary, "carlini_wagner", lambda model, x, y, **settings: (
        torch.zeros_like(x), torch.zeros(len(x), dtype=torch.bool), 0))
    cfg = BoundaryConfig(eps=(1e-3,), pgd_steps=2, cw_steps=1, cw_binary_steps=1)  # neither attack crosses
    found = boundary_search(model, images, labels, cfg, torch.Generator().manual_seed(0))
    assert found.source == ("none",) * len(images) and not found.found.any()
    assert (found.distance <= cfg.pixel_eps(64)[0] + 1e-6).all()  # the first eps's point, as BIG keeps it
