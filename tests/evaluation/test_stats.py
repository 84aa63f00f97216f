"""Every statistic against scipy/statsmodels computed directly (and textbook values where they exist)."""

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from agentotel.evaluation import stats
from agentotel.evaluation.aggregate import ResultAggregator, bootstrap_interval, t_interval

RNG = np.random.default_rng(7)
A = RNG.normal(10.0, 2.0, 40)
B = RNG.normal(11.0, 3.0, 55)


def test_welch_matches_scipy_and_differs_from_student():
    expected = sps.ttest_ind(A, B, equal_var=False).pvalue
    assert stats.welch_t_test(A, B) == pytest.approx(expected, rel=1e-12)
    assert stats.welch_t_test(A, B) != pytest.approx(sps.ttest_ind(A, B).pvalue, rel=1e-6)


def test_mann_whitney_matches_scipy():
    assert stats.mann_whitney_u(A, B) == pytest.approx(sps.mannwhitneyu(A, B, alternative="two-sided").pvalue, rel=1e-12)


def test_wilcoxon_matches_scipy():
    paired = A[:30] + RNG.normal(0.4, 1.0, 30)
    expected = sps.wilcoxon(paired - A[:30], zero_method="wilcox").pvalue
    assert stats.wilcoxon_signed_rank(paired, A[:30]) == pytest.approx(expected, rel=1e-12)


def test_wilcoxon_known_value():
    # Differences 1..10 all positive: exact two-sided p = 2 / 2**10.
    x = np.arange(1, 11, dtype=float)
    assert stats.wilcoxon_signed_rank(x, np.zeros(10)) == pytest.approx(2 / 1024)


def test_mcnemar_matches_statsmodels_exact_and_chi2():
    base = np.array([1] * 30 + [0] * 20, dtype=float)
    cur = base.copy()
    cur[:9] = 0  # 9 pass→fail
    cur[30:32] = 1  # 2 fail→pass
    p, table = stats.mcnemar_test(cur, base)
    assert table == [[21, 9], [2, 18]]
    assert p == pytest.approx(mcnemar(table, exact=True).pvalue)
    assert p == pytest.approx(sps.binomtest(2, 11, 0.5).pvalue)  # exact McNemar = binomial test
    big_base = np.array([1] * 200 + [0] * 100, dtype=float)
    big_cur = big_base.copy()
    big_cur[:30] = 0
    big_cur[200:210] = 1
    p_big, big_table = stats.mcnemar_test(big_cur, big_base)
    assert p_big == pytest.approx(mcnemar(big_table, exact=False, correction=True).pvalue)


def test_fisher_matches_scipy():
    cur = np.array([1] * 12 + [0] * 8, dtype=float)
    base = np.array([1] * 18 + [0] * 2, dtype=float)
    assert stats.fisher_exact_test(cur, base) == pytest.approx(sps.fisher_exact([[12, 8], [18, 2]]).pvalue)


def test_cohens_d_textbook_and_formula():
    # Two groups with means 5 and 3 and identical SD 2 -> d = 1.
    x = np.array([3.0, 5.0, 7.0, 3.0, 5.0, 7.0])
    y = x - 2.0
    assert stats.cohens_d(x, y) == pytest.approx(2.0 / np.std(x, ddof=1))
    nx, ny = len(A), len(B)
    pooled = math.sqrt(((nx - 1) * A.var(ddof=1) + (ny - 1) * B.var(ddof=1)) / (nx + ny - 2))
    assert stats.cohens_d(A, B) == pytest.approx((A.mean() - B.mean()) / pooled)


def test_cliffs_delta_equals_mann_whitney_identity_and_brute_force():
    u = sps.mannwhitneyu(A, B, alternative="two-sided").statistic  # U of the first sample (ties count 1/2)
    assert stats.cliffs_delta(A, B) == pytest.approx(2 * u / (len(A) * len(B)) - 1)
    ties_a, ties_b = np.array([1, 2, 2, 3, 5.0]), np.array([2, 2, 4, 1.0])
    brute = sum(np.sign(a - b) for a in ties_a for b in ties_b) / (len(ties_a) * len(ties_b))
    assert stats.cliffs_delta(ties_a, ties_b) == pytest.approx(brute)
    assert stats.cliffs_delta([10, 11], [1, 2]) == 1.0


