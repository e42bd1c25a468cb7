"""Adaptive budget: the halving schedule, elimination, ordering of eliminated models, bad budgets."""

import math

import numpy as np
import pytest

from lead_hf.budget import Budget, successive_halving
from lead_hf.data import per_class_sample
from lead_hf.errors import InvalidInputError


def test_halving_schedule_and_kept_counts():
    assert Budget.halving(100).per_class == (12, 34, 100)
    assert Budget.halving(100, eta=2, first_per_class=20).per_class == (25, 50, 100)
    assert Budget.halving(10).per_class == (10,)  # too small to split: one round, the fixed budget
    budget = Budget((10, 30, 100), keep=1 / 3)
    assert [budget.n_kept(m) for m in (1, 2, 3, 4, 13, 19)] == [1, 2, 2, 2, 5, 7]  # at least min_kept=2


def test_models_are_eliminated_and_ordered_by_their_last_round():
    true_quality = {f"m{i}": float(i) for i in range(9)}  # m8 best
    calls = []

    def score_round(models, per_class):
        calls.append((per_class, sorted(models)))
        # Small rounds see the quality through noise that reverses m4/m5; the full round sees it exactly.
        noisy = {"m4": 5.5} if per_class < 100 else {}
        return {m: noisy.get(m, true_quality[m]) + (0.0 if m != "m0" else math.nan) for m in models}

    results = successive_halving(list(true_quality), score_round, Budget((10, 30, 100), keep=1 / 3))
    assert calls[0] == (10, sorted(true_quality))
    assert calls[1] == (30, ["m6", "m7", "m8"])  # ceil(8 scored / 3) = 3 go on; m0 failed
    assert calls[2] == (100, ["m7", "m8"])  # min_kept
    # m4 and m5 were eliminated together: ordered by that round's (noisy) score, never against later rounds
    assert [r.model for r in results] == ["m8", "m7", "m6", "m4", "m5", "m3", "m2", "m1", "m0"]
    assert [r.round for r in results] == [2, 2, 1, 0, 0, 0, 0, 0, 0]
    assert results[3].score == 5.5 and results[3].per_class == 10 and results[2].per_class == 30
    assert math.isnan(results[-1].score)  # a failure ranks last


def test_racing_keeps_only_the_models_within_noise_of_the_leader():
    quality = {"a": 1.0, "b": 0.99, "c": 0.5, "d": 0.2}
    calls = []

    def score_round(models, per_class):
        calls.append((per_class, sorted(models)))
        return {m: quality[m] for m in models}

    def within_noise(kept, other):  # the data cannot tell a from b, and tells both from c and d
        return abs(quality[kept] - quality[other]) < 0.1

    budget = Budget.racing(100)
    assert budget.per_class == (25, 100) and budget.keep == 0.0 and budget.min_kept == 1
    results = successive_halving(list(quality), score_round, budget, within_noise=within_noise)
    assert calls == [(25, ["a", "b", "c", "d"]), (100, ["a", "b"])]
    assert [(r.model, r.per_class) for r in results] == [("a", 100), ("b", 100), ("c", 25), ("d", 25)]
    with pytest.raises(InvalidInputError, match="pass within_noise"):
        successive_halving(list(quality), score_round, budget)
    assert Budget.racing(3).per_class == (1, 3) and Budget.racing(1).per_class == (1,)


def test_the_same_seeds_larger_sample_is_a_superset():
    labels = np.repeat(np.arange(4), [30, 12, 50, 7])
    previous = set()
    for per_class in (3, 10, 25, 60):
        rows = per_class_sample(labels, per_class, seed=5)
        assert set(previous) <= set(rows.tolist())
        assert np.bincount(labels[rows]).tolist() == [min(per_class, n) for n in (30, 12, 50, 7)]
        previous = set(rows.tolist())
    assert not np.array_equal(per_class_sample(labels, 10, seed=5), per_class_sample(labels, 10, seed=6))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"per_class": (30, 10)}, "increasing"), ({"per_class": ()}, "increasing"), ({"per_class": (0, 5)}, "increasing"),
     ({"per_class": (5, 10), "keep": 1.0}, "share in"), ({"per_class": (5, 10), "min_kept": 0}, "min_kept"),
     ({"per_class": (5, 10), "keep_within_noise": "yes"}, "True or False")],
)
def test_bad_budgets_say_what_to_pass(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        Budget(**kwargs)
    with pytest.raises(InvalidInputError, match="eta"):
        Budget.halving(100, eta=1)
