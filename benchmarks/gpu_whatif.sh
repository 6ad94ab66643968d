#!/usr/bin/env bash
# What-if runs on the lent GPU (see gpu_run.sh for the set-up): which change moves gpt2-large's MFU.
set -uo pipefail
export PYTHONPATH=. HF_HUB_OFFLINE=1 HF_HUB_CACHE="$PWD/.bench-hf/hub" PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/w2s-bench}"
mkdir -p "$OUT"
large="python3 -m w2s.bench --model gpt2-large --seq-len 512 --synthetic"
t() { local name=$1; shift; echo "=== $name: $*"; timeout 170 $large "$@" --json "$OUT/$name.json" 2>&1 | grep -v Warning | tail -6; }
t compile_gelu --lengths full --only train --no-naive --gelu tanh --compile
t eager_gelu --lengths full --only train --no-naive --gelu tanh
t varied_nocudnn --lengths varied --only train --no-naive --sdpa no-cudnn
t varied_all --lengths varied --only train --no-naive --sdpa no-cudnn --gelu tanh --compile
t compile_gelu_b32 --lengths full --only train --no-naive --gelu tanh --compile --batch-size 32 --steps 10
t embed_full --lengths full --only embed
