"""Stage `analyze`: accuracy and AUROC of every run, and each cell's PGR (ratio of the mean scores over
seeds, with a paired bootstrap interval over seeds and test rows; and each task x method pooled over pairs),
as committed JSON tables (metrics/accuracy.json, metrics/pgr.json), tidy parquet tables and plot data;
plus the record of the environment the results were computed in (`w2s.verify`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from w2s import cli
from w2s.analysis import analyze, markdown_table, pgr_plot_records
from w2s.config import load_params
from w2s.dvc_plots import write_records
from w2s.io import atomic_path, write_json, write_parquet
from w2s.runs import PREDICTIONS
from w2s.validate import run_dirs
from w2s.verify import environment


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--runs", required=True, nargs="+", help="directories holding run directories")
    p.add_argument("--tables", required=True, help="directory for the tidy parquet tables")
    p.add_argument("--accuracy", required=True, help="table: accuracy and AUROC per run (JSON)")
    p.add_argument("--pgr", required=True, help="table: PGR per cell and pooled (ratio of means, paired interval)")
    p.add_argument("--plot", required=True, help="plot data for `dvc plots` (JSON records, committed)")
    p.add_argument("--environment", help="where this run's environment record goes (CPU, libraries, BLAS)")
    args = p.parse_args(argv)
    params = load_params(args.params)
    files = [d / PREDICTIONS for d in run_dirs(params, args.runs)]  # exactly the runs params define
    result = analyze(files, params)
    write_parquet(result.runs, Path(args.tables) / "runs.parquet")
    write_parquet(result.pgr, Path(args.tables) / "pgr.parquet")
    write_parquet(result.summary, Path(args.tables) / "pgr_summary.parquet")
    write_parquet(result.tidy, Path(args.tables) / "tidy.parquet")
    write_records(pgr_plot_records(result.summary), args.plot)
    table = markdown_table(result.summary)
    with atomic_path(Path(args.tables) / "pgr_table.md") as tmp:
        tmp.write_text(table)
    write_json(result.accuracy_metrics, args.accuracy)
    write_json(result.pgr_metrics, args.pgr)
    if args.environment:
        write_json(environment(), args.environment)
    print(table)


if __name__ == "__main__":
    sys.exit(cli.run(main))
