"""Statistics of bootstrap resamples, vectorised over the resamples.

A bootstrap resample repeats each value a whole number of times. Every function here takes the
values once and a weight matrix ``W [B, n]`` (row b: how often resample b draws each value) and
returns one statistic per resample, equal to the statistic of the expanded sample (the tests
expand the samples and compare with scipy). So a claim is re-judged on 200 resamples at the
cost of a few matrix products, with nothing recomputed.

Repeated values tie, so ranks are mid-ranks computed once on the sorted values: with ``G`` the
weight of each group of equal values in sorted order, a group's mid-rank is
``cumsum(G) - G + (G + 1) / 2`` and the tie term of the normal approximations is ``sum(G^3 - G)``.
The tests' p-values are those normal approximations (scipy's ``method="asymptotic"``), which
``amx.stats`` also uses on the run itself, so a resample that draws every image once gives the
run's verdict.

>>> W = np.array([[1, 1, 1], [2, 0, 1]])
>>> mean(np.array([1.0, 2.0, 4.0]), W).tolist()
[2.3333333333333335, 2.0]
>>> median(np.array([1.0, 2.0, 4.0]), W).tolist()
[2.0, 1.0]
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

ALTERNATIVES = ("two-sided", "greater", "less")


def _check(x: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, W = np.asarray(x, dtype=float), np.asarray(W, dtype=float)
    if W.ndim != 2 or W.shape[1] != len(x):
        raise ValueError(f"weights: need shape [resamples, {len(x)}], got {list(W.shape)}")
    return x, W


def ranks(x, W) -> tuple[np.ndarray, np.ndarray]:
    """``(r [B, n], tie_term [B])``: the mid-rank of each value in each resample's expanded sample
    and ``sum(t^3 - t)`` over its groups of ties."""
    x, W = _check(x, W)
    if len(x) == 0:
        return W.copy(), np.zeros(len(W))
    order = np.argsort(x, kind="stable")
    xs = x[order]
    first = np.r_[True, xs[1:] != xs[:-1]]
    group = np.cumsum(first) - 1
    G = np.add.reduceat(W[:, order], np.flatnonzero(first), axis=1)
    mid = np.cumsum(G, axis=1) - G + (G + 1) / 2
    r = np.empty_like(W)
    r[:, order] = mid[:, group]
    return r, (G ** 3 - G).sum(axis=1)


def mean(x, W) -> np.ndarray:
    """The mean of each resample (NaN where it is empty)."""
    x, W = _check(x, W)
    with np.errstate(invalid="ignore", divide="ignore"):
        return W @ x / W.sum(axis=1)


def nanmean(a, axis: int = -1) -> np.ndarray:
    """The mean along ``axis`` of the values that are not NaN (NaN where there are none), without
    numpy's warning for a resample that drew none of a group's images."""
    a = np.asarray(a, dtype=float)
    counts = np.isfinite(a).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nansum(a, axis=axis) / np.where(counts > 0, counts, np.nan)


def group_means(x, groups, n_groups: int, W) -> np.ndarray:
    """``[B, n_groups]``: the mean of each group (``groups``: its code 0..n_groups-1 per value)."""
    x, W = _check(x, W)
    member = np.zeros((len(x), n_groups))
    member[np.arange(len(x)), np.asarray(groups)] = np.isfinite(x)  # NaN values left out, as pandas does
    with np.errstate(invalid="ignore", divide="ignore"):
        return (W @ (member * np.nan_to_num(x)[:, None])) / (W @ member)


def median(x, W) -> np.ndarray:
    """The median of each resample (the mean of the two middle values of an even count)."""
    x, W = _check(x, W)
    order = np.argsort(x, kind="stable")
    xs, cum = x[order], np.cumsum(W[:, order], axis=1)
    m = cum[:, -1]
    low, high = np.floor((m - 1) / 2), np.ceil((m - 1) / 2)
    at = lambda k: xs[np.minimum((cum <= k[:, None]).sum(axis=1), len(x) - 1)]  # noqa: E731
    return np.where(m > 0, (at(low) + at(high)) / 2, np.nan)


def mann_whitney(a, Wa, b, Wb, alternative: str) -> tuple[np.ndarray, np.ndarray]:
    """``(p, r)`` per resample: Mann-Whitney U of ``a`` against ``b`` (asymptotic, tie- and
    continuity-corrected, as ``amx.stats.mann_whitney``) and the rank-biserial
    r = 2 U_a / (n_a n_b) - 1. A resample without variation has p = 1."""
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative: unknown {alternative!r}; valid: {ALTERNATIVES}")
    a, Wa = _check(a, Wa)
    b, Wb = _check(b, Wb)
    r, tie = ranks(np.r_[a, b], np.c_[Wa, Wb])
    n1, n2 = Wa.sum(axis=1), Wb.sum(axis=1)
    n = n1 + n2
    u1 = (r[:, :len(a)] * Wa).sum(axis=1) - n1 * (n1 + 1) / 2
    u = {"greater": u1, "less": n1 * n2 - u1, "two-sided": np.maximum(u1, n1 * n2 - u1)}[alternative]
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.sqrt(n1 * n2 / 12 * ((n + 1) - tie / (n * (n - 1))))
        p = special.ndtr(-(u - n1 * n2 / 2 - 0.5) / s)
        effect = 2 * u1 / (n1 * n2) - 1
    if alternative == "two-sided":
        p = np.minimum(2 * p, 1.0)
    return np.where(np.isfinite(p), p, 1.0), effect


def wilcoxon(d, W, alternative: str) -> np.ndarray:
    """p per resample of the Wilcoxon signed-rank test of the paired differences ``d`` (zero
    differences dropped, normal approximation with the tie correction, no continuity correction:
    scipy's ``method="asymptotic"``, as ``amx.stats`` judges the run); p = 1 where every
    difference is zero."""
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative: unknown {alternative!r}; valid: {ALTERNATIVES}")
    d, W = _check(d, W)
    keep = d != 0
    d, W = d[keep], W[:, keep]
    r, tie = ranks(np.abs(d), W)
    n = W.sum(axis=1)
    r_plus = (r * W * (d > 0)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (r_plus - n * (n + 1) / 4) / np.sqrt(n * (n + 1) * (2 * n + 1) / 24 - tie / 48)
    p = {"greater": special.ndtr(-z), "less": special.ndtr(z),
         "two-sided": np.minimum(2 * special.ndtr(-np.abs(z)), 1.0)}[alternative]
    return np.where(np.isfinite(p), p, 1.0)


def _pearson(x: np.ndarray, y: np.ndarray, W: np.ndarray) -> np.ndarray:
    n = W.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = x - (W * x).sum(axis=1, keepdims=True) / n
        dy = y - (W * y).sum(axis=1, keepdims=True) / n
        rho = (W * dx * dy).sum(axis=1) / np.sqrt((W * dx ** 2).sum(axis=1) * (W * dy ** 2).sum(axis=1))
    return np.where(np.isfinite(rho), rho, 0.0)


def spearman(x, y, W) -> np.ndarray:
    """Spearman's rho per resample (0 where one variable is constant, as ``amx.stats.spearman``)."""
    x, W = _check(x, W)
    y, _ = _check(y, W)
    return _pearson(ranks(x, W)[0], ranks(y, W)[0], W)


def spearman_rows(X, Y) -> np.ndarray:
    """Spearman's rho of each row of ``X [B, k]`` with the same row of ``Y`` (values per resample,
    each counted once: e.g. per-model means)."""
    X, Y = np.asarray(X, dtype=float), np.asarray(Y, dtype=float)
    return _pearson(stats.rankdata(X, axis=1), stats.rankdata(Y, axis=1), np.ones_like(X))


def ratio_ci_low(a, b, W, seed: int, n_boot: int = 200) -> np.ndarray:
    """Per resample, the 2.5th percentile of ``mean(a) / mean(b)`` over ``n_boot`` bootstrap
    resamples of that resample's pairs (the nested bootstrap of ``amx.stats.paired_ratio``'s CI)."""
    a, W = _check(a, W)
    b, _ = _check(b, W)
    rng = np.random.default_rng(seed)
    out = np.empty(len(W))
    for k, w in enumerate(W):
        m = int(w.sum())
        if m == 0:
            out[k] = np.nan
            continue
        inner = rng.multinomial(m, w / m, size=n_boot).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[k] = np.percentile((inner @ a) / (inner @ b), 2.5)
    return out
