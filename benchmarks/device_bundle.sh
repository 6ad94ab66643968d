#!/usr/bin/env bash
# Here, before the one GPU call (benchmarks/gpu_final.sh): build what that call carries, all of it ignored by git.
#   .whl/        wheels of the packages the lent GPU image lacks or has too old (polars, pydantic, typing-extensions;
#                torch, transformers, numpy, pyarrow and yaml are there), the versions this .venv has, for Python 3.12
#   .bench-hf/   a Hugging Face cache with the gpt2 family's configs and one copy of their shared tokenizer
#                (vocab + merges): no weights, every model there is random-init from its config
#   data/device/ the pipeline cells' params and sst2 pool (python -m benchmarks.device_cells prepare)
# and check that the call fits the 64 MiB that may travel. Then, with the device tool:
#   run(command="bash benchmarks/gpu_final.sh", carry=[".whl", ".bench-hf", "data/device/params.yaml",
#       "data/device/prepared"], timeout_s=480)
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" HF_DATASETS_OFFLINE="${HF_DATASETS_OFFLINE:-1}"

rm -rf .whl .bench-hf
mkdir -p .whl
# shellcheck disable=SC2046  # one word per requirement
"$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  $("$py" -c 'from importlib.metadata import version as v
print(*(f"{n}=={v(n)}" for n in ["polars", "polars-runtime-32", "pydantic", "pydantic-core",
                                 "annotated-types", "typing-inspection", "typing-extensions"]))')

"$py" - <<'PY'
"""Copy configs (and gpt2's tokenizer files) from the local hub cache into .bench-hf/hub, cache layout kept."""
import shutil
from pathlib import Path

from huggingface_hub import constants

src_root, dst_root = Path(constants.HF_HUB_CACHE), Path(".bench-hf/hub")
files = {"gpt2": ["config.json", "vocab.json", "merges.txt", "tokenizer_config.json"],
         "gpt2-medium": ["config.json"], "gpt2-large": ["config.json"]}
for name, wanted in files.items():
    repo = f"models--openai-community--{name}"
    ref = (src_root / repo / "refs" / "main").read_text().strip()
    (dst_root / repo / "refs").mkdir(parents=True)
    (dst_root / repo / "refs" / "main").write_text(ref)
    snap = dst_root / repo / "snapshots" / ref
    snap.mkdir(parents=True)
    for f in wanted:
        shutil.copyfile(src_root / repo / "snapshots" / ref / f, snap / f)  # follows the cache's links
print("copied the gpt2 family's configs and tokenizer into .bench-hf/hub")
PY

"$py" -m benchmarks.device_cells prepare

# What travels: tracked and untracked-not-ignored files, plus the carried paths.
{ git ls-files -z --cached --others --exclude-standard; \
  find .whl .bench-hf data/device/params.yaml data/device/prepared -type f -print0; } \
  | "$py" -c 'import os, sys
paths = [p for p in sys.stdin.buffer.read().decode().split("\0") if p and os.path.isfile(p)]
total = sum(os.path.getsize(p) for p in paths)
limit = 64 * 2**20
print(f"travels: {total / 2**20:.1f} MiB of {limit / 2**20:.0f} MiB ({len(paths)} files)")
sys.exit(0 if total <= limit else "over the limit: the call would be refused")'
