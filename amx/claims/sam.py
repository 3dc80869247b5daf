"""The SAM paper's claims S1-S8 (002; Bansal, Agarwal and Nguyen, "SAM: The Sensitivity of
Attribution Methods to Hyperparameters", CVPR 2020; ``fixtures/paper/CLAIMS.md``) as checks on
the sweeps of its request ``amx.claims.sam_sweeps.SamSweeps``.

Conventions for all cases:
* every case needs a vanilla/robust pair, on which SAM's protocol runs (S1 and S5 judge the
  vanilla models of the pairs); a world without one reports them not applicable;
* "robust" = regime ``pgd``, "vanilla" = regime ``vanilla``; robust/vanilla comparisons pair the
  two twins' values on the same image (each architecture's CL images), pooled over the pairs,
  with a one-sided Wilcoxon signed-rank test and the ratio of means with a bootstrap CI
  (``amx.stats.paired_ratio``);
* a map's SSIM is with the default setting's map of the same model and image (SAM's code), per
  image the mean over the sweep's other values; over images, the mean of those means and
  ``sqrt(mean of the per-image variances)`` (SAM's dataset figures, in the messages);
* a score's variation is its coefficient of variation across a sweep's values, ``std / mean``
  (ddof 0) per (model, sweep, image), images whose mean score is 0 left out;
* every case's ``resample`` re-judges it on bootstrap resamples of the images
  (``amx.claims.stability``); S4's CI is then a nested bootstrap of 200 resamples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from amx import resampled, stats
from amx.claims import sam_figures, sam_sweeps
from amx.claims.spec import Case, Claim, ClaimSet, Evidence, Greater, IsTrue, Less, verdict

SWEPT = ("sliding_patch-patch", "sliding_patch-patch-fine", "smoothgrad-noise", "smoothgrad-n_samples",
         "mp-blur_sigma", "mp-iterations", "mp-seed", "lime-seed", "lime-n_samples", "lime-n_superpixels")
S1_RULE = Less(0.95, "mean SSIM")
P_RULE = Less(0.003, "p")
HIGHER_RULE = IsTrue(f"ratio > 1 and {P_RULE}")  # robust over vanilla, one-sided
S3_RULE = IsTrue("Spearman rho(value, SSIM) > 0 and SSIM(last) / SSIM(first) > 1")
S4_RULE = Greater(1.0, "CI low of vanilla / robust")
S5_RULE = Greater(3.0, "std ratio")
S8_RULE = IsTrue("median steps robust < vanilla")
S5_PAIRS = {"lime-n_superpixels": ("lime-seed", 130.5), "lime-n_samples": ("lime-seed", None),
            "mp-iterations": ("mp-seed", 74.0), "mp-blur_sigma": ("mp-seed", 16.6)}
S2_PAPER = {"mp": 1.4, "smoothgrad": 1.4}
PAIR = sam_sweeps.PAIR


def _sam(ev: Evidence) -> sam_sweeps.SamEvidence:
    return ev.collected_by("002")


def per_image_ssim(ev: Evidence, sweep: str):
    """Per (model, image): the mean SSIM with the default map over the sweep's other values."""
    rows = _sam(ev).similarity
    rows = rows[rows["sweep"] == sweep]
    grouped = rows.groupby(["model", "architecture", "regime", "image"], as_index=False)["ssim"]
    return grouped.agg(mean="mean", var=lambda v: float(np.var(v)))


def _paired(table, column: str, with_images: bool = False):
    """(robust, vanilla) values of ``column`` paired by (architecture, image) [and sweep], and
    with ``with_images`` the image of each pair."""
    keys = [k for k in ("architecture", "sweep", "image") if k in table.columns]
    wide = table.pivot_table(index=keys, columns="regime", values=column).dropna()
    pairs = wide["pgd"].to_numpy(), wide["vanilla"].to_numpy()
    return (*pairs, wide.index.get_level_values("image").to_numpy()) if with_images else pairs


def _higher_holds(robust, vanilla, images, draws):
    """Per resample: ratio of means > 1 and one-sided Wilcoxon robust > vanilla p < 0.003."""
    W = draws.weights(images)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (W @ robust) / (W @ vanilla)
    return (ratio > 1) & P_RULE.holds(resampled.wilcoxon(robust - vanilla, W, "greater"))


