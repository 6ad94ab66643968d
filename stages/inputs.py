"""Stage `train_w2s_inputs` / `bootstrap_inputs` / `saliency_inputs`: the SHA-256 of exactly the upstream
files one cell reads (`w2s.inputs`), so that the cell depends on them and not on the task's whole gt-runs
folder."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from w2s import cli
from w2s.config import Pair, load_params
from w2s.errors import InputError
from w2s.inputs import bootstrap_reads, manifest, w2s_reads
from w2s.io import write_json
from w2s.saliency import saliency_reads
from w2s.validate import check_args


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--cell", required=True, choices=["train_w2s", "bootstrap", "saliency"],
                   help="the stage whose cell this is")
    p.add_argument("--task", required=True)
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--pair", help="train_w2s: the pair <weak>-to-<strong> (params: pairs)")
    p.add_argument("--chain", help="bootstrap: the chain (params: bootstrap.chains)")
    p.add_argument("--gt-runs", required=True, help="the task's `train_gt` folder: <model>/seed<k>/ run directories")
    p.add_argument("--features", help="train_w2s, bootstrap: the task's `embed` folder of <model>.safetensors files")
    p.add_argument("--out", required=True, help="JSON manifest to write: role -> {file: sha256}")
    args = p.parse_args(argv)
    params = load_params(args.params)
    check_args(params, task=args.task, seed=args.seed)
    if args.cell == "train_w2s":
        pair = Pair.parse(args.pair or "", "--pair")
        check_args(params, pair=(pair.weak, pair.strong))
        reads = w2s_reads(params, args.pair, args.seed, args.gt_runs, args.features or "")
    elif args.cell == "bootstrap":
        if args.chain not in params.bootstrap.chains:
            raise InputError(f"--chain {args.chain!r} is not in params.yaml bootstrap.chains {params.bootstrap.chains}")
        reads = bootstrap_reads(params, args.chain, args.seed, args.gt_runs, args.features or "")
    else:
        reads = saliency_reads(params, args.seed, args.gt_runs)
    hashes = manifest(reads)
    if args.cell == "train_w2s":  # finetune/lora students load the strong model: its id and revision are inputs
        strong = Pair.parse(args.pair).strong
        spec = params.model_spec(strong)
        hashes[f"model:{strong}"] = {"hub_id": spec.id, "revision": spec.revision}
    write_json(hashes, args.out)
    print(f"{args.cell}_inputs {args.task}/seed{args.seed}: {sum(map(len, hashes.values()))} files hashed")


if __name__ == "__main__":
    sys.exit(cli.run(main))
