"""Ranking metrics: weighted tau cross-checked against scipy's merge-sort implementation, and friends."""

import logging
import math

import numpy as np
import pytest
from scipy import stats

from lead_hf.errors import InvalidInputError
from lead_hf.evaluation import (
    evaluate_ranking,
    kendall_tau,
    pearson,
    spearman,
    top_k_hit,
    weighted_tau,
)


def _random_pair(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray]:
    n = int(rng.integers(2, 30))
    if kind == "continuous":
        return rng.normal(size=n), rng.normal(size=n)
    if kind == "ties_in_scores":
        return rng.integers(0, 4, n).astype(float), rng.normal(size=n)
    if kind == "ties_in_truth":
        return rng.normal(size=n), rng.integers(0, 3, n).astype(float)
    if kind == "joint_ties":  # few distinct values on both sides: many pairs tied in both
        return rng.integers(0, 3, n), rng.integers(0, 2, n).astype(float)
    if kind == "mixed_dtypes":  # int scores against rounded float truth (scipy re-ranks these)
        return rng.integers(-5, 5, n), rng.normal(size=n).round(1)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["continuous", "ties_in_scores", "ties_in_truth", "joint_ties", "mixed_dtypes"])
def test_weighted_tau_equals_scipy(kind):
    rng = np.random.default_rng(sum(map(ord, kind)))
    n_nan = 0
    for _ in range(200):
        x, y = _random_pair(rng, kind)
        expected = stats.weightedtau(x, y)[0]
        got = weighted_tau(x, y)
        if math.isnan(expected):  # a constant side: both must say "undefined"
            n_nan += 1
            assert math.isnan(got)
        else:
            assert got == pytest.approx(expected, abs=1e-12)
    assert n_nan < 200  # the loop compared real values


