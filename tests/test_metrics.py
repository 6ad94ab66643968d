"""Unit tests of `w2s.metrics` with hand-computed numbers, and every InputError path."""

from __future__ import annotations

import numpy as np
import pytest

from w2s.errors import InputError
from w2s.metrics import PGR, Agreement, accuracy, accuracy_interval, agreement, auroc, pgr


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
    (accuracy_interval, ([],), r"expected an \(S, N\) array of 0/1, got shape \(0,\)"),
    (accuracy_interval, ([[0, 2]],), r"expected an \(S, N\) array of 0/1"),
])
def test_metrics_reject_bad_input(fn, args: tuple, match: str) -> None:
    with pytest.raises(InputError, match=match):
        fn(*args)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"level": 1.0}, r"analyze.ci_level: must be in \(0, 1\), got 1.0"),
    ({"n_resamples": 0}, "analyze.n_resamples: must be >= 100, got 0"),
])
def test_intervals_reject_bad_settings(kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        accuracy_interval([[0, 1], [1, 1]], **kwargs)


def test_metrics_do_not_mutate_inputs() -> None:
    p1, labels = np.array([0.9, 0.1, 0.6]), np.array([1, 0, 0])
    before = (p1.copy(), labels.copy())
    accuracy(p1, labels), auroc(p1, labels), agreement(p1, p1, labels)
    assert np.array_equal(p1, before[0]) and np.array_equal(labels, before[1])


# ------------------------------------------------------------------ paired bootstrap (issue 12)

def _runs(rng: np.random.Generator, acc: float, n_seeds: int = 3, n_rows: int = 400) -> np.ndarray:
    """p(y=1) of runs on all-positive rows that are right with probability `acc`."""
    return np.where(rng.random((n_seeds, n_rows)) < acc, 0.9, 0.1)


def test_weighted_auroc_with_unit_weights_is_auroc() -> None:
    from w2s.metrics import _weighted_auroc

    rng = np.random.default_rng(0)
    scores, labels = rng.random(60).round(1), rng.random(60) < 0.4  # rounding makes ties
    assert _weighted_auroc(scores, labels, np.ones((1, 60)))[0] == pytest.approx(auroc(scores, labels))
    counts = rng.integers(0, 3, size=60).astype(float)
    expanded = np.repeat(np.arange(60), counts.astype(int))
    assert _weighted_auroc(scores, labels, counts[None])[0] == pytest.approx(
        auroc(scores[expanded], labels[expanded]))


def test_pgr_interval_is_the_ratio_of_mean_accuracies() -> None:
    from w2s.metrics import pgr_interval

    rng = np.random.default_rng(1)
    weak, w2s, ceiling = _runs(rng, 0.6), _runs(rng, 0.7), _runs(rng, 0.9)
    labels = np.ones(400, dtype=bool)
    r = pgr_interval(weak, w2s, ceiling, labels, n_resamples=500)
    acc = {k: float((v > 0.5).mean()) for k, v in {"weak": weak, "w2s": w2s, "ceiling": ceiling}.items()}
    assert r.status == "ok" and r.n_seeds == 3 and r.n_rows == 400
    assert r.value == pytest.approx((acc["w2s"] - acc["weak"]) / (acc["ceiling"] - acc["weak"]))
    assert r.low is not None and r.high is not None and r.low < r.value < r.high
    assert r.gap_low is not None and r.gap_low > 0
    assert r == pgr_interval(weak, w2s, ceiling, labels, n_resamples=500)  # deterministic


def test_pgr_interval_flags_a_gap_within_noise() -> None:
    from w2s.metrics import pgr_interval

    rng = np.random.default_rng(2)
    weak, w2s, ceiling = _runs(rng, 0.70), _runs(rng, 0.71), _runs(rng, 0.715)
    r = pgr_interval(weak, w2s, ceiling, np.ones(400, dtype=bool), n_resamples=500)
    assert r.gap > 0 and r.status == "gap_not_significant" and r.value is None
    assert r.reason is not None and "not significant" in r.reason and "n = 3 seeds x 400 test rows" in r.reason


def test_pgr_interval_no_gap_and_one_seed() -> None:
    from w2s.metrics import pgr_interval

    rng = np.random.default_rng(3)
    labels = np.ones(400, dtype=bool)
    r = pgr_interval(_runs(rng, 0.8), _runs(rng, 0.7), _runs(rng, 0.6), labels, n_resamples=200)
    assert r.status == "no_gap" and r.value is None and "does not beat" in (r.reason or "")
    one = pgr_interval(_runs(rng, 0.6, 1), _runs(rng, 0.7, 1), _runs(rng, 0.9, 1), labels, n_resamples=200)
    assert one.status == "too_few_seeds" and one.value is not None and one.low is None and one.high is None


def test_pgr_interval_auroc_and_bad_shapes() -> None:
    from w2s.metrics import pgr_interval

    rng = np.random.default_rng(4)
    labels = rng.random(300) < 0.5
    def run(signal: float) -> np.ndarray:
        return 1 / (1 + np.exp(-(signal * (labels * 2 - 1) + rng.normal(size=(3, 300)))))
    r = pgr_interval(run(0.3), run(1.0), run(2.0), labels, score="auroc", n_resamples=300)
    assert r.status == "ok" and r.value is not None and 0 < r.value < 1
    with pytest.raises(InputError, match="every role needs the same seeds"):
        pgr_interval(run(0.3)[:2], run(1.0), run(2.0), labels)
    with pytest.raises(InputError, match="unknown score"):
        pgr_interval(run(0.3), run(1.0), run(2.0), labels, score="f1")


def test_pooled_pgr_is_the_sum_of_gains_over_the_sum_of_gaps() -> None:
    """P cells stacked (P, S, N): one cell is the plain cell; two cells pool their gains and gaps (the
    ratio of the summed means, not the mean of the ratios), sharing the resampled seeds and rows."""
    from w2s.metrics import pgr_interval

    rng = np.random.default_rng(5)
    labels = np.ones(400, dtype=bool)
    a = [_runs(rng, 0.6), _runs(rng, 0.7), _runs(rng, 0.9)]  # weak, w2s, ceiling of cell a
    b = [_runs(rng, 0.75), _runs(rng, 0.8), _runs(rng, 0.9)]
    single = pgr_interval(*a, labels, n_resamples=300)
    assert pgr_interval(*(x[None] for x in a), labels, n_resamples=300) == single
    assert pgr_interval(*(np.stack([x, x]) for x in a), labels, n_resamples=300) == single
    pooled = pgr_interval(*(np.stack([x, y]) for x, y in zip(a, b, strict=True)), labels, n_resamples=300)
    acc = [[float((x > 0.5).mean()) for x in cell] for cell in (a, b)]
    gains, gaps = sum(c[1] - c[0] for c in acc), sum(c[2] - c[0] for c in acc)
    assert pooled.status == "ok" and pooled.value == pytest.approx(gains / gaps)
    assert pooled.value != pytest.approx(np.mean([(c[1] - c[0]) / (c[2] - c[0]) for c in acc]))
    assert pooled.low is not None and pooled.high is not None and pooled.low < pooled.value < pooled.high
    with pytest.raises(InputError, match="pooled cells: 2 weak, 1 w2s"):
        pgr_interval(np.stack([a[0], b[0]]), a[1][None], np.stack([a[2], b[2]]), labels)


def test_accuracy_interval_includes_seed_and_row_noise() -> None:
    from w2s.metrics import accuracy_interval

    rng = np.random.default_rng(5)
    correct = rng.random((3, 800)) < 0.7
    iv = accuracy_interval(correct, n_resamples=1000)
    assert iv.n == 3 and iv.mean == pytest.approx(correct.mean())
    assert iv.high - iv.low > 2 * 1.96 * np.sqrt(0.21 / 800) * 0.8  # at least the test-row noise
    same = np.repeat(correct[:1], 3, axis=0)  # three identical seeds: test-row noise only
    assert accuracy_interval(same, n_resamples=1000).high - accuracy_interval(same, n_resamples=1000).low < 0.08
