"""MaxBoxAccV2 and PxAP against wsolevaluation's definitions (clovaai/wsolevaluation,
``evaluation.py``: ``compute_bboxes_from_scoremaps`` with ``multi_contour_eval``, ``BoxEvaluator``
with ``iou_threshold_list`` [30, 50, 70], ``MaskEvaluator``'s histograms and AP), transcribed with
OpenCV's contours in ``amx.bench.localisation``, on random maps and boxes."""

import numpy as np
import pytest
import torch

from amx.bench.localisation import (
    normalize_scoremap,
    reference_boxes,
    reference_max_box_acc_v2,
    reference_pxap,
    sample_boxes,
    sample_maps,
)
from amx.metrics import METRICS
from amx.metrics.energy import box_region
from amx.metrics.pxap import PxAPConfig, average_precision, pixel_histograms, pxap
from amx.metrics.specs import ScoreBatch
from amx.metrics.wsl import BoxAccV2Config, estimated_boxes, max_box_acc_v2, quantise

pytest.importorskip("cv2", reason="the reference's contours need OpenCV (installed with grad-cam)")


@pytest.mark.parametrize("seed", range(6))
def test_contour_boxes_are_opencvs_retr_tree_contours(seed):
    """Every region's box and every hole's: the bounding boxes of OpenCV's contours, exactly."""
    for scoremap in sample_maps(seed, 9, 20):
        q = quantise(scoremap)
        thresholds = np.arange(0, 1, 0.05)
        reference = reference_boxes(normalize_scoremap(scoremap), thresholds, True)
        for tau, expected in zip(thresholds, reference, strict=True):
            assert sorted(estimated_boxes(q, tau, True).tolist()) == sorted(expected.tolist())


@pytest.mark.parametrize("seed", range(3))
def test_max_box_acc_v2_is_wsolevaluations(seed):
    maps, gt = sample_maps(seed, 12, 24), sample_boxes(seed, 12, 24)
    expected = reference_max_box_acc_v2([normalize_scoremap(m) for m in maps], gt) / 100
    got = max_box_acc_v2(torch.from_numpy(maps), [torch.from_numpy(b) for b in gt])
    assert got == pytest.approx(expected, abs=1e-12)


def test_max_box_acc_v2_through_its_spec_is_the_sets_mean_hit():
    """The spec's records (run-length IoU curves) and columns give the same MaxBoxAccV2."""
    maps, gt = sample_maps(7, 10, 24), [torch.from_numpy(b) for b in sample_boxes(7, 10, 24)]
    spec, config = METRICS.get("max_box_acc_v2"), BoxAccV2Config()
    batch = ScoreBatch(None, None, torch.from_numpy(maps), None, gt, 1)
    column = spec.columns(config, spec.score(config, batch))["max_box_acc_v2"]
    assert np.mean(column) == pytest.approx(max_box_acc_v2(torch.from_numpy(maps), gt), abs=1e-12)
    assert set(np.round(np.array(column) * 3, 9)) <= {0, 1, 2, 3}  # a mean of three hits


@pytest.mark.parametrize("seed", range(3))
def test_pxap_is_wsolevaluations_on_masks_and_on_boxes(seed):
    maps = np.stack([normalize_scoremap(m.astype(np.float64)) for m in sample_maps(seed, 12, 24)])
    gt = [torch.from_numpy(b) for b in sample_boxes(seed, 12, 24)]
    region = box_region(gt, 24, 24)
    expected = reference_pxap(maps, region.numpy().astype(np.uint8)) / 100
    assert pxap(torch.from_numpy(maps), region) == pytest.approx(expected, abs=1e-12)
    # and per image, the image's own AP
    inside, outside = pixel_histograms(torch.from_numpy(maps), region)
    for i in range(len(maps)):
        own = reference_pxap(maps[i:i + 1], region[i:i + 1].numpy().astype(np.uint8)) / 100
        assert average_precision(inside[i], outside[i]) == pytest.approx(own, abs=1e-12)


def test_pxap_reads_the_worlds_masks_or_its_boxes():
    maps, gt = torch.from_numpy(sample_maps(3, 4, 16)), [torch.from_numpy(b) for b in sample_boxes(3, 4, 16)]
    spec = METRICS.get("pxap")
    masks = torch.zeros(4, 16, 16, dtype=torch.bool)
    masks[:, 4:9, 4:9] = True
    with_masks = ScoreBatch(None, None, maps, None, gt, 1, masks)
    on_masks = spec.columns(PxAPConfig(), spec.score(PxAPConfig(), with_masks))
    on_boxes = spec.columns(PxAPConfig(region="box"),
                            spec.score(PxAPConfig(region="box"), ScoreBatch(None, None, maps, None, gt, 1)))
    assert on_masks["pxap_set"] == pytest.approx(pxap(maps, masks))
    assert on_boxes["pxap_set"] == pytest.approx(pxap(maps, box_region(gt, 16, 16)))
    assert spec.uses_masks(PxAPConfig()) and not spec.uses_masks(PxAPConfig(region="box"))
    with pytest.raises(ValueError, match="pxap with region='mask' needs the world's exact object masks"):
        spec.score(PxAPConfig(), ScoreBatch(None, None, maps, None, gt, 1))


def test_pxap_at_amxs_interval_is_near_the_references_finer_one():
    """amx's 0.01 bins against the reference's default 0.001, on 64-px maps (the departure the
    module docstring states)."""
    maps = np.stack([normalize_scoremap(m.astype(np.float64)) for m in sample_maps(11, 30, 64)])
    region = box_region([torch.from_numpy(b) for b in sample_boxes(11, 30, 64)], 64, 64)
    coarse = pxap(torch.from_numpy(maps), region, PxAPConfig(region="box"))
    fine = reference_pxap(maps, region.numpy().astype(np.uint8), interval=0.001) / 100
    assert abs(coarse - fine) <= 1e-3


def test_configs_are_checked():
    with pytest.raises(ValueError, match="BoxAccV2Config.iou_thresholds"):
        BoxAccV2Config(iou_thresholds=(0.3, 1.5))
    with pytest.raises(ValueError, match="PxAPConfig.region"):
        PxAPConfig(region="boxes")
    with pytest.raises(ValueError, match="PxAPConfig.threshold_interval"):
        PxAPConfig(threshold_interval=0)


def test_amx_bench_localisation_writes_its_timings_and_the_difference_to_the_references(tmp_path):
    import json

    from amx.cli import main

    out = tmp_path / "localisation.json"
    assert main(["bench", "localisation", "--n-maps", "6", "--size", "24", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["metrics"]
    assert set(rows) == {"max_box_acc_v2", "pxap"}
    assert all(row["abs_difference"] < 1e-12 and row["reference_ms_per_map"] > 0 for row in rows.values())
