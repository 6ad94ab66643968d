"""Properties of the analysis tables (`w2s.agreement`, `w2s.overfitting`) on arbitrary predictions and
curves: agreement lies in [0, 1] and is 1 for a student identical to its supervisor; the best point of
a curve is never below its final or early-stopped point."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given
from hypothesis import strategies as st
from strategies import binary_labels, probabilities

from w2s.agreement import agreement_table
from w2s.overfitting import summarize_curve


def table(labels: np.ndarray, supervisor: np.ndarray, student: np.ndarray) -> pl.DataFrame:
    n = labels.shape[0]

    def run(p1: np.ndarray, **keys: str) -> pl.DataFrame:
        return pl.DataFrame({"id": np.arange(n), "part": "test", "label": labels, "p1": p1}).with_columns(
            pl.lit("t").alias("task"), pl.lit(0).alias("seed"), *[pl.lit(v).alias(k) for k, v in keys.items()])

    return pl.concat([run(supervisor, kind="gt", model="s"),
                      run(student, kind="w2s", weak="s", strong="b", method="xent")], how="diagonal")


@given(labels=binary_labels(min_size=1), data=st.data())
def test_agreement_table_in_unit_interval(labels: np.ndarray, data: st.DataObject) -> None:
    n = labels.shape[0]
    result = agreement_table(table(labels, data.draw(probabilities(n)), data.draw(probabilities(n))))
    values = result["value"].drop_nulls().to_list()
    assert values and all(0.0 <= v <= 1.0 for v in values)
    counts = dict(zip(result["metric"], result["n"], strict=True))
    assert counts["agreement_supervisor_correct"] + counts["agreement_supervisor_wrong"] == counts["agreement"] == n


@given(labels=binary_labels(min_size=1), data=st.data())
def test_identical_student_agrees_everywhere(labels: np.ndarray, data: st.DataObject) -> None:
    p1 = data.draw(probabilities(labels.shape[0]))
    result = agreement_table(table(labels, p1, p1.copy()))
    assert set(result["value"].drop_nulls().to_list()) == {1.0}


curve_points = st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=30)


@given(points=curve_points)
def test_best_bounds_final_and_early_stop(points: list[tuple[float, float]]) -> None:
    curve = [{"step": 10 * (i + 1), "accuracy": a, "val_weak_agreement": v} for i, (a, v) in enumerate(points)]
    s = summarize_curve(curve)
    assert s.best_accuracy >= s.final_accuracy and s.overfit_drop >= 0
    assert s.early_stop_accuracy is not None and s.best_accuracy >= s.early_stop_accuracy
    assert s.best_step <= s.final_step
