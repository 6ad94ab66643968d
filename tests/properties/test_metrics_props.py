"""Properties of `w2s.metrics`: PGR's definition and invariances, AUROC (sklearn's, and the vectorised
bootstrap one) against its definition, agreement, bootstrap intervals."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, roc_auc_score
from strategies import (
    affine_maps,
    binary_labels,
    non_positive_gaps,
    pgr_triples,
    probabilities,
    scores_and_labels,
)

from w2s.metrics import PGR, _weighted_auroc, accuracy, accuracy_interval, agreement, auroc, pgr

PgrFn = Callable[[float, float, float], PGR]


def check_pgr_affine_invariance(pgr_fn: PgrFn, triple: tuple[float, float, float],
                                affine: tuple[float, float]) -> None:
    """PGR is a ratio of differences: a common rescale x -> a·x + b (a > 0) leaves it unchanged."""
    weak, w2s, ceiling = triple
    a, b = affine
    before = pgr_fn(weak, w2s, ceiling).value
    after = pgr_fn(a * weak + b, a * w2s + b, a * ceiling + b).value
    assert before is not None and after is not None
    assert math.isclose(before, after, rel_tol=1e-6, abs_tol=1e-6), (before, after)


@given(triple=pgr_triples())
def test_pgr_is_0_at_weak_and_1_at_ceiling(triple: tuple[float, float, float]) -> None:
    weak, _, ceiling = triple
    assert pgr(weak, weak, ceiling) == PGR(0.0, None)
    assert pgr(weak, ceiling, ceiling) == PGR(1.0, None)


@given(triple=pgr_triples(), other=st.floats(0.0, 1.0))
def test_pgr_increases_with_w2s(triple: tuple[float, float, float], other: float) -> None:
    weak, w2s, ceiling = triple
    lo, hi = sorted((w2s, other))
    v_lo, v_hi = pgr(weak, lo, ceiling).value, pgr(weak, hi, ceiling).value
    assert v_lo is not None and v_hi is not None
    assert v_lo <= v_hi
    if hi - lo > 1e-9:
        assert v_lo < v_hi


@given(triple=pgr_triples(), affine=affine_maps())
def test_pgr_unchanged_under_common_affine_rescale(triple: tuple[float, float, float],
                                                   affine: tuple[float, float]) -> None:
    check_pgr_affine_invariance(pgr, triple, affine)


@given(triple=non_positive_gaps())
def test_pgr_undefined_when_gap_not_positive(triple: tuple[float, float, float]) -> None:
    result = pgr(*triple)
    assert result.value is None
    assert result.reason is not None and "does not beat" in result.reason


@given(triple=pgr_triples(min_gap=0.0), min_gap=st.floats(0.0, 0.5))
def test_pgr_defined_iff_gap_exceeds_min_gap(triple: tuple[float, float, float], min_gap: float) -> None:
    weak, w2s, ceiling = triple
    result = pgr(weak, w2s, ceiling, min_gap=min_gap)
    assert (result.value is None) == (ceiling - weak <= min_gap)
    assert (result.value is None) == (result.reason is not None)
    if result.value is not None:
        # Never huge: bounded by the largest |w2s - weak| over the smallest allowed gap.
        assert abs(result.value) <= 1.0 / (ceiling - weak)


def pairwise_auroc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The definition: P(a random positive scores above a random negative) + 1/2 P(tie), over all
    (positive, negative) pairs, each pair weighted by the product of its rows' weights."""
    w = np.ones_like(scores) if weights is None else weights
    pos, neg = labels.astype(bool), ~labels.astype(bool)
    diff = scores[pos][:, None] - scores[neg][None, :]
    pair_w = w[pos][:, None] * w[neg][None, :]
    return float((pair_w * ((diff > 0) + 0.5 * (diff == 0))).sum() / pair_w.sum())