def _s1(sweep):
    def check(ev):
        table = per_image_ssim(ev, sweep)
        vanilla = table[table["regime"] == "vanilla"]
        mean, spread = vanilla["mean"].mean(), float(np.sqrt(vanilla["var"].mean()))
        cid = f"S1[{sweep}]"
        msg = (f"{cid}: mean SSIM of the maps with the default setting's, vanilla models: {mean:.3f} "
               f"(+- {spread:.3f}, SAM's sqrt of mean per-image variance; needs {S1_RULE}), "
               f"{len(vanilla)} images of {vanilla['model'].nunique()} models")
        return verdict(cid, S1_RULE, mean, msg, sd=spread)

    def resample(ev, draws):
        table = per_image_ssim(ev, sweep)
        vanilla = table[table["regime"] == "vanilla"]
        return S1_RULE.holds(resampled.mean(vanilla["mean"], draws.weights(vanilla["image"])))
    return Case("S1", sweep, check, PAIR, resample=resample)


def _robust_higher(cid: str, what: str, robust, vanilla, paper=None):
    """The verdict of robust > vanilla on values paired by image: one-sided Wilcoxon signed-rank
    test and the ratio of the means with its bootstrap CI."""
    t = stats.paired_ratio(robust, vanilla, "greater")
    median = stats.paired_median_difference(robust, vanilla, "greater")
    msg = (f"{cid}: {what}, robust {robust.mean():.3f} vs vanilla {vanilla.mean():.3f}: ratio "
           f"{t.effect:.3f} [{t.ci_low:.3f}, {t.ci_high:.3f}], one-sided Wilcoxon p = {t.p_value:.3g} "
           f"(needs {HIGHER_RULE}), n = {t.n} image pairs; median difference {median.effect:+.3g} "
           f"[{median.ci_low:+.3g}, {median.ci_high:+.3g}]")
    higher = t.effect > 1 and P_RULE.passes(t.p_value)
    return verdict(cid, HIGHER_RULE, t.effect, msg, paper, t, checked=higher,
                   on_p=lambda p: t.effect > 1 and P_RULE.passes(p), paired=median.as_dict())


def _s2(sweep):
    def check(ev):
        robust, vanilla = _paired(per_image_ssim(ev, sweep), "mean")
        return _robust_higher(f"S2[{sweep}]", "mean SSIM with the default map", robust, vanilla,
                              S2_PAPER.get(sweep.split("-")[0]))

    def resample(ev, draws):
        return _higher_holds(*_paired(per_image_ssim(ev, sweep), "mean", with_images=True), draws)
    return Case("S2", sweep, check, PAIR, resample=resample)


def _s3(sweep):
    def check(ev):
        rows = _sam(ev).smoothing
        rows = rows[rows["sweep"] == sweep].sort_values("value")
        values = sorted(float(v) for v in rows["value"].unique())
        means = rows.groupby("value")["ssim"].mean()
        rank = rows["value"].map({v: k for k, v in enumerate(values)})
        t = stats.spearman(rank.to_numpy(), rows["ssim"].to_numpy())
        growth = float(means[values[-1]] / means[values[0]])
        cid = f"S3[{sweep}]"
        msg = (f"{cid}: SSIM(SmoothGrad of the vanilla model, Gradient of its robust twin) over "
               f"{sweep.split('-', 1)[1]} {', '.join(f'{v:g}' for v in values)}: "
               f"{', '.join(f'{means[v]:.3f}' for v in values)}; "
               f"last / first {growth:.3f}, Spearman rho {t.statistic:.3f} (p = {t.p_value:.3g}); "
               f"needs {S3_RULE}")
        return verdict(cid, S3_RULE, growth, msg, 1.4, checked=t.statistic > 0 and growth > 1,
                       rho=t.statistic, rho_p=t.p_value)

    def resample(ev, draws):
        rows = _sam(ev).smoothing
        rows = rows[rows["sweep"] == sweep]
        codes, _ = pd.factorize(rows["value"].astype(float), sort=True)
        W = draws.weights(rows["image"])
        means = resampled.group_means(rows["ssim"].to_numpy(), codes, codes.max() + 1, W)
        rho = resampled.spearman(codes, rows["ssim"], W)
        with np.errstate(invalid="ignore", divide="ignore"):
            return S3_RULE.holds((rho > 0) & (means[:, -1] / means[:, 0] > 1))
    return Case("S3", sweep, check, PAIR, resample=resample)


