"""Stage `agreement`: how often each weak-to-strong student predicts what its supervisor predicts on
the test rows, overall and split by supervisor correct / wrong, with both models' parameter counts
(from their configs, no weights loaded) so the report can plot agreement against student size."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from w2s import cli
from w2s.agreement import agreement_metrics, agreement_table, count_parameters, markdown_table, with_sizes
from w2s.analysis import load_predictions, select_current
from w2s.config import load_params
from w2s.dvc_plots import write_records
from w2s.io import write_json, write_parquet
from w2s.runs import PREDICTIONS
from w2s.validate import run_dirs


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--runs", required=True, nargs="+", help="directories holding run directories")
    p.add_argument("--out", required=True, help="directory for agreement.parquet")
    p.add_argument("--plot", required=True, help="plot data for `dvc plots` (JSON records, committed)")
    p.add_argument("--metrics", required=True, help="metrics file: agreement per cell, mean over seeds")
    args = p.parse_args(argv)
    params = load_params(args.params)
    files = [d / PREDICTIONS for d in run_dirs(params, args.runs)]  # exactly the runs params define
    preds = select_current(load_predictions(files), params)
    sizes = {m: count_parameters(params.hub_id(m), params.model_spec(m).revision) for m in sorted({*params.ladder})}
    table = with_sizes(agreement_table(preds), sizes)
    write_parquet(table, Path(args.out) / "agreement.parquet")
    write_records(table.with_columns(pair=table["weak"] + "-to-" + table["strong"]),
                  args.plot)
    write_json(agreement_metrics(table), args.metrics)
    print(markdown_table(table))


if __name__ == "__main__":
    sys.exit(cli.run(main))
