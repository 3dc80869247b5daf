"""The four metrics: golden values, the references they follow, batching and bad input."""

import numpy as np
import pytest
import torch
from torchray.benchmark.pointing_game import PointingGame

from amx.data.arrays import load_split
from amx.data.worlds import DEFAULT_WORLD, get_world
from amx.metrics import (
    METRICS,
    CausalConfig,
    PointingGameConfig,
    WSLConfig,
    box_iou,
    box_iou_curves,
    deletion,
    insertion,
    max_box_acc,
    pointing_game,
    select_threshold,
)
from amx.metrics.causal import blur_kernel, causal_curves, reference_curve, substrate, trapezoid_auc
from amx.metrics.wsl import estimated_boxes, quantise
from amx.testing import PixelSetModel
from amx.zoo import registry

pytestmark = pytest.mark.numerics  # kernel-path sensitive: .ci/run reruns these on the default path


@pytest.fixture(scope="module")
def zoo_model():
    return registry.load("resnet-mini", world="mini")


@pytest.fixture(scope="module")
def eval_batch():
    return load_split(get_world(DEFAULT_WORLD), "eval", 2).batch(slice(None))


def _boxes(*rows):
    return [torch.tensor([row]) for row in rows]


# --- golden values ---------------------------------------------------------------------------

def test_iou_uses_inclusive_pixel_corners():
    a, b = torch.tensor([[1, 2, 5, 6]]), torch.tensor([[3, 1, 4, 5]])
    # a: 5x5 = 25 px, b: 2x5 = 10 px, overlap columns 3..4 x rows 2..5 = 8 px
    assert box_iou(a, b).item() == pytest.approx(8 / 27, abs=1e-15)
    assert box_iou(a, a).item() == 1.0
    assert box_iou(torch.tensor([[0, 0, 0, 0]]), torch.tensor([[1, 1, 1, 1]])).item() == 0.0


def test_trapezoid_auc_of_a_step_curve():
    assert trapezoid_auc(torch.tensor([1.0, 0.0, 0.0])).item() == 0.25
    assert trapezoid_auc(torch.tensor([1.0, 1.0])).item() == 1.0


def _point_map(x, y, size=32):
    m = torch.zeros(1, size, size)
    m[0, y, x] = 1.0
    return m


@pytest.mark.parametrize("dx, dy", [(5, 0), (3, 4), (0, 5)])
def test_pointing_game_hit_is_strictly_within_tolerance(dx, dy):
    box = _boxes([10, 10, 15, 15])
    m = _point_map(15 + dx, 15 + dy)  # distance exactly 5 px from the box's corner pixel
    assert not pointing_game(m, box, tolerance=5.0).item()
    assert pointing_game(m, box, tolerance=5.5).item()  # distance = tolerance - 0.5


def test_pointing_game_takes_the_first_maximum_and_any_box():
    m = torch.zeros(1, 32, 32)
    m[0, 2, 30] = m[0, 20, 3] = 1.0  # row-major: (x=30, y=2) comes first
    assert pointing_game(m, _boxes([28, 0, 31, 4]), tolerance=1).item()
    assert not pointing_game(m, _boxes([0, 18, 5, 22]), tolerance=1).item()
    two_boxes = [torch.tensor([[0, 18, 5, 22], [28, 0, 31, 4]])]
    assert pointing_game(m, two_boxes, tolerance=1).item()


def test_pointing_tolerance_scales_with_resolution():
    assert PointingGameConfig().tolerance == 15.0
    assert PointingGameConfig.for_image_size(64).tolerance == pytest.approx(15 * 64 / 224)
    assert PointingGameConfig.for_image_size(224).tolerance == 15.0


def _two_blobs(size=16):
    m = torch.zeros(size, size)
    m[2:6, 3:9] = 1.0      # 24 px, rows 2..5, columns 3..8
    m[10:12, 10:12] = 0.6  # 4 px
    return m


def test_wsl_box_is_the_largest_region_ending_one_past_it_like_the_reference():
    q = quantise(_two_blobs().numpy())
    assert q.max() == 255 and q[10, 10] == int(np.float32(0.6) * np.float32(255))
    # cv2.boundingRect + (x + w, y + h): one past the last column (8) and row (5)
    assert estimated_boxes(q, 0.0).tolist() == [[3, 2, 9, 6]]
    assert estimated_boxes(q, 0.0, multi_contour=True).tolist() == [[3, 2, 9, 6], [10, 10, 12, 12]]
    # 0.6 quantises to 153 = int(0.6 * 255): the small blob is background from tau 0.6 on
    assert estimated_boxes(q, 0.6, multi_contour=True).tolist() == [[3, 2, 9, 6]]
    assert estimated_boxes(q, 0.59, multi_contour=True).tolist() == [[3, 2, 9, 6], [10, 10, 12, 12]]


