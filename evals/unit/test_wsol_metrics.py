"""MaxBoxAccV2 and PxAP against wsolevaluation's definitions (clovaai/wsolevaluation,
``evaluation.py``: ``compute_bboxes_from_scoremaps`` with ``multi_contour_eval``, ``BoxEvaluator``
with ``iou_threshold_list`` [30, 50, 70], ``MaskEvaluator``'s histograms and AP), transcribed
below with OpenCV's contours, on random maps and boxes."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from amx.metrics import METRICS
from amx.metrics.energy import box_region
from amx.metrics.pxap import PxAPConfig, average_precision, pixel_histograms, pxap
from amx.metrics.specs import ScoreBatch
from amx.metrics.wsl import BoxAccV2Config, estimated_boxes, max_box_acc_v2, quantise

cv2 = pytest.importorskip("cv2", reason="the reference's contours need OpenCV (installed with grad-cam)")


# --- the reference, transcribed -------------------------------------------------------------------

def _reference_boxes(scoremap: np.ndarray, thresholds, multi_contour: bool):
    """wsolevaluation's ``compute_bboxes_from_scoremaps``: boxes per cam threshold."""
    height, width = scoremap.shape
    image = np.expand_dims((scoremap * 255).astype(np.uint8), 2)
    out = []
    for threshold in thresholds:
        _, binary = cv2.threshold(image, int(threshold * np.max(image)), 255, cv2.THRESH_BINARY)
        contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
        if len(contours) == 0:
            out.append(np.asarray([[0, 0, 0, 0]]))
            continue
        if not multi_contour:
            contours = [max(contours, key=cv2.contourArea)]
        boxes = []
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            boxes.append([x, y, min(x + w, width - 1), min(y + h, height - 1)])
        out.append(np.asarray(boxes))
    return out


def _reference_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``calculate_multiple_iou``: inclusive corners, ``[num_a, num_b]``."""
    a, b = a[:, None, :], b[None, :, :]
    inter = (np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1)
             * np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1))
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _reference_max_box_acc_v2(scoremaps, gt_boxes, interval=0.001, iou_list=(30, 50, 70)) -> float:
    """``BoxEvaluator(multi_contour_eval=True)``: per IoU threshold the best accuracy over cam
    thresholds, in percent; MaxBoxAccV2 is their mean."""
    thresholds = list(np.arange(0, 1, interval))
    correct = {t: np.zeros(len(thresholds)) for t in iou_list}
    for scoremap, gt in zip(scoremaps, gt_boxes, strict=True):
        per_threshold = _reference_boxes(scoremap, thresholds, True)
        best = np.array([_reference_iou(b, gt).max() for b in per_threshold])
        for t in iou_list:
            correct[t][np.where(best >= t / 100)[0]] += 1
    return float(np.mean([(correct[t] * 100.0 / len(scoremaps)).max() for t in iou_list]))


def _normalize_scoremap(cam: np.ndarray) -> np.ndarray:
    """wsolevaluation's ``normalize_scoremap`` (constant -> zeros)."""
    cam = cam.copy()
    if cam.min() == cam.max():
        return np.zeros_like(cam)
    cam -= cam.min()
    cam /= cam.max()
    return cam


def _reference_pxap(scoremaps, masks, interval=0.01) -> float:
    """``MaskEvaluator``: histograms over the set, precision-recall from the top, AP in percent."""
    thresholds = np.arange(0, 1, interval)
    edges = np.append(thresholds, [1.0, 2.0, 3.0])
    true_hist = np.zeros(len(thresholds) + 2)
    false_hist = np.zeros(len(thresholds) + 2)
    for scoremap, mask in zip(scoremaps, masks, strict=True):
        true_hist += np.histogram(scoremap[mask == 1], bins=edges)[0]
        false_hist += np.histogram(scoremap[mask == 0], bins=edges)[0]
    tp = true_hist[::-1].cumsum()
    fn = true_hist.sum() - tp
    fp = false_hist[::-1].cumsum()
    non_zero = (tp + fp) != 0
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    return float((precision[1:] * np.diff(recall))[non_zero[1:]].sum() * 100)


# --- random inputs --------------------------------------------------------------------------------

def _maps(seed: int, n: int, size: int) -> np.ndarray:
    """Float32 maps: noise, smoothed noise and blobs (holes and several regions at most taus)."""
    rng = np.random.default_rng(seed)
    maps = rng.random((n, size, size)).astype(np.float32)
    for i in range(n):
        if i % 3 == 1:
            maps[i] = ndimage.gaussian_filter(maps[i], 1.5)
        elif i % 3 == 2:
            maps[i] = ndimage.gaussian_filter(maps[i], 4) + 0.3 * maps[i]
    return maps


