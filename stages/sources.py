"""Stage `sources`: record what one task's data is (the source that ran, each file's sha256, or the hub
dataset's revision and commit), so that `prepare` reruns exactly when the data changes.

DVC runs this stage on every `dvc repro` (always_changed: the data can live outside the project, where
DVC cannot watch it); it only hashes files, and its manifest changes only when the data does.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from w2s import cli
from w2s.config import load_params
from w2s.io import write_json
from w2s.sources import describe, summary
from w2s.validate import check_args


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--task", required=True, help="task name (params: tasks)")
    p.add_argument("--out", required=True, help="manifest to write (json)")
    args = p.parse_args(argv)
    params = load_params(args.params)
    check_args(params, task=args.task)
    manifest = describe(params, args.task, params.data.revision(args.task))
    write_json(manifest, args.out)
    print(summary(manifest))


if __name__ == "__main__":
    sys.exit(cli.run(main))
