"""Smoke test of `python -m benchmarks.bench --tiny`: every row is measured with finite positive numbers.

No timing assertions (timings belong in the benchmark's output); this checks that the bench runs end to
end on a CPU, on a tiny random-init GPT-2 with the cached gpt2 tokenizer, and prints its whole table.
Integration tier: it reads the cached tokenizer and takes half a minute or more (tests/test_bench.py has
the bench's argument check).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.bench import ROWS

ROOT = Path(__file__).resolve().parents[2]


def test_tiny_bench_prints_every_row(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench", "--tiny", "--device", "cpu", "--json", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[-1].startswith("summary: device=")
    for name in ("embed/bare=", "train=", "label speedup=", "probe fit="):
        assert name in lines[-1]
    for name in ROWS:
        row = next((line for line in lines if line.startswith(name)), None)
        assert row is not None, f"row {name!r} missing from:\n{proc.stdout}"
        seconds, cpu_s, seq_s = (float(x) for x in row[len(name):].split()[:3])
        assert all(math.isfinite(v) and v > 0 for v in (seconds, seq_s)) and cpu_s >= 0
    rows = {r["name"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == set(ROWS)
    for name in ("embed: embed_texts", "label: w2s predict", "train: w2s fit"):
        assert math.isfinite(rows[name]["speedup"]) and rows[name]["speedup"] > 0
        assert rows[name]["tok_per_s"] > 0
    assert rows["train: w2s fit"]["mfu"] is None  # a CPU has no peak in the table: MFU left blank