def _boxes(seed: int, n: int, size: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    out = []
    for _ in range(n):
        k = rng.integers(1, 4)
        x = np.sort(rng.integers(0, size, (k, 2)), axis=1)
        y = np.sort(rng.integers(0, size, (k, 2)), axis=1)
        out.append(np.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], axis=1))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_contour_boxes_are_opencvs_retr_tree_contours(seed):
    """Every region's box and every hole's: the bounding boxes of OpenCV's contours, exactly."""
    for scoremap in _maps(seed, 9, 20):
        q = quantise(scoremap)
        thresholds = np.arange(0, 1, 0.05)
        reference = _reference_boxes(_normalize_scoremap(scoremap), thresholds, True)
        for tau, expected in zip(thresholds, reference, strict=True):
            assert sorted(estimated_boxes(q, tau, True).tolist()) == sorted(expected.tolist())


@pytest.mark.parametrize("seed", range(3))
def test_max_box_acc_v2_is_wsolevaluations(seed):
    maps, gt = _maps(seed, 12, 24), _boxes(seed, 12, 24)
    expected = _reference_max_box_acc_v2([_normalize_scoremap(m) for m in maps], gt) / 100
    got = max_box_acc_v2(torch.from_numpy(maps), [torch.from_numpy(b) for b in gt])
    assert got == pytest.approx(expected, abs=1e-12)


def test_max_box_acc_v2_through_its_spec_is_the_sets_mean_hit():
    """The spec's records (run-length IoU curves) and columns give the same MaxBoxAccV2."""
    maps, gt = _maps(7, 10, 24), [torch.from_numpy(b) for b in _boxes(7, 10, 24)]
    spec, config = METRICS.get("max_box_acc_v2"), BoxAccV2Config()
    batch = ScoreBatch(None, None, torch.from_numpy(maps), None, gt, 1)
    column = spec.columns(config, spec.score(config, batch))["max_box_acc_v2"]
    assert np.mean(column) == pytest.approx(max_box_acc_v2(torch.from_numpy(maps), gt), abs=1e-12)
    assert set(np.round(np.array(column) * 3, 9)) <= {0, 1, 2, 3}  # a mean of three hits


@pytest.mark.parametrize("seed", range(3))
def test_pxap_is_wsolevaluations_on_masks_and_on_boxes(seed):
    maps = np.stack([_normalize_scoremap(m.astype(np.float64)) for m in _maps(seed, 12, 24)])
    gt = [torch.from_numpy(b) for b in _boxes(seed, 12, 24)]
    region = box_region(gt, 24, 24)
    expected = _reference_pxap(maps, region.numpy().astype(np.uint8)) / 100
    assert pxap(torch.from_numpy(maps), region) == pytest.approx(expected, abs=1e-12)
    # and per image, the image's own AP
    inside, outside = pixel_histograms(torch.from_numpy(maps), region)
    for i in range(len(maps)):
        own = _reference_pxap(maps[i:i + 1], region[i:i + 1].numpy().astype(np.uint8)) / 100
        assert average_precision(inside[i], outside[i]) == pytest.approx(own, abs=1e-12)


def test_pxap_reads_the_worlds_masks_or_its_boxes():
    maps, gt = torch.from_numpy(_maps(3, 4, 16)), [torch.from_numpy(b) for b in _boxes(3, 4, 16)]
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
    maps = np.stack([_normalize_scoremap(m.astype(np.float64)) for m in _maps(11, 30, 64)])
    region = box_region([torch.from_numpy(b) for b in _boxes(11, 30, 64)], 64, 64)
    coarse = pxap(torch.from_numpy(maps), region, PxAPConfig(region="box"))
    fine = _reference_pxap(maps, region.numpy().astype(np.uint8), interval=0.001) / 100
    assert abs(coarse - fine) <= 1e-3


def test_configs_are_checked():
    with pytest.raises(ValueError, match="BoxAccV2Config.iou_thresholds"):
        BoxAccV2Config(iou_thresholds=(0.3, 1.5))
    with pytest.raises(ValueError, match="PxAPConfig.region"):
        PxAPConfig(region="boxes")
    with pytest.raises(ValueError, match="PxAPConfig.threshold_interval"):
        PxAPConfig(threshold_interval=0)
