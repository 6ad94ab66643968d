#!/usr/bin/env bash
# Issue 16 in one call of the lent GPU: the trainer as it ships (fused GELU, cuDNN attention off, no per-step
# sync) timed beside the naive loop, its profile, and real pipeline cells (train_gt, train_w2s) on the GPU.
# Here, first: `bash benchmarks/device_bundle.sh` (wheels, configs, the cells' pool; checks the 64 MiB). Then:
#   device tool run(command="bash benchmarks/gpu_final.sh", carry=[".whl", ".bench-hf",
#                   "data/device/params.yaml", "data/device/prepared"], timeout_s=480)
# Steps run in the order given (default below) and each is skipped once it would overrun BUDGET_S
# (default 400 s, leaving device time for a second call); `bash benchmarks/gpu_final.sh compile` runs the
# torch.compile timing alone. Logs and JSON go to $OUT, which the device tool brings back.
set -uo pipefail
cd "$(dirname "$0")/.."
. benchmarks/device_setup.sh
budget="${BUDGET_S:-400}"
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(env b16 b32 cells varied)

# step NAME SECONDS CMD...: run CMD under `timeout SECONDS` if that fits what is left of the budget.
step() {
  local name=$1 limit=$2; shift 2
  local left=$((budget - SECONDS))
  if [ "$left" -lt "$limit" ]; then echo "=== $name: skipped (${left} s left of ${budget}, needs ${limit})"; return; fi
  echo "=== $name (${SECONDS} s in): $(echo "$*" | head -c 150 | tr '\n' ' ')"
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "    exit $rc after ${SECONDS} s"
  if [ "$rc" -ne 0 ]; then tail -n 6 "$OUT/$name.log" | cut -c1-300; return; fi
  grep -v -i warn "$OUT/$name.log" | grep -E -A14 "^row|^\| cell|^cli|^torch|TFLOP|digest" | cut -c1-160
}
large=(python3 -m benchmarks.bench --model gpt2-large --seq-len 512 --synthetic)
for s in "${steps[@]}"; do
  case $s in
    env) step env 60 python3 -m benchmarks.gpu_env ;;
    b16) step b16 150 "${large[@]}" --lengths full --only label,train --batch-size 16 --steps 20 --profile \
           --json "$OUT/b16.json" ;;
    b32) step b32 100 "${large[@]}" --lengths full --only train --no-naive --batch-size 32 --steps 10 \
           --json "$OUT/b32.json" ;;
    cells) step cells 150 bash -c "python3 -m benchmarks.device_cells models \
             && python3 -m benchmarks.device_cells run --device cuda --json '$OUT/cells_cuda.json' \
             && python3 -m benchmarks.device_cells compare benchmarks/results/cells_cpu.json '$OUT/cells_cuda.json'" ;;
    varied) step varied 120 "${large[@]}" --lengths varied --only label,train --batch-size 16 --steps 20 \
              --json "$OUT/varied.json" ;;
    compile) step compile 300 "${large[@]}" --lengths full --only train --no-naive --batch-size 32 --steps 10 \
               --compile --json "$OUT/compile.json" ;;
    *) echo "unknown step $s (env b16 b32 cells varied compile)"; exit 2 ;;
  esac
done
grep -B2 -A28 "Self CPU %" "$OUT/b16.log" 2>/dev/null | cut -c1-200 | head -34
