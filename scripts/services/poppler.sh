#!/usr/bin/env bash
# Ensure Debian's poppler-utils (pdftoppm, pdftotext) for the export tests, which render exported
# PDFs to pixels and text (api/src/exports/*.test.ts). A no-op when it is already installed;
# otherwise installs it with apt-get (needs root).
set -euo pipefail
if command -v pdftoppm >/dev/null 2>&1 && command -v pdftotext >/dev/null 2>&1; then exit 0; fi
echo "poppler.sh: installing Debian poppler-utils" >&2
if [ "$(id -u)" != 0 ]; then
  echo "poppler.sh: ERROR: pdftoppm missing and not root; run: sudo apt-get install -y poppler-utils" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends poppler-utils >&2
command -v pdftoppm >/dev/null 2>&1 || { echo "poppler.sh: ERROR: pdftoppm still missing" >&2; exit 1; }
