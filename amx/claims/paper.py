"""The paper's claims P1-P10 and P12 (001; ``fixtures/paper/CLAIMS.md``) as checks on a ScoreTable.

Each claim is a ``Claim`` (statement, statistic, threshold, the paper's figure, and the choices
amx made where the paper leaves one open) and expands into ``Case``s, one per method, metric,
family or architecture it ranges over (``cases()``). ``Case.check(evidence)`` returns a
``Verdict`` with the regenerated statistic, its p-value and bootstrap CI where it has them, and
the paper's value. P11 (Table 1) is ``amx.claims.table1``.

Conventions for all cases:
* only rows with ``status == "ok"`` count (CAM is N/A on AlexNet and MobileNet, as in the paper);
* "robust" = regime ``pgd``, "vanilla" = regime ``vanilla``; "the 10 CNNs" = both regimes of the
  five architectures (AdvProp models only enter P4);
* per-image tests use the ``wsl_iou`` column for WSL (the IoU at the set's threshold: more
  power than the 0/1 hit), and the 0/1 ``pointing_game`` hit;
* means of WSL and Pointing Game are accuracies in points (100 x mean hit), as the paper reports.
"""

from __future__ import annotations

import csv
import functools

import pandas as pd

from amx import stats
from amx.claims import paper_figures, table1
from amx.claims.spec import (
    AbsLess,
    AnyOf,
    AtLeast,
    AtMost,
    Between,
    Case,
    Claim,
    ClaimSet,
    Equal,
    Evidence,
    Greater,
    IsTrue,
    Less,
    verdict,
)
from amx.files import PAPER_DIR
from amx.metrics import METRICS

GROUPS = {"gradient": ("gradient", "ig", "shap"), "cam": ("cam", "gradcam"),
          "perturbation": ("rise", "lime", "mp", "ep")}
ARCHITECTURES = ("alexnet", "googlenet", "resnet", "densenet", "mobilenet")
LOCALISATION, SCORE = ("pointing_game", "wsl"), ("insertion", "deletion")
PAPER_NAMES = {"gradient": "Gradient", "ig": "IG", "shap": "SHAP", "cam": "CAM", "gradcam": "GradCAM",
               "rise": "RISE", "lime": "LIME", "mp": "MP", "ep": "EP"}
PAPER_METHODS = GROUPS["gradient"] + GROUPS["cam"] + GROUPS["perturbation"]
PAPER_METRICS = LOCALISATION + SCORE
# The pass rules, each written once: checks and the report print them.
P1_RULE, P3_RULE = Less(0.003, "p"), Less(0.002, "p")
P2_ALPHA, P2_SMALL_EFFECT = 0.003, 0.3
P2_RULE = AnyOf(AtLeast(P2_ALPHA, "p"), AbsLess(P2_SMALL_EFFECT, "|r|"))
P4_BETWEEN = Between(0, 1, "t = (AdvProp - vanilla) / (robust - vanilla)")
P4_INSERTION = Greater(0, "AdvProp - vanilla")
P4_DELETION = Less(0.5, "|AdvProp - vanilla| / |robust - vanilla|")
P5_TOP3 = AtMost(3, "rank")
P6_RULE = Greater(0, "Gradient - other")
P7_GRADCAM, P7_O1, P7_EP = Greater(1, "GradCAM / next best"), AtLeast(10, "fastest O(n) / slowest O(1)"), \
    Greater(1, "EP / next slowest")
P8_DIFFER, P8_RHO = IsTrue("argmaxes differ"), Greater(0.5, "rho")
P9_RULE = Greater(0.7, "rho")
P10_AGREE, P10_APART = Greater(0.6, "rho"), AbsLess(0.3, "|rho|")
P12_RULE = IsTrue("argmaxes differ")


@functools.cache
def _paper_rows(name: str) -> list[dict]:
    with open(PAPER_DIR / name, newline="") as f:
        return list(csv.DictReader(f))


def paper_wsl(method: str) -> float:
    """Table 2's mean WSL of ``method`` (ImageNet-CL, points)."""
    return next(float(r["wsl_mean"]) for r in _paper_rows("table2_methods.csv")
                if r["method"] == PAPER_NAMES[method])


def paper_runtime_ms(method: str) -> float:
    return next(float(r["runtime_ms_median"]) for r in _paper_rows("table2_methods.csv")
                if r["method"] == PAPER_NAMES[method])


