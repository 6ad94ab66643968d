"""Stage `plots_page`: the HTML page template of `dvc plots show` / `dvc plots diff` with vega,
vega-lite and vega-embed inlined, so the plots draw without a network (`.dvc/config` points
`plots.html_template` at it)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from w2s import cli
from w2s.dvc_plots import write_offline_page


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--out", required=True, help="the HTML template to write")
    args = p.parse_args(argv)
    write_offline_page(args.out)


if __name__ == "__main__":
    sys.exit(cli.run(main))
