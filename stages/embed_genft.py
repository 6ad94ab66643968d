"""Stage `embed_genft`: frozen features of every pool row under a `genft`-adapted decoder (as `embed` does
for a hub model), written under the adapted model's key so the ladder can use it."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from w2s import cli
from w2s.config import load_params
from w2s.io import read_parquet, write_features
from w2s.pipeline import embed_pool
from w2s.validate import check_args


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--model", required=True, help="adapted model key (params: genft.models)")
    p.add_argument("--weights", required=True, help="the adapted model folder from `genft`")
    p.add_argument("--pool", required=True, help="pool parquet from `prepare`")
    p.add_argument("--out", required=True, help="features file to write (safetensors)")
    args = p.parse_args(argv)
    params = load_params(args.params)
    check_args(params, models=[args.model])
    cli.deterministic()
    emb = embed_pool(read_parquet(args.pool), args.weights, params)
    meta = {"hub_id": params.hub_id(args.model), "genft": args.weights, "pooling": emb.pooling,
            "n_truncated": str(emb.n_truncated), "max_length": str(params.embed.max_length)}
    write_features(args.out, emb.ids, emb.features, meta)
    print(f"embed_genft {args.model}: {emb.features.shape[0]} rows x {emb.features.shape[1]} dims, "
          f"pooling={emb.pooling}, truncated: {emb.n_truncated}")


if __name__ == "__main__":
    sys.exit(cli.run(main))
