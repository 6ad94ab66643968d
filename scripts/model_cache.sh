#!/usr/bin/env bash
# The pretrained models the tests and the default params load, for a machine that cannot reach the
# Hugging Face hub: builds them into the local hub cache with an offline cache builder (a script that
# lays real checkpoints out as the hub cache, e.g. hf_offline_cache.py of the shared folder).
#   scripts/model_cache.sh            the default set (the default ladder's encoders, gpt2 configs) and
#                                     the decoder the tests load (SmolLM2-135M-Instruct)
#   scripts/model_cache.sh ID...      these hub ids only
# Where the hub is reachable (and HF_HUB_OFFLINE is unset) it downloads the same models from the hub
# instead (the tests run with HF_HUB_OFFLINE=1, so they read the cache either way).
# Settings (environment): W2S_OFFLINE_CACHE_BUILDER, the builder script (default: the shared folder
# beside the repo, ../shared/offline/hf_offline_cache.py); PYTHON, the interpreter (default .venv's).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
BUILDER="${W2S_OFFLINE_CACHE_BUILDER:-../shared/offline/hf_offline_cache.py}"
DECODER=HuggingFaceTB/SmolLM2-135M-Instruct
# what the builder's default set holds: the default ladder's encoders (weights) and gpt2 (configs)
ENCODERS=(sentence-transformers/paraphrase-MiniLM-L3-v2 sentence-transformers/all-MiniLM-L6-v2
          sentence-transformers/all-mpnet-base-v2)
CONFIGS=(openai-community/gpt2 openai-community/gpt2-medium openai-community/gpt2-large openai-community/gpt2-xl)

case "${HF_HUB_OFFLINE:-}" in
  1|true|TRUE|yes|on) offline=1 ;;
  *) if "$PYTHON" -c "import urllib.request; urllib.request.urlopen('https://huggingface.co/api/models?limit=1', timeout=5)" \
          >/dev/null 2>&1; then offline=0; else offline=1; fi ;;
esac
if [ "$offline" = 0 ]; then
  echo "the Hugging Face hub is reachable: downloading the models into the hub cache"
  weights=("$@") configs=()
  [ $# -gt 0 ] || { weights=("${ENCODERS[@]}" "$DECODER"); configs=("${CONFIGS[@]}"); }
  "$PYTHON" - "${#weights[@]}" "${weights[@]}" "${configs[@]}" <<'PY'
import sys
from huggingface_hub import snapshot_download
n, ids = int(sys.argv[1]), sys.argv[2:]
files = ["*.json", "*.txt", "*.model"]
for i, hub_id in enumerate(ids):
    snapshot_download(hub_id, allow_patterns=files + (["*.safetensors"] if i < n else []))
    print(f"  cached: {hub_id}")
PY
  exit 0
fi
if [ ! -f "$BUILDER" ]; then
  echo "the hub is unreachable (or HF_HUB_OFFLINE=1) and there is no offline cache builder at $BUILDER;"
  echo "set W2S_OFFLINE_CACHE_BUILDER to one (hf_offline_cache.py), or run where the hub is reachable"
  exit 1
fi
if [ $# -gt 0 ]; then
  "$PYTHON" "$BUILDER" --only "$@"
else
  "$PYTHON" "$BUILDER"
  "$PYTHON" "$BUILDER" --only "$DECODER"
fi
