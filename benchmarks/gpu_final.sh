#!/usr/bin/env bash
# The trainer as it ships (fused GELU, cuDNN attention off, no per-step validity sync) on the lent GPU,
# in one call (set-up: see gpu_run.sh): device tool run(command="bash benchmarks/gpu_final.sh", carry=[".bench-hf"])
set -uo pipefail
export PYTHONPATH=. HF_HUB_OFFLINE=1 HF_HUB_CACHE="$PWD/.bench-hf/hub" PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/w2s-bench}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
large="python3 -m benchmarks.bench --model gpt2-large --seq-len 512 --synthetic"
t() {
  local name=$1 limit=$2; shift 2; echo "=== $name: $*"
  timeout "$limit" $large "$@" --json "$OUT/$name.json" >"$OUT/$name.log" 2>&1
  grep -v Warning "$OUT/$name.log" | grep -A12 "^row"
}
t shipped_full 150 --lengths full --only label,train,embed --profile
t shipped_varied 120 --lengths varied --only label,train
t shipped_b32 100 --lengths full --only train --no-naive --batch-size 32 --steps 10
t shipped_compile_b32 260 --lengths full --only train --no-naive --batch-size 32 --steps 10 --compile
grep -B2 -A28 "Self CPU %" "$OUT/shipped_full.log" | cut -c1-200 | head -34
