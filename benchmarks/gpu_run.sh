#!/usr/bin/env bash
# The issue-7 GPU measurements in one call of the lent GPU machine (no network there: the repo runs from
# PYTHONPATH, the gpt2 configs and tokenizer travel in .bench-hf/hub, and the packages the GPU image lacks
# (w2s imports polars and pydantic) as wheels in .whl; both built here by benchmarks/device_bundle.sh).
#   device tool: run(command="bash benchmarks/gpu_run.sh", carry=[".whl", ".bench-hf"])
# Logs and JSON go to $OUT (the device tool brings them back). Extra arguments go to every large run.
# The shipped trainer and the pipeline cells: benchmarks/gpu_final.sh.
set -uo pipefail
export HF_HUB_OFFLINE=1 HF_HUB_CACHE="$PWD/.bench-hf/hub" PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "wheels did not install: run benchmarks/device_bundle.sh here and carry .whl"; exit 1; }
export PYTHONPATH="$PWD:/tmp/site"
OUT="${OUT:-/tmp/w2s-bench}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.max.sm,power.limit --format=csv
python3 - <<'PY'
import time, torch, transformers
print("torch", torch.__version__, "transformers", transformers.__version__, torch.cuda.get_device_name())
a, b = (torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2))
for _ in range(3): a @ b
torch.cuda.synchronize(); t = time.perf_counter()
for _ in range(10): a @ b
torch.cuda.synchronize(); print(f"bf16 8192^3 matmul: {10 * 2 * 8192**3 / (time.perf_counter() - t) / 1e12:.0f} TFLOP/s")
from w2s import cli
try:
    cli.deterministic(); x = torch.randn(256, 256, device="cuda"); print("cli.deterministic() + CUDA matmul:", float((x @ x).sum()))
except Exception as e:
    print("cli.deterministic() + CUDA matmul FAILS:", type(e).__name__, str(e).splitlines()[0])
PY
python3 -m benchmarks.bench --tiny --device cuda --json "$OUT/tiny.json" 2>&1 | tail -12
large="--model gpt2-large --seq-len 512 --synthetic"
python3 -m benchmarks.bench $large --lengths full --batch-size 16 --steps 20 --profile --json "$OUT/large_full.json" "$@" 2>&1 | tee "$OUT/large_full.log"
python3 -m benchmarks.bench $large --lengths varied --batch-size 16 --steps 20 --json "$OUT/large_varied.json" "$@" 2>&1 | tee "$OUT/large_varied.log"
python3 -m benchmarks.bench $large --lengths full --batch-size 16 --steps 20 --compile --only train --json "$OUT/large_compile.json" "$@" 2>&1 | tee "$OUT/large_compile.log"
