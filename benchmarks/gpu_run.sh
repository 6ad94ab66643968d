#!/usr/bin/env bash
# The issue-7 GPU measurements in one call of the lent GPU machine (no network there: the repo runs from
# PYTHONPATH, the gpt2 configs and tokenizer travel in .bench-hf/hub, and the packages the GPU image lacks
# (w2s imports polars and pydantic) as wheels in .whl; both built here by benchmarks/device_bundle.sh).
#   device tool: run(command="bash benchmarks/gpu_run.sh", carry=[".whl", ".bench-hf"])
# Logs and JSON go to $OUT (the device tool brings them back). Extra arguments go to every large run.
# The shipped trainer and the pipeline cells: benchmarks/gpu_final.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
. benchmarks/device_setup.sh
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.max.sm,power.limit --format=csv
python3 -m benchmarks.gpu_env
python3 -m benchmarks.bench --tiny --device cuda --json "$OUT/tiny.json" 2>&1 | tail -12
large="--model gpt2-large --seq-len 512 --synthetic"
python3 -m benchmarks.bench $large --lengths full --batch-size 16 --steps 20 --profile --json "$OUT/large_full.json" "$@" 2>&1 | tee "$OUT/large_full.log"
python3 -m benchmarks.bench $large --lengths varied --batch-size 16 --steps 20 --json "$OUT/large_varied.json" "$@" 2>&1 | tee "$OUT/large_varied.log"
python3 -m benchmarks.bench $large --lengths full --batch-size 16 --steps 20 --compile --only train --json "$OUT/large_compile.json" "$@" 2>&1 | tee "$OUT/large_compile.log"
