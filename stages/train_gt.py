"""Stage `train_gt`: one model of the ladder trained on train_weak's ground truth (one seed).

Its soft predictions on train_transfer are the weak labels when it supervises; its test accuracy is
the weak performance when it supervises and the strong ceiling when it is the student.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from w2s import cli
from w2s.config import load_params
from w2s.fitresult import is_main_process
from w2s.io import read_features, read_parquet
from w2s.pipeline import needs_torch, train_ground_truth
from w2s.runs import write_run
from w2s.validate import check_args, check_features


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--task", required=True)
    p.add_argument("--model", required=True, help="model key (params: ladder)")
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--pool", required=True, help="pool parquet from `prepare`")
    p.add_argument("--features", required=True, help="features of --model from `embed` (train.mode probe)")
    p.add_argument("--out", required=True, help="run directory to write")
    args = p.parse_args(argv)
    params = load_params(args.params)
    probe = params.train.mode == "probe"
    check_args(params, task=args.task, models=[args.model], seed=args.seed)
    if probe:
        check_features(args.features, params, args.model, args.task)
    if needs_torch(params.train, ["xent"]):  # an L-BFGS probe (numpy, scipy) never imports torch
        cli.deterministic(threads=1 if probe else None)  # finetuning uses every core
    run = train_ground_truth(read_parquet(args.pool), read_features(args.features) if probe else None, params,
                             args.task, args.model, args.seed)
    if not is_main_process():  # under `accelerate launch`, rank 0 writes
        return
    write_run(run, args.out)
    print(f"train_gt {args.task}/{args.model}/seed{args.seed}: test accuracy {run.summary()['accuracy']:.3f}; "
          f"{run.fit_line()}")


if __name__ == "__main__":
    sys.exit(cli.run(main))
