"""CPU throughput of `embed_texts` against a bare forward loop: a thin wrapper of `python -m benchmarks.bench`.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/embed_cpu.py --model sentence-transformers/all-MiniLM-L6-v2

Extra arguments go to benchmarks.bench (e.g. --infer-rows 512 --seq-len 256); see `python -m benchmarks.bench -h`.
"""

from __future__ import annotations

import sys

from benchmarks.bench import main
from w2s.cli import run

if __name__ == "__main__":
    defaults = ["--device", "cpu", "--model", "sentence-transformers/all-MiniLM-L6-v2", "--only", "embed",
                "--seq-len", "256"]
    sys.exit(run(main, defaults + sys.argv[1:]))
