"""Tidy tables from stored predictions: every analysis is a function of these, never a retraining.

    predictions (one row per run x test row)  ->  run_table   (one row per run: accuracy, AUROC)
                                              ->  pgr_table   (one row per task, pair, method, seed)
                                              ->  pgr_summary (one row per cell: its PGR)
                                              ->  pooled_pgr  (one row per task x method, pairs pooled)
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

The PGR of a cell (`pgr_summary`, `metrics/pgr.json`, the tables, the report) is the ratio of
the scores averaged over seeds, (mean w2s - mean weak) / (mean ceiling - mean weak), with a paired
bootstrap interval over seeds and test rows, given only where the gap is significant
(`w2s.metrics.pgr_interval`). The per-seed PGRs of `pgr_table` / `tidy.parquet` are for inspection only.

`pgr_plot.json` holds `pgr_summary`'s rows (plus `pair` = "<weak>-to-<strong>") for `dvc plots`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from w2s.config import Params
from w2s.errors import InputError
from w2s.metrics import INTERVAL_METHOD, PGRInterval, accuracy, auroc, pgr, pgr_interval

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


def pgr_table(runs: pl.DataFrame) -> pl.DataFrame:
    """One row per (task, weak, strong, method, seed): weak, ceiling and w2s scores and the seed's own PGR.

    `weak_*` is the supervisor's ground-truth run and `ceiling_*` the student model's ground-truth run
    of the same seed. The per-seed PGR is null where that seed's ceiling does not beat its weak model,
    with the reason in `pgr_*_reason`. For inspection: the headline is `pgr_summary`'s.
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
        results = [pgr(w, x, c) for w, x, c in
                   table.select(f"weak_{s}", f"w2s_{s}", f"ceiling_{s}").rows()]
        table = table.with_columns(pl.Series(f"pgr_{s}", [r.value for r in results], dtype=pl.Float64),
                                   pl.Series(f"pgr_{s}_reason", [r.reason for r in results], dtype=pl.Utf8))
    return table.sort(*CELL, "seed")


