"""Stage `saliency@task-seed`: the five concept-saliency conditions of the paper's Fig. 11 on one strong
model (frozen probes on weak / ground-truth labels, finetuned on weak labels, weak-finetuned then a
ground-truth probe, finetuned on ground truth) for one seed (a seed outside `saliency.seeds` is skipped),
all at the same token limit; writes whether each condition predicted each test row correctly. A study whose ladder
lacks `saliency.model` / `saliency.weak` gets an empty table and a message instead."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import polars as pl

from w2s import cli
from w2s.config import load_params
from w2s.io import read_parquet, write_parquet
from w2s.saliency import saliency_task
from w2s.validate import check_args


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--task", required=True)
    p.add_argument("--pool", required=True, help="the task's prepared pool (texts)")
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--gt-runs", required=True, help="the task's gt runs directory (<model>/seed<k>/)")
    p.add_argument("--out", required=True, help="parquet file of the seed's per-test-row saliency outcomes")
    args = p.parse_args(argv)
    params = load_params(args.params)
    check_args(params, task=args.task, seed=args.seed)
    cli.deterministic()  # finetuning uses every core
    table, skipped = saliency_task(read_parquet(args.pool), args.gt_runs, params, args.task, args.seed)
    write_parquet(table, args.out)
    if skipped:
        print(f"saliency: skipped {args.task}/seed{args.seed}: {skipped}")
    else:
        print(table.group_by("task", "model", "weak", "condition", "seed", maintain_order=True)
              .agg(pl.col("correct").mean().alias("accuracy"), pl.len().alias("n_test")))


if __name__ == "__main__":
    sys.exit(cli.run(main))