def paper_correlation(a: str, b: str) -> float | None:
    for r in _paper_rows("metric_correlations.csv"):
        if r["dataset"] == "imagenet-cl" and {r["metric_a"], r["metric_b"]} == {a, b}:
            return float(r["spearman"])
    return None


# --- P1-P3: robust vs vanilla, per image ------------------------------------------------------

PAIR = ("vanilla", "pgd")  # the regimes a robust/vanilla comparison needs in the zoo

def _pair_samples(ev: Evidence, methods, metric, architecture=None):
    rows = ev.ten[ev.ten["method"].isin(methods)]
    if architecture is not None:
        rows = rows[rows["architecture"] == architecture]
    col = METRICS.get(metric).per_image_column
    robust, vanilla = rows.loc[rows["regime"] == "pgd", col], rows.loc[rows["regime"] == "vanilla", col]
    if robust.empty or vanilla.empty:
        raise ValueError(f"no {metric} scores for {list(methods)} on "
                         f"{architecture or 'the vanilla/robust pairs'}: is the ScoreTable complete?")
    return robust.to_numpy(), vanilla.to_numpy()


def _one_sided(cid: str, what: str, t, rule, robust, vanilla):
    """The verdict of a one-sided Mann-Whitney test ``t`` of ``what`` under ``rule`` (on p)."""
    msg = (f"{cid}: {what}, one-sided MWU p = {t.p_value:.3g} (needs {rule}); rank-biserial "
           f"r = {t.effect:.3f} [{t.ci_low:.3f}, {t.ci_high:.3f}]; means robust {robust.mean():.3f} "
           f"vs vanilla {vanilla.mean():.3f}, n = {t.n}")
    return verdict(cid, rule, t.p_value, msg, rule.bound, t, effect=t.effect)


def _p1(method, metric, pair):
    def check(ev):
        robust, vanilla = _pair_samples(ev, [method], metric, None if pair == "pooled" else pair)
        t = stats.mann_whitney(robust, vanilla, "greater")
        return _one_sided(f"P1[{method}-{metric}-{pair}]", "robust > vanilla", t, P1_RULE, robust, vanilla)
    return Case("P1", f"{method}-{metric}-{pair}", check, PAIR,
                architecture=None if pair == "pooled" else pair)


def _p2(method, metric):
    def check(ev):
        robust, vanilla = _pair_samples(ev, [method], metric)
        t = stats.mann_whitney(robust, vanilla, "two-sided")
        cid = f"P2[{method}-{metric}]"
        msg = (f"{cid}: no robust/vanilla difference: two-sided MWU p = {t.p_value:.3g}, rank-biserial "
               f"r = {t.effect:.3f} [{t.ci_low:.3f}, {t.ci_high:.3f}] (needs {P2_RULE}); means robust "
               f"{robust.mean():.3f} vs vanilla {vanilla.mean():.3f}, n = {t.n}")
        return verdict(cid, P2_RULE, t.effect, msg, 0.0, t, checked=(t.p_value, t.effect))
    return Case("P2", f"{method}-{metric}", check, PAIR)


def _p3(family, metric):
    def check(ev):
        robust, vanilla = _pair_samples(ev, GROUPS[family], metric)
        if metric == "insertion":  # vanilla better = higher
            t, what = stats.mann_whitney(vanilla, robust, "greater"), "vanilla > robust"
        else:  # robust better = lower
            t, what = stats.mann_whitney(robust, vanilla, "less"), "robust < vanilla"
        return _one_sided(f"P3[{family}-{metric}]", f"{metric} {what}", t, P3_RULE, robust, vanilla)
    return Case("P3", f"{family}-{metric}", check, PAIR)


# --- P4: AdvProp between vanilla and robust ----------------------------------------------------

def _model_mean(ev: Evidence, regime: str, metric: str, architecture="resnet") -> float:
    """Mean over methods of the per-method mean score (points for PG / WSL)."""
    rows = ev.ok[(ev.ok["architecture"] == architecture) & (ev.ok["regime"] == regime)]
    if rows.empty:
        raise ValueError(f"P4: no {regime} {architecture} rows in the ScoreTable")
    scale = 100.0 if metric in LOCALISATION else 1.0
    return float(rows.groupby("method")[metric].mean().mean() * scale)


