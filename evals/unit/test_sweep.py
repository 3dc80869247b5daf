"""The sweep stage (``amx.pipeline.sweep``): nested hyperparameters come out of one computation
equal to the standalone maps, sweeps are cached by content, and a changed model recomputes only
its own maps."""

import dataclasses

import pytest
import torch

from amx import methods
from amx.data.arrays import load_split
from amx.data.worlds import get_world
from amx.pipeline.sweep import Sweep, SweepInputs, sweep_maps
from amx.zoo import registry

pytestmark = pytest.mark.numerics  # kernel-path sensitive: .ci/run reruns these on the default path


@pytest.fixture(scope="module")
def model():
    return registry.load("resnet-mini", world="mini")


@pytest.fixture(scope="module")
def pool():
    return load_split(get_world("mini"), "eval", 4)


def test_smoothgrad_sample_counts_are_prefixes_of_one_draw(model, pool):
    images, targets = pool.batch(slice(0, 2))
    nested = methods.get("smoothgrad", n_samples=6).attribute_nested(model, images, targets, [2, 6], seed=3)
    for k in (2, 6):
        assert torch.equal(nested[k], methods.get("smoothgrad", n_samples=k)(model, images, targets, seed=3))


def test_mp_iterations_are_snapshots_of_one_optimisation(model, pool):
    images, targets = pool.batch(slice(0, 2))
    config = dict(mask_size=8, blur="gaussian", blur_sigma=2.0, blur_kernel=9, jitter=2)
    mp = methods.get("mp", iterations=5, **config)
    nested = mp.attribute_nested(model, images, targets, [2, 5], seed=1)
    for k in (2, 5):
        alone = methods.get("mp", iterations=k, **config)(model, images, targets, seed=1)
        assert torch.equal(nested[k], alone)


def test_mp_jitter_makes_the_seed_matter_and_its_trace_has_every_step(model, pool):
    images, targets = pool.batch(slice(0, 2))
    mp = methods.get("mp", iterations=4, mask_size=8, jitter=3)
    assert mp.stochastic and not methods.get("mp").stochastic
    assert not torch.equal(mp(model, images, targets, seed=0), mp(model, images, targets, seed=1))
    alone = methods.get("mp", iterations=4, mask_size=8, jitter=3, batch_size=1)
    # the same jitter offsets in every chunk: one image per pass gives the batch's maps
    torch.testing.assert_close(mp(model, images, targets, seed=0), alone(model, images, targets, seed=0),
                               rtol=1e-4, atol=1e-5)
    maps, trace = mp.optimise(model, images, targets, torch.Generator().manual_seed(0), (4,))
    assert trace.shape == (2, 4) and torch.isfinite(trace).all() and set(maps) == {4}


def test_sweeps_validate_their_parameter_and_default():
    with pytest.raises(ValueError, match="unknown parameter.*n_sample"):
        Sweep("smoothgrad", "n_sample", (1, 2), 1)
    with pytest.raises(ValueError, match="default among"):
        Sweep("smoothgrad", "noise", (0.1, 0.2), 0.3)
    assert Sweep("mp", "iterations", (2, 4), 4).nested
    assert not Sweep("mp", "blur_sigma", (1.0, 2.0), 1.0).nested


SWEEPS = [Sweep("smoothgrad", "n_samples", (2, 4), 4), Sweep("sliding_patch", "patch", (8, 16), 16,
                                                              (("stride", 8),)),
          Sweep("lime", "seed", (0, 1), 0, (("n_samples", 8),))]


def _inputs(tmp_path, specs, pool):
    return SweepInputs(world=get_world("mini"), specs=specs, pool=pool, seed=0,
                       device="cpu", cache=str(tmp_path))


def test_a_repeated_sweep_computes_nothing_and_a_changed_model_only_its_maps(tmp_path, pool):
    specs = registry.specs("mini")
    images = {"resnet-mini": [0, 1], "resnet-mini-R": [0, 1]}
    first = sweep_maps(_inputs(tmp_path, specs, pool), SWEEPS, images, log=lambda m: None)
    # one stage per (model, sweep): the nested sample counts are one computation
    assert sorted((s.model, s.method) for s in first.stages) == sorted(
        (m, s.name) for m in images for s in SWEEPS)
    again = sweep_maps(_inputs(tmp_path, specs, pool), SWEEPS, images, log=lambda m: None)
    assert again.stages == []
    maps = again.get("resnet-mini", SWEEPS[0], [0, 1])
    assert set(maps) == {2, 4} and maps[4].shape == (2, 64, 64)
    direct = methods.get("smoothgrad", n_samples=2, preset="mini", model="ResNet")(
        registry.load("resnet-mini", "mini"), *pool.batch(slice(0, 2)), seed=0)
    # stored as float16 of map / max|map|
    torch.testing.assert_close(torch.from_numpy(maps[2]), direct, rtol=2e-3,
                               atol=1e-3 * direct.abs().max().item())
    changed = dict(specs)
    changed["resnet-mini"] = dataclasses.replace(specs["resnet-mini"], sha256="0" * 64)
    third = sweep_maps(_inputs(tmp_path, changed, pool), SWEEPS, images, log=lambda m: None)
    assert {s.model for s in third.stages} == {"resnet-mini"}
