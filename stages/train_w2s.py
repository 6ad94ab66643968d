"""Stage `train_w2s`: the strong student trained on its weak supervisor's soft labels (one seed, one method)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from w2s import cli
from w2s.config import Pair, load_params
from w2s.fitresult import is_main_process
from w2s.inputs import w2s_reads
from w2s.io import read_features, read_parquet
from w2s.pipeline import needs_torch, train_weak_to_strong
from w2s.runs import read_predictions, write_run
from w2s.validate import check_args, check_features


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--task", required=True)
    p.add_argument("--pair", required=True, help="<weak>-to-<strong> model keys (params: pairs)")
    p.add_argument("--method", required=True, help="loss name (params: methods)")
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--gt-runs", required=True, help="the task's `train_gt` folder: <model>/seed<k>/ run directories")
    p.add_argument("--features", required=True, help="the task's `embed` folder of <model>.safetensors files "
                                                     "(train.mode probe)")
    p.add_argument("--pool", help="pool parquet from `prepare` (train.mode finetune/lora: the texts)")
    p.add_argument("--out", required=True, help="run directory to write")
    args = p.parse_args(argv)
    params = load_params(args.params)
    probe = params.train.mode == "probe"
    pair = Pair.parse(args.pair, "--pair")
    check_args(params, task=args.task, models=[pair.weak, pair.strong], seed=args.seed, method=args.method,
               pair=(pair.weak, pair.strong))
    reads = w2s_reads(params, pair.name, args.seed, args.gt_runs, args.features)  # what train_w2s_inputs hashed
    if probe:
        check_features(reads[f"features:{pair.strong}"], params, pair.strong, args.task)
    if needs_torch(params.train, [args.method]):  # an L-BFGS probe (numpy, scipy) never imports torch
        cli.deterministic(threads=1 if probe else None)  # finetuning uses every core
    run = train_weak_to_strong(read_predictions(reads["weak"]),
                               read_features(reads[f"features:{pair.strong}"]) if probe else None,
                               params, args.task, pair, args.method, args.seed,
                               pool=None if probe or args.pool is None else read_parquet(args.pool))
    if not is_main_process():  # under `accelerate launch`, rank 0 writes
        return
    write_run(run, args.out)
    print(f"train_w2s {args.task}/{pair.name}/{args.method}/seed{args.seed}: "
          f"test accuracy {run.summary()['accuracy']:.3f}; {run.fit_line()}")


if __name__ == "__main__":
    sys.exit(cli.run(main))
