"""Stage `overfitting`: best vs final test accuracy along every run's training curve, and the PGR that
early stopping on held-out weak labels (no ground truth) would give, from the stored `history.json`."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from w2s import cli
from w2s.analysis import RUN_KEYS, load_predictions, pgr_summary, pgr_table, run_table, select_current
from w2s.config import load_params
from w2s.dvc_plots import write_records
from w2s.io import read_json, write_json, write_parquet
from w2s.overfitting import checkpoint_pgr, curves_table, mean_curves, overfitting_metrics, overfitting_table
from w2s.runs import PREDICTIONS
from w2s.validate import run_dirs


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--runs", required=True, nargs="+", help="directories holding run directories")
    p.add_argument("--out", required=True, help="directory for overfitting.parquet, curves.parquet")
    p.add_argument("--plot", required=True, help="plot data for `dvc plots` (JSON records, committed)")
    p.add_argument("--metrics", required=True, help="metrics file: best / final / early-stopped accuracy and PGR")
    args = p.parse_args(argv)
    params = load_params(args.params)
    runs, files = [], []
    for pred_file in sorted(d / PREDICTIONS for d in run_dirs(params, args.runs)):  # the runs params define
        keys = pl.read_parquet(pred_file, n_rows=1)
        keys = keys.with_columns(*[pl.lit(None, dtype=pl.Utf8).alias(k) for k in RUN_KEYS if k not in keys.columns])
        if select_current(keys, params).is_empty():
            continue  # a stale run from older params
        runs.append(({k: keys[k][0] for k in RUN_KEYS}, read_json(pred_file.parent / "history.json")))
        files.append(pred_file)
    table = overfitting_table(runs)
    preds = select_current(load_predictions(files), params)
    a = params.analyze
    cells = pgr_summary(preds, pgr_table(run_table(preds)), a.ci_level, a.n_resamples, scores=("accuracy",))
    curves = curves_table(runs)
    out = Path(args.out)
    write_parquet(table, out / "overfitting.parquet")
    write_parquet(curves, out / "curves.parquet")
    write_records(mean_curves(curves), args.plot)
    pgr_cells = checkpoint_pgr(table, cells)
    write_parquet(pgr_cells, out / "overfitting_pgr.parquet")
    metrics = overfitting_metrics(table, pgr_cells)
    write_json(metrics, args.metrics)
    for name, value in metrics.items():
        if "/w2s/" in name and ("pgr" in name or "overfit" in name):
            print(f"{name}: {'null' if value is None else f'{value:.3f}'}")


if __name__ == "__main__":
    sys.exit(cli.run(main))
