#!/usr/bin/env bash
# The lab's one set-up: README step 1, `make setup` and CI (.ci/run) all run this script, so they take
# the same path. Idempotent: a rerun only does what is missing.
#   1. system packages the tests use (chromium: the report checks; stockfish: the chess tasks), with
#      apt-get when root, else it prints the exact command;
#   2. the virtual environment $VENV (default .venv/) with the project and its test tools;
#   3. where the Hugging Face hub is unreachable (or HF_HUB_OFFLINE=1): the offline model cache of the
#      models the tests load (scripts/model_cache.sh). Where the hub is reachable, nothing: models
#      download on first use.
# Settings (environment): VENV, PIP_FLAGS (extra pip flags, e.g. -q), W2S_OFFLINE_CACHE_BUILDER (see
# scripts/model_cache.sh). Exit 0 with a "not done" list when a step could not be done here.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
read -r -a PIP_EXTRA <<< "${PIP_FLAGS:-}"
not_done=()

echo "::: setup 1/3: system packages (chromium, stockfish)"
missing=()
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
command -v stockfish >/dev/null 2>&1 || [ -x /usr/games/stockfish ] || missing+=(stockfish)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
      || not_done+=("system packages: apt-get install -y ${missing[*]} failed")
  else
    not_done+=("system packages: sudo apt-get install -y ${missing[*]}")
  fi
fi

echo "::: setup 2/3: virtual environment $VENV (the project and its test tools)"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install "${PIP_EXTRA[@]}" torch==2.13.0 -e '.[dev]'

echo "::: setup 3/3: models (the offline cache, where the hub is unreachable)"
PYTHON="$VENV/bin/python" scripts/model_cache.sh || not_done+=("offline model cache: see the lines above")

if [ ${#not_done[@]} -gt 0 ]; then
  echo "::: set-up finished, but NOT done here (the tests that need these fail saying so):"
  printf '  - %s\n' "${not_done[@]}"
else
  echo "::: set-up done"
fi