def variation(ev: Evidence, metric: str):
    """Per (model, sweep, image): std / mean (ddof 0) of ``metric`` across the sweep's values."""
    rows = _sam(ev).scores
    grouped = rows.groupby(["model", "architecture", "regime", "sweep", "image"], as_index=False)[metric]
    table = grouped.agg(mean="mean", std=lambda v: float(np.std(v)))
    table = table[table["mean"] != 0]
    return table.assign(cv=table["std"] / table["mean"].abs())


def _s4(metric):
    def check(ev):
        robust, vanilla = _paired(variation(ev, metric), "cv")
        t = stats.paired_ratio(vanilla, robust, "greater")
        cid = f"S4[{metric}]"
        msg = (f"{cid}: {metric}'s std / mean across settings, vanilla {vanilla.mean():.3f} vs robust "
               f"{robust.mean():.3f}: ratio {t.effect:.3f} [{t.ci_low:.3f}, {t.ci_high:.3f}] "
               f"(needs {S4_RULE}), "
               f"one-sided Wilcoxon p = {t.p_value:.3g}, n = {t.n} (image, sweep) pairs")
        return verdict(cid, S4_RULE, t.effect, msg, 2.4, t, checked=t.ci_low)

    def resample(ev, draws):
        robust, vanilla, images = _paired(variation(ev, metric), "cv", with_images=True)
        return S4_RULE.holds(resampled.ratio_ci_low(vanilla, robust, draws.weights(images), draws.seed))
    return Case("S4", metric, check, PAIR, resample=resample)


def _s5_spread(ev: Evidence, sweep: str, seeds: str) -> dict:
    """Per sweep: Insertion's std across its values per (model, image), vanilla models."""
    rows = _sam(ev).scores
    rows = rows[rows["regime"] == "vanilla"]
    return {name: rows[rows["sweep"] == name].groupby(["model", "image"])["insertion"].agg(np.std)
            for name in (sweep, seeds)}


def _s5(sweep):
    seeds, paper = S5_PAIRS[sweep]

    def check(ev):
        spread = _s5_spread(ev, sweep, seeds)
        ratio = float(spread[sweep].mean() / spread[seeds].mean())
        cid = f"S5[{sweep}]"
        msg = (f"{cid}: Insertion's std across {sweep.split('-', 1)[1]} {spread[sweep].mean():.4f} vs across "
               f"seeds {spread[seeds].mean():.4f}: ratio {ratio:.2f} (needs {S5_RULE}), vanilla models, "
               f"{len(spread[sweep])} images")
        return verdict(cid, S5_RULE, ratio, msg, paper)

    def resample(ev, draws):
        means = [resampled.mean(x.to_numpy(), draws.weights(x.index.get_level_values("image")))
                 for x in _s5_spread(ev, sweep, seeds).values()]
        with np.errstate(invalid="ignore", divide="ignore"):
            return S5_RULE.holds(means[0] / means[1])
    return Case("S5", sweep, check, PAIR, resample=resample)


def _per_image_case(claim, column, what, paper=None):
    def check(ev):
        return _robust_higher(f"{claim}[pooled]", what, *_paired(_sam(ev).per_image, column), paper)

    def resample(ev, draws):
        return _higher_holds(*_paired(_sam(ev).per_image, column, with_images=True), draws)
    return Case(claim, "pooled", check, PAIR, resample=resample)


def _s8():
    def check(ev):
        robust, vanilla = _paired(_sam(ev).per_image, "mp_steps")
        t = stats.paired_ratio(vanilla, robust, "greater")
        med_r, med_v = float(np.median(robust)), float(np.median(vanilla))
        cid = "S8[pooled]"
        msg = (f"{cid}: MP steps to converge (loss within {_sam(ev).plan['converged']:.0%} of its drop "
               f"of the final loss), median robust {med_r:g} vs vanilla {med_v:g} (needs {S8_RULE}); "
               f"one-sided Wilcoxon vanilla > robust p = {t.p_value:.3g}, n = {t.n} image pairs")
        return verdict(cid, S8_RULE, med_r, msg, 10, checked=med_r < med_v, vanilla_median=med_v,
                       p=t.p_value)

    def resample(ev, draws):
        robust, vanilla, images = _paired(_sam(ev).per_image, "mp_steps", with_images=True)
        W = draws.weights(images)
        return S8_RULE.holds(resampled.median(robust, W) < resampled.median(vanilla, W))
    return Case("S8", "pooled", check, PAIR, resample=resample)


