"""Tidy tables and PGR from hand-made predictions (no training)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from w2s.analysis import markdown, markdown_table, metrics, pgr_summary, pgr_table, run_table

LABELS = np.array([0, 1] * 10)


def preds(kind: str, correct: int, seed: int, rows: int = 20, **keys: str) -> pl.DataFrame:
    """A run that gets `correct` of each 20 test rows right (the first ones; p1 0.9 / 0.1), `rows` rows."""
    labels = np.resize(LABELS, rows)
    right = np.where(labels == 1, 0.9, 0.1)
    p1 = np.where(np.arange(rows) % 20 < correct, right, 1 - right)
    return pl.DataFrame({"id": np.arange(rows), "part": "test", "label": labels, "p1": p1}).with_columns(
        pl.lit(kind).alias("kind"), pl.lit("t").alias("task"), pl.lit(seed).alias("seed"),
        *[pl.lit(v).alias(k) for k, v in keys.items()])


def table(w2s_correct: dict[int, int], ceiling: int | dict[int, int] = 18, rows: int = 20) -> pl.DataFrame:
    frames = []
    for seed, correct in w2s_correct.items():
        top = ceiling if isinstance(ceiling, int) else ceiling[seed]
        frames += [preds("gt", 12, seed, rows, model="s"), preds("gt", top, seed, rows, model="b"),
                   preds("w2s", correct, seed, rows, weak="s", strong="b", method="xent")]
    return pl.concat(frames, how="diagonal")


def test_pgr_is_the_ratio_of_mean_accuracies() -> None:
    """Ceilings 0.9 / 0.8 / 0.85, students 0.75, weak 0.6: per-seed PGRs 0.5, 0.75, 0.6 (mean 0.617, the
    old headline); the ratio of means is 0.15 / 0.25 = 0.6, the one definition the lab reports."""
    data = table({0: 15, 1: 15, 2: 15}, ceiling={0: 18, 1: 16, 2: 17}, rows=200)
    runs = run_table(data)
    assert runs.height == 9
    cells = pgr_table(runs)
    assert cells["pgr_accuracy"].to_list() == pytest.approx([0.5, 0.75, 0.6])
    summary = pgr_summary(data, cells, n_resamples=500)
    row = summary.row(0, named=True)
    assert row["pgr_accuracy"] == pytest.approx(0.6)
    assert row["pgr_accuracy_status"] == "ok"
    assert row["pgr_accuracy_low"] <= 0.6 <= row["pgr_accuracy_high"]
    assert row["n_seeds"] == 3 and row["n_test"] == 200
    assert row["weak_accuracy"] == pytest.approx(0.6) and row["ceiling_accuracy"] == pytest.approx(0.85)


def test_undefined_pgr_is_null_with_a_reason() -> None:
    data = table({0: 15, 1: 15}, ceiling=12)  # ceiling == weak
    cells = pgr_table(run_table(data))
    assert cells["pgr_accuracy"].to_list() == [None, None]
    assert "does not beat" in cells["pgr_accuracy_reason"][0]
    summary = pgr_summary(data, cells, n_resamples=100)
    assert summary["pgr_accuracy"].to_list() == [None]
    assert summary["pgr_accuracy_status"].to_list() == ["no_gap"]
    assert "undefined: ceiling <= weak" in markdown_table(summary)
    _, pg = metrics(run_table(data), summary)
    assert pg["t/s-to-b/xent/pgr_accuracy"] is None


def test_a_gap_within_noise_is_not_significant() -> None:
    """Ceiling 13 / 20 vs weak 12 / 20: a positive gap of one row, well inside its interval."""
    data = table({0: 15, 1: 15}, ceiling=13)
    summary = pgr_summary(data, pgr_table(run_table(data)), n_resamples=500)
    row = summary.row(0, named=True)
    assert row["gap_accuracy"] == pytest.approx(0.05) and row["gap_accuracy_low"] <= 0
    assert row["pgr_accuracy"] is None and row["pgr_accuracy_status"] == "gap_not_significant"
    assert "not significant (gap +0.050" in markdown_table(summary)


def test_one_seed_has_no_interval() -> None:
    data = table({0: 15})
    row = pgr_summary(data, pgr_table(run_table(data)), n_resamples=100).row(0, named=True)
    assert row["pgr_accuracy_status"] == "too_few_seeds"
    assert row["pgr_accuracy"] == pytest.approx(0.5) and row["pgr_accuracy_low"] is None


def test_metric_names_are_grouped() -> None:
    data = table({0: 15, 1: 15})
    runs = run_table(data)
    acc, pg = metrics(runs, pgr_summary(data, pgr_table(runs), n_resamples=100))
    assert acc["t/gt/s/accuracy"] == pytest.approx(0.6)
    assert acc["t/w2s/s-to-b/xent/accuracy"] == pytest.approx(0.75)
    assert set(pg) == ({f"t/s-to-b/xent/pgr_{s}{x}" for s in ("accuracy", "auroc") for x in ("", "_low", "_high")}
                       | {f"t/s-to-b/xent/{k}" for k in ("n_seeds", "gap_accuracy", "gap_accuracy_low", "gap_auroc",
                                                          "gap_auroc_low")})
    assert pg["t/s-to-b/xent/n_seeds"] == 2


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

    data = table({0: 15, 1: 15})
    records = pgr_plot_records(pgr_summary(data, pgr_table(run_table(data)), n_resamples=100))
    assert records["pair"].to_list() == ["s-to-b"]


def test_fits_that_did_not_converge_are_counted(tmp_path) -> None:
    """analyze reads how each fit ended (summary.json) into the runs table and the metrics; the report's
    note names an L-BFGS fit that did not converge."""
    import json

    from w2s.analysis import fit_metrics, fit_table
    from w2s.figures import convergence_note

    files = []
    for name, kind, keys, summary in [
        ("a", "gt", {"model": "s"}, {"converged": True, "grad_norm": 2e-7, "optimizer": "lbfgs", "probe_c": 0.01}),
        ("b", "gt", {"model": "b"}, {"converged": False, "grad_norm": 3e-3, "optimizer": "lbfgs", "probe_c": 0.01}),
        ("c", "w2s", {"weak": "s", "strong": "b", "method": "logconf"},
         {"converged": False, "grad_norm": 0.1, "optimizer": "adam", "probe_c": 0.01}),
    ]:
        run = tmp_path / name
        run.mkdir()
        preds("gt" if kind == "gt" else "w2s", 15, 0, **keys).write_parquet(run / "predictions.parquet")
        (run / "summary.json").write_text(json.dumps(summary))
        files.append(run / "predictions.parquet")
    fits = fit_table(files)
    assert fits["converged"].to_list() == [True, False, False]
    assert fit_metrics(fits) == {"t/fits/lbfgs_not_converged": 1, "t/fits/lbfgs_max_grad_norm": 3e-3,
                                 "t/fits/stepwise": 1}
    note = convergence_note({"runs": fits})
    assert "**1 of 2 L-BFGS probe fits did not converge** (t/b/seed0)" in note and "1 stepwise fits (logconf)" in note


def test_markdown_keeps_every_row_column_and_character() -> None:
    """polars' Markdown formatter, configured to truncate nothing: 30 rows, 12 columns, a 300-character cell."""
    frame = pl.DataFrame({f"column {j}": [f"r{i}c{j}" for i in range(30)] for j in range(12)})
    frame = frame.with_columns(pl.Series("column 0", ["x" * 300] + [f"r{i}c0" for i in range(1, 30)]))
    lines = markdown(frame).splitlines()
    assert len(lines) == 32 and set(lines[1]) == {"|", "-"}
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert cells[0] == frame.columns
    assert cells[2:] == [list(r) for r in frame.rows()]


