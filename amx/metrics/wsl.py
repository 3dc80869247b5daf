"""Weakly supervised localisation: MaxBoxAcc, as wsolevaluation's ``BoxEvaluator`` (Choe et al.
2020), which the paper used with IoU 0.5 (Sec 2.4).

Per image, for every threshold ``tau`` in ``0, interval, ..., < 1`` (``numpy.arange``, as the
reference):

1. the map is min-max normalised to [0, 1] in float32 (a constant map becomes all zeros) and
   quantised to 8 bits: ``q = uint8(map * 255)``;
2. the foreground is ``q > int(tau * max(q))``;
3. the estimated box is the bounding box of the largest 8-connected foreground region, or with
   ``multi_contour=True`` (wsolevaluation's MaxBoxAccV2 option) of every contour OpenCV's
   ``RETR_TREE`` finds: each region's outer border and each hole's border (a 4-connected
   background region enclosed by foreground, whose traced border is one pixel outside it); no
   foreground gives ``[0, 0, 0, 0]``;
4. the image's IoU at ``tau`` is the best IoU between its estimated box(es) and its GT boxes.

One ``tau`` is then chosen for the whole evaluated set (one model x method): the first with the
highest accuracy ``mean(IoU >= 0.5)``. ``box_iou_curves`` is the per-image part (cacheable per
image) and ``select_threshold`` the set-level part; ``max_box_acc`` chains them. Higher is better.

MaxBoxAccV2 (Choe et al., "Evaluating weakly supervised object localization methods right",
CVPR 2020; wsolevaluation's ``box_v2_metric``): every contour's box, and the mean over IoU
thresholds 0.3, 0.5 and 0.7 of the MaxBoxAcc at each, each with its own best ``tau``:
``max_box_acc_v2 = mean_delta max_tau mean_images [IoU(tau) >= delta]`` (``BoxAccV2Config``,
``max_box_acc_v2``), at the reference's 1,000 thresholds (``cam_curve_interval`` 0.001). The
boxes equal OpenCV's contours' bounding boxes exactly (tested against ``cv2.findContours``).

Matches the reference where it matters for numbers:
* like ``x0, y0, x1, y1 = x, y, x + w, y + h`` after ``cv2.boundingRect``, the estimated box ends
  one pixel past the region's last column and row, clipped to the image (``x1 <= W - 1``);
* departure: the reference picks the contour with the largest ``cv2.contourArea`` (the area of
  the traced border polygon); amx picks the 8-connected region with the most pixels (the first
  one in ``scipy.ndimage.label`` order on ties). They differ only for thin or tied regions (a
  one-pixel-wide line has contour area 0), and amx needs no OpenCV.
* the reference defaults for the threshold interval differ (0.001 in ``evaluate_wsol``, 0.01
  in its training config); amx pins 0.01, the 100 thresholds the paper's protocol uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from scipy import ndimage

from amx.metrics.boxes import box_iou
from amx.metrics.inputs import check_boxes, check_maps

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
_SLICEWISE = np.zeros((3, 3, 3), dtype=bool)  # 8-connected within a slice of a [L, H, W] stack
_SLICEWISE[1] = True


@dataclass(frozen=True)
class WSLConfig:
    """``iou_threshold`` 0.5 (paper); ``threshold_interval`` 0.01; ``multi_contour`` False."""

    iou_threshold: float = 0.5
    threshold_interval: float = 0.01
    multi_contour: bool = False

    def __post_init__(self):
        if not 0 < self.iou_threshold <= 1:
            raise ValueError(f"WSLConfig.iou_threshold must be in (0, 1], got {self.iou_threshold}")
        if not 0 < self.threshold_interval < 1:
            raise ValueError(
                f"WSLConfig.threshold_interval must be in (0, 1), got {self.threshold_interval}")

    @property
    def thresholds(self) -> np.ndarray:
        """The taus, exactly as the reference's ``np.arange(0, 1, interval)``."""
        return np.arange(0, 1, self.threshold_interval)


@dataclass(frozen=True)
class BoxAccuracy:
    """MaxBoxAcc of one evaluated set.

    ``accuracy`` in [0, 1] at the chosen ``tau``; ``curve`` the accuracy at every threshold in
    ``thresholds``; per image, ``iou`` and ``hit`` at the chosen ``tau``.
    """

    accuracy: float
    tau: float
    thresholds: np.ndarray
    curve: torch.Tensor
    iou: torch.Tensor
    hit: torch.Tensor


def quantise(score_map: np.ndarray) -> np.ndarray:
    """Min-max normalise in float32 (constant -> zeros) and quantise to ``uint8(map * 255)``."""
    m = score_map.astype(np.float32, copy=True)
    low, high = m.min(), m.max()
    if low == high:
        return np.zeros(m.shape, dtype=np.uint8)
    m -= low
    m /= m.max()
    return (m * np.float32(255)).astype(np.uint8)


