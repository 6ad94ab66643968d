"""CPU throughput of `embed_texts` against a bare forward loop over the same batches.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/embed_cpu.py --model sentence-transformers/all-MiniLM-L6-v2 -n 256

`bare` is `model(**batch)` alone over the same length-sorted, pre-padded batches (tokenizing, padding,
pooling and copying excluded), so `ratio` = embed / bare shows the overhead of everything around the
forward pass. `unsorted` is the same bare loop over batches in input order, each padded to its own
longest: what length bucketing saves. Each timing is the best of --repeats runs after one warm-up.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from w2s.features import embed_texts, pad_batch, tokenize
from w2s.models import load_backbone, resolve_pooling

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def read_texts(data_dir: Path, n: int) -> list[str]:
    """The first `n` sentences of the SST-2 train mirror."""
    with (data_dir / "sst2" / "train.jsonl").open() as f:
        return [json.loads(line)["sentence"] for _, line in zip(range(n), f, strict=False)]


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Seconds of the fastest of `repeats` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bare_loop(model: torch.nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    with torch.inference_mode():
        for input_ids, mask in batches:
            model(input_ids=input_ids, attention_mask=mask)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("-n", type=int, default=256, help="number of SST-2 sentences")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)

    texts = read_texts(args.data_dir, args.n)
    model, tokenizer = load_backbone(args.model)
    pooling = resolve_pooling(model.config, "auto")
    ids, _ = tokenize(texts, tokenizer, args.max_length)
    pad_id = tokenizer.pad_token_id
    order = np.argsort(-np.array([len(s) for s in ids]), kind="stable")
    chunks = [order[i : i + args.batch_size] for i in range(0, len(ids), args.batch_size)]
    sorted_batches = [pad_batch([ids[j] for j in rows], pad_id) for rows in chunks]
    input_batches = [pad_batch(ids[i : i + args.batch_size], pad_id) for i in range(0, len(ids), args.batch_size)]

    def run_embed() -> object:
        return embed_texts(texts, model, tokenizer, pooling=pooling, batch_size=args.batch_size,
                           max_length=args.max_length, progress=False)

    timings = {
        "embed_texts": best_time(run_embed, args.repeats),
        "bare": best_time(lambda: bare_loop(model, sorted_batches), args.repeats),
        "unsorted": best_time(lambda: bare_loop(model, input_batches), args.repeats),
    }
    print(f"{args.model}  n={len(texts)}  batch_size={args.batch_size}  pooling={pooling}  "
          f"threads={torch.get_num_threads()}  mean tokens={np.mean([len(s) for s in ids]):.1f}")
    for name, seconds in timings.items():
        print(f"  {name:12s} {len(texts) / seconds:9.1f} seq/s  ({seconds:.3f} s)")
    print(f"  ratio embed_texts / bare = {timings['bare'] / timings['embed_texts']:.3f}")


if __name__ == "__main__":
    main()
