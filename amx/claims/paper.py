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
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from amx import stats
from amx.claims.spec import Claim, Verdict
from amx.files import PAPER_DIR
from amx.metrics import METRICS

GROUPS = {"gradient": ("gradient", "ig", "shap"), "cam": ("cam", "gradcam"),
          "perturbation": ("rise", "lime", "mp", "ep")}
ARCHITECTURES = ("alexnet", "googlenet", "resnet", "densenet", "mobilenet")
LOCALISATION, SCORE = ("pointing_game", "wsl"), ("insertion", "deletion")
TEST_COLUMN = {"pointing_game": "pointing_game", "wsl": "wsl_iou", "insertion": "insertion",
               "deletion": "deletion"}
PAPER_NAMES = {"gradient": "Gradient", "ig": "IG", "shap": "SHAP", "cam": "CAM", "gradcam": "GradCAM",
               "rise": "RISE", "lime": "LIME", "mp": "MP", "ep": "EP"}
P1_ALPHA, P3_ALPHA, P2_ALPHA = 0.003, 0.002, 0.003
P2_SMALL_EFFECT = 0.3
O1_SPEEDUP = 10.0


@dataclass(frozen=True)
class Evidence:
    """What the claims are checked on: the ScoreTable and the regenerated Table 1 rows."""

    scores: pd.DataFrame
    zoo: list[dict]

    @functools.cached_property
    def ok(self) -> pd.DataFrame:
        return self.scores[self.scores["status"] == "ok"]

    @functools.cached_property
    def ten(self) -> pd.DataFrame:
        """The ok rows of the 10 vanilla/robust CNNs."""
        return self.ok[self.ok["regime"].isin(["vanilla", "pgd"])]

    def top1(self) -> pd.Series:
        return pd.Series({r["model"]: r["top1"] for r in self.zoo})


@dataclass(frozen=True)
class Case:
    claim: str
    name: str
    check: Callable[[Evidence], Verdict]

    @property
    def id(self) -> str:
        return f"{self.claim}[{self.name}]"


def _verdict(case_id, passed, statistic, threshold, paper_value, message, test=None, **details):
    extra = {} if test is None else {"p_value": test.p_value, "ci": (test.ci_low, test.ci_high),
                                     "n": test.n, "test": test.test}
    return Verdict(case_id=case_id, passed=bool(passed), statistic=float(statistic), threshold=threshold,
                   paper_value=None if paper_value is None else float(paper_value), message=message,
                   details=details, **extra)


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

def _pair_samples(ev: Evidence, methods, metric, architecture=None):
    rows = ev.ten[ev.ten["method"].isin(methods)]
    if architecture is not None:
        rows = rows[rows["architecture"] == architecture]
    col = TEST_COLUMN[metric]
    robust, vanilla = rows.loc[rows["regime"] == "pgd", col], rows.loc[rows["regime"] == "vanilla", col]
    if robust.empty or vanilla.empty:
        raise ValueError(f"no {metric} scores for {list(methods)} on "
                         f"{architecture or 'the vanilla/robust pairs'}: is the ScoreTable complete?")
    return robust.to_numpy(), vanilla.to_numpy()


def _one_sided(cid: str, what: str, t, alpha: float, robust, vanilla) -> Verdict:
    """The verdict of a one-sided Mann-Whitney test ``t`` of ``what`` at level ``alpha``."""
    msg = (f"{cid}: {what}, one-sided MWU p = {t.p_value:.3g} (needs < {alpha}); rank-biserial "
           f"r = {t.effect:.3f} [{t.ci_low:.3f}, {t.ci_high:.3f}]; means robust {robust.mean():.3f} "
           f"vs vanilla {vanilla.mean():.3f}, n = {t.n}")
    return _verdict(cid, t.p_value < alpha, t.p_value, f"p < {alpha}", alpha, msg, t, effect=t.effect)


def _p1(method, metric, pair):
    def check(ev):
        robust, vanilla = _pair_samples(ev, [method], metric, None if pair == "pooled" else pair)
        t = stats.mann_whitney(robust, vanilla, "greater")
        return _one_sided(f"P1[{method}-{metric}-{pair}]", "robust > vanilla", t, P1_ALPHA, robust, vanilla)
    return Case("P1", f"{method}-{metric}-{pair}", check)