def _p4(advprop, metric):
    def check(ev):
        van, rob = _model_mean(ev, "vanilla", metric), _model_mean(ev, "pgd", metric)
        adv = _model_mean(ev, f"advprop-{advprop}", metric)
        cid = f"P4[{advprop}-{metric}]"
        means = f"vanilla {van:.4g}, {advprop.upper()} {adv:.4g}, robust {rob:.4g}"
        if metric in LOCALISATION:
            stat, rule = (adv - van) / (rob - van) if rob != van else float("nan"), P4_BETWEEN
        elif metric == "insertion":
            stat, rule = adv - van, P4_INSERTION
        else:
            stat, rule = abs(adv - van) / abs(rob - van) if rob != van else float("inf"), P4_DELETION
        msg = f"{cid}: {rule.stat} = {stat:.4g} (needs {rule}); {means}"
        return verdict(cid, rule, stat, msg, vanilla=van, advprop=adv, robust=rob)
    return Case("P4", f"{advprop}-{metric}", check, (*PAIR, f"advprop-{advprop}"), architecture="resnet")


# --- P5-P7: methods compared -------------------------------------------------------------------

def method_average_ranks(ev: Evidence, exclude=("cam",)) -> pd.Series:
    """Average over (CNN, metric) of each method's rank of its mean score on that CNN (1 = best)."""
    rows = ev.ten[~ev.ten["method"].isin(exclude)]
    ranks = []
    for _, model_rows in rows.groupby("model"):
        means = model_rows.groupby("method")[list(PAPER_METRICS)].mean()
        directions = {m: METRICS.get(m).higher_is_better for m in means.columns}
        ranks.append(stats.average_ranks(means, directions))
    return pd.concat(ranks, axis=1).mean(axis=1).sort_values()


def _p5(method, want):
    def check(ev):
        ranking = method_average_ranks(ev)
        position = int(list(ranking.index).index(method)) + 1
        rule = P5_TOP3 if want == "top3" else Equal(len(ranking), "rank")
        cid = f"P5[{method}-{want}]"
        order = ", ".join(f"{m} {r:.2f}" for m, r in ranking.items())
        msg = f"{cid}: {method} is #{position} of {len(ranking)} by average rank ({order})"
        return verdict(cid, rule, position, msg, ranking=ranking.round(3).to_dict())
    return Case("P5", f"{method}-{want}", check)


def _mean_wsl(ev: Evidence, method: str) -> float:
    rows = ev.ten[ev.ten["method"] == method]
    return float(100.0 * rows.groupby("model")["wsl"].mean().mean())


def _p6(other):
    def check(ev):
        mine, theirs = _mean_wsl(ev, "gradient"), _mean_wsl(ev, other)
        cid = f"P6[gradient-vs-{other}]"
        msg = f"{cid}: mean WSL over the 10 CNNs: Gradient {mine:.2f} vs {other} {theirs:.2f} points"
        return verdict(cid, P6_RULE, mine - theirs, msg, paper_wsl("gradient") - paper_wsl(other))
    return Case("P6", f"gradient-vs-{other}", check)


def _median_runtimes(ev: Evidence) -> pd.Series:
    """Median seconds per image of each method on the run's device (rows without a runtime on it,
    beyond the re-timed sample, are left out)."""
    runtime = ev.ten.groupby("method")["runtime_s"].median()
    if runtime.isna().any():
        raise ValueError(f"P7: no runtimes on this run's device for {sorted(runtime[runtime.isna()].index)}")
    return runtime


