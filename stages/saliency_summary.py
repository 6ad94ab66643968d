"""Stage `saliency_summary`: every task's saliency outcomes summarised per condition (mean test accuracy
with its interval over seeds and test rows, `analyze.ci_level`), its plot data, and DVC metrics
(`<task>/<condition>/accuracy` and `_low` / `_high`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from w2s import cli
from w2s.config import load_params
from w2s.dvc_plots import write_records
from w2s.io import read_parquet, write_json, write_parquet
from w2s.saliency import saliency_metrics, summarize


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--tables", required=True, help="directory of the saliency cells' tables: <task>/seed<k>.parquet")
    p.add_argument("--out", required=True, help="directory for saliency.parquet")
    p.add_argument("--plot", required=True, help="plot data for `dvc plots` (JSON records, committed)")
    p.add_argument("--metrics", required=True, help="metrics file: test accuracy and interval per task and condition")
    args = p.parse_args(argv)
    params = load_params(args.params)
    rows = pl.concat([read_parquet(Path(args.tables) / task / f"seed{seed}.parquet")
                      for task in params.tasks for seed in params.seeds])
    table = summarize(rows, level=params.analyze.ci_level, n_resamples=params.analyze.n_resamples)
    write_parquet(table, Path(args.out) / "saliency.parquet")
    write_records(table, args.plot)
    write_json(saliency_metrics(table), args.metrics)
    print(table.select("task", "model", "condition", "value", "low", "high", "n_seeds"))


if __name__ == "__main__":
    sys.exit(cli.run(main))
