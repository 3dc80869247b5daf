"""BIG's claims B1-B2 (003; Wang, Fredrikson and Datta, "Robust Models Are More Interpretable
Because Attributions Look Normal", ICML 2022; ``fixtures/paper/CLAIMS.md``) as checks on the
evidence of its request ``amx.claims.big_evidence.BoundaryEvidence``.

* B1, per vanilla/robust pair and pooled: the cosine distance between the explained logit's
  gradient at the image and at its closest boundary point, vanilla vs robust paired on the same
  images (images whose search found a boundary point for both twins), with a one-sided Wilcoxon
  signed-rank test and the ratio of the means with a bootstrap CI (``amx.stats.paired_ratio``).
* B2, per metric and comparator (IG, AGI): BIG's score vs the other method's on the same (model,
  image), pooled over every model of the pairs, with a one-sided Wilcoxon signed-rank test (on
  0/1 hits, the sign test) and the mean difference with a bootstrap CI
  (``amx.stats.paired_difference``), on the images whose search found a boundary point. WSL is
  tested on the per-image IoU at the set's threshold.
* every case's ``resample`` re-judges it on bootstrap resamples of the images
  (``amx.claims.stability``), the pairs kept together.
"""

from __future__ import annotations

import numpy as np

from amx import resampled, stats
from amx.claims import big_evidence, big_figures
from amx.claims.spec import Case, Claim, ClaimSet, Evidence, IsTrue, Less, verdict

ARCHITECTURES = ("alexnet", "googlenet", "resnet", "densenet", "mobilenet")
PAIR = ("vanilla", "pgd")
B1_P = Less(0.003, "p")
B1_RULE = IsTrue(f"vanilla / robust cosine distance > 1 and {B1_P}")
B1_PAPER = 0.28 / 0.13  # ImageNet, standard vs robust ResNet-50 (CIFAR-10: 0.44 vs 0.05)
B2_P = Less(0.05, "p")
B2_RULE = IsTrue(f"mean(BIG - other) >= 0 and {B2_P}")
B2_METRICS = {"pointing_game": "pointing_game", "wsl": "wsl_iou",  # metric: its tested column
              "energy_pointing_game": "energy_pointing_game"}
B2_OTHERS = ("ig", "agi")


def _big(ev: Evidence) -> big_evidence.BigEvidence:
    return ev.collected_by("003")


def paired_alignment(ev: Evidence, architecture: str | None = None):
    """B1's pairs: per (architecture, image) with a boundary point for both twins, the cosine and l2
    distances and the boundary distance of each regime (columns ``(measure, regime)``)."""
    table = _big(ev).alignment
    if architecture is not None:
        table = table[table["architecture"] == architecture]
    table = table[table["found"].astype(bool)]
    return table.pivot_table(index=["architecture", "image"], columns="regime",
                             values=["cos_distance", "l2", "distance"]).dropna()


def _b1(pair: str) -> Case:
    def check(ev):
        wide = paired_alignment(ev, None if pair == "pooled" else pair)
        cid = f"B1[{pair}]"
        if len(wide) < 2:
            raise ValueError(f"{cid}: fewer than 2 images with a boundary point for both twins")
        vanilla = wide[("cos_distance", "vanilla")].to_numpy()
        robust = wide[("cos_distance", "pgd")].to_numpy()
        t = stats.paired_ratio(vanilla, robust, "greater")
        median = stats.paired_median_difference(vanilla, robust, "greater")
        l2 = wide["l2"].median()
        distance = wide["distance"].median()
        msg = (f"{cid}: cosine distance of the gradient at the image and at its boundary point, vanilla "
               f"{vanilla.mean():.3f} vs robust {robust.mean():.3f} (BIG, ImageNet: 0.28 vs 0.13): ratio "
               f"{t.effect:.2f} [{t.ci_low:.2f}, {t.ci_high:.2f}], one-sided Wilcoxon p = {t.p_value:.3g} "
               f"(needs {B1_RULE}), n = {t.n} image pairs; median difference {median.effect:+.3f} "
               f"[{median.ci_low:+.3f}, {median.ci_high:+.3f}]. Reported: median l2 of the raw gradients "
               f"vanilla {l2['vanilla']:.3g} vs robust {l2['pgd']:.3g} (BIG: 8.48 vs 0.41); median boundary "
               f"distance (pixel L2) vanilla {distance['vanilla']:.3f} vs robust {distance['pgd']:.3f}")
        holds = t.effect > 1 and B1_P.passes(t.p_value)
        return verdict(cid, B1_RULE, t.effect, msg, B1_PAPER, t, checked=holds,
                       on_p=lambda p: t.effect > 1 and B1_P.passes(p), paired=median.as_dict())

    def resample(ev, draws):
        wide = paired_alignment(ev, None if pair == "pooled" else pair)
        vanilla = wide[("cos_distance", "vanilla")].to_numpy()
        robust = wide[("cos_distance", "pgd")].to_numpy()
        W = draws.weights(wide.index.get_level_values("image"))
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = (W @ vanilla) / (W @ robust)
        return B1_RULE.holds((ratio > 1) & B1_P.holds(resampled.wilcoxon(vanilla - robust, W, "greater")))
    return Case("B1", pair, check, PAIR, architecture=None if pair == "pooled" else pair, resample=resample)


