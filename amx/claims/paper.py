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
* means of WSL and Pointing Game are accuracies in points (100 x mean hit), as the paper reports;
* every case's ``resample`` re-judges it on bootstrap resamples of the images
  (``amx.claims.stability``): the same statistic on count-weighted rows (``amx.resampled``),
  Table 1's accuracies resampled over its evaluation images (``table1.resampled_top1``).
"""

from __future__ import annotations

import csv
import functools
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from amx import resampled, stats
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
from amx.evidence import Scores, ZooTable
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


def scored_controls(ev: Evidence) -> pd.DataFrame:
    """The control maps' ok rows scored beside the ScoreTable, on its first images of every model
    (``amx.evidence.with_controls``; empty where none were scored)."""
    if ev.controls is None:
        return ev.ok.iloc[:0]
    return ev.controls[ev.controls["status"] == "ok"]


def ten(ev: Evidence, controls: bool = False) -> pd.DataFrame:
    """The ok rows of the vanilla and PGD-robust models (the paper's 10 CNNs); with ``controls``,
    the control maps' ok rows on them too and only the (model, image) rows they were scored on (a
    table's first images: ``amx.evidence.with_controls``), for the report's Fig 4 (no claim reads
    them)."""
    found = scored_controls(ev) if controls else None
    rows = ev.ok if found is None or found.empty else pd.concat([ev.at_control_images(), found],
                                                                ignore_index=True)
    return rows[rows["regime"].isin(PAIR)]

class Pair(NamedTuple):
    """Robust and vanilla per-image scores and the images they were measured on."""

    robust: np.ndarray
    vanilla: np.ndarray
    robust_images: np.ndarray
    vanilla_images: np.ndarray

    def mann_whitney(self, draws, first: str, alternative: str):
        """``(p, r)`` per resample of ``draws``: Mann-Whitney of ``first`` ("robust" or "vanilla")
        against the other."""
        pairs = [(self.robust, draws.weights(self.robust_images)),
                 (self.vanilla, draws.weights(self.vanilla_images))]
        (a, wa), (b, wb) = pairs if first == "robust" else pairs[::-1]
        return resampled.mann_whitney(a, wa, b, wb, alternative)


def _pair_samples(ev: Evidence, methods, metric, architecture=None) -> Pair:
    rows = ten(ev)[ten(ev)["method"].isin(methods)]
    if architecture is not None:
        rows = rows[rows["architecture"] == architecture]
    col = METRICS.get(metric).per_image_column
    robust, vanilla = rows[rows["regime"] == "pgd"], rows[rows["regime"] == "vanilla"]
    if robust.empty or vanilla.empty:
        raise ValueError(f"no {metric} scores for {list(methods)} on "
                         f"{architecture or 'the vanilla/robust pairs'}: is the ScoreTable complete?")
    return Pair(robust[col].to_numpy(), vanilla[col].to_numpy(), robust["image"].to_numpy(),
                vanilla["image"].to_numpy())


def paired_view(ev: Evidence, methods, metric, architecture, first: str, alternative: str):
    """The paired view of a robust/vanilla comparison, reported beside the paper's unpaired test:
    ``first`` ("robust" or "vanilla") against its twin on the same (architecture, method, image),
    Wilcoxon signed-rank with a paired bootstrap CI of the median difference."""
    rows = ten(ev)[ten(ev)["method"].isin(methods)]
    if architecture is not None:
        rows = rows[rows["architecture"] == architecture]
    wide = rows.pivot_table(index=["architecture", "method", "image"], columns="regime",
                            values=METRICS.get(metric).per_image_column).dropna()
    if len(wide) < 2:
        return None
    a, b = (wide["pgd"], wide["vanilla"]) if first == "robust" else (wide["vanilla"], wide["pgd"])
    return stats.paired_median_difference(a.to_numpy(), b.to_numpy(), alternative)


def _paired_text(t) -> str:
    if t is None:
        return "; paired by image: fewer than 2 pairs"
    return (f"; paired by image: median difference {t.effect:+.3g} [{t.ci_low:+.3g}, {t.ci_high:+.3g}], "
            f"Wilcoxon p = {t.p_value:.3g}, n = {t.n} pairs")


def _one_sided(cid: str, what: str, t, rule, robust, vanilla, paired):
    """The verdict of a one-sided Mann-Whitney test ``t`` of ``what`` under ``rule`` (on p), with
    the ``paired`` view beside it."""
    msg = (f"{cid}: {what}, one-sided MWU p = {t.p_value:.3g} (needs {rule}); rank-biserial "
           f"r = {t.effect:.3f} [{t.ci_low:.3f}, {t.ci_high:.3f}]; means robust {robust.mean():.3f} "
           f"vs vanilla {vanilla.mean():.3f}, n = {t.n}" + _paired_text(paired))
    return verdict(cid, rule, t.p_value, msg, rule.bound, t, on_p=rule.passes, effect=t.effect,
                   paired=paired and paired.as_dict())


def _p1(method, metric, pair):
    architecture = None if pair == "pooled" else pair

    def check(ev):
        robust, vanilla, *_ = _pair_samples(ev, [method], metric, architecture)
        t = stats.mann_whitney(robust, vanilla, "greater")
        paired = paired_view(ev, [method], metric, architecture, "robust", "greater")
        return _one_sided(f"P1[{method}-{metric}-{pair}]", "robust > vanilla", t, P1_RULE, robust, vanilla,
                          paired)

    def resample(ev, draws):
        p, _ = _pair_samples(ev, [method], metric, architecture).mann_whitney(draws, "robust", "greater")
        return P1_RULE.holds(p)
    return Case("P1", f"{method}-{metric}-{pair}", check, PAIR, architecture=architecture, resample=resample)


def _p2(method, metric):
    def check(ev):
        robust, vanilla, *_ = _pair_samples(ev, [method], metric)
        t = stats.mann_whitney(robust, vanilla, "two-sided")
        paired = paired_view(ev, [method], metric, None, "robust", "two-sided")
        cid = f"P2[{method}-{metric}]"
        msg = (f"{cid}: no robust/vanilla difference: two-sided MWU p = {t.p_value:.3g}, rank-biserial "
               f"r = {t.effect:.3f} [{t.ci_low:.3f}, {t.ci_high:.3f}] (needs {P2_RULE}); means robust "
               f"{robust.mean():.3f} vs vanilla {vanilla.mean():.3f}, n = {t.n}" + _paired_text(paired))
        # no on_p: P2 holds at a large p, so a Holm-inflated p would make it easier to pass
        return verdict(cid, P2_RULE, t.effect, msg, 0.0, t, checked=(t.p_value, t.effect),
                       paired=paired and paired.as_dict())

    def resample(ev, draws):
        return P2_RULE.holds(_pair_samples(ev, [method], metric).mann_whitney(draws, "robust", "two-sided"))
    return Case("P2", f"{method}-{metric}", check, PAIR, resample=resample)


def _p3(family, metric):
    # insertion: vanilla better = higher; deletion: robust better = lower
    first, alternative = ("vanilla", "greater") if metric == "insertion" else ("robust", "less")

    def check(ev):
        robust, vanilla, *_ = _pair_samples(ev, GROUPS[family], metric)
        a, b = (vanilla, robust) if first == "vanilla" else (robust, vanilla)
        t = stats.mann_whitney(a, b, alternative)
        what = "vanilla > robust" if first == "vanilla" else "robust < vanilla"
        paired = paired_view(ev, GROUPS[family], metric, None, first, alternative)
        return _one_sided(f"P3[{family}-{metric}]", f"{metric} {what}", t, P3_RULE, robust, vanilla, paired)

    def resample(ev, draws):
        p, _ = _pair_samples(ev, GROUPS[family], metric).mann_whitney(draws, first, alternative)
        return P3_RULE.holds(p)
    return Case("P3", f"{family}-{metric}", check, PAIR, resample=resample)


# --- P4: AdvProp between vanilla and robust ----------------------------------------------------

def resampled_means(rows: pd.DataFrame, column: str, by: str, draws) -> tuple[list, np.ndarray]:
    """``(groups, means [B, G])``: the mean of ``column`` per value of ``by`` on each resample."""
    codes, groups = pd.factorize(rows[by], sort=True)
    means = resampled.group_means(rows[column].to_numpy(), codes, len(groups),
                                  draws.weights(rows["image"].to_numpy()))
    return list(groups), means


def _resnet_rows(ev: Evidence, regime: str, architecture="resnet") -> pd.DataFrame:
    rows = ev.ok[(ev.ok["architecture"] == architecture) & (ev.ok["regime"] == regime)]
    if rows.empty:
        raise ValueError(f"P4: no {regime} {architecture} rows in the ScoreTable")
    return rows


def _model_mean(ev: Evidence, regime: str, metric: str, draws=None):
    """Mean over methods of the per-method mean score (points for PG / WSL); on each resample of
    ``draws`` if given."""
    rows = _resnet_rows(ev, regime)
    scale = 100.0 if metric in LOCALISATION else 1.0
    if draws is not None:
        return resampled.nanmean(resampled_means(rows, metric, "method", draws)[1], axis=1) * scale
    return float(rows.groupby("method")[metric].mean().mean() * scale)


def _p4_statistic(metric: str, van, adv, rob):
    """P4's statistic and rule from the three models' means (scalars or one per resample)."""
    van, adv, rob = (np.asarray(v, dtype=float) for v in (van, adv, rob))
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric in LOCALISATION:
            return np.where(rob != van, (adv - van) / (rob - van), np.nan), P4_BETWEEN
        if metric == "insertion":
            return adv - van, P4_INSERTION
        return np.where(rob != van, np.abs(adv - van) / np.abs(rob - van), np.inf), P4_DELETION


def _p4(advprop, metric):
    def check(ev):
        van, rob = _model_mean(ev, "vanilla", metric), _model_mean(ev, "pgd", metric)
        adv = _model_mean(ev, f"advprop-{advprop}", metric)
        cid = f"P4[{advprop}-{metric}]"
        means = f"vanilla {van:.4g}, {advprop.upper()} {adv:.4g}, robust {rob:.4g}"
        stat, rule = _p4_statistic(metric, van, adv, rob)
        msg = f"{cid}: {rule.stat} = {float(stat):.4g} (needs {rule}); {means}"
        return verdict(cid, rule, stat, msg, vanilla=van, advprop=adv, robust=rob)

    def resample(ev, draws):
        van, adv, rob = (_model_mean(ev, r, metric, draws) for r in ("vanilla", f"advprop-{advprop}", "pgd"))
        stat, rule = _p4_statistic(metric, van, adv, rob)
        return rule.holds(stat)
    return Case("P4", f"{advprop}-{metric}", check, (*PAIR, f"advprop-{advprop}"), architecture="resnet",
                resample=resample)


# --- P5-P7: methods compared -------------------------------------------------------------------

def method_average_ranks(ev: Evidence, exclude=("cam",), controls: bool = False) -> pd.Series:
    """Average over (CNN, metric) of each method's rank of its mean score on that CNN (1 = best);
    with ``controls``, the control maps ranked among them on the images they were scored on (the
    report's Fig 4, not the claims)."""
    rows = ten(ev, controls)
    rows = rows[~rows["method"].isin(exclude)]
    ranks = []
    for _, model_rows in rows.groupby("model"):
        means = model_rows.groupby("method")[list(PAPER_METRICS)].mean()
        directions = {m: METRICS.get(m).higher_is_better for m in means.columns}
        ranks.append(stats.average_ranks(means, directions))
    return pd.concat(ranks, axis=1).mean(axis=1).sort_values()


def _resampled_ranks(rows: pd.DataFrame, group_by, ranked: str, draws, min_size=1) -> tuple[list, np.ndarray]:
    """``(names, ranks [B, K])``: per resample, each ``ranked`` value's average over the groups of
    ``group_by`` (those with at least ``min_size`` values ranked) and the 4 metrics of its rank of
    its mean score (1 = best), as ``method_average_ranks`` and ``architecture_average_ranks`` take
    them on the run."""
    names = sorted(rows[ranked].unique())
    total, count = np.zeros((draws.n_draws, len(names))), np.zeros(len(names))
    for _, group in rows.groupby(group_by):
        present = [names.index(x) for x in sorted(group[ranked].unique())]
        if len(present) < min_size:
            continue
        per_metric = []
        for metric in PAPER_METRICS:
            _, means = resampled_means(group, metric, ranked, draws)
            sign = -1.0 if METRICS.get(metric).higher_is_better else 1.0
            per_metric.append(scipy_stats.rankdata(sign * means, axis=1))
        total[:, present] += np.mean(per_metric, axis=0)
        count[present] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return names, total / count


def _position(ranks: np.ndarray, k: int) -> np.ndarray:
    """1 + how many have a strictly better (lower) average rank than the ``k``-th, per row."""
    return 1 + (ranks < ranks[..., [k]]).sum(axis=-1)


def _p5(method, want):
    def check(ev):
        ranking = method_average_ranks(ev)
        position = int(_position(ranking.to_numpy(), list(ranking.index).index(method)))
        rule = P5_TOP3 if want == "top3" else Equal(len(ranking), "rank")
        cid = f"P5[{method}-{want}]"
        order = ", ".join(f"{m} {r:.2f}" for m, r in ranking.items())
        msg = f"{cid}: {method} is #{position} of {len(ranking)} by average rank ({order})"
        return verdict(cid, rule, position, msg, ranking=ranking.round(3).to_dict())

    def resample(ev, draws):
        rows = ten(ev)[~ten(ev)["method"].isin(("cam",))]
        names, ranks = _resampled_ranks(rows, "model", "method", draws)
        rule = P5_TOP3 if want == "top3" else Equal(len(names), "rank")
        return rule.holds(_position(ranks, names.index(method)))
    return Case("P5", f"{method}-{want}", check, resample=resample)


def _mean_wsl(ev: Evidence, method: str, draws=None):
    """Mean over the 10 CNNs of ``method``'s mean WSL (points); on each resample of ``draws`` if given."""
    rows = ten(ev)[ten(ev)["method"] == method]
    if draws is not None:
        return 100.0 * resampled.nanmean(resampled_means(rows, "wsl", "model", draws)[1], axis=1)
    return float(100.0 * rows.groupby("model")["wsl"].mean().mean())


def _p6(other):
    def check(ev):
        mine, theirs = _mean_wsl(ev, "gradient"), _mean_wsl(ev, other)
        rows = ten(ev)[ten(ev)["method"].isin(["gradient", other])]
        wide = rows.pivot_table(index=["model", "image"], columns="method", values="wsl").dropna()
        cid = f"P6[gradient-vs-{other}]"
        n = ten(ev)["model"].nunique()
        msg = f"{cid}: mean WSL over the {n} CNNs: Gradient {mine:.2f} vs {other} {theirs:.2f} points; "
        paired = None
        if len(wide) < 2:
            msg += "paired by (model, image): fewer than 2 pairs"
        else:
            paired = stats.paired_difference(100 * wide["gradient"].to_numpy(), 100 * wide[other].to_numpy())
            msg += (f"paired by (model, image): mean difference {paired.effect:+.2f} points "
                    f"[{paired.ci_low:+.2f}, {paired.ci_high:+.2f}], sign test p = {paired.p_value:.3g}, "
                    f"n = {paired.n}")
        return verdict(cid, P6_RULE, mine - theirs, msg, paper_wsl("gradient") - paper_wsl(other),
                       paired=paired and paired.as_dict())

    def resample(ev, draws):
        return P6_RULE.holds(_mean_wsl(ev, "gradient", draws) - _mean_wsl(ev, other, draws))
    return Case("P6", f"gradient-vs-{other}", check, resample=resample)


def _median_runtimes(ev: Evidence, draws=None) -> pd.Series:
    """Median seconds per image of each method on the run's device (rows without a runtime on it,
    beyond the re-timed sample, are left out); with ``draws``, one array of medians per method,
    each resample's times the method's speed on another machine (``Draws.spread``)."""
    table = ten(ev)
    runtime = table.groupby("method")["runtime_s"].median()
    if runtime.isna().any():
        raise ValueError(f"P7: no runtimes on this run's device for {sorted(runtime[runtime.isna()].index)}")
    if draws is None:
        return runtime
    timed = table[table["runtime_s"].notna()]
    return pd.Series({m: resampled.median(rows["runtime_s"].to_numpy(), draws.weights(rows["image"]))
                      * draws.spread(f"runtime {m}") for m, rows in timed.groupby("method")})


def _p7_statistic(what: str, runtime: pd.Series, wsl: pd.Series | None = None):
    """P7's statistic from the median runtimes (and mean WSL) per method, scalars or arrays."""
    if what == "gradcam-best-wsl-per-second":
        per_second = wsl / runtime
        return per_second["gradcam"] / np.max(np.stack(list(per_second.drop("gradcam"))), axis=0)
    if what == "o1-faster-than-on":
        fast = [m for m in ("gradient", "gradcam", "cam") if m in runtime]
        slow = runtime.drop(fast)
        return np.min(np.stack(list(slow)), axis=0) / np.max(np.stack(list(runtime[fast])), axis=0)
    return runtime["ep"] / np.max(np.stack(list(runtime.drop("ep"))), axis=0)


P7_RULES = {"gradcam-best-wsl-per-second": P7_GRADCAM, "o1-faster-than-on": P7_O1, "ep-slowest": P7_EP}


def _p7_resample(what):
    def resample(ev, draws):
        runtime = _median_runtimes(ev, draws)
        wsl = (pd.Series({m: _mean_wsl(ev, m, draws) for m in runtime.index})
               if what == "gradcam-best-wsl-per-second" else None)
        return P7_RULES[what].holds(_p7_statistic(what, runtime, wsl))
    return resample


def _median_cis(ev: Evidence) -> dict:
    """Each method's median runtime (s) with its 95% bootstrap CI over the timed images."""
    table = ten(ev)
    timed = table[table["runtime_s"].notna()]
    return {m: (float(rows["runtime_s"].median()), *stats.bootstrap_median_ci(rows["runtime_s"]))
            for m, rows in timed.groupby("method")}


def _p7(what):
    def check(ev):
        runtime = _median_runtimes(ev)
        cis = _median_cis(ev)
        medians = "; medians (ms) [95% CI]: " + ", ".join(
            f"{m} {1e3 * v:.3g} [{1e3 * lo:.3g}, {1e3 * hi:.3g}]" for m, (v, lo, hi) in cis.items())
        cid = f"P7[{what}]"
        if what == "gradcam-best-wsl-per-second":
            wsl = pd.Series({m: _mean_wsl(ev, m) for m in runtime.index})
            per_second = (wsl / runtime).sort_values(ascending=False)
            stat = float(_p7_statistic(what, runtime, wsl))
            paper = {m: paper_wsl(m) / paper_runtime_ms(m) for m in PAPER_NAMES}
            ref = paper["gradcam"] / max(v for m, v in paper.items() if m != "gradcam")
            msg = (f"{cid}: WSL points per second: " +
                   ", ".join(f"{m} {v:.4g}" for m, v in per_second.items()) + medians)
            return verdict(cid, P7_GRADCAM, stat, msg, ref, median_ci_s=cis)
        if what == "o1-faster-than-on":
            fast = runtime[[m for m in ("gradient", "gradcam", "cam") if m in runtime]]
            slow = runtime.drop(fast.index)
            stat = float(_p7_statistic(what, runtime))
            ref = (min(paper_runtime_ms(m) for m in slow.index) /
                   max(paper_runtime_ms(m) for m in fast.index))
            msg = (f"{cid}: fastest O(n) {slow.idxmin()} {1e3 * slow.min():.2f} ms vs slowest O(1) "
                   f"{fast.idxmax()} {1e3 * fast.max():.2f} ms: {stat:.1f}x (needs {P7_O1})" + medians)
            return verdict(cid, P7_O1, stat, msg, ref, median_ci_s=cis)
        stat = float(_p7_statistic(what, runtime))
        msg = f"{cid}: slowest is {runtime.idxmax()}; EP / next slowest = {stat:.2f}" + medians
        ref = paper_runtime_ms("ep") / max(paper_runtime_ms(m) for m in PAPER_NAMES if m != "ep")
        return verdict(cid, P7_EP, stat, msg, ref, median_ci_s=cis)
    return Case("P7", what, check, resample=_p7_resample(what))


# --- P8-P10, P12: across CNNs and metrics ------------------------------------------------------

def per_model(ev: Evidence, columns):
    """Per CNN of the 10: the mean over methods of each method's mean of ``columns`` (a column
    name gives a Series, a list a DataFrame)."""
    return ten(ev).groupby(["model", "method"])[columns].mean().groupby("model").mean()


def resampled_per_model(ev: Evidence, column: str, draws) -> pd.Series:
    """``per_model`` of one column on each resample: one array per CNN."""
    return pd.Series({model: resampled.nanmean(resampled_means(rows, column, "method", draws)[1], axis=1)
                      for model, rows in ten(ev).groupby("model")})


def _stack(series: pd.Series, index) -> np.ndarray:
    """``[B, len(index)]`` from a Series of per-resample arrays."""
    return np.stack([series[k] for k in index], axis=1)


def _p8_resample(what):
    def resample(ev, draws):
        top1 = table1.resampled_top1(ev.zoo or [], draws)
        if what == "insertion-vs-top1":
            ins = resampled_per_model(ev, "insertion", draws)
            return P8_RHO.holds(resampled.spearman_rows(_stack(top1, ins.index), _stack(ins, ins.index)))
        expl = resampled_per_model(ev, what.split("-")[1], draws)
        models = list(expl.index)
        best_acc = np.argmax(_stack(top1, models), axis=1)
        return P8_DIFFER.holds(best_acc != np.argmax(_stack(expl, models), axis=1))
    return resample


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
    # the argmaxes differ among 3 or more CNNs; Spearman over CNNs needs stats.SPEARMAN_MIN_PAIRS
    min_models = stats.SPEARMAN_MIN_PAIRS if what == "insertion-vs-top1" else 3
    return Case("P8", what, check, min_models=min_models, resample=_p8_resample(what))


P9_PAPER = {"network": 0.88, "image": 0.78}


def _p9(level):
    def check(ev):
        cid = f"P9[{level}]"
        if level == "network":
            conf = ten(ev).groupby("model")["confidence"].mean()
            t = stats.spearman(conf, per_model(ev, "deletion")[conf.index])
        else:
            t = stats.spearman(ten(ev)["confidence"], ten(ev)["deletion"])
        msg = (f"{cid}: Spearman(confidence, Deletion) = {t.effect:.3f} [{t.ci_low:.3f}, {t.ci_high:.3f}], "
               f"n = {t.n} (needs {P9_RULE}; paper {P9_PAPER[level]})")
        return verdict(cid, P9_RULE, t.effect, msg, P9_PAPER[level], t)

    def resample(ev, draws):
        if level == "network":
            _, conf = resampled_means(ten(ev), "confidence", "model", draws)
            deletion = resampled_per_model(ev, "deletion", draws)
            return P9_RULE.holds(resampled.spearman_rows(conf, _stack(deletion, sorted(deletion.index))))
        rows = ten(ev)
        return P9_RULE.holds(resampled.spearman(rows["confidence"], rows["deletion"],
                                                draws.weights(rows["image"])))
    return Case("P9", level, check, min_models=stats.SPEARMAN_MIN_PAIRS if level == "network" else 1,
                resample=resample)


P10_PAIRS = [("pointing_game", "wsl", P10_AGREE), ("pointing_game", "insertion", P10_APART),
             ("pointing_game", "deletion", P10_APART), ("wsl", "insertion", P10_APART),
             ("wsl", "deletion", P10_APART), ("insertion", "deletion", P10_AGREE)]


def _p10(a, b, rule):
    def check(ev):
        t = stats.spearman(ten(ev)[METRICS.get(a).per_image_column], ten(ev)[METRICS.get(b).per_image_column])
        cid = f"P10[{a}-{b}]"
        msg = (f"{cid}: Spearman over {t.n} maps = {t.effect:.3f} [{t.ci_low:.3f}, {t.ci_high:.3f}] "
               f"(needs {rule}; paper {paper_correlation(a, b)})")
        return verdict(cid, rule, t.effect, msg, paper_correlation(a, b), t)

    def resample(ev, draws):
        x, y = (ten(ev)[METRICS.get(m).per_image_column] for m in (a, b))
        return rule.holds(resampled.spearman(x, y, draws.weights(ten(ev)["image"])))
    return Case("P10", f"{a}-{b}", check, resample=resample)


def architecture_average_ranks(ev: Evidence) -> pd.Series:
    """Average over (method, metric, regime) of each architecture's rank (1 = best)."""
    ranks = []
    for _, rows in ten(ev).groupby(["method", "regime"]):
        means = rows.groupby("architecture")[list(PAPER_METRICS)].mean()
        if len(means) < 2:
            continue
        directions = {m: METRICS.get(m).higher_is_better for m in means.columns}
        ranks.append(stats.average_ranks(means, directions))
    return pd.concat(ranks, axis=1).mean(axis=1).sort_values()


def _p12():
    def check(ev):
        ranks = architecture_average_ranks(ev).sort_index().sort_values(kind="stable")
        top1 = ev.top1()
        vanilla = ten(ev)[ten(ev)["regime"] == "vanilla"].groupby("architecture")["model"].first()
        accuracy = pd.Series({a: top1[m] for a, m in vanilla.items()})
        best_acc, best_expl = accuracy.idxmax(), ranks.index[0]
        msg = (f"P12[accuracy-vs-explainability]: most accurate architecture {best_acc} "
               f"(vanilla top-1 {accuracy[best_acc]:.1f}); best average rank {best_expl} "
               f"({ranks.iloc[0]:.2f}); ranks: " + ", ".join(f"{a} {r:.2f}" for a, r in ranks.items()))
        return verdict("P12[accuracy-vs-explainability]", P12_RULE, float(best_acc != best_expl), msg, 1.0,
                       ranks=ranks.round(3).to_dict())

    def resample(ev, draws):
        names, ranks = _resampled_ranks(ten(ev), ["method", "regime"], "architecture", draws, min_size=2)
        top1 = table1.resampled_top1(ev.zoo or [], draws)
        vanilla = ten(ev)[ten(ev)["regime"] == "vanilla"].groupby("architecture")["model"].first()
        judged = [k for k, a in enumerate(names) if a in vanilla.index]
        accuracy = np.stack([top1[vanilla[names[k]]] for k in judged], axis=1)
        best_acc = np.asarray(judged)[np.argmax(accuracy, axis=1)]
        return P12_RULE.holds(best_acc != np.argmin(ranks, axis=1))
    return Case("P12", "accuracy-vs-explainability", check, PAIR, min_models=4, resample=resample)


def _claim(id, section, statement, statistic, pass_when, paper_value, choices="", headline="", timed=False):
    return Claim(id=id, source="001", section=section, statement=statement, statistic=statistic,
                 pass_when=pass_when, paper_value=paper_value, choices=choices, headline=headline,
                 timed=timed)


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
           "tested as at least 10x. The stability resamples the images and each method's speed on "
           "another machine (amx.claims.stability.RUNTIME_SPREAD), since runtimes come from one.",
           "o1-faster-than-on", timed=True),
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


# Beyond the paper (issue 26): is ROAD (Rong et al. 2022), the debiased removal metric, as
# predictable from confidence as Insertion and Deletion are (P9)? Scored on the first ROAD_IMAGES
# CL images of each CNN, whose maps and Insertion/Deletion scores are the ScoreTable's: ROAD's
# imputation is a sparse solve per removal step on the CPU (about 4 ms per 64-px and 70 ms per
# 224-px step, 14 steps per map), so the whole table would cost a 64-px claims run minutes.
ROAD_IMAGES = 8
ROAD_TABLE = Scores(PAPER_METHODS, ("insertion", "deletion", "road"), "cl", PAIR, first=ROAD_IMAGES)

CLAIM_SET = ClaimSet(
    name="001", prefix="P", source="001",
    title="How explainable are adversarially robust CNNs? (Nourelahi, Kotthoff, Chen, Nguyen)",
    claims=tuple(CLAIMS.values()), cases=cases,
    evidence=(Scores(PAPER_METHODS, PAPER_METRICS, "cl", PAIR), ZooTable(), ROAD_TABLE),
    figure_data=paper_figures.figure_data, render_figures=paper_figures.render)