def estimated_boxes(quantised: np.ndarray, tau: float, multi_contour: bool = False) -> np.ndarray:
    """Boxes ``[K, 4]`` of the foreground ``q > int(tau * max(q))`` (see the module docstring)."""
    height, width = quantised.shape
    foreground = quantised > int(tau * quantised.max())
    labels, n = ndimage.label(foreground, structure=_EIGHT_CONNECTED)
    if n == 0:
        return np.zeros((1, 4), dtype=np.int64)
    regions = ndimage.find_objects(labels)
    if not multi_contour:
        sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
        regions = [regions[int(np.argmax(sizes))]]
    boxes = [[cols.start, rows.start, min(cols.stop, width - 1), min(rows.stop, height - 1)]
             for rows, cols in regions]
    if multi_contour:  # holes: their border is traced on the foreground pixels around them
        background, _ = ndimage.label(~foreground)
        holes = [(rows, cols) for rows, cols in ndimage.find_objects(background)
                 if rows.start > 0 and cols.start > 0 and rows.stop < height and cols.stop < width]
        boxes += [[c.start - 1, r.start - 1, min(c.stop + 1, width - 1), min(r.stop + 1, height - 1)]
                  for r, c in holes]
    return np.array(boxes, dtype=np.int64)


def largest_region_boxes(quantised: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """``estimated_boxes`` of the foregrounds ``q > level`` for every level at once: ``[L, 4]``.

    The L foregrounds are stacked into one volume and labelled in one call, 8-connected within
    a slice and never across slices. Labels run in raster order, so each slice's labels are one
    contiguous range, in the order ``estimated_boxes`` sees them, and the first largest region
    wins ties in the same way. Only each slice's winner gets a bounding box (a noise map has
    thousands of regions, whose boxes ``find_objects`` would all build).
    """
    height, width = quantised.shape
    boxes = np.zeros((len(levels), 4), dtype=np.int64)
    labels, n = ndimage.label(quantised[None] > levels[:, None, None], structure=_SLICEWISE)
    if n == 0:
        return boxes
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    last = np.maximum.accumulate(labels.reshape(len(levels), -1).max(axis=1))  # a slice's labels:
    first = np.concatenate(([0], last[:-1])) + 1                                # first..last
    for level in np.flatnonzero(last >= first):
        winner = first[level] + int(np.argmax(sizes[first[level]:last[level] + 1]))
        rows, cols = np.nonzero(labels[level] == winner)
        boxes[level] = (cols.min(), rows.min(), min(cols.max() + 1, width - 1),
                        min(rows.max() + 1, height - 1))
    return boxes


def box_iou_curves(maps: torch.Tensor, boxes: Sequence[torch.Tensor],
                   config: WSLConfig = WSLConfig()) -> torch.Tensor:
    """Per image, the best IoU with a GT box at every threshold: float64 ``[B, len(thresholds)]``."""
    check_maps(maps)
    batch, height, width = maps.shape
    boxes = check_boxes(boxes, batch, height, width)
    taus = config.thresholds
    curves = torch.zeros(batch, len(taus), dtype=torch.float64)
    for i, score_map in enumerate(maps.detach().cpu().numpy()):
        q = quantise(score_map)
        levels = np.array([int(tau * q.max()) for tau in taus])  # many taus share one level
        distinct, which = np.unique(levels, return_inverse=True)
        if config.multi_contour:
            ious = [box_iou(torch.from_numpy(estimated_boxes(q, tau, True)), boxes[i]).max().item()
                    for tau in taus[np.unique(which, return_index=True)[1]]]
        else:
            estimates = torch.from_numpy(largest_region_boxes(q, distinct))
            ious = box_iou(estimates, boxes[i]).amax(dim=1).tolist()
        curves[i] = torch.tensor(ious, dtype=torch.float64)[torch.from_numpy(which)]
    return curves


def select_threshold(iou_curves: torch.Tensor, config: WSLConfig = WSLConfig()) -> BoxAccuracy:
    """Choose one tau for a whole set from its per-image ``box_iou_curves``: the first best."""
    if iou_curves.dim() != 2 or iou_curves.shape[1] != len(config.thresholds) or len(iou_curves) == 0:
        raise ValueError(f"iou_curves: expected [B >= 1, {len(config.thresholds)}], "
                         f"got {tuple(iou_curves.shape)}")
    hits = iou_curves >= config.iou_threshold
    curve = hits.double().mean(0)
    best = int(torch.argmax(curve))
    return BoxAccuracy(accuracy=curve[best].item(), tau=float(config.thresholds[best]),
                       thresholds=config.thresholds, curve=curve, iou=iou_curves[:, best],
                       hit=hits[:, best])


def max_box_acc(maps: torch.Tensor, boxes: Sequence[torch.Tensor],
                config: WSLConfig = WSLConfig()) -> BoxAccuracy:
    """MaxBoxAcc of ``maps`` against ``boxes``: ``select_threshold(box_iou_curves(...))``."""
    return select_threshold(box_iou_curves(maps, boxes, config), config)


@dataclass(frozen=True)
class BoxAccV2Config:
    """MaxBoxAccV2 as wsolevaluation's defaults: ``iou_thresholds`` 0.3, 0.5, 0.7;
    ``threshold_interval`` 0.001 (1,000 taus); every contour's box."""

    iou_thresholds: tuple[float, ...] = (0.3, 0.5, 0.7)
    threshold_interval: float = 0.001

    def __post_init__(self):
        if not self.iou_thresholds or not all(0 < t <= 1 for t in self.iou_thresholds):
            raise ValueError(f"BoxAccV2Config.iou_thresholds must be in (0, 1], got {self.iou_thresholds}")
        if not 0 < self.threshold_interval < 1:
            raise ValueError(
                f"BoxAccV2Config.threshold_interval must be in (0, 1), got {self.threshold_interval}")

    @property
    def curves(self) -> WSLConfig:
        """The per-image IoU curves' config: every contour, at these thresholds."""
        return WSLConfig(threshold_interval=self.threshold_interval, multi_contour=True)


def box_acc_v2_hits(iou_curves: torch.Tensor, config: BoxAccV2Config = BoxAccV2Config()) -> torch.Tensor:
    """Per image, the mean over ``iou_thresholds`` of its hit at each one's best ``tau`` for the
    set (float64 ``[B]``); its mean over the images is the set's MaxBoxAccV2."""
    hits = [select_threshold(iou_curves, replace(config.curves, iou_threshold=delta)).hit.double()
            for delta in config.iou_thresholds]
    return torch.stack(hits).mean(0)


def max_box_acc_v2(maps: torch.Tensor, boxes: Sequence[torch.Tensor],
                   config: BoxAccV2Config = BoxAccV2Config()) -> float:
    """MaxBoxAccV2 of ``maps`` against ``boxes``, in [0, 1] (the reference reports percent)."""
    return box_acc_v2_hits(box_iou_curves(maps, boxes, config.curves), config).mean().item()


def run_lengths(curve) -> list[list]:
    """``[[count, value], ...]``: a curve as runs of equal values (a map's IoU curve over 1,000
    taus has at most 256 distinct levels)."""
    runs: list[list] = []
    for value in curve:
        if runs and runs[-1][1] == value:
            runs[-1][0] += 1
        else:
            runs.append([1, value])
    return runs


def from_run_lengths(runs: list[list]) -> list:
    """The curve ``run_lengths`` encoded."""
    return [value for count, value in runs for _ in range(count)]


@dataclass(frozen=True)
class AlphaBoxConfig:
    """The sensitivity study's localisation (SAM, seed 002, ``Sensitivity_Analysis_IOU.py``): per
    ``alpha`` in 0.10, 0.15, ..., 0.50, the pixels with ``map >= alpha * max(map)`` (negative
    values set to 0) and one box around all of them; its pixel IoU with the union of the GT boxes."""

    alphas: tuple[float, ...] = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)

    def __post_init__(self):
        if not self.alphas or not all(0 < a <= 1 for a in self.alphas):
            raise ValueError(f"AlphaBoxConfig.alphas must be in (0, 1], got {self.alphas}")


