"""amx.stats against values worked out by hand, and its error messages."""

import math

import numpy as np
import pandas as pd
import pytest

from amx import stats


def test_mann_whitney_u_and_rank_biserial_by_hand():
    # pairs a > b: 3 beats 1, 2 and ties 3 (0.5); 4 and 5 beat all three -> U_a = 8.5 of 9
    r = stats.mann_whitney([3, 4, 5], [1, 2, 3], "greater")
    assert r.statistic == 8.5
    assert r.effect == pytest.approx(2 * 8.5 / 9 - 1)
    assert r.n == 6


def test_mann_whitney_p_value_is_the_normal_approximation():
    """Complete separation, 10 vs 10: U = 100, z = (|U - 50| - 0.5) / sqrt(10*10*21/12)."""
    a, b = np.arange(10, 20), np.arange(10)
    z = (50 - 0.5) / math.sqrt(100 * 21 / 12)
    one_sided = 0.5 * math.erfc(z / math.sqrt(2))
    assert stats.mann_whitney(a, b, "greater").p_value == pytest.approx(one_sided, rel=1e-9)
    assert stats.mann_whitney(a, b, "two-sided").p_value == pytest.approx(2 * one_sided, rel=1e-9)
    assert stats.mann_whitney(a, b, "less").p_value > 0.999
    assert stats.mann_whitney(a, b).effect == 1.0


def test_rank_biserial_is_antisymmetric_and_zero_on_equal_samples():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=30), rng.normal(0.5, size=40)
    assert stats.rank_biserial(a, b) == pytest.approx(-stats.rank_biserial(b, a))
    assert stats.rank_biserial(a, a) == 0.0


def test_spearman_by_hand():
    # d = (0, 1, 1, 0): rho = 1 - 6 * 2 / (4 * 15)
    r = stats.spearman([1, 2, 3, 4], [1, 3, 2, 4])
    assert r.effect == pytest.approx(0.8)
    assert stats.spearman([1, 2, 3, 4], [4, 3, 2, 1]).effect == pytest.approx(-1.0)


def test_spearman_ci_is_fisher_z_with_bonett_wright_error():
    rng = np.random.default_rng(5)
    x = rng.normal(size=200)
    r = stats.spearman(x, x + rng.normal(size=200))
    se = math.sqrt((1 + r.effect ** 2 / 2) / 197)
    assert r.ci_low == pytest.approx(math.tanh(math.atanh(r.effect) - 1.96 * se))
    assert r.ci_high == pytest.approx(math.tanh(math.atanh(r.effect) + 1.96 * se))
    assert stats.spearman(np.ones(5), np.arange(5)).effect == 0.0


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1.0, size=50), rng.normal(size=50)
    first, again = stats.mann_whitney(a, b, seed=3), stats.mann_whitney(a, b, seed=3)
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    assert first.ci_low < first.effect < first.ci_high
    other = stats.mann_whitney(a, b, seed=4)
    assert (other.ci_low, other.ci_high) != (first.ci_low, first.ci_high)
    low, high = stats.bootstrap_mean_ci(a)
    assert low < a.mean() < high


def test_average_ranks_with_ties_and_directions():
    t = pd.DataFrame({"pg": [1.0, 1.0, 0.0], "deletion": [0.3, 0.1, 0.2]}, index=["x", "y", "z"])
    ranks = stats.average_ranks(t, {"pg": True, "deletion": False})
    assert ranks.to_dict() == {"x": (1.5 + 3) / 2, "y": (1.5 + 1) / 2, "z": (3 + 2) / 2}


@pytest.mark.parametrize("call, message", [
    (lambda: stats.mann_whitney([1, float("nan")], [1, 2]), "a: contains NaN"),
    (lambda: stats.mann_whitney([1, 2], [1, 2], "bigger"), "alternative: unknown 'bigger'"),
    (lambda: stats.mann_whitney([], [1, 2]), "non-empty"),
    (lambda: stats.spearman([1, 2, 3], [1, 2, 3]), ">= 4 pairs"),
    (lambda: stats.average_ranks(pd.DataFrame({"a": [1.0]}), {}), "no direction for column"),
])
def test_bad_input_names_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_vectorised_effects_equal_scipy_with_ties():
    from scipy.stats import mannwhitneyu, spearmanr

    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 5, 40).astype(float), rng.integers(0, 5, 30).astype(float)
    u = mannwhitneyu(a, b).statistic
    assert stats.rank_biserial(a, b) == pytest.approx(2 * u / (40 * 30) - 1, abs=1e-12)
    x, y = rng.integers(0, 4, 50).astype(float), rng.normal(size=50)
    assert stats.spearman(x, y).effect == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)


def test_paired_difference_is_scipys_wilcoxon_with_a_bootstrap_ci_of_the_mean_difference():
    from scipy.stats import wilcoxon

    rng = np.random.default_rng(0)
    a = rng.integers(0, 2, 60).astype(float)  # 0/1 hits: zero differences drop out (the sign test)
    b = np.where(rng.random(60) < 0.3, 0.0, a)
    t = stats.paired_difference(a, b, "greater")
    assert t.p_value == pytest.approx(wilcoxon(a, b, alternative="greater", method="asymptotic").pvalue)
    assert t.effect == pytest.approx((a - b).mean()) and t.ci_low <= t.effect <= t.ci_high
    assert t == stats.paired_difference(a, b, "greater")  # seeded
    assert stats.paired_difference(a, a).p_value == 1.0
    with pytest.raises(ValueError, match="paired_difference needs >= 2 pairs"):
        stats.paired_difference([1.0], [2.0])


def test_paired_median_difference_is_scipys_wilcoxon_with_a_paired_ci_of_the_median():
    from scipy.stats import wilcoxon

    rng = np.random.default_rng(4)
    a = rng.normal(0.3, 1, 40)
    b = a - rng.normal(0.4, 0.5, 40)
    t = stats.paired_median_difference(a, b, "greater")
    assert t.p_value == pytest.approx(wilcoxon(a, b, alternative="greater", method="asymptotic").pvalue)
    assert t.effect == pytest.approx(np.median(a - b))
    assert t.ci_low < t.effect < t.ci_high and t.n == 40
    assert t == stats.paired_median_difference(a, b, "greater")  # seeded


def test_holm_by_hand():
    # sorted: 0.001 x 5, 0.01 x 4, 0.02 x 3, 0.04 x 2, 0.30 x 1, then monotone and capped
    p = [0.04, 0.001, 0.30, 0.01, 0.02]
    np.testing.assert_allclose(stats.holm(p), [0.08, 0.005, 0.30, 0.04, 0.06])
    np.testing.assert_allclose(stats.holm([0.5, 0.6]), [1.0, 1.0])
    assert stats.holm([]).tolist() == []
