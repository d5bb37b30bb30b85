#!/usr/bin/env bash
# Provision a real PostgreSQL 17 + TimescaleDB server for tests and CI.
#
#   scripts/services/timescaledb.sh [start|stop|restart|status|url]   (default: start)
#
# The server runs from a Debian trixie chroot built once with debootstrap and
# cached outside the repo:
#   ${FUNNEL_SERVICES_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/funnel-analytics}/timescaledb-root
# It listens on 127.0.0.1:${TSDB_PORT:-55432} with trust auth for user postgres.
# Each port is a cluster of its own (own data directory, same chroot): `pnpm test:faults` stops and
# starts one on TSDB_PORT=55433 without touching the default one.
# `start` is idempotent: when the server already answers it returns silently.
# Needs root (chroot, debootstrap, apt-get).
set -euo pipefail

PORT="${TSDB_PORT:-55432}"
SERVICES_DIR="${FUNNEL_SERVICES_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/funnel-analytics}"
ROOT="$SERVICES_DIR/timescaledb-root"
LOCK="$SERVICES_DIR/timescaledb.lock"
MIRROR="${FUNNEL_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PG_MAJOR=17
PGBIN="/usr/lib/postgresql/$PG_MAJOR/bin"    # inside the chroot
DATA="/var/lib/postgresql/$PG_MAJOR/funnel-$PORT"  # inside the chroot; one cluster per port
LOGFILE="/var/lib/postgresql/funnel-$PORT.log"     # inside the chroot
URL="postgres://postgres@127.0.0.1:$PORT/postgres"

# Packages the chroot must hold besides PostgreSQL and TimescaleDB. A chroot built before one was
# listed gets it installed in place at the next start (ensure_packages), without a rebuild.
EXTRA_PACKAGES=("postgresql-$PG_MAJOR-roaringbitmap")

CHROOT="$(PATH="$PATH:/usr/sbin:/sbin" command -v chroot || echo chroot)"

log() { echo "timescaledb.sh: $*" >&2; }
die() { echo "timescaledb.sh: ERROR: $*" >&2; exit 1; }

usage() {
  echo "usage: $0 [start|stop|restart|status|url]" >&2
  exit 2
}

# Run a command inside the chroot as its postgres user (numeric ids read from the
# chroot's passwd), with a clean environment so no host locale settings leak in.
# fd 9 is the lock: it must never leak into the long-lived postmaster.
as_pg() {
  local ids
  ids="$(awk -F: '$1 == "postgres" { print $3 ":" $4 }' "$ROOT/etc/passwd")"
  [ -n "$ids" ] || die "no postgres user in $ROOT/etc/passwd (broken chroot? delete $ROOT to rebuild)"
  env -i PATH="$PGBIN:/usr/bin:/bin" LANG=C.UTF-8 LC_ALL=C.UTF-8 TZ=UTC \
    HOME=/var/lib/postgresql PGHOST=127.0.0.1 PGPORT="$PORT" PGUSER=postgres \
    "$CHROOT" --userspec="$ids" "$ROOT" "$@" 9>&-
}

# Whether dpkg inside the chroot has every EXTRA_PACKAGES entry fully installed (a cheap file read).
packages_present() {
  local pkg
  for pkg in "${EXTRA_PACKAGES[@]}"; do
    awk -v p="$pkg" '$0 == "Package: " p { found = 1; next }
      found && /^Status:/ { ok = ($0 == "Status: install ok installed"); exit }
      END { exit !ok }' "$ROOT/var/lib/dpkg/status" || return 1
  done
}

