"""Stage `embed`: frozen features of every pool row of a task under one model, computed once."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from w2s import cli
from w2s.config import load_params
from w2s.io import read_parquet, write_features
from w2s.pipeline import embed_pool
from w2s.validate import check_args, check_devices


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--model", required=True, help="model key (params: models)")
    p.add_argument("--pool", required=True, help="pool parquet from `prepare`")
    p.add_argument("--out", required=True, help="features file to write (safetensors)")
    args = p.parse_args(argv)
    params = load_params(args.params)
    check_args(params, models=[args.model])
    check_devices(params, ["embed.device"], here=True)
    cli.deterministic()
    hub_id = params.hub_id(args.model)
    emb = embed_pool(read_parquet(args.pool), hub_id, params)
    meta = {"hub_id": hub_id, "pooling": emb.pooling, "n_truncated": str(emb.n_truncated),
            "max_length": str(params.embed.max_length)}
    write_features(args.out, emb.ids, emb.features, meta)
    print(f"embed {args.model}: {emb.features.shape[0]} rows x {emb.features.shape[1]} dims, "
          f"pooling={emb.pooling}, truncated to {params.embed.max_length} tokens: {emb.n_truncated}")


if __name__ == "__main__":
    sys.exit(cli.run(main))
