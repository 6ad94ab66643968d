"""Stage `difficulty`: PGR by difficulty bucket for the tasks whose pool carries a difficulty (the chess
tasks: the puzzle's rating), with the headline's paired intervals on each bucket's test rows; an empty
table when no listed task has one."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from w2s import cli
from w2s.config import load_params
from w2s.difficulty import markdown, pgr_by_difficulty
from w2s.dvc_plots import write_records
from w2s.io import atomic_path, read_parquet, write_parquet
from w2s.runs import PREDICTIONS
from w2s.validate import run_dirs


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--runs", required=True, nargs="+", help="directories holding run directories")
    p.add_argument("--prepared", required=True, help="folder of the tasks' pools (<task>.parquet)")
    p.add_argument("--out", required=True, help="folder for pgr_by_difficulty.parquet and .md")
    p.add_argument("--plot", required=True, help="plot data for `dvc plots` (JSON records)")
    args = p.parse_args(argv)
    params = load_params(args.params)
    files = [d / PREDICTIONS for d in run_dirs(params, args.runs)]
    pools = {task: read_parquet(Path(args.prepared) / f"{task}.parquet") for task in params.tasks}
    table = pgr_by_difficulty(files, pools, params)
    write_parquet(table, Path(args.out) / "pgr_by_difficulty.parquet")
    text = markdown(table)
    with atomic_path(Path(args.out) / "pgr_by_difficulty.md") as tmp:
        tmp.write_text(text)
    write_records(table.with_columns(pair=table["weak"] + "-to-" + table["strong"]), args.plot)
    print(text if table.height else "difficulty: no listed task has a difficulty column (chess tasks do)")


if __name__ == "__main__":
    sys.exit(cli.run(main))