def test_benjamini_hochberg_matches_statsmodels():
    pvals = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216]
    reject, adjusted = stats.benjamini_hochberg(pvals, 0.05)
    ref_reject, ref_adjusted, _, _ = multipletests(pvals, alpha=0.05, method="fdr_bh")
    assert reject == list(ref_reject)
    assert adjusted == pytest.approx(list(ref_adjusted))
    assert reject[:2] == [True, True] and not any(reject[2:])


def test_bootstrap_difference_matches_scipy_bootstrap():
    low, high = stats.bootstrap_mean_difference(A, B, n_resamples=999, seed=3)
    ref = sps.bootstrap((A, B), lambda x, y, axis=-1: x.mean(axis=axis) - y.mean(axis=axis), n_resamples=999,
                        method="percentile", random_state=np.random.default_rng(3), vectorized=True)
    assert (low, high) == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high))
    assert low < A.mean() - B.mean() < high


def test_t_and_bootstrap_intervals_match_scipy():
    low, high = t_interval(A, 0.9)
    ref = sps.t.interval(0.9, len(A) - 1, loc=A.mean(), scale=sps.sem(A))
    assert (low, high) == pytest.approx(ref)
    b_low, b_high = bootstrap_interval(A, 0.95, 1500, seed=11)
    ref_b = sps.bootstrap((A,), np.mean, n_resamples=1500, random_state=np.random.default_rng(11), vectorized=True)
    assert (b_low, b_high) == pytest.approx((ref_b.confidence_interval.low, ref_b.confidence_interval.high))


def test_aggregator_summary_and_degenerate_inputs():
    summary = ResultAggregator(n_resamples=500).summarize(list(A) + [float("nan"), None])
    assert summary.n == len(A)
    assert summary.mean == pytest.approx(A.mean()) and summary.std == pytest.approx(A.std(ddof=1))
    assert summary.median == pytest.approx(np.median(A))
    assert summary.ci_low < summary.mean < summary.ci_high
    constant = ResultAggregator().summarize([1.0, 1.0, 1.0])
    assert (constant.ci_low, constant.ci_high, constant.bootstrap_ci_low) == (1.0, 1.0, 1.0)
    assert ResultAggregator().summarize([]).mean is None


def test_degenerate_tests_give_p_one():
    same = [2.0] * 10
    assert stats.welch_t_test(same, same) == 1.0
    assert stats.mann_whitney_u(same, same) == 1.0
    assert stats.wilcoxon_signed_rank(same, same) == 1.0
    assert stats.mcnemar_test([1] * 5, [1] * 5)[0] == 1.0


def test_tail_exceedance_matches_a_binomial_test():
    base = np.arange(1, 101, dtype=float)  # p95 = 95.05
    cur = np.concatenate([np.full(80, 50.0), np.full(20, 99.0)])
    share, p = stats.tail_exceedance_test(cur, base, 95.0)
    assert share == 0.2
    assert p == pytest.approx(sps.binomtest(20, 100, 0.05, alternative="greater").pvalue)
    share_hib, _ = stats.tail_exceedance_test(cur, base, 95.0, higher_is_better=True)  # below p5 = 5.95
    assert share_hib == 0.0


def test_comparative_summary_lines_up_runs():
    agg = ResultAggregator(bootstrap=False)
    runs = {"v1": {"acc": agg.summarize([1.0, 0.0]), "lat": agg.summarize([10.0, 20.0])}, "v2": {"acc": agg.summarize([1.0, 1.0])}}
    assert agg.comparative_summary(runs) == [{"metric": "acc", "v1": 0.5, "v2": 1.0}, {"metric": "lat", "v1": 15.0, "v2": None}]