def run_matrix(preds: pl.DataFrame, keys: dict[str, object],
               seeds: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(p1 (S, N), labels (N,), test ids (N,)) of the runs matching `keys`, one row per seed of `seeds`,
    columns the test rows sorted by id. InputError when a seed's run is missing or its rows differ."""
    where = pl.lit(True)
    for k, v in keys.items():
        where = where & (pl.col(k) == v)
    test = preds.filter(where & (pl.col("part") == "test"))
    rows, labels, ids = [], None, None
    for seed in seeds:
        run = test.filter(pl.col("seed") == seed).sort("id")
        name = "/".join(str(v) for v in keys.values())
        if run.is_empty():
            raise InputError(f"analyze: no test predictions of {name} seed {seed} (rerun `dvc repro`)")
        if ids is None:
            ids, labels = run["id"].to_numpy(), run["label"].to_numpy()
        elif not np.array_equal(run["id"].to_numpy(), ids):
            raise InputError(f"analyze: {name} seed {seed} was scored on other test rows than seed {seeds[0]}")
        rows.append(run["p1"].to_numpy())
    assert labels is not None and ids is not None
    return np.stack(rows), labels, ids


def interval_columns(r: PGRInterval, s: str) -> dict[str, object]:
    """A `pgr_interval` result as the summary tables' columns for score `s` (weak_, ceiling_, gap_ with its
    bounds, pgr_ with its bounds, status and reason); the student's score is named by the caller."""
    return {f"weak_{s}": r.weak, f"ceiling_{s}": r.ceiling, f"gap_{s}": r.gap, f"gap_{s}_low": r.gap_low,
            f"gap_{s}_high": r.gap_high, f"pgr_{s}": r.value, f"pgr_{s}_low": r.low, f"pgr_{s}_high": r.high,
            f"pgr_{s}_status": r.status, f"pgr_{s}_reason": r.reason}


def cell_pgr(preds: pl.DataFrame, task: str, weak: str, strong: str, method: str, seeds: list[int], *,
             level: float = 0.95, n_resamples: int = 10_000, scores: Sequence[str] = SCORES) -> dict[str, object]:
    """One summary row: the cell's mean scores, gap and PGR with paired intervals (`w2s.metrics.pgr_interval`)
    on accuracy and AUROC, computed on exactly the same seeds and test rows for all three runs."""
    weak_p, labels, ids = run_matrix(preds, {"kind": "gt", "task": task, "model": weak}, seeds)
    ceiling_p, _, ceiling_ids = run_matrix(preds, {"kind": "gt", "task": task, "model": strong}, seeds)
    w2s_p, _, w2s_ids = run_matrix(preds, {"kind": "w2s", "task": task, "weak": weak, "strong": strong,
                                            "method": method}, seeds)
    if not (np.array_equal(ids, ceiling_ids) and np.array_equal(ids, w2s_ids)):
        raise InputError(f"analyze: {task}/{weak}-to-{strong}/{method}: its runs were scored on different test rows")
    row: dict[str, object] = {"task": task, "weak": weak, "strong": strong, "method": method,
                              "n_seeds": len(seeds), "n_test": len(ids)}
    for s in scores:
        r = pgr_interval(weak_p, w2s_p, ceiling_p, labels, score=s, level=level, n_resamples=n_resamples)
        row |= {f"w2s_{s}": r.w2s, **interval_columns(r, s)}
    row["interval"] = f"{level:.0%} {INTERVAL_METHOD}"
    return row


def pgr_summary(preds: pl.DataFrame, table: pl.DataFrame, level: float = 0.95, n_resamples: int = 10_000,
                scores: Sequence[str] = SCORES) -> pl.DataFrame:
    """One row per cell (task, weak, strong, method) of `table` (`pgr_table`): see `cell_pgr`.

    The cell uses the seeds whose three runs (supervisor, ceiling, student) all exist; `n_seeds` says how
    many, and every mean in the row is over exactly those seeds and the same `n_test` test rows."""
    rows = []
    for keys, group in table.group_by(CELL, maintain_order=True):
        task, weak, strong, method = (str(k) for k in keys)
        seeds = sorted(int(s) for s in group["seed"].unique())
        rows.append(cell_pgr(preds, task, weak, strong, method, seeds, level=level, n_resamples=n_resamples,
                             scores=scores))
    return pl.DataFrame(rows, infer_schema_length=None).sort(CELL)


def pooled_pgr(preds: pl.DataFrame, table: pl.DataFrame, level: float = 0.95, n_resamples: int = 10_000,
               score: str = "accuracy") -> pl.DataFrame:
    """One row per (task, method): the PGR of all the task's pairs of that method pooled, the number the
    headline (`w2s.headline`) shows for a task and method. `pgr_interval` on the pairs' runs stacked
    (P, S, N): sum over pairs of the gains / sum of the gaps, on the seeds every pair has, with the same
    paired interval and significance rule as a cell. Columns: task, method, pairs (names joined by ", "),
    n_pairs, n_seeds, n_test and `interval_columns` of `score`."""
    rows = []
    for (task, method), group in table.group_by(["task", "method"], maintain_order=True):
        pairs = sorted({(str(w), str(s)) for w, s in group.select("weak", "strong").rows()})
        seeds = sorted(set.intersection(*({int(x) for x in group.filter((pl.col("weak") == w) & (pl.col("strong") == s))
                                           ["seed"]} for w, s in pairs)))
        runs: dict[str, list[np.ndarray]] = {"weak": [], "w2s": [], "ceiling": []}
        ids = labels = None
        for weak, strong in pairs:
            for role, keys in (("weak", {"kind": "gt", "task": task, "model": weak}),
                               ("ceiling", {"kind": "gt", "task": task, "model": strong}),
                               ("w2s", {"kind": "w2s", "task": task, "weak": weak, "strong": strong,
                                        "method": method})):
                p1, labels_, ids_ = run_matrix(preds, keys, seeds)
                if ids is not None and not np.array_equal(ids, ids_):
                    raise InputError(f"analyze: {task}/{method}: its pairs were scored on different test rows")
                ids, labels = ids_, labels_
                runs[role].append(p1)
        assert labels is not None and ids is not None
        r = pgr_interval(np.stack(runs["weak"]), np.stack(runs["w2s"]), np.stack(runs["ceiling"]), labels,
                         score=score, level=level, n_resamples=n_resamples)
        rows.append({"task": task, "method": method, "pairs": ", ".join(f"{w}-to-{s}" for w, s in pairs),
                     "n_pairs": len(pairs), "n_seeds": len(seeds), "n_test": len(ids), **interval_columns(r, score)})
    return pl.DataFrame(rows, infer_schema_length=None).sort("task", "method") if rows else pl.DataFrame()


def metrics(runs: pl.DataFrame, summary: pl.DataFrame, pooled: pl.DataFrame | None = None
            ) -> tuple[dict[str, float | None], dict[str, float | str | None]]:
    """Flat metrics tables with grouped names: (accuracy.json, pgr.json), means over seeds. pgr.json also
    holds each task and method pooled over pairs (`pooled_pgr`) as `<task>/pooled/<method>/...`, with
    `pgr_accuracy_status` (the `pgr_interval` status: ok, gap_not_significant, no_gap, ...)."""
    acc: dict[str, float | None] = {}
    means = runs.group_by("kind", "task", "model", "weak", "strong", "method").agg(pl.col(*SCORES).mean())
    for r in means.iter_rows(named=True):
        name = (f"{r['task']}/gt/{r['model']}" if r["kind"] == "gt"
                else f"{r['task']}/w2s/{r['weak']}-to-{r['strong']}/{r['method']}")
        for s in SCORES:
            acc[f"{name}/{s}"] = r[s]
    pg: dict[str, float | str | None] = {}
    for r in summary.iter_rows(named=True):
        name = f"{r['task']}/{r['weak']}-to-{r['strong']}/{r['method']}"
        pg[f"{name}/n_seeds"] = r["n_seeds"]
        for s in SCORES:
            for suffix in ("", "_low", "_high"):
                pg[f"{name}/pgr_{s}{suffix}"] = r[f"pgr_{s}{suffix}"]
            pg[f"{name}/gap_{s}"] = r[f"gap_{s}"]
            pg[f"{name}/gap_{s}_low"] = r[f"gap_{s}_low"]
    for r in (pooled if pooled is not None else pl.DataFrame()).iter_rows(named=True):
        name = f"{r['task']}/pooled/{r['method']}"
        pg |= {f"{name}/n_pairs": r["n_pairs"], f"{name}/n_seeds": r["n_seeds"]}
        pg |= {f"{name}/{k}": r[k] for k in ("pgr_accuracy", "pgr_accuracy_low", "pgr_accuracy_high",
                                              "pgr_accuracy_status", "gap_accuracy", "gap_accuracy_low")}
    return dict(sorted(acc.items())), dict(sorted(pg.items()))


def format_pgr(r: dict, s: str = "accuracy") -> str:
    """A summary row's PGR as text: `+0.58 [+0.41, +0.76]`, or why there is none (not significant, no gap,
    one seed), with the gap and its interval."""
    status = r[f"pgr_{s}_status"]
    if status == "ok":
        return f"{r[f'pgr_{s}']:+.2f} [{r[f'pgr_{s}_low']:+.2f}, {r[f'pgr_{s}_high']:+.2f}]"
    gap = f"gap {r[f'gap_{s}']:+.3f}"
    if r.get(f"gap_{s}_low") is not None:
        gap += f" [{r[f'gap_{s}_low']:+.3f}, {r[f'gap_{s}_high']:+.3f}]"
    if status == "too_few_seeds":
        return f"{r[f'pgr_{s}']:+.2f} (1 seed: no interval)" if r[f"pgr_{s}"] is not None else f"undefined ({gap})"
    return {"no_gap": f"undefined: ceiling <= weak ({gap})", "undefined": f"undefined: {r[f'pgr_{s}_reason']}",
            "gap_not_significant": f"not significant ({gap})"}.get(status, str(status))


def markdown(frame: pl.DataFrame) -> str:
    """`frame` as a Markdown table, by polars' own formatter: every row and column, no truncation, no
    dtype row (format numbers as strings first to choose their digits)."""
    with pl.Config(tbl_formatting="MARKDOWN", tbl_hide_column_data_types=True, tbl_hide_dataframe_shape=True,
                   tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=10_000, tbl_width_chars=65_535):
        return f"{frame}\n"


def markdown_table(summary: pl.DataFrame) -> str:
    """PGR per task x pair x method as a Markdown table, with the definition, interval method and n."""
    first = summary.row(0, named=True) if summary.height else {"interval": "", "n_test": 0}
    rows = [{"task": r["task"], "weak -> strong": f"{r['weak']} -> {r['strong']}", "method": r["method"],
             "n seeds": str(r["n_seeds"]), "weak acc": f"{r['weak_accuracy']:.3f}",
             "ceiling acc": f"{r['ceiling_accuracy']:.3f}", "w2s acc": f"{r['w2s_accuracy']:.3f}",
             "PGR (acc)": format_pgr(r, "accuracy"), "PGR (AUROC)": format_pgr(r, "auroc")}
            for r in summary.iter_rows(named=True)]
    columns = ["task", "weak -> strong", "method", "n seeds", "weak acc", "ceiling acc", "w2s acc", "PGR (acc)",
               "PGR (AUROC)"]
    note = (f"\nPGR = (mean w2s - mean weak) / (mean ceiling - mean weak), means over the seeds; "
            f"[{first['interval']}, {first['n_test']} test rows]. A PGR is given only where the gap's "
            "interval excludes 0.\n")
    return markdown(pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.Utf8))) + note


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
    pooled: pl.DataFrame
    accuracy_metrics: dict[str, float | None]
    pgr_metrics: dict[str, float | str | None]


