#!/usr/bin/env bash
# Ensure Debian's Chromium is at /usr/bin/chromium for the browser end-to-end test
# (test/e2e/edge-browser.test.ts drives it with playwright-core; Playwright never downloads a browser).
# A no-op when it is already installed; otherwise installs it with apt-get (needs root).
set -euo pipefail
BIN=/usr/bin/chromium
if [ -x "$BIN" ]; then exit 0; fi
echo "chromium.sh: installing Debian chromium" >&2
if [ "$(id -u)" != 0 ]; then
  echo "chromium.sh: ERROR: $BIN missing and not root; run: sudo apt-get install -y chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends chromium >&2
[ -x "$BIN" ] || { echo "chromium.sh: ERROR: $BIN still missing" >&2; exit 1; }
