#!/usr/bin/env bash
# The best eager configuration found (fused GELU, no cuDNN attention) with the full table (see gpu_run.sh).
set -uo pipefail
export PYTHONPATH=. HF_HUB_OFFLINE=1 HF_HUB_CACHE="$PWD/.bench-hf/hub" PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/w2s-bench}"
mkdir -p "$OUT"
large="python3 -m w2s.bench --model gpt2-large --seq-len 512 --synthetic --gelu tanh --sdpa no-cudnn"
t() { local name=$1; shift; echo "=== $name: $*"; timeout 150 $large "$@" --json "$OUT/$name.json" >"$OUT/$name.log" 2>&1; grep -v Warning "$OUT/$name.log" | grep -A12 "^row"; }
t best_full --lengths full --only label,train,embed --profile
t best_varied --lengths varied --only label,train
t best_b32 --lengths full --only train --no-naive --batch-size 32 --steps 10
grep -B2 -A28 "Self CPU %" "$OUT/best_full.log" | cut -c1-200 | head -34