FIT_KEYS = {"converged": pl.Boolean, "grad_norm": pl.Float64, "optimizer": pl.Utf8, "probe_c": pl.Float64}


def fit_table(prediction_files: Iterable[str | Path]) -> pl.DataFrame:
    """How each run's fit ended, from the `summary.json` beside its predictions: run keys plus converged,
    grad_norm, optimizer ("lbfgs" | "adam" | null for finetune/lora), probe_c (null when absent)."""
    import json

    rows = []
    for f in map(Path, prediction_files):
        keys = pl.read_parquet(f, n_rows=1).row(0, named=True)
        summary_file = f.parent / "summary.json"
        summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
        rows.append({k: keys.get(k) for k in RUN_KEYS} | {k: summary.get(k) for k in FIT_KEYS})
    schema = {"kind": pl.Utf8, "task": pl.Utf8, "model": pl.Utf8, "weak": pl.Utf8, "strong": pl.Utf8,
              "method": pl.Utf8, "seed": pl.Int64, **FIT_KEYS}
    return pl.DataFrame(rows, schema=schema)


def fit_metrics(fits: pl.DataFrame) -> dict[str, float | None]:
    """Per task: `<task>/fits/lbfgs_not_converged` (L-BFGS fits whose gradient norm stayed above the
    tolerance: should be 0), `<task>/fits/lbfgs_max_grad_norm`, and `<task>/fits/stepwise` (fits of
    losses with a moving target, which stop at their epoch budget and never report converged)."""
    out: dict[str, float | None] = {}
    for task in sorted(set(fits["task"].drop_nulls().to_list())):
        mine = fits.filter(pl.col("task") == task)
        lbfgs = mine.filter(pl.col("optimizer") == "lbfgs")
        out[f"{task}/fits/lbfgs_not_converged"] = int((~lbfgs["converged"].fill_null(False)).sum())
        out[f"{task}/fits/lbfgs_max_grad_norm"] = lbfgs["grad_norm"].max() if lbfgs.height else None  # type: ignore[assignment]
        out[f"{task}/fits/stepwise"] = int((mine["optimizer"] == "adam").sum())
    return out


def analyze(prediction_files: Iterable[str | Path], params: Params) -> Analysis:
    """Everything `analyze` writes, from the stored predictions of the runs the params ask for."""
    prediction_files = list(prediction_files)
    preds = select_current(load_predictions(prediction_files), params)
    runs = run_table(preds)
    fits = fit_table(prediction_files)
    runs = runs.join(fits, on=RUN_KEYS, how="left", nulls_equal=True)
    table = pgr_table(runs)
    summary = pgr_summary(preds, table, params.analyze.ci_level, params.analyze.n_resamples)
    pooled = pooled_pgr(preds, table, params.analyze.ci_level, params.analyze.n_resamples)
    acc, pg = metrics(runs, summary, pooled)
    acc = dict(sorted((acc | fit_metrics(fits)).items()))
    return Analysis(runs, table, summary, tidy_table(runs, table), pooled, acc, pg)
