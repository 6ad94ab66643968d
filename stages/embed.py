"""Stage `embed`: frozen features of every pool row of a task under one model, computed once.

Besides the features it writes a small metrics file: how many of the task's texts were longer than
`embed.max_length` tokens and were truncated (and from which side), so a reader sees how much of a task
the model never read, and the hub commit of the model actually loaded (`models.<key>.revision`
resolved), so an upstream change of the model shows in `git diff` / `dvc metrics diff`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from w2s import cli
from w2s.config import load_params
from w2s.io import read_parquet, write_features, write_json
from w2s.pipeline import embed_pool
from w2s.validate import check_args


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--task", required=True, help="task name (params: tasks); picks the truncation side")
    p.add_argument("--model", required=True, help="model key (params: models)")
    p.add_argument("--pool", required=True, help="pool parquet from `prepare`")
    p.add_argument("--out", required=True, help="features file to write (safetensors)")
    p.add_argument("--metrics", required=True, help="truncation count to write (json)")
    args = p.parse_args(argv)
    params = load_params(args.params)
    check_args(params, task=args.task, models=[args.model])
    cli.deterministic()
    spec = params.model_spec(args.model)
    hub_id = spec.id
    emb = embed_pool(read_parquet(args.pool), hub_id, params, args.task, revision=spec.revision)
    n_rows, max_length = int(emb.features.shape[0]), params.embed.max_length
    meta = {"hub_id": hub_id, "model": args.model, "task": args.task, "pooling": emb.pooling,
            "n_truncated": str(emb.n_truncated), "max_length": str(max_length), "truncation": emb.truncation,
            "revision": emb.revision or ""}
    write_features(args.out, emb.ids, emb.features, meta)
    write_json({"task": args.task, "model": args.model, "hub_id": hub_id, "revision": emb.revision,
                "max_length": max_length, "truncation": emb.truncation, "n_rows": n_rows,
                "n_truncated": emb.n_truncated, "share_truncated": emb.n_truncated / n_rows}, args.metrics)
    print(f"embed {args.task} {args.model}: {n_rows} rows x {emb.features.shape[1]} dims, "
          f"pooling={emb.pooling}, truncated to {max_length} tokens (from the {emb.truncation}): {emb.n_truncated}")


if __name__ == "__main__":
    sys.exit(cli.run(main))
