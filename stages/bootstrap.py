"""Stage `bootstrap`: one chain M1 -> M2 -> ... -> Mk (each trained on its predecessor's labels, which every
intermediate hop produces by cross-fitting over `bootstrap.folds` folds of train_transfer) and the direct
M1 -> Mk run, for one task and seed, in probe mode on the cached features."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from w2s import cli
from w2s.bootstrap import bootstrap_table, run_chain
from w2s.config import CHAIN_SEP, load_params
from w2s.errors import InputError
from w2s.inputs import bootstrap_reads
from w2s.io import read_features, read_parquet, write_json, write_parquet
from w2s.pipeline import needs_torch
from w2s.runs import read_predictions, write_run
from w2s.validate import check_args


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--task", required=True)
    p.add_argument("--chain", required=True, help=f"ladder keys joined by '{CHAIN_SEP}' (params: bootstrap.chains)")
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--gt-runs", required=True, help="the task's `train_gt` folder: <model>/seed<k>/ run directories")
    p.add_argument("--features", required=True, help="the task's `embed` folder: <model>.safetensors files "
                                                 "(train.mode probe)")
    p.add_argument("--pool", required=True, help="pool parquet from `prepare` (train.mode finetune/lora: the texts)")
    p.add_argument("--out", required=True, help="folder to write: chain/ and direct/ run directories, "
                                                "bootstrap.parquet, hops.json, crossfit_labels.parquet")
    args = p.parse_args(argv)
    params = load_params(args.params)
    check_args(params, task=args.task, seed=args.seed)
    if args.chain not in params.bootstrap.chains:
        raise InputError(f"--chain {args.chain!r} is not in params.yaml bootstrap.chains {params.bootstrap.chains}")
    if needs_torch(params.train, [params.bootstrap.method]):  # an L-BFGS probe never imports torch
        cli.deterministic(threads=1)
    models = params.bootstrap.models(args.chain)
    method = params.bootstrap.method
    reads = bootstrap_reads(params, args.chain, args.seed, args.gt_runs, args.features)  # what bootstrap_inputs hashed
    weak, ceiling = read_predictions(reads["weak"]), read_predictions(reads["ceiling"])
    probe = params.train.mode == "probe"
    features = {m: read_features(reads[f"features:{m}"]) for m in models[1:]} if probe else {}
    result = run_chain(weak, features, params, args.task, models, method, args.seed,
                       pool=None if probe else read_parquet(args.pool))
    table = bootstrap_table(result, weak, ceiling, args.task, models, method, args.seed)
    out = Path(args.out)
    write_run(result.chain, out / "chain")
    write_run(result.direct, out / "direct")
    write_parquet(table, out / "bootstrap.parquet")
    write_json(result.hops, out / "hops.json")
    # the labels each intermediate hop handed on (id, part, label, p1, fold; hop = its student's key)
    handed = [labels.with_columns(pl.lit(hop["strong"]).alias("hop"))
              for labels, hop in zip(result.labels, result.hops[:-1], strict=True)]
    write_parquet(pl.concat(handed) if handed else pl.DataFrame(), out / "crossfit_labels.parquet")
    acc = dict(zip(table["route"], table["accuracy"], strict=True))
    print(f"bootstrap {args.task}/{args.chain}/seed{args.seed} ({method}): chain {acc['chain']:.3f}, "
          f"direct {acc['direct']:.3f}, hops " + ", ".join(f"{h['strong']} {h['accuracy']:.3f}" for h in result.hops))


if __name__ == "__main__":
    sys.exit(cli.run(main))