def test_pooled_pgr_pools_every_pair_of_a_method() -> None:
    """Two pairs into ceiling b (0.9): s (0.6) -> b with a student at 0.75, m (0.7) -> b with one at 0.85:
    pooled PGR = (0.15 + 0.15) / (0.30 + 0.20) = 0.6, not the mean of the ratios (0.5 and 0.75: 0.625).
    Its keys land in pgr.json beside the cells', with the status."""
    from w2s.analysis import pooled_pgr

    rows = 200
    frames = []
    for seed in (0, 1, 2):
        frames += [preds("gt", 12, seed, rows, model="s"), preds("gt", 14, seed, rows, model="m"),
                   preds("gt", 18, seed, rows, model="b"),
                   preds("w2s", 15, seed, rows, weak="s", strong="b", method="xent"),
                   preds("w2s", 17, seed, rows, weak="m", strong="b", method="xent")]
    data = pl.concat(frames, how="diagonal")
    runs = run_table(data)
    cells = pgr_table(runs)
    pooled = pooled_pgr(data, cells, n_resamples=300)
    row = pooled.row(0, named=True)
    assert (row["task"], row["method"], row["pairs"], row["n_pairs"], row["n_seeds"]) == (
        "t", "xent", "m-to-b, s-to-b", 2, 3)
    assert row["pgr_accuracy"] == pytest.approx(0.6) and row["pgr_accuracy_status"] == "ok"
    assert row["pgr_accuracy_low"] <= 0.6 <= row["pgr_accuracy_high"]
    _, pg = metrics(runs, pgr_summary(data, cells, n_resamples=100), pooled)
    assert pg["t/pooled/xent/pgr_accuracy"] == pytest.approx(0.6)
    assert pg["t/pooled/xent/pgr_accuracy_status"] == "ok" and pg["t/pooled/xent/n_pairs"] == 2
    assert pg["t/pooled/xent/gap_accuracy"] == pytest.approx(0.25)
