"""Hypothesis properties of the metrics (profiles ``dev`` / ``ci`` / ``thorough`` in conftest.py).

Maps are drawn from small integers so that the transforms below are exact in floating point:
the properties are about the metrics, not about rounding.
"""

from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from amx.metrics import CausalConfig, WSLConfig, box_iou, box_iou_curves, deletion, insertion, pointing_game
from amx.metrics.energy import box_region, energy_pointing_game
from amx.metrics.pxap import average_precision, pixel_histograms
from amx.metrics.road import linear_imputation
from amx.metrics.wsl import BoxAccV2Config, alpha_box_ious, max_box_acc, max_box_acc_v2
from amx.testing import PixelSetModel

pytestmark = pytest.mark.numerics  # kernel-path sensitive: .ci/run reruns these on the default path

SIZE = 12
integer_maps = arrays("int64", (SIZE, SIZE), elements=st.integers(-50, 50))
distinct_maps = st.permutations(range(SIZE * SIZE)).map(
    lambda p: torch.tensor(p, dtype=torch.float64).view(SIZE, SIZE))
increasing = st.sampled_from([
    lambda m: 3 * m + 7, lambda m: m ** 3, lambda m: torch.exp(m / 16), lambda m: torch.atan(m),
])


@st.composite
def boxes(draw, size=SIZE):
    x0, x1 = sorted(draw(st.lists(st.integers(0, size - 1), min_size=2, max_size=2)))
    y0, y1 = sorted(draw(st.lists(st.integers(0, size - 1), min_size=2, max_size=2)))
    return torch.tensor([[x0, y0, x1, y1]])


@given(integer_maps, st.lists(boxes(), min_size=1, max_size=3), increasing,
       st.floats(0.5, 8, allow_nan=False))
def test_pointing_game_is_invariant_to_increasing_transforms(m, box_list, transform, tolerance):
    m = torch.from_numpy(m).double()[None]
    gt = [torch.cat(box_list)]
    assert pointing_game(m, gt, tolerance) == pointing_game(transform(m), gt, tolerance)


@given(integer_maps, boxes(), st.integers(1, 1000), st.integers(-1000, 1000), st.booleans())
def test_wsl_per_image_results_are_invariant_to_positive_affine_maps(m, box, scale, offset, multi):
    m = torch.from_numpy(m).float()[None]
    config = WSLConfig(multi_contour=multi)
    assert torch.equal(box_iou_curves(m, [box], config), box_iou_curves(scale * m + offset, [box], config))


@given(boxes(), boxes())
def test_iou_is_symmetric_and_in_the_unit_interval(a, b):
    ab, ba = box_iou(a, b).item(), box_iou(b, a).item()
    assert ab == ba and 0.0 <= ab <= 1.0
    assert box_iou(a, a).item() == 1.0


