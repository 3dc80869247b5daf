"""``amx bench localisation``: MaxBoxAccV2 and PxAP (``amx.metrics.wsl``, ``amx.metrics.pxap``)
against wsolevaluation's code (clovaai/wsolevaluation, ``evaluation.py``), transcribed here with
OpenCV's contours: ``compute_bboxes_from_scoremaps`` with ``multi_contour_eval``, ``BoxEvaluator``
over ``iou_threshold_list`` [30, 50, 70], and ``MaskEvaluator``'s histograms and AP. The
transcriptions are the references the tests hold amx to; OpenCV comes with grad-cam (the dev
extra). Neither metric runs the model, so the row is milliseconds per map and the speed-up over
the reference, not a pass floor."""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from amx.bench import fastest
from amx.metrics.energy import box_region
from amx.metrics.pxap import PxAPConfig, pxap
from amx.metrics.wsl import BoxAccV2Config, max_box_acc_v2


def reference_boxes(scoremap: np.ndarray, thresholds, multi_contour: bool) -> list[np.ndarray]:
    """wsolevaluation's ``compute_bboxes_from_scoremaps``: the boxes at each cam threshold."""
    import cv2

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


def reference_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """wsolevaluation's ``calculate_multiple_iou``: inclusive corners, ``[len(a), len(b)]``."""
    a, b = a[:, None, :], b[None, :, :]
    inter = (np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1)
             * np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1))
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def reference_max_box_acc_v2(scoremaps, gt_boxes, interval: float = 0.001, iou_list=(30, 50, 70)) -> float:
    """``BoxEvaluator(multi_contour_eval=True)``: per IoU threshold the best accuracy over the cam
    thresholds, in percent; MaxBoxAccV2 is their mean. ``scoremaps`` normalised to [0, 1]."""
    thresholds = list(np.arange(0, 1, interval))
    correct = {t: np.zeros(len(thresholds)) for t in iou_list}
    for scoremap, gt in zip(scoremaps, gt_boxes, strict=True):
        best = np.array([reference_iou(b, np.asarray(gt)).max()
                         for b in reference_boxes(scoremap, thresholds, True)])
        for t in iou_list:
            correct[t][np.where(best >= t / 100)[0]] += 1
    return float(np.mean([(correct[t] * 100.0 / len(scoremaps)).max() for t in iou_list]))


def normalize_scoremap(cam: np.ndarray) -> np.ndarray:
    """wsolevaluation's ``normalize_scoremap`` (a constant map: zeros)."""
    cam = cam.copy()
    if cam.min() == cam.max():
        return np.zeros_like(cam)
    cam -= cam.min()
    cam /= cam.max()
    return cam


def reference_pxap(scoremaps, masks, interval: float = 0.01) -> float:
    """``MaskEvaluator``: histograms over the set, precision and recall read from the top, AP in
    percent. ``scoremaps`` normalised to [0, 1]; ``masks`` 1 on the object, 0 elsewhere."""
    thresholds = np.arange(0, 1, interval)
    edges = np.append(thresholds, [1.0, 2.0, 3.0])
    true_hist, false_hist = np.zeros(len(thresholds) + 2), np.zeros(len(thresholds) + 2)
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


def sample_maps(seed: int, n: int, size: int) -> np.ndarray:
    """Float32 maps: noise, smoothed noise and blobs on noise, in turn (several regions and holes
    at most thresholds)."""
    rng = np.random.default_rng(seed)
    maps = rng.random((n, size, size)).astype(np.float32)
    for i in range(n):
        if i % 3 == 1:
            maps[i] = ndimage.gaussian_filter(maps[i], 1.5)
        elif i % 3 == 2:
            maps[i] = ndimage.gaussian_filter(maps[i], 4) + 0.3 * maps[i]
    return maps


def sample_boxes(seed: int, n: int, size: int) -> list[np.ndarray]:
    """One to three random boxes ``[k, 4]`` (inclusive corners) per image."""
    rng = np.random.default_rng(seed + 1)
    out = []
    for _ in range(n):
        k = rng.integers(1, 4)
        x = np.sort(rng.integers(0, size, (k, 2)), axis=1)
        y = np.sort(rng.integers(0, size, (k, 2)), axis=1)
        out.append(np.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], axis=1))
    return out


def bench_localisation(n_maps: int = 64, size: int = 64, seed: int = 0, log=print) -> dict:
    """Milliseconds per map of amx's MaxBoxAccV2 and PxAP and of the references, on the same
    random maps and boxes; the largest difference of the scores."""
    maps, boxes = sample_maps(seed, n_maps, size), sample_boxes(seed, n_maps, size)
    gt = [torch.from_numpy(b) for b in boxes]
    normalised = [normalize_scoremap(m) for m in maps]
    normalised64 = np.stack(normalised).astype(np.float64)  # PxAP's bins read both the same values
    region = box_region(gt, size, size)
    cpu = torch.device("cpu")
    runs = {
        "max_box_acc_v2": (lambda: max_box_acc_v2(torch.from_numpy(maps), gt, BoxAccV2Config()),
                           lambda: reference_max_box_acc_v2(normalised, boxes) / 100),
        "pxap": (lambda: pxap(torch.from_numpy(normalised64), region, PxAPConfig(region="box")),
                 lambda: reference_pxap(normalised64, region.numpy()) / 100),
    }
    rows = {}
    for name, (mine, reference) in runs.items():
        seconds, ref_seconds = fastest(mine, cpu), fastest(reference, cpu)
        rows[name] = {"ms_per_map": round(1e3 * seconds / n_maps, 3),
                      "reference_ms_per_map": round(1e3 * ref_seconds / n_maps, 3),
                      "speedup": round(ref_seconds / seconds, 2),
                      "abs_difference": abs(mine() - reference())}
        row = rows[name]
        log(f"  {name:15s} {row['ms_per_map']:8.3f} ms/map vs {row['reference_ms_per_map']:8.3f} reference: "
            f"{row['speedup']}x, |difference| {row['abs_difference']:.2e}")
    return {"benchmark": "localisation", "n_maps": n_maps, "size": size, "seed": seed, "metrics": rows}