def test_wsl_regions_are_eight_connected_and_clipped_to_the_image():
    m = np.zeros((8, 8), dtype=np.float32)
    m[5, 5] = m[6, 6] = m[7, 7] = 1.0  # a diagonal: one 8-connected region reaching the corner
    m[0, 0] = m[0, 1] = 0.5
    assert estimated_boxes(quantise(m), 0.0).tolist() == [[5, 5, 7, 7]]


def test_wsl_constant_map_gives_the_empty_box_at_every_threshold():
    q = quantise(np.full((8, 8), 3.0, dtype=np.float32))
    assert not q.any()
    assert estimated_boxes(q, 0.5).tolist() == [[0, 0, 0, 0]]


def test_max_box_acc_chooses_the_first_best_threshold_for_the_whole_set():
    gt = [torch.tensor([[3, 2, 9, 6]]), torch.tensor([[10, 10, 12, 12]])]
    maps = torch.stack([_two_blobs(), _two_blobs()])
    maps[1][2:6, 3:9] = 0.0  # second image: only the small blob, where its box is
    result = max_box_acc(maps, gt)
    assert result.accuracy == 1.0 and result.tau == 0.0
    assert result.hit.tolist() == [True, True] and result.iou.tolist() == [1.0, 1.0]
    assert len(result.curve) == 100 and result.thresholds[1] == 0.01
    curves = box_iou_curves(maps, gt)
    assert select_threshold(curves).accuracy == result.accuracy


def test_metric_directions_are_declared_once():
    assert {n for n, m in METRICS.items() if not m.higher_is_better} == {"deletion"}
    assert METRICS.get("deletion").column_names == ("deletion", "deletion_normalized")


def test_energy_pointing_game_is_the_positive_mass_share_inside_the_region():
    from amx.metrics.energy import EnergyConfig, box_region, energy_pointing_game

    maps = torch.zeros(4, 6, 6)
    maps[0, 1:3, 1:3] = 2.0                 # all of it in the box
    maps[1] = 1.0                           # uniform: the box's area share
    maps[2] = -1.0
    maps[2, 0, 0] = 3.0                     # negative values count as no mass; the positive outside
    region = box_region([torch.tensor([[1, 1, 3, 2]])] * 4, 6, 6)  # columns 1-3, rows 1-2
    assert region[0].sum() == 6
    energy = energy_pointing_game(maps, region)
    torch.testing.assert_close(energy, torch.tensor([1.0, 6 / 36, 0.0, 0.0], dtype=torch.float64))
    two_boxes = box_region([torch.tensor([[0, 0, 0, 0], [5, 5, 5, 5]])], 6, 6)
    assert two_boxes.sum() == 2 and two_boxes[0, 5, 5]
    with pytest.raises(ValueError, match="region: expected a bool tensor"):
        energy_pointing_game(maps, region.float())
    with pytest.raises(ValueError, match="EnergyConfig.region"):
        EnergyConfig(region="circle")


def test_energy_pointing_game_reads_exact_masks_only_when_asked(zoo_model, eval_batch):
    from amx.metrics import ScoreBatch
    from amx.metrics.energy import EnergyConfig

    images, targets = eval_batch
    boxes = [torch.tensor([[0, 0, 9, 9]])] * len(images)
    maps = torch.rand(len(images), 64, 64)
    spec = METRICS.get("energy_pointing_game")
    assert spec.higher_is_better and spec.uses_masks(EnergyConfig("mask"))
    assert not spec.uses_masks(EnergyConfig())
    batch = ScoreBatch(zoo_model, images, maps, targets, boxes, 8)
    with pytest.raises(ValueError, match="needs the world's exact object masks"):
        spec.score(EnergyConfig("mask"), batch)
    full = torch.ones_like(maps, dtype=torch.bool)
    records = spec.score(EnergyConfig("mask"), ScoreBatch(zoo_model, images, maps, targets, boxes, 8, full))
    assert all(r["energy"] == pytest.approx(1.0) for r in records)


# --- the references ---------------------------------------------------------------------------

