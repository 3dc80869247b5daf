"""The statistics the claims use, each with its effect size and a seeded bootstrap CI.

* ``mann_whitney(a, b, alternative)``: scipy's Mann-Whitney U (asymptotic, tie-corrected,
  continuity-corrected), with the rank-biserial correlation r = 2 U_a / (n_a n_b) - 1 as effect
  size (r > 0: ``a`` tends to be larger; r = P(a > b) - P(a < b)).
* ``spearman(x, y)``: scipy's Spearman rho with its p-value and a Fisher-z CI with Bonett &
  Wright's (2000) standard error sqrt((1 + rho^2 / 2) / (n - 3)), closed form because the
  claims correlate up to ~10,000 maps, where a bootstrap would dominate a warm run.
* ``paired_ratio``, ``paired_difference``, ``paired_median_difference``: Wilcoxon signed-rank
  tests of paired samples with the ratio of means, the mean difference or the median difference
  and its bootstrap CI over the pairs; ``holm(p)``: Holm's adjusted p-values.
* ``average_ranks(table, higher_is_better)``: rank the rows of a score table per column (1 = best,
  ties share the mean rank), then average over the columns.

Every ``TestResult`` carries a 95% CI of its effect (for Mann-Whitney a percentile bootstrap of
``n_boot`` resamples drawn from ``seed``), so the report shows how sure a statistic is, pass or
fail.

>>> r = mann_whitney([3, 4, 5], [1, 2, 3], "greater")
>>> round(r.effect, 3), r.n
(0.889, 6)
>>> round(spearman([1, 2, 3, 4], [1, 3, 2, 4]).effect, 2)
0.8
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

ALTERNATIVES = ("two-sided", "greater", "less")
N_BOOT = 1000


@dataclass(frozen=True)
class TestResult:
    """A test's outcome: ``statistic`` (U or rho), ``p_value``, ``effect`` with its 95% bootstrap
    CI ``[ci_low, ci_high]``, and the sample size ``n`` (both groups, or pairs)."""

    __test__ = False  # not a pytest test class

    test: str
    statistic: float
    p_value: float
    effect: float
    ci_low: float
    ci_high: float
    n: int

    def as_dict(self) -> dict:
        return asdict(self)


def _clean(values, name: str) -> np.ndarray:
    a = np.asarray(values, dtype=float).ravel()
    if np.isnan(a).any():
        raise ValueError(f"{name}: contains NaN; drop N/A rows before testing")
    return a


def _rank_biserial_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """r for each row of ``a`` ``[k, n_a]`` against the same row of ``b`` ``[k, n_b]``, from the
    rank sum of ``a`` in the pooled row: U_a = R_a - n_a (n_a + 1) / 2."""
    n_a, n_b = a.shape[1], b.shape[1]
    ranks = stats.rankdata(np.concatenate([a, b], axis=1), axis=1)
    u = ranks[:, :n_a].sum(axis=1) - n_a * (n_a + 1) / 2
    return 2.0 * u / (n_a * n_b) - 1.0


def rank_biserial(a, b) -> float:
    """r = P(a > b) - P(a < b) over all pairs, in [-1, 1] (= 2 U_a / (n_a n_b) - 1)."""
    a, b = _clean(a, "a"), _clean(b, "b")
    return float(_rank_biserial_rows(a[None], b[None])[0])


def _percentile_ci(samples: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(samples, [2.5, 97.5])
    return float(low), float(high)


def mann_whitney(a, b, alternative: str = "two-sided", seed: int = 0, n_boot: int = N_BOOT) -> TestResult:
    """Mann-Whitney U of ``a`` against ``b``; ``alternative`` "greater" tests a > b."""
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative: unknown {alternative!r}; valid: {ALTERNATIVES}")
    a, b = _clean(a, "a"), _clean(b, "b")
    if len(a) < 1 or len(b) < 1:
        raise ValueError(f"mann_whitney needs both samples non-empty, got {len(a)} and {len(b)}")
    res = stats.mannwhitneyu(a, b, alternative=alternative, method="asymptotic")
    effect = float(2.0 * res.statistic / (len(a) * len(b)) - 1.0)
    rng = np.random.default_rng(seed)
    boot = _rank_biserial_rows(rng.choice(a, (n_boot, len(a))), rng.choice(b, (n_boot, len(b))))
    p = float(res.pvalue) if np.isfinite(res.pvalue) else 1.0  # all values equal: no evidence
    return TestResult("mann-whitney-u " + alternative, float(res.statistic), p, effect,
                      *_percentile_ci(boot), len(a) + len(b))


SPEARMAN_MIN_PAIRS = 4  # the Fisher-z CI's standard error is 1 / sqrt(n - 3)


def spearman(x, y) -> TestResult:
    """Spearman's rho of paired samples (0 if one is constant), with a 95% Fisher-z CI."""
    x, y = _clean(x, "x"), _clean(y, "y")
    if len(x) != len(y) or len(x) < SPEARMAN_MIN_PAIRS:
        raise ValueError(f"spearman needs >= {SPEARMAN_MIN_PAIRS} pairs of equal length, got {len(x)} and "
                         f"{len(y)}")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        rho, p = 0.0, 1.0
    else:
        res = stats.spearmanr(x, y)
        rho, p = float(res.statistic), float(res.pvalue)
    z, se = np.arctanh(np.clip(rho, -0.999999, 0.999999)), np.sqrt((1 + rho ** 2 / 2) / (len(x) - 3))
    return TestResult("spearman", rho, p, rho, float(np.tanh(z - 1.96 * se)), float(np.tanh(z + 1.96 * se)),
                      len(x))