root_ready() { [ -x "$ROOT$PGBIN/postgres" ] && [ -f "$ROOT/.funnel-build-complete" ]; }
ours_running() { root_ready && [ -f "$ROOT$DATA/postmaster.pid" ] && as_pg pg_ctl -D "$DATA" status >/dev/null 2>&1; }
accepting() { root_ready && as_pg pg_isready -q -h 127.0.0.1 -p "$PORT" -t 2 >/dev/null 2>&1; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root (needs chroot/debootstrap)"; }

take_lock() {
  mkdir -p "$SERVICES_DIR"
  exec 9>"$LOCK"
  if ! flock -n 9; then
    log "waiting for another timescaledb.sh (lock $LOCK)"
    flock -w 1800 9 || die "timed out waiting for lock $LOCK"
  fi
}

# Remove a (possibly half-built) chroot without ever descending into mounts.
remove_tree() {
  local dir="$1" m
  [ -e "$dir" ] || return 0
  # Unmount anything debootstrap left mounted inside (deepest first).
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(
    awk -v p="$dir/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r)
  rm -rf --one-file-system "$dir"
}

ensure_debootstrap() {
  command -v debootstrap >/dev/null 2>&1 && return 0
  log "installing debootstrap via apt-get"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq debootstrap >/dev/null 2>&1; then
    apt-get update -qq >&2 || die "apt-get update failed"
    apt-get install -y -qq debootstrap >&2 || die "could not install debootstrap"
  fi
}

build_root() {
  root_ready && return 0
  ensure_debootstrap
  local tmp="$ROOT.tmp.$$" stale start
  for stale in "$ROOT".tmp.*; do
    [ -e "$stale" ] && { log "removing stale partial build $stale"; remove_tree "$stale"; }
  done
  # An existing but incomplete $ROOT (should not happen thanks to the rename) is rebuilt.
  [ -e "$ROOT" ] && { log "removing incomplete $ROOT"; remove_tree "$ROOT"; }

  start=$SECONDS
  log "building Debian trixie chroot with PostgreSQL $PG_MAJOR + TimescaleDB in $tmp (one-off, takes a few minutes)"
  trap 'remove_tree "'"$tmp"'"' EXIT
  local keyring=()
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] &&
    keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
  if ! debootstrap --variant=minbase "${keyring[@]}" \
      --include="postgresql-$PG_MAJOR,postgresql-$PG_MAJOR-timescaledb,$(IFS=,; echo "${EXTRA_PACKAGES[*]}")" \
      trixie "$tmp" "$MIRROR" >"$SERVICES_DIR/debootstrap.log" 2>&1; then
    tail -n 30 "$SERVICES_DIR/debootstrap.log" >&2
    die "debootstrap failed (full log: $SERVICES_DIR/debootstrap.log)"
  fi
  # The package's postinst creates a default 'main' cluster on port 5432; we use our own.
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$CHROOT" "$tmp" \
    pg_dropcluster "$PG_MAJOR" main >/dev/null 2>&1 || true
  rm -rf "$tmp/var/cache/apt/archives/"*.deb
  [ -x "$tmp$PGBIN/postgres" ] || die "postgres binary missing in built chroot"
  ls "$tmp/usr/lib/postgresql/$PG_MAJOR/lib/" | grep -q '^timescaledb' ||
    die "timescaledb library missing in built chroot"
  touch "$tmp/.funnel-build-complete"
  mv -T "$tmp" "$ROOT"
  trap - EXIT
  log "chroot ready in $((SECONDS - start))s"
}

# Installs the EXTRA_PACKAGES a chroot lacks with apt-get inside it. The running server is left
# alone: an extension's library is loaded by the first CREATE EXTENSION that needs it.
ensure_packages() {
  packages_present && return 0
  log "installing ${EXTRA_PACKAGES[*]} into $ROOT"
  local run=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive
    "$CHROOT" "$ROOT")
  # No service is started from inside the chroot (policy-rc.d 101: action forbidden).
  printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
  chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
  if ! { "${run[@]}" apt-get update -qq && "${run[@]}" apt-get install -y -qq --no-install-recommends \
      "${EXTRA_PACKAGES[@]}"; } >"$SERVICES_DIR/packages.log" 2>&1 9>&-; then
    rm -f "$ROOT/usr/sbin/policy-rc.d"
    tail -n 30 "$SERVICES_DIR/packages.log" >&2
    die "could not install ${EXTRA_PACKAGES[*]} into the chroot (full log: $SERVICES_DIR/packages.log)"
  fi
  rm -f "$ROOT/usr/sbin/policy-rc.d" "$ROOT/var/cache/apt/archives/"*.deb
  packages_present || die "${EXTRA_PACKAGES[*]} still missing in $ROOT after apt-get install"
}

desired_config() {
  cat <<EOF
# Managed by scripts/services/timescaledb.sh -- edits will be overwritten.
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '/tmp'
dynamic_shared_memory_type = mmap
huge_pages = off
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
jit = off
max_connections = 200
shared_buffers = 256MB
max_locks_per_transaction = 256
timezone = 'UTC'
log_timezone = 'UTC'
# Ingest writes WAL steadily (rollups included): with the default 1GB a checkpoint came every
# 10-50 s, each page's first change after one is written whole to the WAL again, so the WAL grew
# faster and the checkpoints came sooner (README, "Running in production").
max_wal_size = 4GB
checkpoint_timeout = 15min
wal_compression = lz4
EOF
}