def _p2(method, metric):
    def check(ev):
        robust, vanilla = _pair_samples(ev, [method], metric)
        t = stats.mann_whitney(robust, vanilla, "two-sided")
        cid = f"P2[{method}-{metric}]"
        passed = t.p_value >= P2_ALPHA or abs(t.effect) < P2_SMALL_EFFECT
        msg = (f"{cid}: no robust/vanilla difference: two-sided MWU p = {t.p_value:.3g}, rank-biserial "
               f"r = {t.effect:.3f} [{t.ci_low:.3f}, {t.ci_high:.3f}] (needs p >= {P2_ALPHA} or "
               f"|r| < {P2_SMALL_EFFECT}); means robust {robust.mean():.3f} vs vanilla "
               f"{vanilla.mean():.3f}, n = {t.n}")
        return _verdict(cid, passed, t.effect, f"p >= {P2_ALPHA} or |r| < {P2_SMALL_EFFECT}", 0.0, msg, t)
    return Case("P2", f"{method}-{metric}", check)


def _p3(family, metric):
    def check(ev):
        robust, vanilla = _pair_samples(ev, GROUPS[family], metric)
        if metric == "insertion":  # vanilla better = higher
            t, what = stats.mann_whitney(vanilla, robust, "greater"), "vanilla > robust"
        else:  # robust better = lower
            t, what = stats.mann_whitney(robust, vanilla, "less"), "robust < vanilla"
        return _one_sided(f"P3[{family}-{metric}]", f"{metric} {what}", t, P3_ALPHA, robust, vanilla)
    return Case("P3", f"{family}-{metric}", check)


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
            stat = (adv - van) / (rob - van) if rob != van else float("nan")
            passed, threshold = van < adv < rob, "vanilla < AdvProp < robust (0 < t < 1)"
            msg = f"{cid}: position t = (adv - van) / (rob - van) = {stat:.3f}; {means}"
        elif metric == "insertion":
            stat, passed, threshold = adv - van, adv > van, "AdvProp - vanilla > 0"
            msg = f"{cid}: AdvProp - vanilla = {stat:.4f} (needs > 0); {means}"
        else:
            stat = abs(adv - van) / abs(rob - van) if rob != van else float("inf")
            passed, threshold = stat < 0.5, "|adv - van| / |rob - van| < 0.5"
            msg = f"{cid}: AdvProp ~ vanilla: |adv - van| / |rob - van| = {stat:.3f} (needs < 0.5); {means}"
        return _verdict(cid, passed, stat, threshold, None, msg, vanilla=van, advprop=adv, robust=rob)
    return Case("P4", f"{advprop}-{metric}", check)


# --- P5-P7: methods compared -------------------------------------------------------------------

def method_average_ranks(ev: Evidence, exclude=("cam",)) -> pd.Series:
    """Average over (CNN, metric) of each method's rank of its mean score on that CNN (1 = best)."""
    rows = ev.ten[~ev.ten["method"].isin(exclude)]
    ranks = []
    for _, model_rows in rows.groupby("model"):
        means = model_rows.groupby("method")[list(SCORE + LOCALISATION)].mean()
        ranks.append(means.rank(ascending=False).assign(
            deletion=means["deletion"].rank(ascending=True)).mean(axis=1))
    return pd.concat(ranks, axis=1).mean(axis=1).sort_values()


def _p5(method, want):
    def check(ev):
        ranking = method_average_ranks(ev)
        position = int(list(ranking.index).index(method)) + 1
        passed = position <= 3 if want == "top3" else position == len(ranking)
        cid = f"P5[{method}-{want}]"
        order = ", ".join(f"{m} {r:.2f}" for m, r in ranking.items())
        msg = f"{cid}: {method} is #{position} of {len(ranking)} by average rank ({order})"
        return _verdict(cid, passed, position, "<= 3" if want == "top3" else f"== {len(ranking)}",
                        None, msg, ranking=ranking.round(3).to_dict())
    return Case("P5", f"{method}-{want}", check)


def _mean_wsl(ev: Evidence, method: str) -> float:
    rows = ev.ten[ev.ten["method"] == method]
    return float(100.0 * rows.groupby("model")["wsl"].mean().mean())


def _p6(other):
    def check(ev):
        mine, theirs = _mean_wsl(ev, "gradient"), _mean_wsl(ev, other)
        cid = f"P6[gradient-vs-{other}]"
        msg = f"{cid}: mean WSL over the 10 CNNs: Gradient {mine:.2f} vs {other} {theirs:.2f} points"
        paper = paper_wsl("gradient") - paper_wsl(other)
        return _verdict(cid, mine > theirs, mine - theirs, "> 0", paper, msg)
    return Case("P6", f"gradient-vs-{other}", check)


