# Sourced by the GPU scripts (gpu_run.sh, gpu_final.sh) from the repository root on the lent GPU machine:
# no network there, so the packages its image lacks arrive as wheels in .whl and the gpt2 configs and
# tokenizer in .bench-hf/hub, both built here by benchmarks/device_bundle.sh. Logs go to $OUT.
export HF_HUB_OFFLINE=1 HF_HUB_CACHE="$PWD/.bench-hf/hub" PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "wheels did not install: run benchmarks/device_bundle.sh here and carry .whl"; exit 1; }
export PYTHONPATH="$PWD:/tmp/site"
OUT="${OUT:-/tmp/w2s-bench}"
mkdir -p "$OUT"
