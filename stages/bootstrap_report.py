"""Stage `bootstrap_report`: PGR of every bootstrapping chain and of its direct run (relative to M1 and
Mk's ceiling), ratio of mean scores over seeds with a paired interval over seeds and test rows; tidy
tables and DVC metrics."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from w2s import cli
from w2s.analysis import format_pgr, load_predictions
from w2s.bootstrap import ROUTES, summarize
from w2s.config import load_params
from w2s.io import read_parquet, write_json, write_parquet
from w2s.runs import PREDICTIONS


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--runs", required=True, help="the `bootstrap` folder: <task>/<chain>/seed<k>/bootstrap.parquet")
    p.add_argument("--gt-runs", required=True, help="the `train_gt` folder: <task>/<model>/seed<k>/ run directories")
    p.add_argument("--tables", required=True, help="folder for bootstrap.parquet (per seed) and summary.parquet")
    p.add_argument("--metrics", required=True, help="metrics file: accuracy and PGR per task, chain and route")
    args = p.parse_args(argv)
    params = load_params(args.params)
    files = [Path(args.runs) / t / c / f"seed{s}" / "bootstrap.parquet"
             for t in params.tasks for c in params.bootstrap.chains for s in params.seeds]
    if not files:  # no chains in params: empty tables and metrics, so the DAG stays valid
        write_parquet(pl.DataFrame(), Path(args.tables) / "bootstrap.parquet")
        write_parquet(pl.DataFrame(), Path(args.tables) / "summary.parquet")
        write_json({}, args.metrics)
        print("bootstrap_report: bootstrap.chains is empty, nothing to report")
        return
    table = pl.concat([read_parquet(f) for f in files], how="diagonal")
    # exactly the runs params define: each route's final student, and M1's and Mk's ground-truth runs
    runs = [Path(args.runs) / t / c / f"seed{s}" / route for t in params.tasks for c in params.bootstrap.chains
            for s in params.seeds for route in ROUTES]
    ends = sorted({m for c in params.bootstrap.chains for m in (params.bootstrap.models(c)[0],
                                                                 params.bootstrap.models(c)[-1])})
    runs += [Path(args.gt_runs) / t / m / f"seed{s}" for t in params.tasks for m in ends for s in params.seeds]
    preds = load_predictions([r / PREDICTIONS for r in runs])
    a = params.analyze
    per_seed, summary, metrics = summarize(table, preds, a.ci_level, a.n_resamples)
    write_parquet(per_seed, Path(args.tables) / "bootstrap.parquet")
    write_parquet(summary, Path(args.tables) / "summary.parquet")
    write_json(metrics, args.metrics)
    for r in summary.iter_rows(named=True):
        pgr = format_pgr(r, "accuracy")
        print(f"{r['task']:10s} {r['chain']:30s} {r['route']:6s} acc {r['accuracy']:.3f}  PGR {pgr}")


if __name__ == "__main__":
    sys.exit(cli.run(main))
