"""``amx bench similarity``: batched SSIM and Spearman (``amx.metrics.similarity``) against
scikit-image's ``structural_similarity`` and scipy's ``spearmanr`` called once per pair, as the
SAM code does, on the same pairs of random related maps; the largest SSIM difference is recorded."""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity

from amx.bench import fastest
from amx.metrics.similarity import SSIMConfig, scaled, spearman, ssim


def bench_similarity(n_pairs: int = 256, size: int = 224, device: str = "cpu", log=print) -> dict:
    """Milliseconds per pair of amx's batched SSIM / Spearman and of the per-pair references."""
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n_pairs, size, size, generator=gen, dtype=torch.float64)
    b = 0.6 * a + 0.4 * torch.randn(n_pairs, size, size, generator=gen, dtype=torch.float64)
    a_dev, b_dev = a.to(dev), b.to(dev)
    config = SSIMConfig()
    xs, ys = scaled(a, config.scale).numpy(), scaled(b, config.scale).numpy()

    def reference_ssim():
        return [structural_similarity(x, y, win_size=config.win_size, gaussian_weights=False,
                                      data_range=config.data_range) for x, y in zip(xs, ys, strict=True)]

    def reference_spearman():
        return [spearmanr(x.ravel(), y.ravel()).statistic for x, y in zip(xs, ys, strict=True)]

    rows = {}
    for name, mine, reference in (("ssim", lambda: ssim(a_dev, b_dev, config), reference_ssim),
                                  ("spearman", lambda: spearman(a_dev, b_dev), reference_spearman)):
        seconds, ref_seconds = fastest(mine, dev), fastest(reference, torch.device("cpu"))
        difference = float(np.max(np.abs(mine().cpu().numpy() - np.array(reference()))))
        rows[name] = {"ms_per_pair": round(1e3 * seconds / n_pairs, 4),
                      "reference_ms_per_pair": round(1e3 * ref_seconds / n_pairs, 4),
                      "speedup": round(ref_seconds / seconds, 2), "max_abs_difference": difference}
        row = rows[name]
        log(f"  {name:9s} {row['ms_per_pair']:8.3f} ms/pair vs {row['reference_ms_per_pair']:8.3f} per-pair "
            f"reference: {row['speedup']}x, max |difference| {difference:.2e}")
    return {"benchmark": "similarity", "n_pairs": n_pairs, "size": size, "ssim_config": vars(config),
            "methods": rows}
