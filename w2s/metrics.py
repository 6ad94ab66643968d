"""Metrics of the weak-to-strong analysis: numpy arrays in, Python floats (or frozen dataclasses) out.

- `accuracy`, `auroc`: of p(y=1) against binary labels.
- `pgr`: performance gap recovered, (w2s − weak) / (ceiling − weak), undefined (None, with a reason)
  when the ceiling does not beat the weak supervisor.
- `agreement`: student–supervisor agreement, split by whether the supervisor is right.
- `bootstrap_ci`: percentile-bootstrap interval of a mean over seeds.

Labels may be bool, int or float arrays whose values are all 0 or 1. Nothing here mutates its inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from w2s.errors import InputError

# Bootstrap resamples are drawn in chunks of at most this many indices, to bound memory.
_BOOTSTRAP_CHUNK = 1_000_000


def _as_vector(x: npt.ArrayLike, what: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise InputError(f"{what}: expected a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise InputError(f"{what}: empty (N = 0)")
    return arr


def _finite(x: npt.ArrayLike, what: str) -> np.ndarray:
    """A 1-D, non-empty float64 copy of `x` whose values are all finite."""
    arr = _as_vector(x, what)
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != np.bool_:
        raise InputError(f"{what}: expected numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise InputError(f"{what}: {int(bad.sum())} non-finite values (first: {arr[bad][0]})")
    return arr


def _binary(labels: npt.ArrayLike, n: int) -> np.ndarray:
    """`labels` as a bool array of length n; InputError unless every value is 0 or 1."""
    arr = _as_vector(labels, "labels")
    if arr.shape[0] != n:
        raise InputError(f"labels: length {arr.shape[0]} differs from the predictions' length {n}")
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        raise InputError(f"labels: {int(bad.sum())} values are not 0 or 1 (first: {arr[bad][0].item()!r})")
    return arr.astype(bool)


def accuracy(p1: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Fraction of the N examples where (p1 > 0.5) equals the label; p1 = 0.5 predicts 0.

    p1: (N,) finite; labels: (N,) in {0, 1}. InputError on N = 0 or differing lengths."""
    p = _finite(p1, "p1")
    y = _binary(labels, p.shape[0])
    return float(np.mean((p > 0.5) == y))


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of x (N,), tied values sharing the mean of their ranks: (N,) float64."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts  # 0-based rank of each distinct value's first occurrence
    return (first + (counts + 1) / 2.0)[inverse.reshape(-1)]


