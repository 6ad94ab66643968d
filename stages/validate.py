"""Stage `validate`: the whole params file checked before any other stage runs (every stage depends on
this one), so a bad params file stops DVC before it deletes a single output or runs a command built
from a params name. Its output is a constant marker: it changes only if this check's verdict does, so a
rerun after an unrelated params change leaves every downstream stage up to date."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from w2s import cli, runtime
from w2s.config import load_params
from w2s.io import atomic_path

MARKER = "params.yaml passed validation (w2s/config.py, w2s/validate.py)\n"


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--out", required=True, help="marker file to write when the params are valid")
    args = p.parse_args(argv)
    load_params(args.params)
    runtime.check_all()  # W2S_DEVICE names a device this machine has; W2S_COMPILE, W2S_RENDERER well formed
    with atomic_path(args.out) as tmp:
        tmp.write_text(MARKER)
    print(f"validate: {args.params} is valid")


if __name__ == "__main__":
    sys.exit(cli.run(main))
