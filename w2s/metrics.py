"""Metrics of the weak-to-strong analysis: numpy arrays in, Python floats (or frozen dataclasses) out.

- `accuracy`, `auroc`: of p(y=1) against binary labels.
- `pgr`: performance gap recovered, (w2s − weak) / (ceiling − weak), undefined (None, with a reason)
  when the ceiling does not beat the weak supervisor.
- `agreement`: student–supervisor agreement, split by whether the supervisor is right.
- `accuracy_interval`, `pgr_interval`: the paired bootstrap over seeds *and* test rows behind every
  interval the lab reports (see `pgr_interval` for the definition of PGR and of "significant").

Labels may be bool, int or float arrays whose values are all 0 or 1. Nothing here mutates its inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from w2s.errors import InputError


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


def auroc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Area under the ROC curve: the probability that a random positive scores above a random negative,
    ties counting 1/2 (the Mann–Whitney U statistic over n₁ n₀), computed by
    `sklearn.metrics.roc_auc_score`. scores: (N,) finite; labels: (N,) in {0, 1} with both classes
    present (checked here first, so a bad input is one line naming it rather than sklearn's message)."""
    from sklearn.metrics import roc_auc_score

    s = _finite(scores, "scores")
    y = _binary(labels, s.shape[0])
    n1 = int(y.sum())
    n0 = y.shape[0] - n1
    if n1 == 0 or n0 == 0:
        raise InputError(f"labels: AUROC needs both classes, got {n1} positives and {n0} negatives")
    return float(roc_auc_score(y, s))


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


# ------------------------------------------------------------------------------ paired bootstrap
#
# Every run of a cell is scored on the same N test rows, once per seed (seed = the train_weak /
# train_transfer split, head initialisation and batch order). Two sources of noise move a reported
# number: which seeds were run, and which N rows the test split happens to hold. The bootstrap below
# resamples both jointly: each resample draws S seeds with replacement and N test rows with replacement
# (the same rows for every seed and every model, because the runs really do share their rows: this is
# the pairing that makes a difference of two accuracies much tighter than either accuracy alone).
#
# Resampling both factors of a crossed design (rows x seeds, Owen 2007's "pigeonhole" bootstrap) counts
# the seed-by-row interaction twice: once in the row means and once in the seed means. And with S = 3 a
# plain resample of seeds shrinks the between-seed variance by (S - 1) / S. So the seed part is
# calibrated by the method of moments: for each quantity q (an accuracy, or a contrast of two), with d_s
# its per-seed deviations from the mean, V_b = sum d_s^2 / (S - 1) is their observed variance and V_n the
# part of it that row resampling already reproduces (the spread of d_s across row resamples); the pure
# seed variance is max(0, V_b - V_n), and resampled seed deviations are scaled so that the seed draw
# adds exactly that, divided by S, to the variance of the mean (`_seed_scale`). That variance is estimated
# from S - 1 degrees of freedom (2 with 3 seeds), so, as a t interval would, the seed part is widened by
# t_{S-1} / z at the interval's level (4.30 / 1.96 at 95% with 3 seeds). The simulation test
# (tests/properties/test_interval_coverage.py) checks coverage >= 0.93 at a nominal 0.95.

INTERVAL_METHOD = "paired bootstrap over seeds and test rows (percentile)"

#: resamples handled per chunk, to bound memory at (chunk x N) floats
_CHUNK = 2_000


