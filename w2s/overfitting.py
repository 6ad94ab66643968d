"""Overfitting to weak labels: best vs final test accuracy along training, and honest early stopping.

Burns et al. (2023, §4.3.2, Fig. 7) observe that a student trained on weak labels often reaches its
best test accuracy early and then degrades as it learns to imitate its supervisor's errors. Picking
the best point by *test* accuracy peeks at ground truth, so it only bounds what early stopping could
give. The honest version picks the checkpoint whose predictions agree best with the **weak labels of
a held-out slice of train_transfer** (rows the student never trained on, labelled only by its
supervisor): no ground truth involved. This module computes both from the training curves every run
stores in `history.json` (test accuracy every `train.eval_every` steps, and, when the trainer held out
weak-labelled rows, `val_weak_agreement` at the same points); nothing is retrained.

A curve is a list of points `{"step": int, "epoch": float, "accuracy": float, ["val_weak_agreement":
float]}` in training order; its last point is the final model (the one whose predictions are stored).

Tidy table (`data/overfitting/overfitting.parquet`), one row per run and metric. Columns (stable):

    kind                       "gt" | "w2s"
    task, model                gt runs: the model; w2s runs: model is null
    weak, strong, method       w2s runs (null for gt runs)
    seed                       int
    metric, value              see `METRICS` (value null when undefined), reason: why it is null
                               (str or null)

Curve table (`data/overfitting/curves.parquet`), one row per run, eval point and metric: the run
columns above plus `step`, `epoch`, `metric` ("accuracy" | "val_weak_agreement"), `value`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from w2s.errors import InputError
from w2s.metrics import pgr

RUN_KEYS = ["kind", "task", "model", "weak", "strong", "method", "seed"]
VAL_KEY = "val_weak_agreement"
METRICS = {
    "final_accuracy": "test accuracy of the final model (the stored predictions)",
    "best_test_accuracy_peek": "highest test accuracy along training (peeks at test labels: an upper bound)",
    "best_step": "step of best_test_accuracy_peek (first one on ties)",
    "final_step": "steps of the whole run",
    "overfit_drop": "best_test_accuracy_peek - final_accuracy (>= 0)",
    "early_stop_step": "step with the highest agreement with held-out weak labels (first on ties)",
    "early_stop_accuracy": "test accuracy at early_stop_step",
    "pgr_final": "PGR of the final student (w2s runs)",
    "pgr_best": "PGR of the best-by-test-accuracy point (w2s runs; peeks at ground truth)",
    "pgr_early_stop": "PGR of the early-stopped student (w2s runs; no ground truth used)",
}


@dataclass(frozen=True)
class CurveSummary:
    """Best vs final test accuracy of one curve, and the point early stopping on weak labels picks."""

    final_step: int
    final_accuracy: float
    best_step: int
    best_accuracy: float
    early_stop_step: int | None
    early_stop_accuracy: float | None

    @property
    def overfit_drop(self) -> float:
        return self.best_accuracy - self.final_accuracy


def _argmax_first(values: Sequence[float]) -> int:
    """Index of the largest value, the earliest on ties (earlier = cheaper, less fitted to noise)."""
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def summarize_curve(curve: Sequence[dict[str, Any]], where: str = "history") -> CurveSummary:
    """Best / final / early-stopped points of one run's curve (see the module docstring for its form).

    Early stopping needs `val_weak_agreement` at every point; without it the early-stop fields are None.
    InputError on an empty curve or a point lacking step or accuracy."""
    if not curve:
        raise InputError(f"{where}: empty training curve (train.eval_every larger than the run?)")
    for i, point in enumerate(curve):
        for key in ("step", "accuracy"):
            if key not in point:
                raise InputError(f"{where}[{i}]: missing {key!r} (has: {', '.join(point)})")
    acc = [float(p["accuracy"]) for p in curve]
    best = _argmax_first(acc)
    early_step: int | None = None
    early_acc: float | None = None
    if all(p.get(VAL_KEY) is not None for p in curve):
        early = _argmax_first([float(p[VAL_KEY]) for p in curve])
        early_step, early_acc = int(curve[early]["step"]), acc[early]
    return CurveSummary(final_step=int(curve[-1]["step"]), final_accuracy=acc[-1], best_step=int(curve[best]["step"]),
                        best_accuracy=acc[best], early_stop_step=early_step, early_stop_accuracy=early_acc)


SCHEMA = {"kind": pl.Utf8, "task": pl.Utf8, "model": pl.Utf8, "weak": pl.Utf8, "strong": pl.Utf8,
          "method": pl.Utf8, "seed": pl.Int64, "metric": pl.Utf8, "value": pl.Float64, "reason": pl.Utf8}


def overfitting_table(runs: Sequence[tuple[dict[str, Any], Sequence[dict[str, Any]]]]) -> pl.DataFrame:
    """The tidy overfitting table from (run keys, curve) pairs.

    Run keys are `RUN_KEYS` (missing ones null). A w2s run's PGRs take the weak and ceiling scores from
    the *final* test accuracy of the gt runs of its supervisor and of its student model (same task and
    seed), as `analyze` does, so only the student's checkpoint changes between pgr_final, pgr_best
    and pgr_early_stop. These per-seed PGRs are for inspection (the metrics use the ratio of means, see
    `overfitting_metrics`); null (reason given) when that seed's ceiling does not beat its weak model,
    or when its gt runs or the held-out weak agreement are missing."""
    summaries = []
    for keys, curve in runs:
        key = {k: keys.get(k) for k in RUN_KEYS}
        where = "/".join(str(v) for v in key.values() if v is not None)
        summaries.append((key, summarize_curve(curve, f"{where}: history")))
    finals = {(k["task"], k["model"], k["seed"]): s.final_accuracy for k, s in summaries if k["kind"] == "gt"}
    rows: list[dict[str, Any]] = []
    for key, s in summaries:
        values: dict[str, tuple[float | None, str | None]] = {
            "final_accuracy": (s.final_accuracy, None), "best_test_accuracy_peek": (s.best_accuracy, None),
            "best_step": (float(s.best_step), None), "final_step": (float(s.final_step), None),
            "overfit_drop": (s.overfit_drop, None)}
        no_val = "the run recorded no held-out weak agreement (train.weak_holdout = 0?)"
        values["early_stop_step"] = (None, no_val) if s.early_stop_step is None else (float(s.early_stop_step), None)
        values["early_stop_accuracy"] = (s.early_stop_accuracy, None if s.early_stop_step is not None else no_val)
        if key["kind"] == "w2s":
            weak = finals.get((key["task"], key["weak"], key["seed"]))
            ceiling = finals.get((key["task"], key["strong"], key["seed"]))
            for metric, student in (("pgr_final", s.final_accuracy), ("pgr_best", s.best_accuracy),
                                    ("pgr_early_stop", s.early_stop_accuracy)):
                if weak is None or ceiling is None:
                    values[metric] = (None, "the gt run of the supervisor or of the student model is missing")
                elif student is None:
                    values[metric] = (None, no_val)
                else:
                    result = pgr(weak, student, ceiling)
                    values[metric] = (result.value, result.reason)
        for metric, (value, reason) in values.items():
            rows.append({**key, "metric": metric, "value": value, "reason": reason})
    return pl.DataFrame(rows, schema=SCHEMA).sort([*RUN_KEYS, "metric"], nulls_last=True)


def curves_table(runs: Sequence[tuple[dict[str, Any], Sequence[dict[str, Any]]]]) -> pl.DataFrame:
    """Long table of every curve point: run keys, step, epoch, metric, value."""
    rows = []
    for keys, curve in runs:
        key = {k: keys.get(k) for k in RUN_KEYS}
        for point in curve:
            for metric in ("accuracy", VAL_KEY):
                if point.get(metric) is not None:
                    rows.append({**key, "step": int(point["step"]), "epoch": float(point.get("epoch", float("nan"))),
                                 "metric": metric, "value": float(point[metric])})
    schema = {**{k: SCHEMA[k] for k in RUN_KEYS}, "step": pl.Int64, "epoch": pl.Float64, "metric": pl.Utf8,
              "value": pl.Float64}
    return pl.DataFrame(rows, schema=schema).sort([*RUN_KEYS, "metric", "step"], nulls_last=True)


def run_label(kind: str, model: str | None, weak: str | None, strong: str | None, method: str | None) -> str:
    """A run's name in plots and metrics: `gt/<model>` or `w2s/<weak>-to-<strong>/<method>`."""
    return f"gt/{model}" if kind == "gt" else f"w2s/{weak}-to-{strong}/{method}"


