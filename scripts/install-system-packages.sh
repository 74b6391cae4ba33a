#!/usr/bin/env bash
# Debian/Ubuntu packages voiceai-ivr uses when present (run as root; installs only
# what is missing):
#   espeak-ng        Portuguese and English prompt audio without a FreeSWITCH TTS module
#   chromium         the console's browser tests (tests/console/browser) and
#   chromium-driver  scripts/console-screenshots.sh: a headless browser, never downloaded at run time
# `voiceai-ivr config check` says which of them a configuration needs.
set -euo pipefail
PACKAGES=(espeak-ng chromium chromium-driver)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then
  echo "system packages present: ${PACKAGES[*]}"
  exit 0
fi
if [[ $(id -u) != 0 ]]; then
  echo "missing packages ${missing[*]}: run as root (sudo bash $0)" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
echo "installed: ${missing[*]}"