@given(data=scores_and_labels())
def test_auroc_is_the_pairwise_probability(data: tuple[np.ndarray, np.ndarray]) -> None:
    scores, labels = data
    assert math.isclose(auroc(scores, labels), pairwise_auroc(scores, labels), abs_tol=1e-12)


@given(data=scores_and_labels(), counts=st.data())
def test_bootstrap_auroc_is_the_weighted_definition_and_sklearns(data: tuple[np.ndarray, np.ndarray],
                                                                 counts: st.DataObject) -> None:
    """The vectorised AUROC of the bootstrap under row multiplicities (a resample) equals the weighted
    definition and sklearn's `sample_weight` AUROC."""
    scores, labels = data
    w = np.array(counts.draw(st.lists(st.integers(1, 5), min_size=len(scores), max_size=len(scores)),
                             label="row counts"), dtype=np.float64)
    got = _weighted_auroc(scores, labels.astype(bool), w[None])[0]
    assert math.isclose(got, pairwise_auroc(scores, labels, w), abs_tol=1e-12)
    assert math.isclose(got, roc_auc_score(labels, scores, sample_weight=w), abs_tol=1e-12)


@given(data=scores_and_labels())
def test_auroc_of_negated_scores_is_complement(data: tuple[np.ndarray, np.ndarray]) -> None:
    scores, labels = data
    assert math.isclose(auroc(-scores, labels), 1.0 - auroc(scores, labels), abs_tol=1e-12)


@given(labels=binary_labels(), data=st.data())
def test_accuracy_matches_sklearn(labels: np.ndarray, data: st.DataObject) -> None:
    p1 = data.draw(probabilities(labels.shape[0]), label="p1")
    assert accuracy(p1, labels) == accuracy_score(labels, p1 > 0.5)


@given(labels=binary_labels(min_size=1), data=st.data())
def test_agreement_in_unit_interval_and_consistent(labels: np.ndarray, data: st.DataObject) -> None:
    n = labels.shape[0]
    student = data.draw(probabilities(n), label="student")
    supervisor = data.draw(probabilities(n), label="supervisor")
    result = agreement(student, supervisor, labels)
    assert 0.0 <= result.overall <= 1.0
    assert result.n_correct + result.n_wrong == n
    assert result.n_correct == int(((supervisor > 0.5) == labels).sum())
    parts = [(result.supervisor_correct, result.n_correct), (result.supervisor_wrong, result.n_wrong)]
    for fraction, count in parts:
        assert (fraction is None) == (count == 0)
        assert fraction is None or 0.0 <= fraction <= 1.0
    weighted = sum(f * c for f, c in parts if f is not None) / n
    assert math.isclose(weighted, result.overall, abs_tol=1e-12)


@given(labels=binary_labels(min_size=1), data=st.data())
def test_agreement_is_1_for_identical_predictions(labels: np.ndarray, data: st.DataObject) -> None:
    p1 = data.draw(probabilities(labels.shape[0]), label="p1")
    result = agreement(p1, p1.copy(), labels)
    assert result.overall == 1.0
    assert result.supervisor_correct in (1.0, None) and result.supervisor_wrong in (1.0, None)


@given(data=st.data(), level=st.floats(0.5, 0.99), seed=st.integers(0, 2**32 - 1))
def test_accuracy_interval_contains_the_mean(data: st.DataObject, level: float, seed: int) -> None:
    n_seeds, n_rows = data.draw(st.integers(1, 4), label="S"), data.draw(st.integers(1, 40), label="N")
    correct = np.array(data.draw(st.lists(st.booleans(), min_size=n_seeds * n_rows, max_size=n_seeds * n_rows),
                                 label="correct")).reshape(n_seeds, n_rows)
    interval = accuracy_interval(correct, level=level, n_resamples=200, seed=seed)
    assert 0.0 <= interval.low <= interval.mean <= interval.high <= 1.0
    assert interval.mean == pytest.approx(correct.mean()) and interval.n == n_seeds
    assert interval == accuracy_interval(correct, level=level, n_resamples=200, seed=seed)
