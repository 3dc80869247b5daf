"""ROAD's noisy linear imputation against a transcription of the reference's sparse solver, its
independence of the batch, the removal orders, and the scores against a one-image loop."""

import pytest
import torch

from amx.metrics import METRICS
from amx.metrics.road import (
    RoadConfig,
    linear_imputation,
    reference_imputation,
    removal_masks,
    road_curves,
)
from amx.metrics.specs import ScoreBatch
from amx.testing import TinyGAPNet

pytestmark = pytest.mark.numerics


def _inputs(n=4, size=12, seed=0):
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, size, size, generator=gen, dtype=torch.float64)
    removed = torch.rand(n, size, size, generator=gen) < torch.tensor([0.1, 0.5, 0.9, 0.97])[:n, None, None]
    removed[0, 3:9, 3:9] = True  # a hole away from the kept pixels' boundary
    removed[1, :, 0] = True      # a removed border column
    return images, removed


def test_the_imputation_is_the_references_sparse_solution():
    images, removed = _inputs()
    ours = linear_imputation(images, removed)
    for i in range(len(images)):
        torch.testing.assert_close(ours[i], reference_imputation(images[i], removed[i]), rtol=0, atol=1e-12)
    assert torch.equal(ours[~removed[:, None].expand_as(ours)], images[~removed[:, None].expand_as(images)])


def test_an_images_imputation_does_not_depend_on_its_batch():
    images, removed = _inputs()
    together = linear_imputation(images, removed)
    alone = torch.cat([linear_imputation(images[i:i + 1], removed[i:i + 1]) for i in range(4)])
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-12)


def test_an_image_with_every_pixel_removed_is_refused():
    with pytest.raises(ValueError, match="every pixel removed"):
        linear_imputation(torch.rand(1, 3, 4, 4), torch.ones(1, 4, 4, dtype=torch.bool))


def test_morf_removes_the_top_and_lerf_the_bottom_share_of_the_map():
    maps = torch.arange(100, dtype=torch.float32).view(1, 10, 10)  # pixel 99 is the most relevant
    masks = removal_masks(maps, RoadConfig(percentages=(0.1, 0.5), tie_noise=0.0))
    assert masks.shape == (1, 2, 2, 10, 10)
    assert masks[0, 0, 0].flatten().nonzero().flatten().tolist() == list(range(90, 100))
    assert masks[0, 1, 0].flatten().nonzero().flatten().tolist() == list(range(10))
    assert masks[0, :, 1].flatten(1).sum(1).tolist() == [50, 50]


def test_road_curves_equal_a_one_image_loop_with_the_reference_imputation():
    torch.manual_seed(0)
    model = TinyGAPNet().double().eval()
    images = torch.rand(3, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    maps = torch.rand(3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    targets = torch.tensor([0, 1, 2])
    config = RoadConfig(noise=0.0)
    curves = road_curves(model, images, maps, targets, config, batch_size=5)
    masks = removal_masks(maps, config)
    for i in range(3):
        for order in range(2):
            for k in range(len(config.percentages)):
                imputed = reference_imputation(images[i], masks[i, order, k])
                p = torch.softmax(model(imputed[None]), 1)[0, targets[i]].item()
                assert curves[i, order, k].item() == pytest.approx(p, abs=1e-9)
    assert ((curves >= 0) & (curves <= 1)).all()


def test_roads_columns_and_their_noise_is_seeded():
    torch.manual_seed(0)
    model = TinyGAPNet().eval()
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    maps = torch.rand(2, 16, 16, generator=torch.Generator().manual_seed(3))
    spec, config = METRICS.get("road"), RoadConfig()
    batch = ScoreBatch(model, images, maps, torch.tensor([0, 1]), [torch.tensor([[0, 0, 3, 3]])] * 2, 8)
    records = spec.score(config, batch)
    assert records == spec.score(config, batch)  # the same seed, the same scores
    columns = spec.columns(config, records)
    for i, r in enumerate(records):
        expected = sum(lerf - morf for lerf, morf in zip(r["lerf"], r["morf"], strict=True)) / 2 / 7
        assert columns["road"][i] == pytest.approx(expected)
    assert spec.forwards(config, 256) == 14
    assert spec.score(RoadConfig(seed=1), batch) != records


def test_the_config_is_checked():
    with pytest.raises(ValueError, match="RoadConfig.percentages"):
        RoadConfig(percentages=(0.5, 1.0))
    with pytest.raises(ValueError, match="RoadConfig.noise"):
        RoadConfig(noise=-1)