def mean_curves(curves: pl.DataFrame) -> pl.DataFrame:
    """Test-accuracy curves averaged over seeds, one row per (task, run, step): what the DVC plot
    draws (one line per run instead of one per seed). Columns: task, run, step, epoch, accuracy."""
    acc = curves.filter(pl.col("metric") == "accuracy")
    labels = [run_label(*r) for r in acc.select("kind", "model", "weak", "strong", "method").rows()]
    return (acc.with_columns(pl.Series("run", labels, dtype=pl.Utf8))
            .group_by("task", "run", "step").agg(pl.col("epoch").mean(), pl.col("value").mean().alias("accuracy"))
            .sort("task", "run", "step"))


def checkpoint_pgr(table: pl.DataFrame, cells: pl.DataFrame) -> pl.DataFrame:
    """PGR of each w2s cell's final, best-by-test and early-stopped checkpoints, by the lab's one
    definition: (mean student - mean weak) / (mean ceiling - mean weak) over the seeds. `cells` (the
    `w2s.analysis.pgr_summary` of the same runs, on accuracy) gives the weak and ceiling means and says
    whether the gap is significant; where it is not, every PGR of the cell is null. `pgr_final` is then
    exactly `analyze`'s PGR; the best and early-stopped checkpoints have no interval (their per-row test
    predictions are not stored). A checkpoint undefined in any seed is null.
    Columns: task, weak, strong, method, n_seeds, checkpoint (pgr_final | pgr_best | pgr_early_stop),
    student_accuracy, pgr, reason."""
    checkpoints = {"pgr_final": "final_accuracy", "pgr_best": "best_test_accuracy_peek",
                   "pgr_early_stop": "early_stop_accuracy"}
    w2s = table.filter((pl.col("kind") == "w2s") & pl.col("metric").is_in(list(checkpoints.values())))
    means = {(r["task"], r["weak"], r["strong"], r["method"], r["metric"]): r["value"] for r in
             w2s.group_by("task", "weak", "strong", "method", "metric").agg(
                 pl.when(pl.col("value").is_null().any()).then(None).otherwise(pl.col("value").mean()).alias("value"))
             .iter_rows(named=True)}
    rows = []
    for c in cells.iter_rows(named=True):
        cell = (c["task"], c["weak"], c["strong"], c["method"])
        for checkpoint, metric in checkpoints.items():
            student = means.get((*cell, metric))
            reason = None if c["pgr_accuracy_status"] == "ok" else c["pgr_accuracy_reason"]
            if reason is None and student is None:
                reason = f"{metric} is undefined in some seed"
            value = None if reason else (student - c["weak_accuracy"]) / c["gap_accuracy"]
            rows.append(dict(zip(("task", "weak", "strong", "method"), cell, strict=True)) | {
                "n_seeds": c["n_seeds"], "checkpoint": checkpoint, "student_accuracy": student, "pgr": value,
                "reason": reason})
    schema = {"task": pl.Utf8, "weak": pl.Utf8, "strong": pl.Utf8, "method": pl.Utf8, "n_seeds": pl.Int64,
              "checkpoint": pl.Utf8, "student_accuracy": pl.Float64, "pgr": pl.Float64, "reason": pl.Utf8}
    return pl.DataFrame(rows, schema=schema)


def overfitting_metrics(table: pl.DataFrame, pgr_cells: pl.DataFrame) -> dict[str, float | None]:
    """Flat DVC metrics: `<task>/<run label>/<metric>`: means over seeds of the accuracy metrics (the step
    counts stay in the table; null where undefined in some seed) and the checkpoint PGRs of
    `checkpoint_pgr` (`pgr_cells`)."""
    keep = ["final_accuracy", "best_test_accuracy_peek", "overfit_drop", "early_stop_accuracy"]
    accs = table.filter(pl.col("metric").is_in(keep))
    means = accs.group_by("kind", "task", "model", "weak", "strong", "method", "metric").agg(
        pl.when(pl.col("value").is_null().any()).then(None).otherwise(pl.col("value").mean()).alias("value"))
    out: dict[str, float | None] = {}
    for r in means.iter_rows(named=True):
        label = run_label(r["kind"], r["model"], r["weak"], r["strong"], r["method"])
        out[f"{r['task']}/{label}/{r['metric']}"] = r["value"]
    for r in pgr_cells.iter_rows(named=True):
        out[f"{r['task']}/{run_label('w2s', None, r['weak'], r['strong'], r['method'])}/{r['checkpoint']}"] = r["pgr"]
    return dict(sorted(out.items()))