def _p7(what):
    def check(ev):
        runtime = _median_runtimes(ev)
        cid = f"P7[{what}]"
        if what == "gradcam-best-wsl-per-second":
            wsl = pd.Series({m: _mean_wsl(ev, m) for m in runtime.index})
            per_second = (wsl / runtime).sort_values(ascending=False)
            stat = float(per_second["gradcam"] / per_second.drop("gradcam").max())
            paper = {m: paper_wsl(m) / paper_runtime_ms(m) for m in PAPER_NAMES}
            ref = paper["gradcam"] / max(v for m, v in paper.items() if m != "gradcam")
            msg = (f"{cid}: WSL points per second: " +
                   ", ".join(f"{m} {v:.4g}" for m, v in per_second.items()))
            return verdict(cid, P7_GRADCAM, stat, msg, ref)
        if what == "o1-faster-than-on":
            fast = runtime[[m for m in ("gradient", "gradcam", "cam") if m in runtime]]
            slow = runtime.drop(fast.index)
            stat = float(slow.min() / fast.max())
            ref = (min(paper_runtime_ms(m) for m in slow.index) /
                   max(paper_runtime_ms(m) for m in fast.index))
            msg = (f"{cid}: fastest O(n) {slow.idxmin()} {1e3 * slow.min():.2f} ms vs slowest O(1) "
                   f"{fast.idxmax()} {1e3 * fast.max():.2f} ms: {stat:.1f}x (needs {P7_O1})")
            return verdict(cid, P7_O1, stat, msg, ref)
        stat = float(runtime["ep"] / runtime.drop("ep").max())
        medians = ", ".join(f"{m} {1e3 * v:.2f}" for m, v in runtime.sort_values().items())
        msg = f"{cid}: slowest is {runtime.idxmax()}; EP / next slowest = {stat:.2f}; medians (ms): {medians}"
        ref = paper_runtime_ms("ep") / max(paper_runtime_ms(m) for m in PAPER_NAMES if m != "ep")
        return verdict(cid, P7_EP, stat, msg, ref)
    return Case("P7", what, check)


# --- P8-P10, P12: across CNNs and metrics ------------------------------------------------------

def per_model(ev: Evidence, columns):
    """Per CNN of the 10: the mean over methods of each method's mean of ``columns`` (a column
    name gives a Series, a list a DataFrame)."""
    return ev.ten.groupby(["model", "method"])[columns].mean().groupby("model").mean()


def _p8(what):
    def check(ev):
        top1 = ev.top1()
        cid = f"P8[{what}]"
        if what == "insertion-vs-top1":
            ins = per_model(ev, "insertion")
            t = stats.spearman(top1[ins.index], ins)
            msg = (f"{cid}: Spearman(top-1, mean Insertion) over {t.n} CNNs = {t.effect:.3f} "
                   f"[{t.ci_low:.3f}, {t.ci_high:.3f}] (needs {P8_RHO})")
            return verdict(cid, P8_RHO, t.effect, msg, None, t)
        metric = what.split("-")[1]
        expl = per_model(ev, metric)
        best_acc, best_expl = top1[expl.index].idxmax(), expl.idxmax()
        msg = (f"{cid}: most accurate {best_acc} (top-1 {top1[best_acc]:.1f}); best {metric} "
               f"{best_expl} ({100 * expl[best_expl]:.1f} points; {best_acc}: {100 * expl[best_acc]:.1f})")
        return verdict(cid, P8_DIFFER, float(best_acc != best_expl), msg, 1.0, most_accurate=best_acc,
                       most_explainable=best_expl)
    return Case("P8", what, check, min_models=3)


P9_PAPER = {"network": 0.88, "image": 0.78}


def _p9(level):
    def check(ev):
        cid = f"P9[{level}]"
        if level == "network":
            conf = ev.ten.groupby("model")["confidence"].mean()
            t = stats.spearman(conf, per_model(ev, "deletion")[conf.index])
        else:
            t = stats.spearman(ev.ten["confidence"], ev.ten["deletion"])
        msg = (f"{cid}: Spearman(confidence, Deletion) = {t.effect:.3f} [{t.ci_low:.3f}, {t.ci_high:.3f}], "
               f"n = {t.n} (needs {P9_RULE}; paper {P9_PAPER[level]})")
        return verdict(cid, P9_RULE, t.effect, msg, P9_PAPER[level], t)
    return Case("P9", level, check, min_models=3 if level == "network" else 1)


P10_PAIRS = [("pointing_game", "wsl", P10_AGREE), ("pointing_game", "insertion", P10_APART),
             ("pointing_game", "deletion", P10_APART), ("wsl", "insertion", P10_APART),
             ("wsl", "deletion", P10_APART), ("insertion", "deletion", P10_AGREE)]


def _p10(a, b, rule):
    def check(ev):
        t = stats.spearman(ev.ten[METRICS.get(a).per_image_column], ev.ten[METRICS.get(b).per_image_column])
        cid = f"P10[{a}-{b}]"
        msg = (f"{cid}: Spearman over {t.n} maps = {t.effect:.3f} [{t.ci_low:.3f}, {t.ci_high:.3f}] "
               f"(needs {rule}; paper {paper_correlation(a, b)})")
        return verdict(cid, rule, t.effect, msg, paper_correlation(a, b), t)
    return Case("P10", f"{a}-{b}", check)


