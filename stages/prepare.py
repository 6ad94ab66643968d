"""Stage `prepare`: load one task, format it, and write its balanced, deduplicated pool of rows."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from w2s import cli
from w2s.config import load_params
from w2s.io import read_json, write_parquet
from w2s.pipeline import prepare_task
from w2s.sources import check_unchanged, describe
from w2s.validate import check_args


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--task", required=True, help="task name (params: tasks)")
    p.add_argument("--out", required=True, help="pool parquet to write")
    p.add_argument("--sources", help="the task's manifest from stage `sources`: refuse if the data differs now")
    args = p.parse_args(argv)
    params = load_params(args.params)
    check_args(params, task=args.task)
    if args.sources:
        check_unchanged(read_json(args.sources), describe(params, args.task), args.sources)
    pool = prepare_task(params, args.task)
    write_parquet(pool, args.out)
    counts = pool.group_by("part", "label").len().sort("part", "label").rows()
    print(f"prepare {args.task}: {pool.height} rows " + ", ".join(f"{p}/{y}={n}" for p, y, n in counts))


if __name__ == "__main__":
    sys.exit(cli.run(main))
