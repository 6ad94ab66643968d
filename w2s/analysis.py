"""Tidy tables from stored predictions: every analysis is a function of these, never a retraining.

    predictions (one row per run x test row)  ->  run_table   (one row per run: accuracy, AUROC)
                                              ->  pgr_table   (one row per task, pair, method, seed)
                                              ->  pgr_summary (mean over seeds with a bootstrap CI)
                                              ->  tidy_table  (long: one row per run and metric)

`analyze` writes them to `data/analysis/`: `runs.parquet`, `pgr.parquet`, `pgr_summary.parquet` (wide,
columns as built below) and `tidy.parquet`, the long table the report and other analyses read.
Its columns (stable):

    kind                          "gt" (ground-truth run) | "w2s" (weak-to-strong student)
    task, model                   model: the gt run's model (null for w2s rows)
    weak, strong, method          the w2s cell (null for gt rows)
    seed                          int
    metric                        gt rows: "accuracy" | "auroc"; w2s rows: "accuracy" | "auroc" |
                                  "pgr_accuracy" | "pgr_auroc"
    value                         float, null for an undefined PGR
    reason                        why value is null (str), else null

`pgr_plot.json` holds `pgr_summary`'s rows (plus `pair` = "<weak>-to-<strong>") for `dvc plots`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from w2s.config import Params
from w2s.errors import InputError
from w2s.metrics import accuracy, auroc, bootstrap_ci, pgr

RUN_KEYS = ["kind", "task", "model", "weak", "strong", "method", "seed"]
CELL = ["task", "weak", "strong", "method"]
SCORES = ("accuracy", "auroc")


def load_predictions(files: Iterable[str | Path]) -> pl.DataFrame:
    """All run predictions in one long table (gt runs have `model`; w2s runs `weak`, `strong`, `method`)."""
    frames = [pl.read_parquet(f) for f in sorted(map(str, files))]
    if not frames:
        raise InputError("analyze: no run predictions found (run `dvc repro` first)")
    table = pl.concat(frames, how="diagonal")
    for col in RUN_KEYS:
        if col not in table.columns:
            table = table.with_columns(pl.lit(None, dtype=pl.Utf8).alias(col))
    return table


def select_current(preds: pl.DataFrame, params: Params) -> pl.DataFrame:
    """Keep only runs that the current params ask for (stale runs from older params may sit on disk)."""
    gt = (pl.col("kind") == "gt") & pl.col("model").is_in(params.ladder)
    pairs = pl.concat_str("weak", "strong", separator="-to-").is_in([p.name for p in params.pairs])
    w2s = (pl.col("kind") == "w2s") & pairs & pl.col("method").is_in(params.methods)
    return preds.filter(pl.col("task").is_in(params.tasks) & pl.col("seed").is_in(params.seeds) & (gt | w2s))


def run_table(preds: pl.DataFrame) -> pl.DataFrame:
    """One row per run: its keys, test accuracy, test AUROC and number of test rows."""
    rows = []
    for keys, group in preds.filter(pl.col("part") == "test").group_by(RUN_KEYS, maintain_order=True):
        p1, labels = group["p1"].to_numpy(), group["label"].to_numpy()
        rows.append({**dict(zip(RUN_KEYS, keys, strict=True)), "accuracy": accuracy(p1, labels),
                     "auroc": auroc(p1, labels), "n_test": group.height})
    return pl.DataFrame(rows).sort(RUN_KEYS, nulls_last=True)


def pgr_table(runs: pl.DataFrame, min_gap: float = 0.0) -> pl.DataFrame:
    """One row per (task, weak, strong, method, seed): weak, ceiling and w2s scores and PGR on each.

    `weak_*` is the supervisor's ground-truth run and `ceiling_*` the student model's ground-truth run
    of the same seed. PGR is null where the ceiling does not beat the weak model by more than
    `min_gap`, with the reason in `pgr_*_reason`.
    """
    gt = runs.filter(pl.col("kind") == "gt").select("task", "model", "seed", *SCORES)
    w2s = runs.filter(pl.col("kind") == "w2s").select(*CELL, "seed", *SCORES)
    table = (
        w2s.rename({s: f"w2s_{s}" for s in SCORES})
        .join(gt.rename({"model": "weak", **{s: f"weak_{s}" for s in SCORES}}), on=["task", "weak", "seed"])
        .join(gt.rename({"model": "strong", **{s: f"ceiling_{s}" for s in SCORES}}),
              on=["task", "strong", "seed"])
    )
    for s in SCORES:
        results = [pgr(w, x, c, min_gap) for w, x, c in
                   table.select(f"weak_{s}", f"w2s_{s}", f"ceiling_{s}").rows()]
        table = table.with_columns(pl.Series(f"pgr_{s}", [r.value for r in results], dtype=pl.Float64),
                                   pl.Series(f"pgr_{s}_reason", [r.reason for r in results], dtype=pl.Utf8))
    return table.sort(*CELL, "seed")


def pgr_summary(table: pl.DataFrame, level: float = 0.95, n_resamples: int = 10_000) -> pl.DataFrame:
    """Mean over seeds of every score and PGR, with a percentile-bootstrap CI for PGR.

    Seeds where PGR is undefined are left out of its mean; `pgr_*_n` says how many seeds remain, and
    with none left the mean and interval are null.
    """
    rows = []
    for keys, group in table.group_by(CELL, maintain_order=True):
        row: dict[str, object] = dict(zip(CELL, keys, strict=True))
        row["n_seeds"] = group.height
        for s in SCORES:
            for role in ("weak", "ceiling", "w2s"):
                row[f"{role}_{s}"] = group[f"{role}_{s}"].mean()
            values = group[f"pgr_{s}"].drop_nulls().to_list()
            ci = bootstrap_ci(values, level=level, n_resamples=n_resamples) if values else None
            row[f"pgr_{s}"] = ci.mean if ci else None
            row[f"pgr_{s}_low"] = ci.low if ci else None
            row[f"pgr_{s}_high"] = ci.high if ci else None
            row[f"pgr_{s}_n"] = len(values)
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None).sort(CELL)


def metrics(runs: pl.DataFrame, summary: pl.DataFrame) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """Flat DVC metrics with grouped names: (accuracy.json, pgr.json), means over seeds."""
    acc: dict[str, float | None] = {}
    means = runs.group_by("kind", "task", "model", "weak", "strong", "method").agg(pl.col(*SCORES).mean())
    for r in means.iter_rows(named=True):
        name = (f"{r['task']}/gt/{r['model']}" if r["kind"] == "gt"
                else f"{r['task']}/w2s/{r['weak']}-to-{r['strong']}/{r['method']}")
        for s in SCORES:
            acc[f"{name}/{s}"] = r[s]
    pg: dict[str, float | None] = {}
    for r in summary.iter_rows(named=True):
        name = f"{r['task']}/{r['weak']}-to-{r['strong']}/{r['method']}"
        for s in SCORES:
            for suffix in ("", "_low", "_high"):
                pg[f"{name}/pgr_{s}{suffix}"] = r[f"pgr_{s}{suffix}"]
    return dict(sorted(acc.items())), dict(sorted(pg.items()))


def markdown_table(summary: pl.DataFrame) -> str:
    """PGR (accuracy) per task x pair x method as a Markdown table: mean [95% CI] over seeds."""
    def fmt(r: dict, s: str) -> str:
        if r[f"pgr_{s}"] is None:
            return "undefined (ceiling <= weak)"
        return f"{r[f'pgr_{s}']:+.2f} [{r[f'pgr_{s}_low']:+.2f}, {r[f'pgr_{s}_high']:+.2f}]"

    lines = ["| task | weak -> strong | method | weak acc | ceiling acc | w2s acc | PGR (acc) | PGR (AUROC) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in summary.iter_rows(named=True):
        lines.append(f"| {r['task']} | {r['weak']} -> {r['strong']} | {r['method']} | {r['weak_accuracy']:.3f} "
                     f"| {r['ceiling_accuracy']:.3f} | {r['w2s_accuracy']:.3f} | {fmt(r, 'accuracy')} "
                     f"| {fmt(r, 'auroc')} |")
    return "\n".join(lines) + "\n"


def tidy_table(runs: pl.DataFrame, cells: pl.DataFrame) -> pl.DataFrame:
    """Long table (see the module docstring) from `run_table` and `pgr_table` outputs."""
    keys = ["kind", "task", "model", "weak", "strong", "method", "seed"]
    scores = runs.unpivot(index=keys, on=list(SCORES), variable_name="metric", value_name="value").with_columns(
        pl.col("value").cast(pl.Float64), pl.lit(None, dtype=pl.Utf8).alias("reason"))
    parts = [scores]
    for s in SCORES:
        parts.append(cells.select(
            pl.lit("w2s").alias("kind"), "task", pl.lit(None, dtype=pl.Utf8).alias("model"), "weak", "strong",
            "method", "seed", pl.lit(f"pgr_{s}").alias("metric"), pl.col(f"pgr_{s}").alias("value"),
            pl.col(f"pgr_{s}_reason").alias("reason")))
    table = pl.concat([p.cast({"seed": pl.Int64}) for p in parts], how="vertical_relaxed")
    return table.sort(*keys, "metric", nulls_last=True)


def pgr_plot_records(summary: pl.DataFrame) -> pl.DataFrame:
    """`pgr_summary` rows with a `pair` column, as `dvc plots` draws them (plot_templates/pgr.json)."""
    return summary.with_columns(pl.concat_str("weak", "strong", separator="-to-").alias("pair"))


@dataclass(frozen=True)
class Analysis:
    runs: pl.DataFrame
    pgr: pl.DataFrame
    summary: pl.DataFrame
    tidy: pl.DataFrame
    accuracy_metrics: dict[str, float | None]
    pgr_metrics: dict[str, float | None]


def analyze(prediction_files: Iterable[str | Path], params: Params) -> Analysis:
    """Everything `analyze` writes, from the stored predictions of the runs the params ask for."""
    preds = select_current(load_predictions(prediction_files), params)
    runs = run_table(preds)
    table = pgr_table(runs, params.analyze.min_gap)
    summary = pgr_summary(table, params.analyze.ci_level, params.analyze.n_resamples)
    acc, pg = metrics(runs, summary)
    return Analysis(runs, table, summary, tidy_table(runs, table), acc, pg)