def alpha_box_ious(maps: torch.Tensor, boxes: Sequence[torch.Tensor],
                   config: AlphaBoxConfig = AlphaBoxConfig()) -> torch.Tensor:
    """Per image, the IoU at every alpha: float64 ``[B, len(alphas)]``. A map with no positive
    value gives no box and IoU 0. Departure: SAM's box ends one pixel past the last kept column
    and row (``+1``, then an exclusive slice); amx's box is the kept pixels' inclusive extent."""
    check_maps(maps)
    batch, height, width = maps.shape
    boxes = check_boxes(boxes, batch, height, width)
    out = torch.zeros(batch, len(config.alphas), dtype=torch.float64)
    for i, score_map in enumerate(maps.detach().cpu().double().numpy()):
        truth = np.zeros((height, width), dtype=bool)
        for x0, y0, x1, y1 in boxes[i].tolist():
            truth[y0:y1 + 1, x0:x1 + 1] = True
        positive = np.clip(score_map, 0, None)
        top = positive.max()
        for a, alpha in enumerate(config.alphas):
            if top <= 0:
                continue
            rows, cols = np.nonzero(positive >= alpha * top)
            estimate = np.zeros_like(truth)
            estimate[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = True
            out[i, a] = (estimate & truth).sum() / (estimate | truth).sum()
    return out