def _b2_pairs(ev: Evidence, other: str, column: str, cid: str):
    """BIG's and ``other``'s ``column`` per (model, image) with a boundary point (BIG needs one);
    fewer than 2 such pairs cannot be judged (an error naming the case ``cid``)."""
    evidence = _big(ev)
    found = evidence.alignment.loc[evidence.alignment["found"].astype(bool), ["model", "image"]]
    scores = evidence.scores.merge(found, on=["model", "image"])
    wide = scores.pivot_table(index=["model", "image"], columns="method", values=column)
    if not {"big", other} <= set(wide.columns) or len(wide[["big", other]].dropna()) < 2:
        raise ValueError(f"{cid}: fewer than 2 (model, image) pairs with a boundary point and both maps' "
                         "scores")
    return wide[["big", other]].dropna()


def _b2(other: str, metric: str) -> Case:
    column = B2_METRICS[metric]
    cid = f"B2[big-vs-{other}-{metric}]"

    def check(ev):
        wide = _b2_pairs(ev, other, column, cid)
        big, theirs = wide["big"].to_numpy(), wide[other].to_numpy()
        t = stats.paired_difference(big, theirs, "greater")
        models = wide.index.get_level_values(0).nunique()
        msg = (f"{cid}: {column}, BIG {big.mean():.3f} vs {other.upper()} {theirs.mean():.3f}: mean "
               f"difference {t.effect:+.3f} [{t.ci_low:+.3f}, {t.ci_high:+.3f}], one-sided Wilcoxon p = "
               f"{t.p_value:.3g} (needs {B2_RULE}), n = {t.n} (model, image) pairs of {models} models")
        holds = t.effect >= 0 and B2_P.passes(t.p_value)
        return verdict(cid, B2_RULE, t.effect, msg, None, t, checked=holds,
                       on_p=lambda p: t.effect >= 0 and B2_P.passes(p))

    def resample(ev, draws):
        wide = _b2_pairs(ev, other, column, cid)
        diff = (wide["big"] - wide[other]).to_numpy()
        W = draws.weights(wide.index.get_level_values("image"))
        holds = (resampled.mean(diff, W) >= 0) & B2_P.holds(resampled.wilcoxon(diff, W, "greater"))
        return B2_RULE.holds(holds)
    return Case("B2", f"big-vs-{other}-{metric}", check, PAIR, resample=resample)


def cases() -> list[Case]:
    return ([_b1(a) for a in (*ARCHITECTURES, "pooled")]
            + [_b2(other, metric) for other in B2_OTHERS for metric in B2_METRICS])


CLAIMS = (
    Claim("B1", "003", "poster, Contribution 1",
          "In robust models the gradient explanation aligns better with the normal of the nearest decision "
          "boundary.",
          "cosine distance between the explained logit's gradient at the image and at its closest boundary "
          "point (BIG's Boundary Saliency Map), vanilla / robust paired by image; one-sided Wilcoxon",
          str(B1_RULE), "cos 0.28 vs 0.13 (ImageNet), 0.44 vs 0.05 (CIFAR-10); l2 8.48 vs 0.41",
          "The normal is the explained logit's gradient at the boundary point (BIG's BSM). BIG's l2 "
          "distances exceed 2, so they are not between unit vectors, and its code has no script for the "
          "table: amx tests the scale-free cosine distance and reports the raw gradients' l2 beside it. "
          "Images whose search found no boundary point for a twin are left out.", "pooled"),
    Claim("B2", "003", "poster, Contribution 3",
          "Boundary-based Integrated Gradients (IG from the closest boundary point) localises better than "
          "IG and AGI.",
          "Pointing Game hit, WSL IoU at the set's threshold and energy pointing game of BIG vs IG and "
          "vs AGI, paired by (model, image) over the pairs' models; one-sided Wilcoxon",
          str(B2_RULE), "qualitative (maps on the poster)",
          "BIG's poster shows maps only; amx scores them with the main paper's Pointing Game and WSL and "
          "Score-CAM's energy pointing game (share of positive mass in the box; mini: in the exact mask). "
          "IG is the world preset's (black baseline).", "big-vs-ig-energy_pointing_game"),
)

CLAIM_SET = ClaimSet(
    name="003", prefix="B", source="003",
    title="Robust Models Are More Interpretable Because Attributions Look Normal (Wang, Fredrikson, Datta)",
    claims=CLAIMS, cases=cases, evidence=(big_evidence.BoundaryEvidence(),),
    figure_data=big_figures.figure_data, render_figures=big_figures.render)
