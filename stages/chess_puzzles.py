"""Stage `chess_puzzles`: the puzzle sets of `chess.generate` from Stockfish self-play (data/chess/<set>.csv,
Lichess columns), deterministic for the same params and engine, and a record of the engine's version.
With no sets (the default) it writes an empty folder and needs no engine."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from w2s import cli
from w2s.config import load_params
from w2s.io import atomic_path, write_json
from w2s.puzzles import generate_sets


def main(argv: Sequence[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--out", required=True, help="folder for the sets (<set>.csv)")
    p.add_argument("--record", required=True, help="the engine's name and version and each set's counts (JSON)")
    args = p.parse_args(argv)
    params = load_params(args.params)
    start = time.perf_counter()
    sets, record = generate_sets(params.chess)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.csv"):
        if stale.stem not in sets:
            stale.unlink()
    for name, generated in sets.items():
        with atomic_path(out / f"{name}.csv") as tmp:
            tmp.write_bytes(generated.csv)
    write_json(record, args.record)
    for name, info in record["sets"].items():
        print(f"chess_puzzles {name}: {info['n_puzzles']} puzzles from {info['games']} games "
              f"({info['positions']} searches), {record['engine']}")
    print(f"chess_puzzles: {len(sets)} sets in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    sys.exit(cli.run(main))
