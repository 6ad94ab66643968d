"""Unit tests of `w2s.metrics` with hand-computed numbers, and every InputError path."""

from __future__ import annotations

import numpy as np
import pytest

from w2s.errors import InputError
from w2s.metrics import PGR, Agreement, Interval, accuracy, agreement, auroc, bootstrap_ci, pgr


def test_accuracy_hand_value() -> None:
    # p1 = 0.5 predicts 0: predictions [1, 0, 0, 1] against [1, 0, 1, 0].
    assert accuracy(np.array([0.9, 0.4, 0.5, 0.6]), np.array([1, 0, 1, 0])) == 0.5
    assert accuracy([0.2, 0.8], [False, True]) == 1.0


def test_auroc_hand_values() -> None:
    # Positive 0.35 beats negative 0.1 only; positive 0.8 beats both: 3 of 4 pairs.
    assert auroc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    assert auroc([0.5, 0.5], [0, 1]) == 0.5  # a tie counts one half
    # Pairs (pos, neg): (0.5, 0.2) win, (0.5, 0.5) tie, (0.9, 0.2) win, (0.9, 0.5) win -> 3.5 / 4.
    assert auroc([0.2, 0.5, 0.5, 0.9], [0.0, 0.0, 1.0, 1.0]) == 0.875


def test_pgr_hand_values() -> None:
    result = pgr(0.6, 0.7, 0.8)
    assert result.value == pytest.approx(0.5) and result.reason is None
    assert pgr(0.6, 0.5, 0.8).value == pytest.approx(-0.5)
    assert pgr(0.6, 0.9, 0.8).value == pytest.approx(1.5)


def test_pgr_undefined_without_a_gap() -> None:
    assert pgr(0.74, 0.8, 0.71) == PGR(None, "ceiling 0.71 does not beat weak 0.74 (gap -0.030)")
    assert pgr(0.7, 0.8, 0.7).value is None
    small = pgr(0.70, 0.8, 0.71, min_gap=0.02)
    assert small.value is None and small.reason is not None and "min_gap 0.02" in small.reason
    assert pgr(0.70, 0.8, 0.71, min_gap=0.005).value == pytest.approx(10.0)


@pytest.mark.parametrize(("args", "match"), [
    ((float("nan"), 0.7, 0.8), "weak must be finite, got nan"),
    ((0.6, float("inf"), 0.8), "w2s must be finite, got inf"),
    ((0.6, 0.7, 0.8, -0.1), "min_gap must be >= 0, got -0.1"),
])
def test_pgr_rejects_bad_input(args: tuple, match: str) -> None:
    with pytest.raises(InputError, match=match):
        pgr(*args)


def test_agreement_hand_value() -> None:
    labels = np.array([1, 1, 0, 0, 1])
    supervisor = np.array([0.9, 0.2, 0.1, 0.7, 0.8])  # predicts [1, 0, 0, 1, 1]: right on 0, 2, 4
    student = np.array([0.8, 0.9, 0.3, 0.4, 0.1])  # predicts [1, 1, 0, 0, 0]
    # agree on 0, 2 (supervisor right) and nowhere on 1, 3 (supervisor wrong); disagree on 4.
    assert agreement(student, supervisor, labels) == Agreement(
        overall=0.4, supervisor_correct=2 / 3, supervisor_wrong=0.0, n_correct=3, n_wrong=2)


def test_agreement_empty_group_is_none() -> None:
    result = agreement([0.9, 0.1], [0.8, 0.2], [1, 0])
    assert result == Agreement(overall=1.0, supervisor_correct=1.0, supervisor_wrong=None,
                               n_correct=2, n_wrong=0)


def test_bootstrap_single_value_and_constant_values() -> None:
    assert bootstrap_ci([0.3]) == Interval(mean=0.3, low=0.3, high=0.3, n=1)
    interval = bootstrap_ci([0.1] * 7, n_resamples=500)
    assert interval.low <= interval.mean <= interval.high and interval.mean == pytest.approx(0.1)
    assert interval.high - interval.low < 1e-12


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    values = [0.13, 0.52, 0.31, 0.87, 0.24, 0.66, 0.05, 0.45]
    first = bootstrap_ci(values, n_resamples=2000, seed=3)
    assert first == bootstrap_ci(values, n_resamples=2000, seed=3)
    assert first != bootstrap_ci(values, n_resamples=2000, seed=4)
    assert first.mean == pytest.approx(0.40375) and first.n == 8
    assert 0.05 <= first.low < 0.40375 < first.high <= 0.87
    narrow = bootstrap_ci(values, level=0.5, n_resamples=2000, seed=3)
    assert first.low <= narrow.low and narrow.high <= first.high


def test_bootstrap_interval_always_contains_the_mean() -> None:
    # Here the raw percentile interval is [0.24999999999999997, 0.24999999999999997] (resampled means
    # round differently from the sample mean 0.25); it is widened to reach the mean.
    interval = bootstrap_ci([0.1, 0.1, 0.1, 0.7], level=0.01, n_resamples=1000, seed=0)
    assert interval.low <= interval.mean == 0.25 <= interval.high
    assert interval.high == 0.25 and interval.low < 0.25


@pytest.mark.parametrize(("fn", "args", "match"), [
    (accuracy, ([0.5], [2]), r"labels: 1 values are not 0 or 1 \(first: 2\)"),
    (accuracy, ([0.5, 0.2], [1]), "labels: length 1 differs from the predictions' length 2"),
    (accuracy, ([], []), r"p1: empty \(N = 0\)"),
    (accuracy, ([float("nan")], [1]), r"p1: 1 non-finite values \(first: nan\)"),
    (auroc, ([0.1, 0.2], [1, 1]), "AUROC needs both classes, got 2 positives and 0 negatives"),
    (auroc, ([0.1, float("inf")], [0, 1]), "scores: 1 non-finite values"),
    (auroc, ([0.1, 0.2], [0, 0.5]), "labels: 1 values are not 0 or 1"),
    (auroc, ([0.1, 0.2], [0, 1, 1]), "labels: length 3 differs"),
    (auroc, ([], []), "scores: empty"),
    (auroc, ([[0.1, 0.2]], [[0, 1]]), "scores: expected a 1-D array, got shape"),
    (agreement, ([0.1, 0.2], [0.3], [0, 1]), "lengths differ, 2 vs 1"),
    (agreement, ([0.1], [0.3], [7]), "labels: 1 values are not 0 or 1"),
    (bootstrap_ci, ([],), "values: empty"),
    (bootstrap_ci, ([0.1, float("nan")],), "values: 1 non-finite values"),
    (bootstrap_ci, ([0.1, None],), "values: expected numbers, got dtype object"),
])
def test_metrics_reject_bad_input(fn, args: tuple, match: str) -> None:
    with pytest.raises(InputError, match=match):
        fn(*args)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"level": 1.0}, r"level must be in \(0, 1\), got 1.0"),
    ({"n_resamples": 0}, "n_resamples must be >= 1, got 0"),
])
def test_bootstrap_rejects_bad_settings(kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        bootstrap_ci([0.1, 0.2], **kwargs)


def test_metrics_do_not_mutate_inputs() -> None:
    p1, labels = np.array([0.9, 0.1, 0.6]), np.array([1, 0, 0])
    before = (p1.copy(), labels.copy())
    accuracy(p1, labels), auroc(p1, labels), agreement(p1, p1, labels)
    assert np.array_equal(p1, before[0]) and np.array_equal(labels, before[1])
