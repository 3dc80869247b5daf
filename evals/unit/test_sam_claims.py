"""The SAM claims (002): their measurements (S6 outlines, S7 noise, S8 convergence, SAM's
scores) on hand-made inputs, and every case's verdict on synthetic sweeps where the claim holds
and where it does not."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from amx import stats
from amx.claims import CLAIM_SETS, active, sam, sam_figures, sam_sweeps
from amx.claims.spec import Evidence, RequestFailed
from amx.data.worlds import get_world
from amx.methods.base import reduce_channels
from amx.metrics import CausalConfig, insertion
from amx.metrics.wsl import AlphaBoxConfig, alpha_box_ious
from amx.report.figures import encode
from amx.testing import PixelSetModel


def test_claim_set_002_has_every_sam_claim_and_runs_on_mini_not_photos():
    claim_set = CLAIM_SETS.get("002")
    assert [c.id for c in claim_set.claims] == [f"S{i}" for i in range(1, 9)]
    assert {c.claim for c in claim_set.cases()} == {f"S{i}" for i in range(1, 9)}
    assert "002" in [c.name for c in active(get_world("mini"))]
    assert [c.name for c in active(get_world("photos"))] == ["001"]


def test_converged_step_is_the_first_step_the_loss_stays_near_its_end():
    assert sam_sweeps.converged_step(np.array([1.0, 1.0, 1.0]), 0.05) == 0
    assert sam_sweeps.converged_step(np.array([1.0, 0.5, 0.1, 0.0, 0.0]), 0.05) == 3
    assert sam_sweeps.converged_step(np.array([1.0, 0.0, 0.5, 0.0]), 0.05) == 3  # left again: not yet


def test_outline_concentration_is_one_for_uniform_maps_and_grows_on_the_band():
    bands = np.zeros((2, 8, 8), dtype=bool)
    bands[:, 2, :] = True
    maps = torch.ones(2, 8, 8)
    maps[1] = torch.from_numpy(bands[1]).float() * -3  # all on the band, negative: |map| counts
    assert sam_sweeps.outline_concentration(maps, bands) == pytest.approx([1.0, 8.0])


def test_outline_bands_follow_the_exact_mask_on_mini():
    world = get_world("mini")
    band = sam_sweeps.outline_bands(world, np.array([0]), torch.zeros(1, 3, 64, 64), 1)[0]
    mask = world.object_masks("eval", [0])[0]
    assert band.any() and not band[mask & ~band].any()
    assert band.sum() < mask.sum() + (~mask).sum() / 2  # a thin band, not the object


def test_noise_is_seeded_per_image_and_clipped():
    images = torch.full((2, 3, 4, 4), 0.5)
    a = sam_sweeps.noisy(images, np.array([3, 7]), 0.1, seed=0)
    assert torch.equal(a, sam_sweeps.noisy(images, np.array([3, 7]), 0.1, seed=0))
    assert torch.equal(a[1], sam_sweeps.noisy(images[:1], np.array([7]), 0.1, seed=0)[0])
    assert a.min() >= 0 and a.max() <= 1 and not torch.equal(a[0], a[1])


def test_alpha_box_is_one_box_around_every_pixel_above_alpha_max():
    m = torch.zeros(1, 10, 10)
    m[0, 1, 1], m[0, 5, 6] = 1.0, 0.3  # two blobs: one box spans both at alpha <= 0.3
    m[0, 8, 8] = -5.0  # negative values never count
    ious = alpha_box_ious(m, [torch.tensor([[1, 1, 6, 5]])], AlphaBoxConfig(alphas=(0.2, 0.5)))
    assert ious[0, 0].item() == 1.0
    assert ious[0, 1].item() == pytest.approx(1 / 30)
    assert alpha_box_ious(-m.abs(), [torch.tensor([[1, 1, 6, 5]])]).eq(0).all()


def test_sam_insertion_divides_by_the_curve_maximum_and_starts_from_the_mean_colour():
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[2:5, 2:6] = True
    model = PixelSetModel(mask)
    images = torch.rand(2, 3, 8, 8)
    maps = torch.rand(2, 8, 8)
    targets = torch.tensor([0, 1])
    plain = insertion(model, images, maps, targets, CausalConfig(n_steps=8, substrate="mean"),
                      return_curves=True)
    sam_cfg = CausalConfig(n_steps=8, substrate="mean", divide_by_max=True)
    divided = insertion(model, images, maps, targets, sam_cfg)
    torch.testing.assert_close(divided.auc, plain.auc / plain.curves.amax(1))


def test_mean_reduction_is_the_signed_channel_mean():
    a = torch.tensor([[[[1.0]], [[-4.0]], [[0.0]]]])
    assert reduce_channels(a, "mean").item() == pytest.approx(-1.0)


def test_paired_ratio_detects_a_consistent_increase():
    rng = np.random.default_rng(0)
    b = rng.uniform(0.2, 0.5, 40)
    t = stats.paired_ratio(b * 1.5, b, "greater")
    assert t.p_value < 1e-6 and t.effect == pytest.approx(1.5) and t.ci_low > 1
    assert stats.paired_ratio(b, b).p_value == 1.0


# --- every case on synthetic sweeps ------------------------------------------------------------

def _synthetic(robust_better: bool) -> sam_sweeps.SamEvidence:
    """Two architectures x 12 images; the robust twins' maps are steadier than the vanilla ones'
    (or the reverse), the hyperparameters matter more than the seeds (or not)."""
    rng = np.random.default_rng(1)
    good, bad = (0.9, 0.5) if robust_better else (0.5, 0.9)
    sims, scores, smoothing, per_image = [], [], [], []
    for arch in ("a", "b"):
        for regime, level in (("pgd", good), ("vanilla", bad)):
            model = f"{arch}-{regime}"
            for sweep_name in sam.SWEPT:
                method, parameter = sweep_name.split("-", 1)
                for image in range(12):
                    base = dict(model=model, architecture=arch, regime=regime, sweep=sweep_name,
                                method=method, parameter=parameter, image=image)
                    for value in (1, 2, 3):
                        sims.append({**base, "value": value, "ssim": level + rng.uniform(-0.02, 0.02)})
                        spread = (1 - level) * (0.01 if parameter == "seed" else 1.0) * value
                        scores.append({**base, "value": value, "insertion": 0.5 + spread,
                                       "deletion": 0.2 + spread, "wsl_alpha": 0.4 + spread})
            for image in range(12):
                per_image.append({"model": model, "architecture": arch, "regime": regime, "image": image,
                                  "outline": level * 4 + rng.uniform(0, 0.1), "noise_ssim": level,
                                  "mp_steps": int(10 if level == 0.9 else 100)})
        for sweep_name in ("smoothgrad-noise", "smoothgrad-n_samples"):
            for k, value in enumerate((1.0, 2.0, 3.0)):
                for image in range(12):
                    grow = 0.1 * k if robust_better else -0.1 * k
                    smoothing.append({"architecture": arch, "sweep": sweep_name, "parameter": "x",
                                      "value": value, "image": image,
                                      "ssim": 0.4 + grow + rng.uniform(-0.01, 0.01)})
    strips = {"architecture": "a", "image": 0, "size": 4, "picture": encode(np.zeros((4, 4, 3))),
              "models": {"vanilla": "a-vanilla", "pgd": "a-pgd"},
              "sweeps": {"mp-seed": {"values": ["0", "1"], "default": "0",
                                     "vanilla": [encode(np.zeros((4, 4)))] * 2,
                                     "pgd": [encode(np.ones((4, 4)))] * 2}}}
    return sam_sweeps.SamEvidence(pd.DataFrame(sims), pd.DataFrame(scores), pd.DataFrame(smoothing),
                                  pd.DataFrame(per_image), strips, {"converged": 0.05})


@pytest.mark.parametrize("robust_better", [True, False])
def test_every_case_judges_synthetic_sweeps_both_ways(robust_better):
    evidence = Evidence(collected={"002": _synthetic(robust_better)})
    verdicts = {c.id: c.check(evidence) for c in sam.cases()}
    robust_vs_vanilla = ("S2", "S3", "S4", "S6", "S7", "S8")
    comparisons = [v for cid, v in verdicts.items() if cid.split("[")[0] in robust_vs_vanilla]
    assert all(v.passed == robust_better for v in comparisons), [v.message for v in comparisons]
    # S1 and S5 are about the vanilla models: with vanilla SSIM 0.5 maps change; with 0.9, < 0.95 still
    assert all(verdicts[f"S1[{s}]"].passed for s in sam.SWEPT)
    assert all(verdicts[f"S5[{s}]"].passed for s in sam.S5_PAIRS)


def test_a_failed_collection_fails_the_sam_cases_with_its_reason():
    evidence = Evidence(collected={"002": RequestFailed("ValueError: no vanilla/robust pair")})
    with pytest.raises(ValueError, match="claim set 002 could not collect its evidence: .*no vanilla/robust"):
        sam.cases()[0].check(evidence)
    with pytest.raises(ValueError, match="claim set 002's cases need"):
        sam.cases()[0].check(Evidence())


def test_figures_render_from_their_json():
    evidence = Evidence(collected={"002": _synthetic(True)})
    data = json.loads(json.dumps(sam_figures.figure_data(evidence)))
    figures = sam_figures.render(data)
    assert len(figures) == 4 and all(uri.startswith("data:image/png;base64,") for _, uri in figures)
