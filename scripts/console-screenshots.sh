#!/usr/bin/env bash
# Screenshots of each console page (login, dashboard today and 7 days, callbacks, callback,
# destinations, destination, refused edit) for the README: runs the browser
# tests (a real headless Chromium against the console, a simulated call, an
# embedded PostgreSQL) with VOICEAI_CONSOLE_SCREENSHOTS set, which saves a PNG
# of each page they visit. Needs chromium and chromium-driver
# (scripts/install-system-packages.sh) and the test extras (pip install -e '.[test]').
#   scripts/console-screenshots.sh [OUTPUT_DIR]   (default docs/console)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:-docs/console}")
mkdir -p "$OUT"
VOICEAI_REQUIRE_BROWSER=1 VOICEAI_CONSOLE_SCREENSHOTS="$OUT" \
  python -m pytest -p no:cacheprovider -q tests/console/browser
ls -l "$OUT"/*.png