def _median_runtimes(ev: Evidence) -> pd.Series:
    return ev.ten.groupby("method")["runtime_s"].median()


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
            return _verdict(cid, stat > 1, stat, "GradCAM / next best > 1", ref, msg)
        if what == "o1-faster-than-on":
            fast = runtime[[m for m in ("gradient", "gradcam", "cam") if m in runtime]]
            slow = runtime.drop(fast.index)
            stat = float(slow.min() / fast.max())
            ref = (min(paper_runtime_ms(m) for m in slow.index) /
                   max(paper_runtime_ms(m) for m in fast.index))
            msg = (f"{cid}: fastest O(n) {slow.idxmin()} {1e3 * slow.min():.2f} ms vs slowest O(1) "
                   f"{fast.idxmax()} {1e3 * fast.max():.2f} ms: {stat:.1f}x (needs >= {O1_SPEEDUP}x)")
            return _verdict(cid, stat >= O1_SPEEDUP, stat, f">= {O1_SPEEDUP}", ref, msg)
        slowest = runtime.idxmax()
        stat = float(runtime["ep"] / runtime.drop("ep").max())
        msg = f"{cid}: slowest is {slowest}; EP / next slowest = {stat:.2f}; medians (ms): " + ", ".join(
            f"{m} {1e3 * v:.2f}" for m, v in runtime.sort_values().items())
        ref = paper_runtime_ms("ep") / max(paper_runtime_ms(m) for m in PAPER_NAMES if m != "ep")
        return _verdict(cid, slowest == "ep", stat, "EP / next slowest > 1", ref, msg)
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
                   f"[{t.ci_low:.3f}, {t.ci_high:.3f}] (needs > 0.5)")
            return _verdict(cid, t.effect > 0.5, t.effect, "> 0.5", None, msg, t)
        metric = what.split("-")[1]
        expl = per_model(ev, metric)
        best_acc, best_expl = top1[expl.index].idxmax(), expl.idxmax()
        msg = (f"{cid}: most accurate {best_acc} (top-1 {top1[best_acc]:.1f}); best {metric} "
               f"{best_expl} ({100 * expl[best_expl]:.1f} points; {best_acc}: {100 * expl[best_acc]:.1f})")
        return _verdict(cid, best_acc != best_expl, float(best_acc != best_expl), "argmaxes differ",
                        1.0, msg, most_accurate=best_acc, most_explainable=best_expl)
    return Case("P8", what, check)


def _p9(level):
    def check(ev):
        cid = f"P9[{level}]"
        if level == "network":
            conf = ev.ten.groupby("model")["confidence"].mean()
            t = stats.spearman(conf, per_model(ev, "deletion")[conf.index])
            paper = 0.88
        else:
            t = stats.spearman(ev.ten["confidence"], ev.ten["deletion"])
            paper = 0.78
        msg = (f"{cid}: Spearman(confidence, Deletion) = {t.effect:.3f} [{t.ci_low:.3f}, {t.ci_high:.3f}], "
               f"n = {t.n} (needs > 0.7; paper {paper})")
        return _verdict(cid, t.effect > 0.7, t.effect, "> 0.7", paper, msg, t)
    return Case("P9", level, check)


P10_PAIRS = [("pointing_game", "wsl", "> 0.6"), ("pointing_game", "insertion", "|rho| < 0.3"),
             ("pointing_game", "deletion", "|rho| < 0.3"), ("wsl", "insertion", "|rho| < 0.3"),
             ("wsl", "deletion", "|rho| < 0.3"), ("insertion", "deletion", "> 0.6")]


def _p10(a, b, threshold):
    def check(ev):
        t = stats.spearman(ev.ten[TEST_COLUMN[a]], ev.ten[TEST_COLUMN[b]])
        passed = t.effect > 0.6 if threshold == "> 0.6" else abs(t.effect) < 0.3
        cid = f"P10[{a}-{b}]"
        msg = (f"{cid}: Spearman over {t.n} maps = {t.effect:.3f} [{t.ci_low:.3f}, {t.ci_high:.3f}] "
               f"(needs {threshold}; paper {paper_correlation(a, b)})")
        return _verdict(cid, passed, t.effect, threshold, paper_correlation(a, b), msg, t)
    return Case("P10", f"{a}-{b}", check)


def architecture_average_ranks(ev: Evidence) -> pd.Series:
    """Average over (method, metric, regime) of each architecture's rank (1 = best)."""
    ranks = []
    for _, rows in ev.ten.groupby(["method", "regime"]):
        means = rows.groupby("architecture")[list(LOCALISATION + SCORE)].mean()
        if len(means) < 2:
            continue
        directions = {m: METRICS[m].higher_is_better for m in means.columns}
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
        differ = best_acc != best_expl
        return _verdict("P12[accuracy-vs-explainability]", differ, float(differ), "argmaxes differ", 1.0,
                        msg, ranks=ranks.round(3).to_dict())
    return Case("P12", "accuracy-vs-explainability", check)


def _claim(id, section, statement, statistic, pass_when, paper_value, choices=""):
    return Claim(id=id, source="001", section=section, statement=statement, statistic=statistic,
                 pass_when=pass_when, paper_value=paper_value, choices=choices)


