"""The sanity checks' claims A1-A3 (004; Adebayo et al., "Sanity checks for saliency maps",
NeurIPS 2018; ``fixtures/paper/CLAIMS.md``) as checks on the evidence of its request
``amx.claims.sanity_evidence.RandomisationEvidence``.

A method's maps *depend on the model* when randomising its parameters changes them. Per (model,
image), the statistic is the similarity of the randomised model's map to the trained one's,
averaged over the steps of a randomisation (the area under the paper's Fig 4 curve, divided by
its number of steps): ``s = mean_k sim(map, map_k)``, 1 for a map the randomisation leaves as it
was, about 0 for an unrelated one.

* A1 (cascading randomisation, Fig 2 and 4) and A2 (independent randomisation of one block, Fig
  5), per method of the paper's four and similarity measure, pooled over the vanilla models' images:
  Gradient and GradCAM maps change (mean s < 0.5, one-sided Wilcoxon signed-rank test against 0.5,
  p < 0.05), Guided Backprop and Guided GradCAM maps stay similar (mean s >= 0.5, the other side).
* A3 (beyond the paper), per method: do robust models' maps depend on the model as much as
  vanilla ones? The cascade's s (Spearman of |map|) of each robust model against its vanilla twin
  on the same images, two-sided Wilcoxon; it holds when no difference shows (p >= 0.05), and the
  message gives both regimes' shares of images that pass (s < 0.5).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from amx import resampled, stats
from amx.claims import sanity_figures
from amx.claims.sanity_evidence import MEASURES, PAIR, PAPER_METHODS, RandomisationEvidence
from amx.claims.spec import AtLeast, Case, Claim, ClaimSet, Evidence, IsTrue, Less, verdict

BOUND = 0.5  # mean similarity: below, the maps changed; at or above, they stayed similar
P = Less(0.05, "p")
CHANGES = ("gradient", "gradcam")  # the paper: they pass (their maps change)
STAYS = ("guided_backprop", "guided_gradcam")  # the paper: they fail (their maps stay similar)
A3_MEASURE = "spearman_abs"
A3_RULE = AtLeast(0.05, "p")
A3_METHODS = ("gradient", "gradient_x_input", "smoothgrad", "ig", "deeplift", "cam", "gradcam",
              "guided_backprop", "guided_gradcam", "rise", "sliding_patch", "lime", "shap", "mp", "ep")
LABELS = {"spearman_abs": "Spearman |map|", "spearman_signed": "Spearman signed", "ssim": "SSIM",
          "hog": "HOG Pearson"}
MODE_OF = {"A1": "cascading", "A2": "independent"}


def _similarity(ev: Evidence) -> pd.DataFrame:
    return ev.collected_by("004").similarity


def per_image(ev: Evidence, method: str, mode: str, measure: str, regimes=("vanilla",)) -> pd.Series:
    """``s`` per (model, image): the mean over the steps of ``mode`` of ``measure`` of ``method``'s
    randomised maps against the trained model's, for the models of ``regimes``."""
    table = _similarity(ev)
    rows = table[(table["method"] == method) & (table["mode"] == mode) & table["regime"].isin(regimes)]
    return rows.groupby(["model", "image"])[measure].mean().dropna()


def _rule(claim: str, method: str) -> tuple[IsTrue, str]:
    side = "less" if method in CHANGES else "greater"
    what = (f"mean s < {BOUND} and {P} (one-sided, s < {BOUND})" if side == "less"
            else f"mean s >= {BOUND} and {P} (one-sided, s > {BOUND})")
    return IsTrue(what), side


def _paper_case(claim: str, method: str, measure: str) -> Case:
    mode = MODE_OF[claim]
    rule, side = _rule(claim, method)
    cid = f"{claim}[{method}-{measure}]"
    expected = "change" if side == "less" else "stay similar"

    def values(ev) -> pd.Series:
        s = per_image(ev, method, mode, measure)
        if len(s) < 2:
            raise ValueError(f"{cid}: fewer than 2 (vanilla model, image) pairs with {method}'s maps")
        return s

    def check(ev):
        s = values(ev)
        x = s.to_numpy()
        against = stats.paired_difference(x, np.full(len(x), BOUND), side)  # its effect: mean s - BOUND
        t = replace(against, effect=against.effect + BOUND, ci_low=against.ci_low + BOUND,
                    ci_high=against.ci_high + BOUND)  # the CI of mean s, as the report shows it
        mean = float(x.mean())
        holds = (mean < BOUND) if side == "less" else (mean >= BOUND)
        models = s.index.get_level_values(0).nunique()
        msg = (f"{cid}: {method}'s maps under {mode} randomisation, {LABELS[measure]} with the trained "
               f"model's maps averaged over the steps: mean s = {mean:.3f} [{t.ci_low:.3f}, "
               f"{t.ci_high:.3f}] (the paper: they {expected}; needs {rule}), one-sided Wilcoxon "
               f"p = {t.p_value:.3g}, n = {t.n} (model, image) pairs of {models} vanilla models")
        return verdict(cid, rule, mean, msg, None, t, checked=holds and P.passes(t.p_value),
                       on_p=lambda p: holds and P.passes(p))

    def resample(ev, draws):
        s = values(ev)
        x = s.to_numpy() - BOUND
        W = draws.weights(s.index.get_level_values("image"))
        mean = resampled.mean(x, W)
        holds = (mean < 0) if side == "less" else (mean >= 0)
        return rule.holds(holds & P.holds(resampled.wilcoxon(x, W, side)))
    return Case(claim, f"{method}-{measure}", check, ("vanilla",), resample=resample)


