"""Box IoU with inclusive pixel corners, as wsolevaluation's ``calculate_multiple_iou``.

A box ``x0, y0, x1, y1`` covers ``(x1 - x0 + 1) * (y1 - y0 + 1)`` pixels. A pair whose union is
not positive (only possible for malformed boxes) gets IoU 0, as in the reference.
"""

from __future__ import annotations

import torch


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU ``[N, M]`` of boxes ``a`` ``[N, 4]`` and ``b`` ``[M, 4]`` (inclusive corners), float64.

    >>> box_iou(torch.tensor([[1, 2, 5, 6]]), torch.tensor([[3, 1, 4, 5]]))  # 8 / (25 + 10 - 8)
    tensor([[0.2963]], dtype=torch.float64)
    """
    a, b = a.long()[:, None, :], b.long()[None, :, :]
    width = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0]) + 1).clamp(min=0)
    height = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1]) + 1).clamp(min=0)
    intersection = width * height
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    union = area_a + area_b - intersection
    iou = intersection.double() / union.clamp(min=1).double()
    return torch.where(union > 0, iou, torch.zeros_like(iou))