def _resample_plan(n_seeds: int, n_rows: int, n_resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(seed multiplicities (R, S), row counts (R, N)) of `n_resamples` joint resamples, float64."""
    rng = np.random.default_rng(seed)
    seed_counts = rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=n_resamples).astype(np.float64)
    row_counts = rng.multinomial(n_rows, np.full(n_rows, 1.0 / n_rows), size=n_resamples).astype(np.float64)
    return seed_counts, row_counts


def _weighted_accuracy(correct: np.ndarray, row_counts: np.ndarray) -> np.ndarray:
    """Accuracy of every seed under every row weighting: correct (S, N) bool, counts (R, N) -> (R, S)."""
    return row_counts @ correct.T.astype(np.float64) / row_counts.sum(axis=1, keepdims=True)


def _weighted_auroc(scores: np.ndarray, labels: np.ndarray, row_counts: np.ndarray) -> np.ndarray:
    """AUROC of one run (scores (N,), labels (N,) bool) under every row weighting (R, N) -> (R,).

    The Mann-Whitney statistic with row multiplicities: sum over positives of their weight times the
    weight of negatives scored lower (ties count 1/2), over (positive weight x negative weight). With
    unit weights this is `auroc`; with any weights, `roc_auc_score(..., sample_weight=w)` (both tested).
    A resample without one of the classes gives NaN.

    Why not sklearn here: the interval resamples AUROC 10,000 times per run, and one sort shared by all
    resamples does them together. Measured (N=800 rows, 2,000 resamples, one thread, this 2-core CPU):
    0.43 s here, 26.4 s with one `roc_auc_score(sample_weight=...)` call per resample (62x slower; a
    PGR interval on AUROC has 9 runs x 10,000 resamples), equal to 2e-16."""
    order = np.argsort(scores, kind="stable")
    s, y = scores[order], labels[order]
    w = row_counts[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # first index of each group of equal scores
    pos = np.add.reduceat(w * y, starts, axis=1)  # (R, G)
    neg = np.add.reduceat(w * ~y, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (below + 0.5 * neg)).sum(axis=1) / (pos.sum(axis=1) * neg.sum(axis=1))


def _score_matrix(p1: np.ndarray, labels: np.ndarray, score: str, row_counts: np.ndarray) -> np.ndarray:
    """Per-seed scores (R, S) of runs p1 (S, N) under row weightings (R, N); `score`: accuracy | auroc."""
    if score == "accuracy":
        return _weighted_accuracy((p1 > 0.5) == labels, row_counts)
    if score == "auroc":
        return np.stack([_weighted_auroc(run, labels, row_counts) for run in p1], axis=1)
    raise InputError(f"unknown score {score!r}; known: accuracy, auroc")


def _seed_scale(per_seed: np.ndarray, observed: np.ndarray, level: float) -> float:
    """Scale k of the seed deviations in every resample (see above).

    per_seed: (R, S) a quantity per seed under each row resample; observed: (S,) the same on the data.
    The seed draw then adds k^2 (S - 1) / S^2 (V_b + V_n) ~ (t/z)^2 max(0, V_b - V_n) / S to the variance."""
    from scipy.stats import norm, t

    n = observed.shape[0]
    if n < 2:
        return 0.0
    v_b = float(np.var(observed, ddof=1))
    shifted = per_seed - per_seed.mean(axis=1, keepdims=True) - (observed - observed.mean())
    v_n = float(np.nanmean((shifted**2).sum(axis=1))) / (n - 1)
    if v_b + v_n <= 0:
        return 0.0
    widen = float(t.ppf((1 + level) / 2, n - 1) / norm.ppf((1 + level) / 2))
    return widen * math.sqrt(n / (n - 1) * max(0.0, v_b - v_n) / (v_b + v_n))


def _seed_means(per_seed: np.ndarray, observed: np.ndarray, seed_counts: np.ndarray, level: float) -> np.ndarray:
    """Mean over resampled seeds (R,) of a quantity per seed (R, S) under row resamples: each resample's
    centre plus its seed deviations, scaled by `_seed_scale`, drawn with multiplicities (R, S)."""
    k = _seed_scale(per_seed, observed, level)
    centre = per_seed.mean(axis=1, keepdims=True)
    return centre[:, 0] + (k * (per_seed - centre) * seed_counts).sum(axis=1) / per_seed.shape[1]


def _per_seed(p1: np.ndarray, labels: np.ndarray, score: str, row_counts: np.ndarray) -> np.ndarray:
    """Per-seed scores (R, S) of runs p1 (S, N) under every row resample, in chunks of resamples."""
    return np.concatenate([_score_matrix(p1, labels, score, row_counts[start:start + _CHUNK])
                           for start in range(0, row_counts.shape[0], _CHUNK)])


def _check_runs(runs: dict[str, np.ndarray], labels: np.ndarray, what: str) -> tuple[dict[str, np.ndarray],
                                                                                    np.ndarray]:
    y = _binary(labels, _as_vector(labels, "labels").shape[0])
    out = {}
    for role, p1 in runs.items():
        arr = np.asarray(p1, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != y.shape[0] or arr.shape[0] == 0:
            raise InputError(f"{what}: {role} predictions must be (seeds, {y.shape[0]} test rows), got "
                             f"shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise InputError(f"{what}: {role} predictions hold non-finite values")
        out[role] = arr
    shapes = {a.shape for a in out.values()}
    if len(shapes) != 1:
        raise InputError(f"{what}: runs differ in shape {sorted(shapes)}; every role needs the same seeds")
    return out, y


def accuracy_interval(correct: npt.ArrayLike, *, level: float = 0.95, n_resamples: int = 10_000,
                      seed: int = 0) -> Interval:
    """Mean accuracy over S seeds and N shared test rows, with the paired bootstrap interval.

    `correct`: (S, N) 0/1 or bool, whether seed s got test row i right (the same rows for every seed).
    mean = the overall mean; [low, high] = percentile interval of the mean under joint resampling of
    seeds and rows (see above). S = 1 resamples the rows only (the interval then holds test noise only:
    callers that need seed noise require S >= 2). n = S."""
    arr = np.asarray(correct)
    if arr.ndim != 2 or arr.size == 0 or not np.isin(arr, (0, 1)).all():
        raise InputError(f"accuracy_interval: expected an (S, N) array of 0/1, got shape {arr.shape}")
    _check_level(level, n_resamples)
    arr = arr.astype(bool)
    seed_counts, row_counts = _resample_plan(arr.shape[0], arr.shape[1], n_resamples, seed)
    means = _seed_means(_weighted_accuracy(arr, row_counts), arr.mean(axis=1), seed_counts, level)
    mean = float(arr.mean())
    low, high = np.clip(np.quantile(means, [(1 - level) / 2, (1 + level) / 2]), 0.0, 1.0)  # scaled seeds may overshoot
    return Interval(mean=mean, low=min(float(low), mean), high=max(float(high), mean), n=arr.shape[0])


def _check_level(level: float, n_resamples: int) -> None:
    if not 0.0 < level < 1.0:
        raise InputError(f"analyze.ci_level: must be in (0, 1), got {level}")
    if n_resamples < 100:
        raise InputError(f"analyze.n_resamples: must be >= 100, got {n_resamples}")


@dataclass(frozen=True)
class PGRInterval:
    """A cell's PGR on one score, by one definition everywhere (see `pgr_interval`).

    status: "ok" (the gap is significant: PGR and its interval are given), "no_gap" (ceiling <= weak),
    "gap_not_significant" (gap > 0 but its interval reaches 0), "too_few_seeds" (S < 2: point estimate
    only, no interval), "undefined" (the score itself is undefined, e.g. AUROC on one class).
    `value` is None unless status is ok or too_few_seeds; `reason` says why."""

    value: float | None
    low: float | None
    high: float | None
    gap: float
    gap_low: float | None
    gap_high: float | None
    weak: float
    ceiling: float
    w2s: float
    n_seeds: int
    n_rows: int
    status: str
    reason: str | None


ROLES = ("weak", "w2s", "ceiling")


def _cells(weak: np.ndarray, w2s: np.ndarray, ceiling: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """(weak, w2s, ceiling) of each cell: one cell for (S, N) arrays, P cells for (P, S, N) arrays."""
    if weak.ndim == 3 and w2s.ndim == 3 and ceiling.ndim == 3:
        if not weak.shape[0] == w2s.shape[0] == ceiling.shape[0] > 0:
            raise InputError(f"pgr_interval: pooled cells: {weak.shape[0]} weak, {w2s.shape[0]} w2s and "
                             f"{ceiling.shape[0]} ceiling runs (need the same P >= 1)")
        return list(zip(weak, w2s, ceiling, strict=True))
    return [(weak, w2s, ceiling)]


def pgr_interval(weak: npt.ArrayLike, w2s: npt.ArrayLike, ceiling: npt.ArrayLike, labels: npt.ArrayLike, *,
                 score: str = "accuracy", level: float = 0.95, n_resamples: int = 10_000,
                 seed: int = 0) -> PGRInterval:
    """PGR of one cell with its interval, from the runs' test predictions.

    weak, w2s, ceiling: p(y=1) of shape (S, N): row s is seed s of the supervisor's ground-truth run,
    the student, and the student model's ground-truth run (the same seed s for the three), columns the N
    test rows (the same rows, in the same order, for every run); labels (N,).

    Definition (the one the lab reports everywhere): PGR = (mean w2s - mean weak) / (mean ceiling - mean
    weak), the ratio of the scores averaged over seeds (not the mean of per-seed ratios, which one
    noisy small-gap seed can swing). The gap = mean ceiling - mean weak gets the same paired interval;
    PGR is reported only when the gap is significant, i.e. the gap's lower bound is > 0: otherwise the
    ratio divides by noise, and the cell says so (status, reason with the gap and its interval). The
    PGR interval is the percentile interval of the resampled ratios (`level`, `n_resamples`
    resamples, deterministic for `seed`). Fewer than 2 seeds: no interval at all (status too_few_seeds).

    Pooled PGR of P cells of one task (e.g. every pair of one method): weak, w2s, ceiling of shape
    (P, S, N), the same seeds and test rows in every cell. Each score is averaged over the cells as over
    the seeds, so the pooled PGR is sum of gains / sum of gaps (a cell with a larger gap weighs more),
    and every resample draws the same seeds and rows for all cells (the cells share them, and often a
    run: two pairs with one strong model share its ceiling).
    """
    cells = [_check_runs({"weak": np.asarray(a), "w2s": np.asarray(b), "ceiling": np.asarray(c)},
                         np.asarray(labels), "pgr_interval")[0]
             for a, b, c in _cells(np.asarray(weak), np.asarray(w2s), np.asarray(ceiling))]
    y = _binary(labels, cells[0]["weak"].shape[1])
    if len({cell["weak"].shape for cell in cells}) != 1:
        raise InputError("pgr_interval: pooled cells differ in shape; every cell needs the same seeds and rows")
    _check_level(level, n_resamples)
    n_seeds, n_rows = cells[0]["weak"].shape
    ones = np.ones((1, n_rows))
    # a quantity of the pooled cells is the mean of the cells' (`_cells`): per seed, then over seeds
    observed = {role: np.mean([_score_matrix(c[role], y, score, ones)[0] for c in cells], axis=0)
                for role in ROLES}
    point = {role: float(observed[role].mean()) for role in ROLES}
    gap = point["ceiling"] - point["weak"]
    value = (point["w2s"] - point["weak"]) / gap if gap > 0 else None
    common = {"gap": gap, "weak": point["weak"], "ceiling": point["ceiling"], "w2s": point["w2s"],
              "n_seeds": n_seeds, "n_rows": n_rows}
    if not all(math.isfinite(v) for v in point.values()):
        return PGRInterval(None, None, None, gap_low=None, gap_high=None, status="undefined",
                           reason=f"{score} is undefined on these test rows (one class only)", **common)
    if n_seeds < 2:
        reason = f"{n_seeds} seed: no interval (needs >= 2 seeds)"
        if value is None:
            reason = f"ceiling {point['ceiling']:.4g} does not beat weak {point['weak']:.4g}; " + reason
        return PGRInterval(value, None, None, gap_low=None, gap_high=None, status="too_few_seeds", reason=reason,
                           **common)
    seed_counts, row_counts = _resample_plan(n_seeds, n_rows, n_resamples, seed)
    per_seed = {role: np.mean([_per_seed(c[role], y, score, row_counts) for c in cells], axis=0) for role in ROLES}
    # the seed draw acts on the two contrasts that make PGR (seed effects shared by the roles cancel)
    gaps = _seed_means(per_seed["ceiling"] - per_seed["weak"], observed["ceiling"] - observed["weak"], seed_counts,
                       level)
    gains = _seed_means(per_seed["w2s"] - per_seed["weak"], observed["w2s"] - observed["weak"], seed_counts,
                        level)
    q = [(1 - level) / 2, (1 + level) / 2]
    gap_low, gap_high = (float(v) for v in np.nanquantile(gaps, q))
    gap_text = f"gap {gap:+.4f} [{gap_low:+.4f}, {gap_high:+.4f}] (n = {n_seeds} seeds x {n_rows} test rows)"
    if gap <= 0:
        return PGRInterval(None, None, None, gap_low=gap_low, gap_high=gap_high, status="no_gap",
                           reason=f"ceiling {point['ceiling']:.4g} does not beat weak {point['weak']:.4g}: "
                                  + gap_text, **common)
    if gap_low <= 0:
        return PGRInterval(None, None, None, gap_low=gap_low, gap_high=gap_high, status="gap_not_significant",
                           reason=f"not significant: {gap_text} includes 0", **common)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = gains / gaps
    low, high = (float(v) for v in np.nanquantile(ratios, q))
    assert value is not None
    return PGRInterval(value, min(low, value), max(high, value), gap_low=gap_low, gap_high=gap_high,
                       status="ok", reason=None, **common)