def paired_regimes(ev: Evidence, method: str) -> pd.DataFrame:
    """A3's pairs: per (architecture, image), the cascade's ``s`` of the vanilla and the robust twin."""
    table = _similarity(ev)
    rows = table[(table["method"] == method) & (table["mode"] == "cascading")]
    s = rows.groupby(["architecture", "image", "regime"])[A3_MEASURE].mean().unstack("regime")
    return s.reindex(columns=list(PAIR)).dropna()


def _a3(method: str) -> Case:
    cid = f"A3[{method}]"

    def values(ev):
        wide = paired_regimes(ev, method)
        if len(wide) < 2:
            raise ValueError(f"{cid}: fewer than 2 (architecture, image) pairs with {method}'s maps on both "
                             "twins")
        return wide

    def check(ev):
        wide = values(ev)
        vanilla, robust = wide["vanilla"].to_numpy(), wide["pgd"].to_numpy()
        t = stats.paired_difference(robust, vanilla, "two-sided")
        passes = {r: float((wide[r] < BOUND).mean()) for r in PAIR}
        msg = (f"{cid}: {method}'s maps under cascading randomisation, {LABELS[A3_MEASURE]} with the "
               f"trained model's averaged over the steps: robust {robust.mean():.3f} vs vanilla "
               f"{vanilla.mean():.3f}, difference {t.effect:+.3f} [{t.ci_low:+.3f}, {t.ci_high:+.3f}], "
               f"two-sided Wilcoxon p = {t.p_value:.3g} (holds when no difference shows: {A3_RULE}), n = "
               f"{t.n} (architecture, image) pairs; images that pass the check (s < {BOUND}): robust "
               f"{passes['pgd']:.0%}, vanilla {passes['vanilla']:.0%}")
        return verdict(cid, A3_RULE, t.effect, msg, None, t, checked=t.p_value,
                       on_p=lambda p: A3_RULE.passes(p), pass_rates=passes)

    def resample(ev, draws):
        wide = values(ev)
        diff = (wide["pgd"] - wide["vanilla"]).to_numpy()
        W = draws.weights(wide.index.get_level_values("image"))
        return A3_RULE.holds(resampled.wilcoxon(diff, W, "two-sided"))
    def needs(ev):
        try:
            plan = ev.collected_by("004").plan
        except ValueError:
            return None  # no evidence: the check says why
        if method not in plan["paper_methods"] + plan["others"]:
            return (f"the sanity checks' plan of preset {plan['preset']!r} leaves {method} out "
                    "(amx.claims.sanity_evidence.PLANS)")
        return None
    return Case("A3", method, check, PAIR, resample=resample, needs=needs)


def cases() -> list[Case]:
    return ([_paper_case(claim, method, measure) for claim in ("A1", "A2") for method in PAPER_METHODS
             for measure in MEASURES] + [_a3(method) for method in A3_METHODS])


_DEPARTURES = ("amx's zoo models name their blocks (ModelSpec.blocks, five per mini family); the paper "
               "randomised Inception v3 layer by layer. |map| is |mean over channels| of the signed map, "
               "SSIM has a 5-px uniform window, HOG is compared by Pearson correlation, the weights are "
               "drawn at He's scale, and the explained class stays the label (sanity_evidence).")

CLAIMS = (
    Claim("A1", "004", "Sec 3.1, Fig 2 and 4",
          "Under cascading randomisation of the model's weights from the logits down, Gradient and GradCAM "
          "maps change (they pass the model randomisation test), while Guided Backprop and Guided GradCAM "
          "maps stay similar to the trained model's (they fail it).",
          "per (vanilla model, image), the similarity of the randomised model's map to the trained model's "
          "averaged over the cascade's steps (Spearman of |map| and of the signed map, SSIM, HOG Pearson); "
          "one-sided Wilcoxon against 0.5",
          f"Gradient, GradCAM: mean s < {BOUND} and p < 0.05; Guided BP, Guided GradCAM: mean s >= {BOUND} "
          "and p < 0.05", "qualitative (Fig 2) and rank correlations (Fig 4)",
          "The paper shows curves and says which methods pass; amx judges the mean over the cascade against "
          f"{BOUND}. " + _DEPARTURES, "gradient-spearman_abs"),
    Claim("A2", "004", "Sec 3.1, Fig 5 (independent randomisation)",
          "Randomising one block at a time, the others trained, changes Gradient and GradCAM maps and leaves "
          "Guided Backprop and Guided GradCAM maps similar.",
          "as A1, over the steps of independent randomisation (one block each)",
          "as A1", "qualitative (Fig 5)",
          "As A1; step 1 (the logits' block alone) is shared with the cascade. " + _DEPARTURES,
          "gradient-spearman_abs"),
    Claim("A3", "004", "beyond the paper",
          "Robust models' maps depend on the model's parameters as much as vanilla models' do: they pass the "
          "cascading randomisation test as often.",
          "per (architecture, image), the cascade's mean Spearman of |map| of the robust twin vs the vanilla "
          "one, paired; two-sided Wilcoxon",
          str(A3_RULE), "- (not in the paper)",
          "Every method but the controls (model-independent), AGI and BIG (their searches); on mini the "
          "methods beyond the paper's four run on 2 images per model (CPU budget), so their cases have "
          "little power: the message gives n.", "gradient"),
)

CLAIM_SET = ClaimSet(
    name="004", prefix="A", source="004",
    title="Sanity Checks for Saliency Maps (Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim)",
    claims=CLAIMS, cases=cases, evidence=(RandomisationEvidence(),),
    figure_data=sanity_figures.figure_data, render_figures=sanity_figures.render)