def test_weighted_tau_golden_values():
    # scipy's documented example; the multiplicative variant differs, so the weighting is really additive
    x, y = [12, 2, 1, 12, 2], [1, 4, 7, 1, 0]
    assert weighted_tau(x, y) == pytest.approx(-0.5669496815368272, abs=1e-15)
    assert weighted_tau(x, y) != pytest.approx(stats.weightedtau(x, y, additive=False)[0])
    assert weighted_tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert weighted_tau([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1.0)


def test_weighted_tau_weighs_top_mistakes_more():
    truth = np.arange(6.0)[::-1]  # model 0 is the best
    swap_top = weighted_tau([4, 5, 3, 2, 1, 0], truth)
    swap_bottom = weighted_tau([5, 4, 3, 2, 0, 1], truth)
    assert kendall_tau([4, 5, 3, 2, 1, 0], truth) == pytest.approx(kendall_tau([5, 4, 3, 2, 0, 1], truth))
    assert swap_top < swap_bottom < 1.0


def test_weighted_tau_is_nan_for_constant_input():
    assert math.isnan(weighted_tau([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert math.isnan(weighted_tau([1.0, 2.0, 3.0], [5, 5, 5]))


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [(kendall_tau, stats.kendalltau), (spearman, stats.spearmanr), (pearson, stats.pearsonr)],
)
def test_correlations_equal_scipy(ours, theirs):
    rng = np.random.default_rng(1)
    for _ in range(20):
        x, y = rng.integers(0, 5, 12).astype(float), rng.normal(size=12)
        assert ours(x, y) == pytest.approx(theirs(x, y).statistic, abs=1e-12)
    assert math.isnan(ours([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]))


NOT_VALID_PAIRS = [
    ([1.0, 2.0], [1.0, 2.0, 3.0], "2 entries but truth has 3"),  # unequal lengths
    ([1.0], [2.0], "at least 2 models"),  # a single model
    ([], [], "at least 2 models"),  # empty
    ([1.0, np.nan, 2.0], [1.0, 2.0, 3.0], "scores contains a non-finite value"),  # a failed model
    ([1.0, 2.0, 3.0], [1.0, np.inf, 3.0], "truth contains a non-finite value"),
    ([[1.0, 2.0]], [[1.0, 2.0]], "must be 1-D"),  # 2-D
    (["a", "b"], [1.0, 2.0], "must be numeric"),  # strings
]


@pytest.mark.parametrize("fn", [weighted_tau, kendall_tau, spearman, pearson])
@pytest.mark.parametrize(("scores", "truth", "match"), NOT_VALID_PAIRS)
def test_metrics_refuse_bad_input(fn, scores, truth, match):
    with pytest.raises(InvalidInputError, match=match):
        fn(scores, truth)


@pytest.mark.parametrize(
    ("scores", "truth", "k", "expected"),
    [
        ([0.1, 0.9, 0.5], [70.0, 90.0, 80.0], 1, True),  # best model scored highest
        ([0.9, 0.1, 0.5], [70.0, 90.0, 80.0], 2, False),  # best model scored last
        ([0.9, 0.1, 0.5], [70.0, 90.0, 80.0], 3, True),  # k = n always hits
        ([0.5, 0.5, 0.5], [70.0, 90.0, 80.0], 2, False),  # ties count against the score
        ([0.9, 0.5, 0.5], [70.0, 90.0, 80.0], 2, False),  # best tied with another for second place
        ([0.1, 0.2, 0.9], [90.0, 70.0, 90.0], 1, True),  # two best models: finding either is a hit
    ],
)
def test_top_k_hit(scores, truth, k, expected):
    assert top_k_hit(scores, truth, k) is expected


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_top_k_hit_refuses_bad_k(k):
    with pytest.raises(InvalidInputError, match="k must be a positive integer"):
        top_k_hit([1.0, 2.0], [1.0, 2.0], k)


def test_evaluate_ranking_matches_models_by_name():
    truth = {"a": 60.0, "b": 90.0, "c": 75.0, "d": 80.0}
    scores = {"d": 3.0, "c": 1.0, "a": 2.0, "b": 4.0}  # another order than truth
    result = evaluate_ranking(scores, truth)
    models = sorted(truth)
    x, y = [scores[m] for m in models], [truth[m] for m in models]
    assert list(result) == ["weighted_tau", "kendall_tau", "spearman", "pearson", "top1", "top3"]
    assert result["weighted_tau"] == pytest.approx(stats.weightedtau(x, y)[0])
    assert result["kendall_tau"] == pytest.approx(stats.kendalltau(x, y).statistic)
    assert result["spearman"] == pytest.approx(0.8)  # squared rank differences sum to 2
    assert result["pearson"] == pytest.approx(stats.pearsonr(x, y).statistic)
    assert (result["top1"], result["top3"]) == (1.0, 1.0)


def test_evaluate_ranking_drops_failed_and_unknown_models(caplog):
    truth = {"a": 60.0, "b": 90.0, "c": 75.0, "d": 80.0}
    scores = {"a": 1.0, "b": math.nan, "c": 2.0, "d": 3.0, "zzz": 9.0}
    with caplog.at_level(logging.WARNING, logger="lead_hf"):
        result = evaluate_ranking(scores, truth)
    assert "non-finite score (failed?): ['b']" in caplog.text
    assert "no ground truth: ['zzz']" in caplog.text
    # b (the best) failed, so the remaining three are ranked perfectly and d is the best left
    assert result["weighted_tau"] == pytest.approx(1.0)
    assert result["top1"] == 1.0


def test_evaluate_ranking_needs_two_common_models():
    with pytest.raises(InvalidInputError, match=r"at least 2 models .* got 1 \(\['a'\]\)"):
        evaluate_ranking({"a": 1.0, "b": None, "x": 2.0}, {"a": 1.0, "b": 2.0, "c": 3.0})
    with pytest.raises(InvalidInputError, match="score of model 'a' is not a number: 'high'"):
        evaluate_ranking({"a": "high", "b": 1.0}, {"a": 1.0, "b": 2.0})