def test_pointing_game_agrees_with_torchray():
    gen = torch.Generator().manual_seed(0)
    for tolerance in (1, 4, 15):
        for _ in range(60):
            m = torch.rand(1, 24, 24, generator=gen)
            x0, y0 = torch.randint(0, 24, (2,), generator=gen).tolist()
            x1, y1 = x0 + int(torch.randint(0, 24 - x0, (1,), generator=gen)), \
                y0 + int(torch.randint(0, 24 - y0, (1,), generator=gen))
            mask = torch.zeros(24, 24, dtype=torch.bool)
            mask[y0:y1 + 1, x0:x1 + 1] = True
            y, x = divmod(int(m.flatten().argmax()), 24)
            expected = PointingGame(1, tolerance=tolerance).evaluate(mask, (x, y)) == 1
            assert pointing_game(m, _boxes([x0, y0, x1, y1]), tolerance).item() == expected


def test_blur_substrate_is_rise_gkern_with_zero_padding():
    k = blur_kernel(11, 5.0)
    assert k.shape == (11, 11) and k.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert k[5, 5] == k.max() and torch.equal(k, k.flip(0)) and torch.equal(k, k.T)
    ones = torch.ones(1, 3, 32, 32)
    blurred = substrate(ones, CausalConfig(substrate="blur"))
    assert blurred[0, :, 16, 16] == pytest.approx([1.0] * 3, abs=1e-5)
    assert (blurred[0, :, 0, 0] < 0.5).all()  # zero padding darkens the corners, as conv2d in RISE


@pytest.mark.parametrize("mode", ["insertion", "deletion"])
@pytest.mark.parametrize("config", [CausalConfig(), CausalConfig(substrate="blur"),
                                    CausalConfig(n_steps=None, step_pixels=50)],
                         ids=["zero-112steps", "blur-112steps", "zero-50px"])
def test_batched_curves_equal_the_rise_style_loop_on_a_zoo_model(mode, config, zoo_model, eval_batch):
    images, targets = eval_batch
    maps = torch.rand(images.shape[0], 64, 64, generator=torch.Generator().manual_seed(1))
    batched = causal_curves(zoo_model, images, maps, targets, mode, config, batch_size=97)
    for i in range(len(images)):
        loop = reference_curve(zoo_model, images[i], maps[i], int(targets[i]), mode, config)
        torch.testing.assert_close(batched[i], loop, atol=1e-5, rtol=0)


def test_steps_match_the_paper_at_any_resolution():
    assert CausalConfig().boundaries(224 * 224).diff().unique().tolist() == [448]
    bounds = CausalConfig().boundaries(64 * 64)
    assert len(bounds) == 113 and bounds[0] == 0 and bounds[-1] == 4096
    assert set(bounds.diff().tolist()) == {36, 37}
    fixed = CausalConfig(n_steps=None, step_pixels=448).boundaries(64 * 64)
    assert fixed.tolist()[-2:] == [4032, 4096] and len(fixed) == 11  # RISE: ceil(HW / step) steps


# --- batching ---------------------------------------------------------------------------------

def test_batched_localisation_equals_per_image():
    gen = torch.Generator().manual_seed(3)
    maps = torch.rand(6, 20, 20, generator=gen) ** 4
    boxes = [torch.tensor([[i, i, 10 + i, 12]]) for i in range(6)]
    whole = box_iou_curves(maps, boxes, WSLConfig(multi_contour=True))
    hits = pointing_game(maps, boxes, 4.0)
    for i in range(6):
        assert torch.equal(whole[i], box_iou_curves(maps[i:i + 1], boxes[i:i + 1],
                                                    WSLConfig(multi_contour=True))[0])
        assert hits[i] == pointing_game(maps[i:i + 1], boxes[i:i + 1], 4.0)[0]


