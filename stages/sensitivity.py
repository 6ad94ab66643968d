"""Stage `sensitivity@task`: every (pair, method) of the task rerun with all probe heads at one C, for each
C of `sensitivity.c_grid`, and each cell's PGR with its paired interval over seeds and test rows: how much
of the result depends on regularisation (`w2s.sensitivity`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from w2s import cli
from w2s.analysis import format_pgr
from w2s.config import load_params
from w2s.io import read_features, read_parquet, write_parquet
from w2s.pipeline import needs_torch
from w2s.sensitivity import sensitivity_task, skip_reason
from w2s.validate import check_args


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--task", required=True)
    p.add_argument("--pool", required=True, help="the task's prepared pool")
    p.add_argument("--features", required=True, help="the task's features directory (<model>.safetensors)")
    p.add_argument("--out", required=True, help="parquet file of the task's PGR-vs-C rows")
    args = p.parse_args(argv)
    params = load_params(args.params)
    check_args(params, task=args.task)
    if needs_torch(params.train, params.methods):  # L-BFGS probes (xent, kl) never import torch
        cli.deterministic(threads=1)
    skipped = skip_reason(params)
    if skipped:  # an empty table keeps the DAG whole (the report shows a note in place of the figure)
        write_parquet(pl.DataFrame(), args.out)
        print(f"sensitivity: skipped {args.task}: {skipped}")
        return
    models = sorted({m for pair in params.pairs for m in (pair.weak, pair.strong)})
    features = {m: read_features(Path(args.features) / f"{m}.safetensors") for m in models}

    def show(row: dict) -> None:
        print(f"sensitivity {args.task} C={row['c']:g} {row['weak']}-to-{row['strong']} {row['method']}: "
              f"PGR {format_pgr(row)}")

    table = sensitivity_task(read_parquet(args.pool), features, params, args.task, on_row=show)
    write_parquet(table, args.out)


if __name__ == "__main__":
    sys.exit(cli.run(main))