def architecture_average_ranks(ev: Evidence) -> pd.Series:
    """Average over (method, metric, regime) of each architecture's rank (1 = best)."""
    ranks = []
    for _, rows in ev.ten.groupby(["method", "regime"]):
        means = rows.groupby("architecture")[list(PAPER_METRICS)].mean()
        if len(means) < 2:
            continue
        directions = {m: METRICS.get(m).higher_is_better for m in means.columns}
        ranks.append(stats.average_ranks(means, directions))
    return pd.concat(ranks, axis=1).mean(axis=1).sort_values()


def _p12():
    def check(ev):
        ranks = architecture_average_ranks(ev)
        top1 = ev.top1()
        vanilla = ev.ten[ev.ten["regime"] == "vanilla"].groupby("architecture")["model"].first()
        accuracy = pd.Series({a: top1[m] for a, m in vanilla.items()})
        best_acc, best_expl = accuracy.idxmax(), ranks.index[0]
        msg = (f"P12[accuracy-vs-explainability]: most accurate architecture {best_acc} "
               f"(vanilla top-1 {accuracy[best_acc]:.1f}); best average rank {best_expl} "
               f"({ranks.iloc[0]:.2f}); ranks: " + ", ".join(f"{a} {r:.2f}" for a, r in ranks.items()))
        return verdict("P12[accuracy-vs-explainability]", P12_RULE, float(best_acc != best_expl), msg, 1.0,
                       ranks=ranks.round(3).to_dict())
    return Case("P12", "accuracy-vs-explainability", check, PAIR, min_models=4)


def _claim(id, section, statement, statistic, pass_when, paper_value, choices="", headline=""):
    return Claim(id=id, source="001", section=section, statement=statement, statistic=statistic,
                 pass_when=pass_when, paper_value=paper_value, choices=choices, headline=headline)


