"""Stage `report`: render the Quarto reports of reports/ (an overview and one detail report per task)
from the analysis tables to self-contained HTML (interactive charts, no network) and PDF; with
`quarto` on PATH through `quarto render`, else with the offline renderer of w2s/report.py."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from w2s import cli, runtime
from w2s.config import load_params
from w2s.report import build_reports


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--tables", required=True, nargs="+", help="folders holding the analysis parquet tables")
    p.add_argument("--reports", required=True, help="folder of the .qmd sources (overview.qmd, task.qmd)")
    p.add_argument("--out", required=True, help="folder for the rendered HTML, PDF and figure PNGs")
    args = p.parse_args(argv)
    params = load_params(args.params)
    written = build_reports(args.tables, args.reports, args.out, params.tasks, params.ladder,
                            runtime.renderer(), params.report.formats)
    for stem, files in written.items():
        print(f"{stem}: {', '.join(str(f) for f in files.values())}")


if __name__ == "__main__":
    sys.exit(cli.run(main))
