"""PGR by difficulty (the paper's chess finding is about how the gap and a puzzle's difficulty interact).

For every task whose pool carries a `difficulty` column (the chess tasks: the puzzle's Rating, Lichess's or
the generator's node-budget rating, `w2s.puzzles`), the test rows are cut into `N_BUCKETS` buckets of about
equal size by the difficulty's quantiles (equal ratings always share a bucket), and every cell (task, pair,
method) is scored on each bucket's rows alone: weak, ceiling and student accuracy and PGR with the same
paired bootstrap interval over seeds and test rows as the headline (`w2s.analysis.cell_pgr`). Tasks
without a difficulty give no rows (the default study: an empty table).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import polars as pl

from w2s.analysis import CELL, cell_pgr, load_predictions, pgr_table, run_table, select_current
from w2s.config import Params

N_BUCKETS = 3
COLUMNS = {"task": pl.Utf8, "bucket": pl.Utf8, "bucket_index": pl.Int64, "difficulty_low": pl.Int64,
           "difficulty_high": pl.Int64, "weak": pl.Utf8, "strong": pl.Utf8, "method": pl.Utf8, "n_test": pl.Int64,
           "weak_accuracy": pl.Float64, "ceiling_accuracy": pl.Float64, "w2s_accuracy": pl.Float64,
           "gap_accuracy": pl.Float64, "pgr_accuracy": pl.Float64, "pgr_accuracy_low": pl.Float64,
           "pgr_accuracy_high": pl.Float64, "pgr_accuracy_status": pl.Utf8, "pgr_accuracy_reason": pl.Utf8}


def buckets(difficulty: np.ndarray, n: int = N_BUCKETS) -> np.ndarray:
    """Bucket index (0 = easiest) of each value: cut at the distinct inner quantiles 1/n, ..., (n-1)/n, a
    value equal to a cut going below it, so equal values share a bucket (fewer than n when ties demand)."""
    cuts = np.unique(np.quantile(difficulty, np.arange(1, n) / n, method="lower"))
    return np.searchsorted(cuts, difficulty, side="left")


def pgr_by_difficulty(prediction_files: Iterable[str | Path], pools: Mapping[str, pl.DataFrame],
                      params: Params) -> pl.DataFrame:
    """One row per (task, difficulty bucket, pair, method) of the tasks in `pools` whose pool has a
    difficulty column: the bucket's range and test-row count, and weak, ceiling and student accuracy and
    PGR with its interval on that bucket's rows (columns `COLUMNS`)."""
    rows: list[dict[str, object]] = []
    with_difficulty = {t: p for t, p in pools.items() if "difficulty" in p.columns and t in params.tasks}
    if with_difficulty:
        preds = select_current(load_predictions(prediction_files), params)
        preds = preds.filter(pl.col("task").is_in(list(with_difficulty)))
        table = pgr_table(run_table(preds))
        for task, pool in sorted(with_difficulty.items()):
            test = pool.filter(pl.col("part") == "test").sort("id")
            index = buckets(test["difficulty"].to_numpy())
            for b in np.unique(index):
                ids = test.filter(pl.Series(index == b))
                low, high = int(ids["difficulty"].min()), int(ids["difficulty"].max())  # type: ignore[arg-type]
                mine = preds.filter(pl.col("id").is_in(ids["id"].implode()))
                cells = table.filter(pl.col("task") == task)
                for keys, group in cells.group_by(CELL, maintain_order=True):
                    _, weak, strong, method = (str(k) for k in keys)
                    seeds = sorted(int(s) for s in group["seed"].unique())
                    r = cell_pgr(mine, task, weak, strong, method, seeds, level=params.analyze.ci_level,
                                  n_resamples=params.analyze.n_resamples, scores=("accuracy",))
                    rows.append({**{k: r.get(k) for k in COLUMNS}, "bucket": f"{low}-{high}", "bucket_index": int(b),
                                 "difficulty_low": low, "difficulty_high": high})
    return pl.DataFrame(rows, schema=COLUMNS).sort("task", "bucket_index", "weak", "strong", "method")


def markdown(table: pl.DataFrame) -> str:
    """The table as markdown: one line per (task, bucket, cell), PGR with its interval."""
    lines = ["| task | difficulty | pair | method | n_test | weak | ceiling | student | PGR [interval] |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in table.iter_rows(named=True):
        if r["pgr_accuracy"] is None:
            pgr = f"n/a ({r['pgr_accuracy_reason']})"
        elif r["pgr_accuracy_low"] is None:
            pgr = f"{r['pgr_accuracy']:.2f} (no interval: {r['pgr_accuracy_status']})"
        else:
            pgr = f"{r['pgr_accuracy']:.2f} [{r['pgr_accuracy_low']:.2f}, {r['pgr_accuracy_high']:.2f}]"
        lines.append(f"| {r['task']} | {r['bucket']} | {r['weak']}-to-{r['strong']} | {r['method']} | {r['n_test']} | "
                     f"{r['weak_accuracy']:.3f} | {r['ceiling_accuracy']:.3f} | {r['w2s_accuracy']:.3f} | {pgr} |")
    return "\n".join(lines) + "\n"