CLAIMS = {c.id: c for c in (
    _claim("P1", "Sec 3.1, Fig 2a-b",
           "Robust CNNs beat vanilla ones on Pointing Game and WSL for gradient methods.",
           "one-sided Mann-Whitney U, robust vs vanilla per-image scores, per (method, metric), "
           "pooled over the 5 pairs and per pair", str(P1_RULE), "p < 0.003",
           "WSL is tested on the per-image IoU at the set's threshold, Pointing Game on the 0/1 hit.",
           "gradient-wsl-pooled"),
    _claim("P2", "Sec 3.1",
           "No significant robust/vanilla difference on PG and WSL for CAM and perturbation methods.",
           "two-sided Mann-Whitney U with rank-biserial effect r, pooled over the pairs",
           str(P2_RULE), "no significant differences",
           f"A 'small' difference is |r| < {P2_SMALL_EFFECT}, below Cohen's 'medium' for r.",
           "gradcam-wsl"),
    _claim("P3", "Sec 3.1, Fig 2c-d",
           "Insertion: vanilla better; Deletion: robust better (lower), for all three families.",
           "one-sided Mann-Whitney U per (family, metric), pooled over pairs and the family's methods",
           f"{P3_RULE}, direction as stated", "p < 0.002", headline="gradient-insertion"),
    _claim("P4", "Sec 3.2, Fig 3",
           "ResNet AdvProp (PGD-1, PGD-5) lies between vanilla and robust on PG and WSL, beats "
           "vanilla on Insertion and is close to vanilla on Deletion.",
           "per-model mean over the methods of the per-method mean score",
           f"{P4_BETWEEN} (PG, WSL); {P4_INSERTION} (Insertion); {P4_DELETION} (Deletion)",
           "ordering vanilla < AdvProp < robust",
           "'Close to vanilla' on Deletion means nearer to vanilla than half-way to robust.",
           "pgd1-wsl"),
    _claim("P5", "Sec 3.3, Fig 4, Table A2",
           "GradCAM and RISE are in the top-3 of the 8 methods (CAM excluded) by average rank; MP is last.",
           "average over the 10 CNNs and the 4 metrics of each method's rank of its mean score",
           f"GradCAM, RISE: {P5_TOP3}; MP last", "GradCAM, RISE, EP top-3; MP worst",
           "Ranks are taken per (CNN, metric) and averaged; Deletion ranks ascending.", "rise-top3"),
    _claim("P6", "Sec 3.3", "Plain Gradient beats LIME, IG, SHAP and MP on WSL (10 CNNs).",
           "mean over the 10 CNNs of MaxBoxAcc (points)", str(P6_RULE),
           "47.03 vs 45.47 / 44.97 / 42.61 / 31.58", headline="gradient-vs-lime"),
    _claim("P7", "Table 2",
           "GradCAM has the best WSL per runtime; O(1) methods are orders of magnitude faster than "
           "O(n) ones; EP is the slowest.", "median runtime per image per method on the run's device",
           f"{P7_GRADCAM}; {P7_O1}; {P7_EP}", "Table 2 runtimes",
           "Runtimes are those of the world's preset budgets, measured on the run's own device (a cache "
           "filled on another device is re-timed on a sample of images); 'orders of magnitude' is "
           "tested as at least 10x.", "o1-faster-than-on"),
    _claim("P8", "Sec 3.4, Fig 5",
           "No CNN is best on both accuracy and explainability; Insertion correlates with top-1.",
           "argmax of top-1 vs argmax of mean WSL / PG over the 10 CNNs; Spearman(top-1, mean Insertion)",
           f"{P8_DIFFER}; {P8_RHO}", "positive, strong",
           "Top-1 is Table 1's clean accuracy (the world's eval images); explainability is measured on "
           "the CL images.", "insertion-vs-top1"),
    _claim("P9", "Sec 3.5, Fig 6a", "Deletion is predictable from the model's confidence.",
           "Spearman(confidence, Deletion) per network (means) and per image", f"{P9_RULE} at both levels",
           "0.88 and 0.78", "Confidence is p(label | image), the quantity Deletion starts from.", "image"),
    _claim("P10", "Sec 3.6, Fig 6b",
           "PG and WSL agree; localisation metrics barely correlate with score metrics; Insertion "
           "and Deletion correlate strongly.", "Spearman between metric pairs over all maps of the 10 CNNs",
           f"PG-WSL {P10_AGREE}; localisation-score {P10_APART}; Insertion-Deletion {P10_AGREE}",
           "0.82; -0.10..0.18; 0.86", "WSL enters as the per-map IoU at the set's threshold.",
           "pointing_game-wsl"),
    table1.P11,
    _claim("P12", "Sec A2.1",
           "The most accurate architecture is not the most explainable.",
           "average rank of each architecture over (method, metric, regime) vs vanilla top-1",
           str(P12_RULE), "ResNet-50 best, DenseNet not", headline="accuracy-vs-explainability"),
)}


def cases() -> list[Case]:
    """Every case of P1-P12, in claim order."""
    pairs = ("pooled",) + ARCHITECTURES
    out = [_p1(m, k, p) for m in GROUPS["gradient"] for k in LOCALISATION for p in pairs]
    out += [_p2(m, k) for m in GROUPS["cam"] + GROUPS["perturbation"] for k in LOCALISATION]
    out += [_p3(f, k) for f in GROUPS for k in SCORE]
    out += [_p4(a, k) for a in ("pgd1", "pgd5") for k in LOCALISATION + SCORE]
    out += [_p5("gradcam", "top3"), _p5("rise", "top3"), _p5("mp", "last")]
    out += [_p6(m) for m in ("lime", "ig", "shap", "mp")]
    out += [_p7(w) for w in ("gradcam-best-wsl-per-second", "o1-faster-than-on", "ep-slowest")]
    out += [_p8(w) for w in ("argmax-wsl", "argmax-pointing_game", "insertion-vs-top1")]
    out += [_p9("network"), _p9("image")]
    out += [_p10(a, b, t) for a, b, t in P10_PAIRS]
    out += table1.cases()
    out += [_p12()]
    return out


CLAIM_SET = ClaimSet(
    name="001", prefix="P", source="001",
    title="How explainable are adversarially robust CNNs? (Nourelahi, Kotthoff, Chen, Nguyen)",
    claims=tuple(CLAIMS.values()), cases=cases, methods=PAPER_METHODS, metrics=PAPER_METRICS, table1=True,
    figure_data=paper_figures.figure_data, render_figures=paper_figures.render)
