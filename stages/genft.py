"""Stage `genft`: generative finetuning of a decoder on one task's unlabelled texts; saves the adapted
model (`save_pretrained`) for `embed_genft`."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from w2s import cli
from w2s.config import load_params
from w2s.errors import InputError
from w2s.genft import generative_finetune, genft_texts, save_adapted
from w2s.io import read_parquet
from w2s.validate import check_args


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--task", required=True)
    p.add_argument("--model", required=True, help="adapted model key (params: genft.models)")
    p.add_argument("--pool", required=True, help="pool parquet from `prepare`")
    p.add_argument("--out", required=True, help="folder to write the adapted model to")
    args = p.parse_args(argv)
    params = load_params(args.params)
    check_args(params, task=args.task)
    g = params.genft
    if args.model not in g.models:
        raise InputError(f"--model {args.model!r} is not a key of params.yaml genft.models ({', '.join(g.models)})")
    cli.deterministic()
    spec = params.model_spec(args.model)
    hub_id = spec.id
    texts = genft_texts(read_parquet(args.pool), g, params.train.weak_fraction)
    result = generative_finetune(texts, hub_id, g, revision=spec.revision)
    save_adapted(result, args.out, result.record(hub_id, len(texts), g))
    print(f"genft {args.task}/{args.model} ({hub_id}): {len(texts)} texts, {len(result.losses)} steps, "
          f"LM loss {result.loss_before:.3f} -> {result.loss_after:.3f} in {result.seconds:.0f} s")


if __name__ == "__main__":
    sys.exit(cli.run(main))
