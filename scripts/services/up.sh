#!/usr/bin/env bash
# Start (idempotently) the services tests need, then print their URLs on stdout:
#   DATABASE_URL=postgres://...
#   REDIS_URL=redis://...
# Progress/diagnostics go to stderr only, so stdout is exactly those two lines.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/timescaledb.sh" start >&2
bash "$here/redis.sh" start >&2
bash "$here/chromium.sh" >&2
bash "$here/poppler.sh" >&2
echo "DATABASE_URL=$(bash "$here/timescaledb.sh" url)"
echo "REDIS_URL=$(bash "$here/redis.sh" url)"