def bootstrap_mean_ci(values, seed: int = 0, n_boot: int = N_BOOT) -> tuple[float, float]:
    """95% percentile-bootstrap CI of the mean of ``values``."""
    a = _clean(values, "values")
    rng = np.random.default_rng(seed)
    return _percentile_ci(rng.choice(a, (n_boot, len(a))).mean(axis=1))


def bootstrap_median_ci(values, seed: int = 0, n_boot: int = N_BOOT) -> tuple[float, float]:
    """95% percentile-bootstrap CI of the median of ``values``."""
    a = _clean(values, "values")
    rng = np.random.default_rng(seed)
    return _percentile_ci(np.median(rng.choice(a, (n_boot, len(a))), axis=1))


def average_ranks(table: pd.DataFrame, higher_is_better: dict[str, bool] | bool = True) -> pd.Series:
    """Rank the index of ``table`` within each column (1 = best; ties share the mean rank) and
    average over the columns; ``higher_is_better`` per column or for all.

    >>> t = pd.DataFrame({"a": [0.9, 0.5, 0.1], "b": [0.2, 0.1, 0.3]}, index=["x", "y", "z"])
    >>> average_ranks(t, {"a": True, "b": False}).to_dict()
    {'x': 1.5, 'y': 1.5, 'z': 3.0}
    """
    if isinstance(higher_is_better, bool):
        higher_is_better = dict.fromkeys(table.columns, higher_is_better)
    missing = set(table.columns) - set(higher_is_better)
    if missing:
        raise ValueError(f"average_ranks: no direction for column(s) {sorted(missing)}")
    ranks = pd.DataFrame({c: table[c].rank(ascending=not higher_is_better[c], method="average")
                          for c in table.columns})
    return ranks.mean(axis=1)


def _signed_rank(a, b, alternative: str, caller: str):
    """``(a, b, W, p)``: the cleaned pairs and scipy's Wilcoxon signed-rank test (p = 1 if all tie),
    by its normal approximation with the tie correction also where scipy would take the exact
    distribution (50 pairs or fewer, no ties): the bootstrap resamples that label a verdict's
    stability have tied pairs and take the approximation (``amx.resampled.wilcoxon``), so the run is
    judged the same way."""
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative: unknown {alternative!r}; valid: {ALTERNATIVES}")
    a, b = _clean(a, "a"), _clean(b, "b")
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"{caller} needs >= 2 pairs of equal length, got {len(a)} and {len(b)}")
    if np.all(a == b):
        return a, b, 0.0, 1.0
    res = stats.wilcoxon(a, b, alternative=alternative, method="asymptotic")
    return a, b, float(res.statistic), float(res.pvalue)


def paired_ratio(a, b, alternative: str = "greater", seed: int = 0, n_boot: int = N_BOOT) -> TestResult:
    """Wilcoxon signed-rank test of paired samples ``a`` against ``b`` (``greater``: a > b), with
    the effect ``mean(a) / mean(b)`` and its 95% bootstrap CI over the pairs (the SAM claims'
    robust-vs-vanilla comparisons on the same images)."""
    a, b, statistic, p = _signed_rank(a, b, alternative, "paired_ratio")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(a), (n_boot, len(a)))
    with np.errstate(divide="ignore", invalid="ignore"):
        effect = float(a.mean() / b.mean())
        boot = a[picks].mean(1) / b[picks].mean(1)
    return TestResult("wilcoxon " + alternative, statistic, p, effect, *_percentile_ci(boot), len(a))


def paired_median_difference(a, b, alternative: str = "greater", seed: int = 0,
                             n_boot: int = N_BOOT) -> TestResult:
    """Wilcoxon signed-rank test of paired samples ``a`` against ``b`` with the effect
    ``median(a - b)`` and its 95% paired bootstrap CI (pairs resampled together): the paired view
    of a vanilla/robust comparison on the same images, reported beside the paper's unpaired test."""
    a, b, statistic, p = _signed_rank(a, b, alternative, "paired_median_difference")
    diff = a - b
    picks = np.random.default_rng(seed).integers(0, len(a), (n_boot, len(a)))
    return TestResult("wilcoxon " + alternative, statistic, p, float(np.median(diff)),
                      *_percentile_ci(np.median(diff[picks], axis=1)), len(a))


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979): the k-th smallest of m is multiplied by
    m - k + 1, made monotone and capped at 1.

    >>> holm([0.01, 0.04, 0.03]).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p, kind="stable")
    scaled = np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p))))
    out = np.empty_like(p)
    out[order] = np.minimum(scaled, 1.0)
    return out


def paired_difference(a, b, alternative: str = "greater", seed: int = 0, n_boot: int = N_BOOT) -> TestResult:
    """Wilcoxon signed-rank test of paired samples ``a`` against ``b`` (``greater``: a > b; zero
    differences dropped, so on 0/1 scores it is the sign test), with the effect ``mean(a - b)`` and
    its 95% bootstrap CI over the pairs (BIG vs IG on the same images and model)."""
    a, b, statistic, p = _signed_rank(a, b, alternative, "paired_difference")
    diff = a - b
    picks = np.random.default_rng(seed).integers(0, len(a), (n_boot, len(a)))
    return TestResult("wilcoxon " + alternative, statistic, p, float(diff.mean()),
                      *_percentile_ci(diff[picks].mean(1)), len(a))