# Whether the running server's settings file is this script's. Only root can read the data
# directory or change it: anyone else takes the running server as it is.
config_current() {
  [ "$(id -u)" = 0 ] || return 0
  [ -f "$ROOT$DATA/funnel.conf" ] && desired_config | cmp -s - "$ROOT$DATA/funnel.conf"
}

# Like config_current: only root can add packages, anyone else takes the chroot as it is.
packages_current() {
  [ "$(id -u)" = 0 ] || return 0
  packages_present
}

write_config() {
  # Rewritten on every (slow-path) start so config changes here take effect.
  desired_config >"$ROOT$DATA/funnel.conf"
  chown --reference="$ROOT$DATA" "$ROOT$DATA/funnel.conf"
}

init_cluster() {
  [ -f "$ROOT$DATA/PG_VERSION" ] && return 0
  log "initializing cluster $DATA (inside chroot)"
  rm -rf "$ROOT$DATA"
  install -d -o "$(stat -c %u "$ROOT/var/lib/postgresql")" -g "$(stat -c %g "$ROOT/var/lib/postgresql")" \
    -m 0700 "$ROOT$DATA"
  as_pg initdb -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
    >"$ROOT$DATA.initdb.log" 2>&1 || { cat "$ROOT$DATA.initdb.log" >&2; die "initdb failed"; }
  rm -f "$ROOT$DATA.initdb.log"
  echo "include_if_exists = 'funnel.conf'" >>"$ROOT$DATA/postgresql.conf"
}

check_extension() {
  local db=funnel_tsdb_check out
  if ! out="$(as_pg psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>&1 &&
      as_pg psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" \
        -c "CREATE EXTENSION IF NOT EXISTS timescaledb" \
        -c "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'" 2>&1)"; then
    echo "$out" >&2
    die "TimescaleDB extension check failed on 127.0.0.1:$PORT"
  fi
  as_pg psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 ||
    die "could not drop scratch database $db"
  log "TimescaleDB $(echo "$out" | tail -n 1) ready at $URL"
}

do_start() {
  # Fast path: our server is up, accepting connections and runs this script's settings.
  if ours_running && accepting && config_current && packages_current; then return 0; fi
  need_root
  take_lock
  if ours_running && accepting && config_current && packages_current; then return 0; fi
  build_root
  ensure_packages
  if ! ours_running && accepting; then
    die "something else is already listening on 127.0.0.1:$PORT (not this script's server); set TSDB_PORT"
  fi
  init_cluster
  write_config
  if ours_running; then
    # Settings changed since it started: those a reload cannot change take effect at its next start.
    as_pg pg_ctl -D "$DATA" reload >/dev/null || die "PostgreSQL did not reload its settings (log: $ROOT$LOGFILE)"
  else
    log "starting PostgreSQL $PG_MAJOR on 127.0.0.1:$PORT"
    if ! as_pg pg_ctl -D "$DATA" -l "$LOGFILE" -w -t 120 start >/dev/null 2>&1; then
      tail -n 30 "$ROOT$LOGFILE" >&2 || true
      die "PostgreSQL failed to start (log: $ROOT$LOGFILE)"
    fi
  fi
  local i
  for i in $(seq 1 120); do
    accepting && break
    [ "$i" = 120 ] && die "PostgreSQL not accepting connections on 127.0.0.1:$PORT after 60s (log: $ROOT$LOGFILE)"
    sleep 0.5
  done
  check_extension
}

do_stop() {
  root_ready || return 0
  need_root
  take_lock
  if ours_running; then
    log "stopping PostgreSQL on 127.0.0.1:$PORT"
    as_pg pg_ctl -D "$DATA" -m fast -w -t 120 stop >/dev/null ||
      die "PostgreSQL failed to stop (log: $ROOT$LOGFILE)"
  fi
}

cmd="${1:-start}"
[ $# -le 1 ] || usage
case "$cmd" in
  start) do_start ;;
  stop) do_stop ;;
  restart)
    do_stop
    exec 9>&-   # release the lock so do_start can take it again
    do_start
    ;;
  status)
    if ours_running && accepting; then
      echo "running: $URL (pid $(head -n 1 "$ROOT$DATA/postmaster.pid"), data $ROOT$DATA)"
    elif ours_running; then
      echo "starting/unresponsive: pid $(head -n 1 "$ROOT$DATA/postmaster.pid")"; exit 1
    else
      echo "stopped"; exit 3
    fi
    ;;
  url) echo "$URL" ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