def auroc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Area under the ROC curve via the Mann–Whitney U statistic with average ranks for ties.

    AUROC = (R₁ − n₁(n₁+1)/2) / (n₁ n₀), R₁ the rank sum of the positives: the probability that a
    random positive scores above a random negative, ties counting 1/2. scores: (N,) finite;
    labels: (N,) in {0, 1} with both classes present. Matches `sklearn.metrics.roc_auc_score`."""
    s = _finite(scores, "scores")
    y = _binary(labels, s.shape[0])
    n1 = int(y.sum())
    n0 = y.shape[0] - n1
    if n1 == 0 or n0 == 0:
        raise InputError(f"labels: AUROC needs both classes, got {n1} positives and {n0} negatives")
    rank_sum = float(_average_ranks(s)[y].sum())
    return (rank_sum - n1 * (n1 + 1) / 2.0) / (n1 * n0)


@dataclass(frozen=True)
class PGR:
    """Performance gap recovered; `value` is None exactly when `reason` says why it is undefined."""

    value: float | None
    reason: str | None


def pgr(weak: float, w2s: float, ceiling: float, min_gap: float = 0.0) -> PGR:
    """PGR = (w2s − weak) / (ceiling − weak): 0 = imitates the supervisor, 1 = recovers the ceiling.

    When ceiling − weak <= min_gap (>= 0) the ratio is undefined or meaninglessly large: returns
    PGR(None, reason), e.g. "ceiling 0.71 does not beat weak 0.74 (gap -0.030)". Never divides by a
    gap <= min_gap. Unbounded otherwise (w2s below weak gives < 0, above the ceiling > 1)."""
    for name, value in (("weak", weak), ("w2s", w2s), ("ceiling", ceiling), ("min_gap", min_gap)):
        if not math.isfinite(value):
            raise InputError(f"pgr: {name} must be finite, got {value}")
    if min_gap < 0:
        raise InputError(f"pgr: min_gap must be >= 0, got {min_gap}")
    gap = ceiling - weak
    if gap <= 0:
        return PGR(None, f"ceiling {ceiling:.4g} does not beat weak {weak:.4g} (gap {gap:.3f})")
    if gap <= min_gap:
        return PGR(None, f"ceiling {ceiling:.4g} beats weak {weak:.4g} by only {gap:.3g} "
                         f"(min_gap {min_gap:.3g})")
    return PGR((w2s - weak) / gap, None)


@dataclass(frozen=True)
class Agreement:
    """Fraction of inputs where student and supervisor make the same hard prediction.

    `supervisor_correct` / `supervisor_wrong`: the same fraction over the n_correct inputs the
    supervisor gets right / the n_wrong it gets wrong; None when that group is empty."""

    overall: float
    supervisor_correct: float | None
    supervisor_wrong: float | None
    n_correct: int
    n_wrong: int


def agreement(student_p1: npt.ArrayLike, supervisor_p1: npt.ArrayLike, labels: npt.ArrayLike) -> Agreement:
    """Student–supervisor agreement of hard predictions (p1 > 0.5), overall and split by whether the
    supervisor's prediction equals the label. All inputs (N,), N > 0; probabilities finite."""
    student = _finite(student_p1, "student_p1") > 0.5
    supervisor = _finite(supervisor_p1, "supervisor_p1") > 0.5
    if student.shape != supervisor.shape:
        raise InputError(f"student_p1 and supervisor_p1: lengths differ, {student.shape[0]} vs "
                         f"{supervisor.shape[0]}")
    y = _binary(labels, student.shape[0])
    agree = student == supervisor
    correct = supervisor == y
    n_correct, n_wrong = int(correct.sum()), int((~correct).sum())
    return Agreement(
        overall=float(agree.mean()),
        supervisor_correct=float(agree[correct].mean()) if n_correct else None,
        supervisor_wrong=float(agree[~correct].mean()) if n_wrong else None,
        n_correct=n_correct,
        n_wrong=n_wrong,
    )


@dataclass(frozen=True)
class Interval:
    """A mean of n values with its confidence interval [low, high] (low <= mean <= high)."""

    mean: float
    low: float
    high: float
    n: int


def bootstrap_ci(values: Sequence[float], *, level: float = 0.95, n_resamples: int = 10_000,
                 seed: int = 0) -> Interval:
    """Percentile-bootstrap interval of the mean of `values` (N,), deterministic for a `seed`.

    Draws `n_resamples` resamples with replacement, takes their means, and returns the (1 ± level)/2
    quantiles. n = 1 gives low = high = mean. The interval is widened, if needed, to contain the sample
    mean: the percentile interval can exclude it by rounding (constant values whose resampled means
    differ in the last bit) or for a skewed sample at a low `level`, and a reported interval that
    does not contain its own point estimate is always read as a bug. InputError on an empty or
    non-finite input (the caller drops undefined values), level outside (0, 1), n_resamples < 1."""
    x = _finite(values, "values")
    if not 0.0 < level < 1.0:
        raise InputError(f"bootstrap_ci: level must be in (0, 1), got {level}")
    if n_resamples < 1:
        raise InputError(f"bootstrap_ci: n_resamples must be >= 1, got {n_resamples}")
    n, mean = x.shape[0], float(np.mean(x))
    if n == 1:
        return Interval(mean=mean, low=mean, high=mean, n=1)
    rng = np.random.default_rng(seed)
    rows = max(1, _BOOTSTRAP_CHUNK // n)
    means = np.concatenate([
        x[rng.integers(0, n, size=(min(rows, n_resamples - start), n))].mean(axis=1)
        for start in range(0, n_resamples, rows)
    ])
    low, high = np.quantile(means, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return Interval(mean=mean, low=min(float(low), mean), high=max(float(high), mean), n=n)