def _toy(seed: int):
    """A pixel-set model, and an image that is 1 on the set and random elsewhere."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(SIZE, SIZE, generator=gen) < 0.25
    mask[0, 0] = True
    image = torch.rand(1, 3, SIZE, SIZE, generator=gen)
    image[:, :, mask] = 1.0
    return PixelSetModel(mask), mask, image


configs = st.sampled_from([CausalConfig(n_steps=16), CausalConfig(n_steps=None, step_pixels=10),
                           CausalConfig(n_steps=12, substrate="blur", blur_kernel=5, blur_sigma=2.0)])


@given(st.integers(0, 10_000), distinct_maps, increasing, configs, st.sampled_from([0, 1]))
def test_causal_aucs_are_probabilities_that_depend_only_on_the_pixel_order(
        seed, m, transform, config, target):
    model, _, image = _toy(seed)
    targets = torch.tensor([target])
    for metric in (insertion, deletion):
        plain = metric(model, image, m[None], targets, config, return_curves=True)
        moved = metric(model, image, transform(m)[None], targets, config, return_curves=True)
        assert torch.equal(plain.curves, moved.curves)
        assert 0.0 <= plain.auc.item() <= 1.0


@given(st.integers(0, 10_000), distinct_maps, configs)
def test_curves_run_between_the_image_and_the_substrate(seed, m, config):
    from amx.metrics.causal import substrate

    model, _, image = _toy(seed)
    p_image = torch.softmax(model(image), 1)[0, 0].double()
    p_substrate = torch.softmax(model(substrate(image, config)), 1)[0, 0].double()
    ins = insertion(model, image, m[None], torch.tensor([0]), config, return_curves=True).curves[0]
    dele = deletion(model, image, m[None], torch.tensor([0]), config, return_curves=True).curves[0]
    torch.testing.assert_close(ins[[0, -1]], torch.stack([p_substrate, p_image]))
    torch.testing.assert_close(dele[[0, -1]], torch.stack([p_image, p_substrate]))


@given(st.integers(0, 10_000), distinct_maps)
def test_ranking_the_evidence_first_is_the_best_map(seed, other):
    model, mask, image = _toy(seed)
    best = mask.double() + other / other.max() / 2  # the set first, any order inside and outside
    assume(not torch.equal(best.argsort(), other.argsort()))
    target, config = torch.tensor([0]), CausalConfig(n_steps=16)
    for metric, sign in ((deletion, -1), (insertion, 1)):
        best_auc = metric(model, image, best[None], target, config).auc.item()
        other_auc = metric(model, image, other[None], target, config).auc.item()
        assert sign * (best_auc - other_auc) >= -1e-12


@given(integer_maps, st.lists(boxes(), min_size=1, max_size=3), st.integers(1, 1000))
def test_sam_alpha_box_iou_is_in_the_unit_interval_and_invariant_to_positive_scaling(m, box_list, scale):
    m = torch.from_numpy(m).double()[None]
    gt = [torch.cat(box_list)]
    ious = alpha_box_ious(m, gt)
    assert ((0 <= ious) & (ious <= 1)).all()
    assert torch.equal(ious, alpha_box_ious(scale * m, gt))
    assert torch.equal(ious, alpha_box_ious(m.clamp(min=0), gt))  # negative values never count


@given(integer_maps, st.lists(boxes(), min_size=1, max_size=3), st.floats(0.01, 100, allow_nan=False),
       integer_maps)
def test_energy_is_a_share_invariant_to_scaling_and_to_negative_values(m, box_list, scale, negatives):
    m = torch.tensor(m, dtype=torch.float64)[None]
    region = box_region([torch.cat(box_list)], SIZE, SIZE)
    energy = energy_pointing_game(m, region)
    assert 0 <= energy.item() <= 1
    torch.testing.assert_close(energy_pointing_game(m * scale, region), energy)
    dimmed = torch.where(m > 0, m, -torch.tensor(negatives, dtype=torch.float64).abs()[None])
    torch.testing.assert_close(energy_pointing_game(dimmed, region), energy)  # only positive mass counts
    assert energy_pointing_game(m, torch.ones_like(region)).item() == float((m > 0).any())


@given(st.lists(integer_maps, min_size=1, max_size=4), st.data())
def test_max_box_acc_v2_is_the_mean_of_multi_contour_max_box_acc_over_its_iou_thresholds(maps, data):
    m = torch.from_numpy(np.stack(maps)).float()
    gt = [data.draw(boxes()) for _ in maps]
    config = BoxAccV2Config(threshold_interval=0.01)
    value = max_box_acc_v2(m, gt, config)
    each = [max_box_acc(m, gt, replace(config.curves, iou_threshold=t)).accuracy
            for t in config.iou_thresholds]
    assert 0.0 <= value <= 1.0 and value == pytest.approx(np.mean(each), abs=1e-12)


@given(integer_maps, st.lists(boxes(), min_size=1, max_size=3), st.integers(1, 1000),
       st.integers(-1000, 1000))
def test_pxap_is_a_share_invariant_to_positive_affine_maps(m, box_list, scale, offset):
    m = torch.from_numpy(m).double()[None]
    region = box_region([torch.cat(box_list)], SIZE, SIZE)
    ap = average_precision(*(h[0] for h in pixel_histograms(m, region)))
    assert 0.0 <= ap <= 1.0
    assert ap == average_precision(*(h[0] for h in pixel_histograms(scale * m + offset, region)))


@given(st.lists(boxes(), min_size=1, max_size=3))
def test_pxap_is_one_for_the_object_and_its_share_for_the_inverse(box_list):
    region = box_region([torch.cat(box_list)], SIZE, SIZE)
    assume(not region.all())
    exact, inverse = region.double(), 1 - region.double()
    assert average_precision(*(h[0] for h in pixel_histograms(exact, region))) == pytest.approx(1.0)
    share = region.double().mean().item()
    assert average_precision(*(h[0] for h in pixel_histograms(inverse, region))) == pytest.approx(share)


@given(arrays("int64", (3, 8, 8), elements=st.integers(0, 20)), arrays(bool, (8, 8)))
def test_linear_imputation_keeps_the_kept_pixels_and_stays_within_their_range(image, removed):
    assume(not removed.all())
    image, removed = torch.from_numpy(image).double()[None] / 20, torch.from_numpy(removed)[None]
    out = linear_imputation(image, removed)
    kept = ~removed[:, None].expand_as(image)
    assert torch.equal(out[kept], image[kept])
    for c in range(3):  # each imputed value is a weighted mean of its neighbours: no new extremes
        values = image[0, c][~removed[0]]
        imputed = out[0, c][removed[0]]
        assert (imputed >= values.min() - 1e-9).all() and (imputed <= values.max() + 1e-9).all()
