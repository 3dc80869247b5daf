"""The resampled statistics equal scipy's statistic on each resample's expanded sample."""

import numpy as np
import pytest
from scipy import stats

from amx import resampled


def _weights(rng, n, draws=6):
    return rng.poisson(1.0, (draws, n)).astype(float)


def _expand(x, w):
    return np.repeat(x, w.astype(int))


@pytest.fixture
def rng():
    return np.random.default_rng(3)


def test_ranks_are_midranks_of_the_expanded_sample(rng):
    x = rng.integers(0, 5, 30).astype(float)  # many ties
    W = _weights(rng, 30)
    r, tie = resampled.ranks(x, W)
    for w, row, t in zip(W, r, tie, strict=True):
        expanded = _expand(x, w)
        np.testing.assert_allclose(_expand(row, w), stats.rankdata(expanded))
        _, counts = np.unique(expanded, return_counts=True)
        assert t == pytest.approx((counts ** 3 - counts).sum())


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_mann_whitney_equals_scipy_asymptotic(rng, alternative):
    a, b = rng.normal(0.3, 1, 25).round(1), rng.normal(0, 1, 30).round(1)
    Wa, Wb = _weights(rng, 25), _weights(rng, 30)
    p, r = resampled.mann_whitney(a, Wa, b, Wb, alternative)
    for k in range(len(Wa)):
        x, y = _expand(a, Wa[k]), _expand(b, Wb[k])
        ref = stats.mannwhitneyu(x, y, alternative=alternative, method="asymptotic")
        assert p[k] == pytest.approx(ref.pvalue, rel=1e-9)
        u1 = stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic").statistic
        assert r[k] == pytest.approx(2 * u1 / (len(x) * len(y)) - 1)


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_wilcoxon_equals_scipy_asymptotic(rng, alternative):
    d = rng.normal(0.2, 1, 40).round(1)  # ties and zeros
    W = _weights(rng, 40)
    p = resampled.wilcoxon(d, W, alternative)
    for k, w in enumerate(W):
        ref = stats.wilcoxon(_expand(d, w), alternative=alternative, method="asymptotic")
        assert p[k] == pytest.approx(ref.pvalue, rel=1e-9)


def test_wilcoxon_of_all_zero_differences_is_one():
    assert resampled.wilcoxon(np.zeros(5), np.ones((2, 5)), "greater").tolist() == [1.0, 1.0]


def test_spearman_equals_scipy(rng):
    x = rng.integers(0, 6, 30).astype(float)
    y = x + rng.normal(0, 2, 30).round()
    W = _weights(rng, 30)
    rho = resampled.spearman(x, y, W)
    for k, w in enumerate(W):
        assert rho[k] == pytest.approx(stats.spearmanr(_expand(x, w), _expand(y, w)).statistic)
    assert resampled.spearman(np.ones(4), np.arange(4.0), np.ones((1, 4)))[0] == 0.0


def test_spearman_rows(rng):
    X, Y = rng.normal(size=(4, 10)), rng.normal(size=(4, 10))
    for x, y, rho in zip(X, Y, resampled.spearman_rows(X, Y), strict=True):
        assert rho == pytest.approx(stats.spearmanr(x, y).statistic)


def test_means_and_medians_of_the_expanded_sample(rng):
    x = rng.normal(size=21).round(1)
    groups = rng.integers(0, 3, 21)
    W = _weights(rng, 21)
    means, medians = resampled.mean(x, W), resampled.median(x, W)
    holed = x.copy()
    holed[4] = np.nan  # left out of its group's mean, as pandas does
    by_group = resampled.group_means(holed, groups, 3, W)
    for k, w in enumerate(W):
        assert means[k] == pytest.approx(_expand(x, w).mean())
        assert medians[k] == pytest.approx(np.median(_expand(x, w)))
        for g in range(3):
            mine = (groups == g) & np.isfinite(holed)
            assert by_group[k, g] == pytest.approx(_expand(x[mine], w[mine]).mean(), nan_ok=True)
    assert np.isnan(resampled.median(x, np.zeros((1, 21)))[0])


def test_ratio_ci_low_is_seeded_and_below_the_ratio(rng):
    a, b = rng.uniform(1, 2, 30), rng.uniform(0.5, 1, 30)
    W = _weights(rng, 30, draws=3)
    low = resampled.ratio_ci_low(a, b, W, seed=1)
    np.testing.assert_array_equal(low, resampled.ratio_ci_low(a, b, W, seed=1))
    assert np.all(low < (W @ a) / (W @ b))


def test_weights_must_match_the_values():
    with pytest.raises(ValueError, match=r"shape \[resamples, 3\]"):
        resampled.mean(np.ones(3), np.ones((2, 4)))


def test_nanmean_skips_nan_and_is_nan_for_an_all_nan_row_without_a_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = resampled.nanmean([[np.nan, np.nan], [1.0, np.nan], [1.0, 3.0]], axis=1)
    np.testing.assert_array_equal(out, [np.nan, 1.0, 2.0])