def test_batched_causal_metrics_equal_per_image_on_a_toy_model():
    mask = torch.zeros(12, 12, dtype=torch.bool)
    mask[3:7, 2:9] = True
    model = PixelSetModel(mask)
    gen = torch.Generator().manual_seed(4)
    images, maps = torch.rand(5, 3, 12, 12, generator=gen), torch.rand(5, 12, 12, generator=gen)
    targets = torch.tensor([0, 1, 0, 0, 1])
    for metric in (insertion, deletion):
        whole = metric(model, images, maps, targets, CausalConfig(n_steps=20), batch_size=7,
                       return_curves=True)
        for i in range(5):
            one = metric(model, images[i:i + 1], maps[i:i + 1], targets[i:i + 1],
                         CausalConfig(n_steps=20), return_curves=True)
            assert torch.equal(whole.curves[i], one.curves[0]) and whole.auc[i] == one.auc[0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (run with a GPU to check)")
def test_cpu_and_cuda_agree(zoo_model, eval_batch):
    images, targets = eval_batch
    maps = torch.rand(images.shape[0], 64, 64, generator=torch.Generator().manual_seed(1))
    boxes = [torch.tensor([[8, 8, 40, 40]])] * len(images)
    assert torch.equal(pointing_game(maps, boxes, 4.0), pointing_game(maps.cuda(), boxes, 4.0).cpu())
    assert torch.equal(box_iou_curves(maps, boxes), box_iou_curves(maps.cuda(), boxes))
    for metric in (insertion, deletion):
        cpu = metric(zoo_model, images, maps, targets).auc
        gpu = metric(zoo_model.cuda(), images.cuda(), maps.cuda(), targets.cuda()).auc
        zoo_model.cpu()
        torch.testing.assert_close(cpu, gpu, atol=1e-4, rtol=0)


# --- bad input ----------------------------------------------------------------------------------

def test_bad_maps_and_boxes_name_the_argument():
    m = torch.rand(2, 8, 8)
    box = [torch.tensor([[0, 0, 3, 3]])] * 2
    with pytest.raises(ValueError, match=r"maps: NaN in the map of image\(s\) \[1\]"):
        pointing_game(torch.stack([m[0], torch.full((8, 8), float("nan"))]), box)
    with pytest.raises(ValueError, match=r"maps: expected a float tensor \[B, H, W\]"):
        max_box_acc(m[0], box)
    with pytest.raises(ValueError, match=r"boxes\[1\]: box \[0, 0, 8, 3\] is not an ordered box inside"):
        pointing_game(m, [box[0], torch.tensor([[0, 0, 8, 3]])])
    with pytest.raises(ValueError, match=r"boxes\[0\]: empty box list"):
        max_box_acc(m, [torch.zeros(0, 4), box[1]])
    with pytest.raises(ValueError, match=r"boxes: 1 box lists for 2 maps"):
        pointing_game(m, box[:1])


def test_bad_causal_input_names_the_argument():
    model = PixelSetModel(torch.ones(16, 16, dtype=torch.bool))
    images, maps, targets = torch.rand(2, 3, 16, 16), torch.rand(2, 16, 16), torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"maps \(2, 4, 4\) and images \(2, 3, 16, 16\) differ"):
        insertion(model, images, torch.rand(2, 4, 4), targets)
    with pytest.raises(ValueError, match=r"targets: class 2 is outside the model's 2 classes; "
                                         r"class indices must be in \[0, 1\]"):
        deletion(model, images, maps, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match=r"model output: expected class scores \[\d+, K >= 2\]"):
        deletion(lambda x: x.sum((1, 2, 3)), images, maps, targets)
    with pytest.raises(ValueError, match="give exactly one of n_steps and step_pixels"):
        CausalConfig(step_pixels=10)
    with pytest.raises(ValueError, match=r"CausalConfig.substrate: unknown 'noise'"):
        CausalConfig(substrate="noise")
    with pytest.raises(ValueError, match=r"n_steps=112 exceeds the 64 pixels"):
        insertion(model, images[..., :8, :8], maps[..., :8, :8], targets)


@pytest.mark.parametrize("seed", range(6))
def test_wsl_stacked_labelling_equals_the_per_threshold_loop(seed):
    """box_iou_curves labels all thresholds at once; the reference is estimated_boxes per tau."""
    gen = torch.Generator().manual_seed(seed)
    kind = seed % 3
    maps = torch.rand(4, 24, 20, generator=gen)
    if kind == 1:  # few levels: ties between regions of equal size
        maps = (maps * 4).floor()
    if kind == 2:  # smooth blobs
        maps = torch.nn.functional.avg_pool2d(maps[:, None], 5, 1, 2)[:, 0]
    boxes = [torch.tensor([[2, 3, 12, 15]]), torch.tensor([[0, 0, 19, 23]]),
             torch.tensor([[5, 5, 6, 6], [10, 1, 18, 9]]), torch.tensor([[8, 8, 16, 20]])]
    config = WSLConfig()
    expected = torch.zeros(4, len(config.thresholds), dtype=torch.float64)
    for i in range(4):
        q = quantise(maps[i].numpy())
        for t, tau in enumerate(config.thresholds):
            estimate = torch.from_numpy(estimated_boxes(q, tau))
            expected[i, t] = box_iou(estimate, boxes[i]).max()
    assert torch.equal(box_iou_curves(maps, boxes, config), expected)