def cases() -> list[Case]:
    return ([_s1(s) for s in SWEPT] + [_s2(s) for s in SWEPT]
            + [_s3(s) for s in ("smoothgrad-noise", "smoothgrad-n_samples")]
            + [_s4(m) for m in sam_sweeps.SCORES] + [_s5(s) for s in S5_PAIRS]
            + [_per_image_case("S6", "outline", "gradient concentration on the object's outline")]
            + [_per_image_case("S7", "noise_ssim", "SSIM(grad(x), grad(x + noise))")] + [_s8()])


def _claim(id, statement, statistic, pass_when, paper_value, choices="", headline=""):
    return Claim(id=id, source="002", section="SAM (CVPR 2020)", statement=statement, statistic=statistic,
                 pass_when=pass_when, paper_value=paper_value, choices=choices, headline=headline)


CLAIMS = (
    _claim("S1", "Heatmaps of Sliding-Patch (patch size), SmoothGrad (samples, sigma), MP (iterations, blur "
           "radius, seed) and LIME (superpixels, samples, seed) change with their hyperparameters.",
           "mean SSIM of each setting's map with the default setting's map, vanilla models, per sweep",
           str(S1_RULE), "-",
           "Compared with the default's map, as SAM's code does (the catalogue says neighbouring values).",
           "smoothgrad-noise"),
    _claim("S2", "Robust CNNs' heatmaps are more consistent under hyperparameter changes.",
           "mean SSIM robust / vanilla per sweep; one-sided Wilcoxon over (architecture, image) pairs",
           str(HIGHER_RULE), "~1.4x (MP, SmoothGrad)",
           "Paired by image (both twins see each architecture's CL images); SAM compares means.",
           "mp-blur_sigma"),
    _claim("S3", "SmoothGrad maps of a vanilla CNN grow more similar to its robust twin's plain gradient as "
           "the smoothing (sigma or samples) grows.",
           "SSIM(SmoothGrad_vanilla(k), Gradient_robust) over k: Spearman rho and last / first",
           str(S3_RULE), "~1.4x", "Sample counts are prefixes of one draw of 50 (as SAM's code).",
           "smoothgrad-noise"),
    _claim("S4", "Heatmap variation carries into accuracy scores (WSL, Insertion, Deletion); robust CNNs' "
           "scores vary less.",
           "mean std / mean of the score across a sweep's settings, vanilla / robust, over (sweep, image) "
           "pairs",
           str(S4_RULE), "2.4x; WSL 0.51 vs 0.31",
           "SAM's scores: Insertion/Deletion in 28 steps from the mean colour, AUC / curve max; WSL = mean "
           "over alpha 0.10-0.50 of the IoU of one box around map >= alpha max (the `sam` preset).",
           "insertion"),
    _claim("S5", "Some hyperparameters matter far more than the random seed.",
           "std of Insertion across a hyperparameter / std across seeds (mean over images), vanilla models",
           str(S5_RULE), "LIME superpixels 130.5x; MP iterations 74x, blur 16.6x",
           "LIME's superpixel sweep is not in SAM's code: amx sweeps 10-60 (the main paper's grid).",
           "lime-n_superpixels"),
    _claim("S6", "Plain gradients of robust CNNs show object outlines; vanilla gradients are noisy.",
           "share of |gradient| within a band around the object's outline / the band's share of the image; "
           "one-sided Wilcoxon robust > vanilla", str(HIGHER_RULE), "qualitative",
           "SAM has no metric: amx's outline is the exact mask's boundary (mini) or the top 10% Sobel "
           "edges (elsewhere), widened by the plan's band.", "pooled"),
    _claim("S7", "Gradients of robust CNNs are more invariant to random input noise.",
           "SSIM(grad(x), grad(x + noise)), noise variance 0.1 in [0, 1], clipped; one-sided Wilcoxon",
           str(HIGHER_RULE), "-", "The noise is drawn per image from the seed, the same for "
           "both twins.", "pooled"),
    _claim("S8", "MP converges in far fewer steps for robust CNNs.",
           "median of the first step after which MP's loss stays within 5% of its total drop of the final "
           "loss",
           str(S8_RULE), "10 vs 300", "SAM has no metric: amx reads MP's loss trace at the default setting.",
           "pooled"),
)

CLAIM_SET = ClaimSet(
    name="002", prefix="S", source="002",
    title="SAM: The Sensitivity of Attribution Methods to Hyperparameters (Bansal, Agarwal, Nguyen)",
    claims=CLAIMS, cases=cases, evidence=(sam_sweeps.SamSweeps(),), figure_data=sam_figures.figure_data,
    render_figures=sam_figures.render)
