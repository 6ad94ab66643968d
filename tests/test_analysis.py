"""Tidy tables and PGR from hand-made predictions (no training)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from w2s.analysis import markdown_table, metrics, pgr_summary, pgr_table, run_table

LABELS = np.array([0, 1] * 10)


def preds(kind: str, correct: int, seed: int, **keys: str) -> pl.DataFrame:
    """A run whose first `correct` of 20 test rows are right (p1 0.9 / 0.1), the rest wrong."""
    right = np.where(LABELS == 1, 0.9, 0.1)
    p1 = np.where(np.arange(20) < correct, right, 1 - right)
    return pl.DataFrame({"id": np.arange(20), "part": "test", "label": LABELS, "p1": p1}).with_columns(
        pl.lit(kind).alias("kind"), pl.lit("t").alias("task"), pl.lit(seed).alias("seed"),
        *[pl.lit(v).alias(k) for k, v in keys.items()])


def table(w2s_correct: dict[int, int], ceiling: int = 18) -> pl.DataFrame:
    frames = []
    for seed, correct in w2s_correct.items():
        frames += [preds("gt", 12, seed, model="s"), preds("gt", ceiling, seed, model="b"),
                   preds("w2s", correct, seed, weak="s", strong="b", method="xent")]
    return pl.concat(frames, how="diagonal")


def test_pgr_per_seed_and_mean() -> None:
    runs = run_table(table({0: 15, 1: 18}))  # accuracies: weak 0.6, ceiling 0.9, w2s 0.75 / 0.9
    assert runs.height == 6
    cells = pgr_table(runs)
    assert cells["pgr_accuracy"].to_list() == pytest.approx([0.5, 1.0])
    summary = pgr_summary(cells, n_resamples=500)
    row = summary.row(0, named=True)
    assert row["pgr_accuracy"] == pytest.approx(0.75)
    assert row["pgr_accuracy_low"] <= 0.75 <= row["pgr_accuracy_high"]
    assert row["n_seeds"] == 2 and row["pgr_accuracy_n"] == 2


def test_undefined_pgr_is_null_with_a_reason() -> None:
    cells = pgr_table(run_table(table({0: 15}, ceiling=12)))  # ceiling == weak
    assert cells["pgr_accuracy"].to_list() == [None]
    assert "does not beat" in cells["pgr_accuracy_reason"][0]
    summary = pgr_summary(cells, n_resamples=100)
    assert summary["pgr_accuracy"].to_list() == [None]
    assert "undefined" in markdown_table(summary)
    _, pg = metrics(run_table(table({0: 15}, ceiling=12)), summary)
    assert pg["t/s-to-b/xent/pgr_accuracy"] is None


def test_metric_names_are_grouped() -> None:
    runs = run_table(table({0: 15}))
    acc, pg = metrics(runs, pgr_summary(pgr_table(runs), n_resamples=100))
    assert acc["t/gt/s/accuracy"] == pytest.approx(0.6)
    assert acc["t/w2s/s-to-b/xent/accuracy"] == pytest.approx(0.75)
    assert set(pg) == {f"t/s-to-b/xent/pgr_{s}{x}" for s in ("accuracy", "auroc") for x in ("", "_low", "_high")}


def test_tidy_table_is_long_with_pgr_rows() -> None:
    from w2s.analysis import tidy_table

    runs = run_table(table({0: 15}, ceiling=18))
    tidy = tidy_table(runs, pgr_table(runs))
    assert tidy.columns == ["kind", "task", "model", "weak", "strong", "method", "seed", "metric", "value", "reason"]
    assert tidy.height == 3 * 2 + 2  # three runs x (accuracy, AUROC) + two PGRs
    pgr_acc = tidy.filter(pl.col("metric") == "pgr_accuracy").row(0, named=True)
    assert pgr_acc["value"] == pytest.approx(0.5) and pgr_acc["kind"] == "w2s" and pgr_acc["model"] is None
    weak = tidy.filter((pl.col("model") == "s") & (pl.col("metric") == "accuracy"))
    assert weak["value"].to_list() == [pytest.approx(0.6)]


def test_pgr_plot_records_name_the_pair() -> None:
    from w2s.analysis import pgr_plot_records

    runs = run_table(table({0: 15}))
    records = pgr_plot_records(pgr_summary(pgr_table(runs), n_resamples=50))
    assert records["pair"].to_list() == ["s-to-b"]
