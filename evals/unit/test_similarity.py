"""Map similarity (amx.metrics.similarity): batched SSIM equal to scikit-image's
``structural_similarity`` as the SAM code calls it, and Spearman equal to scipy's."""

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity

from amx.metrics.similarity import SSIMConfig, scaled, spearman, ssim

pytestmark = pytest.mark.numerics  # kernel-path sensitive: .ci/run reruns these on the default path


def _maps(shape, seed, ties=False):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=shape)
    b = 0.6 * a + 0.4 * rng.normal(size=shape)  # related maps, as two settings' maps are
    if ties:
        a, b = np.round(a, 1), np.clip(np.round(b, 1), 0, None)
    return torch.from_numpy(a), torch.from_numpy(b)


@pytest.mark.parametrize("shape", [(3, 224, 224), (4, 64, 64), (2, 17, 40)])
def test_ssim_is_scikit_images_as_sam_called_it(shape):
    a, b = _maps(shape, 0)
    mine = ssim(a, b)  # SAM's Gradient / SmoothGrad / LIME / IG: maps / max|map|, data_range 2
    for i in range(shape[0]):
        x, y = (scaled(t[i:i + 1], "max_abs")[0].numpy() for t in (a, b))
        ref = structural_similarity(x, y, win_size=5, gaussian_weights=False, data_range=2)
        assert abs(mine[i].item() - ref) < 1e-6
    masks = (a.sigmoid(), b.sigmoid())  # MP's [0, 1] masks, unscaled, data_range 1
    mp = ssim(*masks, SSIMConfig(data_range=1.0, scale="none"))
    ref = structural_similarity(masks[0][0].numpy(), masks[1][0].numpy(), win_size=5, gaussian_weights=False,
                                data_range=1)
    assert abs(mp[0].item() - ref) < 1e-6


def test_ssim_of_a_map_with_itself_is_one_and_bad_input_is_named():
    a, _ = _maps((2, 32, 32), 1)
    assert torch.allclose(ssim(a, a), torch.ones(2, dtype=torch.float64))
    assert ssim(a, 3 * a).tolist() == pytest.approx([1.0, 1.0])  # max|map| scaling: scale-free
    with pytest.raises(ValueError, match="expected two \\[B, H, W\\] tensors of one shape"):
        ssim(a, a[:1])
    with pytest.raises(ValueError, match="smaller than the 5-px window"):
        ssim(a[:, :4, :4], a[:, :4, :4])
    with pytest.raises(ValueError, match="win_size must be odd"):
        SSIMConfig(win_size=4)


@pytest.mark.parametrize("ties", [False, True])
def test_spearman_is_scipys_per_pair(ties):
    a, b = _maps((3, 20, 30), 2, ties=ties)
    mine = spearman(a, b)
    for i in range(3):
        assert abs(mine[i].item() - spearmanr(a[i].flatten(), b[i].flatten()).statistic) < 1e-12


def test_amx_bench_similarity_writes_its_timings_and_the_difference_to_the_references(tmp_path):
    import json

    from amx.cli import main

    out = tmp_path / "similarity.json"
    assert main(["bench", "similarity", "--n-pairs", "4", "--size", "32", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["methods"]) == {"ssim", "spearman"}
    assert result["methods"]["ssim"]["max_abs_difference"] < 1e-6
    assert result["methods"]["spearman"]["max_abs_difference"] < 1e-9
    assert result["methods"]["ssim"]["reference_ms_per_pair"] > 0 and result["machine"]["device"] == "cpu"
