"""Stage `headline`: the few numbers DVC shows by default (`metrics/headline.json`, the project's only
DVC metrics file), from the per-cell tables the analysis stages commit (`w2s.headline`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from w2s import cli
from w2s.config import load_params
from w2s.errors import InputError
from w2s.headline import TABLES, headline
from w2s.io import read_json, write_json


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--tables", required=True, help="folder of the per-cell tables (pgr.json, accuracy.json, ...)")
    p.add_argument("--out", required=True, help="the headline metrics file")
    args = p.parse_args(argv)
    params = load_params(args.params)
    tables = {}
    for name in TABLES:
        path = Path(args.tables) / f"{name}.json"
        if not path.is_file():
            raise InputError(f"{path}: missing (run the stage that writes it: `dvc repro`)")
        tables[name] = read_json(path)
    result = headline(tables, params)
    write_json(result, args.out)
    for key, value in result.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    sys.exit(cli.run(main))