CLAIMS = {c.id: c for c in (
    _claim("P1", "Sec 3.1, Fig 2a-b",
           "Robust CNNs beat vanilla ones on Pointing Game and WSL for gradient methods.",
           "one-sided Mann-Whitney U, robust vs vanilla per-image scores, per (method, metric), "
           "pooled over the 5 pairs and per pair", f"p < {P1_ALPHA}", "p < 0.003",
           "WSL is tested on the per-image IoU at the set's threshold, PG on the 0/1 hit."),
    _claim("P2", "Sec 3.1",
           "No significant robust/vanilla difference on PG and WSL for CAM and perturbation methods.",
           "two-sided Mann-Whitney U with rank-biserial effect r, pooled over the pairs",
           f"p >= {P2_ALPHA} or |r| < {P2_SMALL_EFFECT}", "no significant differences",
           f"'small' is |r| < {P2_SMALL_EFFECT} (below Cohen's 'medium' for r)."),
    _claim("P3", "Sec 3.1, Fig 2c-d",
           "Insertion: vanilla better; Deletion: robust better (lower), for all three families.",
           "one-sided Mann-Whitney U per (family, metric), pooled over pairs and the family's methods",
           f"p < {P3_ALPHA}, direction as stated", "p < 0.002"),
    _claim("P4", "Sec 3.2, Fig 3",
           "ResNet AdvProp (PGD-1, PGD-5) lies between vanilla and robust on PG and WSL, beats "
           "vanilla on Insertion and is close to vanilla on Deletion.",
           "per-model mean over the methods of the per-method mean score",
           "vanilla < AdvProp < robust (PG, WSL); AdvProp > vanilla (Insertion); "
           "|AdvProp - vanilla| < |robust - vanilla| / 2 (Deletion)", "ordering vanilla < AdvProp < robust",
           "'close to vanilla' on Deletion is: nearer to vanilla than half-way to robust."),
    _claim("P5", "Sec 3.3, Fig 4, Table A2",
           "GradCAM and RISE are in the top-3 of the 8 methods (CAM excluded) by average rank; MP is last.",
           "average over the 10 CNNs and the 4 metrics of each method's rank of its mean score",
           "GradCAM, RISE <= 3; MP last", "GradCAM, RISE, EP top-3; MP worst",
           "Ranks are taken per (CNN, metric) and averaged; Deletion ranks ascending."),
    _claim("P6", "Sec 3.3", "Plain Gradient beats LIME, IG, SHAP and MP on WSL (10 CNNs).",
           "mean over the 10 CNNs of MaxBoxAcc (points)", "Gradient > other",
           "47.03 vs 45.47 / 44.97 / 42.61 / 31.58"),
    _claim("P7", "Table 2",
           "GradCAM has the best WSL per runtime; O(1) methods are orders of magnitude faster than "
           "O(n) ones; EP is the slowest.", "median runtime per image per method on one device",
           f"GradCAM best WSL/s; fastest O(n) >= {O1_SPEEDUP}x slowest O(1); EP slowest",
           "Table 2 runtimes", "Runtimes are the embedded preset's budgets on the run's device; "
           "'orders of magnitude' is tested as >= 10x."),
    _claim("P8", "Sec 3.4, Fig 5",
           "No CNN is best on both accuracy and explainability; Insertion correlates with top-1.",
           "argmax of top-1 vs argmax of mean WSL / PG over the 10 CNNs; Spearman(top-1, mean Insertion)",
           "argmaxes differ; rho > 0.5", "positive, strong",
           "Top-1 is the Table 1 clean accuracy (the world's eval images), explainability is on CL images."),
    _claim("P9", "Sec 3.5, Fig 6a", "Deletion is predictable from the model's confidence.",
           "Spearman(confidence, Deletion) per network (means) and per image", "rho > 0.7 at both levels",
           "0.88 and 0.78", "Confidence is p(label | image), the quantity Deletion starts from."),
    _claim("P10", "Sec 3.6, Fig 6b",
           "PG and WSL agree; localisation metrics barely correlate with score metrics; Insertion "
           "and Deletion correlate strongly.", "Spearman between metric pairs over all maps of the 10 CNNs",
           "PG-WSL > 0.6; |loc-score| < 0.3; Ins-Del > 0.6", "0.82; -0.10..0.18; 0.86",
           "WSL enters as the per-map IoU at the set's threshold."),
    _claim("P12", "Sec A2.1",
           "The most accurate architecture is not the most explainable.",
           "average rank of each architecture over (method, metric, regime) vs vanilla top-1",
           "argmaxes differ", "ResNet-50 best, DenseNet not"),
)}


def cases() -> list[Case]:
    """Every case of P1-P10 and P12, in claim order."""
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
    out += [_p12()]
    return out
