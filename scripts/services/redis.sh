#!/usr/bin/env bash
# Ensure a Redis >= 7 answers PING on 127.0.0.1:${REDIS_PORT:-6379}.
#
#   scripts/services/redis.sh [start|stop|restart|status|url]   (default: start)
#
# `start` is a silent no-op when a Redis already answers on the port (whoever
# started it). Otherwise it starts one of its own, with no persistence, whose
# pid/log/working files live in
#   ${FUNNEL_SERVICES_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/funnel-analytics}/redis
# `stop` only ever stops an instance this script started (identified by its
# pid file); a Redis started by someone else is left alone.
set -euo pipefail

PORT="${REDIS_PORT:-6379}"
SERVICES_DIR="${FUNNEL_SERVICES_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/funnel-analytics}"
DIR="$SERVICES_DIR/redis"
PIDFILE="$DIR/redis-$PORT.pid"
LOGFILE="$DIR/redis-$PORT.log"
LOCK="$SERVICES_DIR/redis.lock"
URL="redis://127.0.0.1:$PORT"

log() { echo "redis.sh: $*" >&2; }
die() { echo "redis.sh: ERROR: $*" >&2; exit 1; }

usage() {
  echo "usage: $0 [start|stop|restart|status|url]" >&2
  exit 2
}

cli() { redis-cli -h 127.0.0.1 -p "$PORT" "$@" 9>&-; }
answers() { command -v redis-cli >/dev/null 2>&1 && [ "$(cli ping 2>/dev/null)" = PONG ]; }
server_pid() { cli info server 2>/dev/null | tr -d '\r' | awk -F: '$1 == "process_id" { print $2 }'; }
our_pid() { [ -f "$PIDFILE" ] && cat "$PIDFILE" 2>/dev/null || true; }
is_ours() { local p; p="$(our_pid)"; [ -n "$p" ] && [ "$(server_pid)" = "$p" ]; }

take_lock() {
  mkdir -p "$DIR"
  exec 9>"$LOCK"
  flock -w 300 9 || die "timed out waiting for lock $LOCK"
}

ensure_binaries() {
  command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || die "redis-server/redis-cli not installed and not root: apt-get install redis-server"
  log "installing redis-server via apt-get"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq redis-server >/dev/null 2>&1; then
    apt-get update -qq >&2 || die "apt-get update failed"
    apt-get install -y -qq redis-server >&2 || die "could not install redis-server"
  fi
}

check_version() {
  local v
  v="$(cli info server 2>/dev/null | tr -d '\r' | awk -F: '$1 == "redis_version" { print $2 }')"
  [ "${v%%.*}" -ge 7 ] 2>/dev/null ||
    die "Redis on 127.0.0.1:$PORT is version '${v:-unknown}', need >= 7"
}

do_start() {
  if answers; then check_version; return 0; fi
  ensure_binaries
  take_lock
  if answers; then check_version; return 0; fi
  log "starting redis-server on 127.0.0.1:$PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$PORT" --save "" --appendonly no \
    --dir "$DIR" --pidfile "$PIDFILE" --logfile "$LOGFILE" 9>&- >/dev/null ||
    die "redis-server failed to start (log: $LOGFILE)"
  local i
  for i in $(seq 1 100); do
    answers && break
    [ "$i" = 100 ] && { tail -n 20 "$LOGFILE" >&2 || true; die "Redis not answering PING on 127.0.0.1:$PORT after 10s (log: $LOGFILE)"; }
    sleep 0.1
  done
  check_version
}

do_stop() {
  command -v redis-cli >/dev/null 2>&1 || return 0
  take_lock
  local p
  p="$(our_pid)"
  if is_ours; then
    log "stopping redis-server on 127.0.0.1:$PORT (pid $p)"
    cli shutdown nosave >/dev/null 2>&1 || true
    local i
    for i in $(seq 1 100); do
      kill -0 "$p" 2>/dev/null || break
      [ "$i" = 100 ] && die "redis-server (pid $p) did not exit"
      sleep 0.1
    done
    rm -f "$PIDFILE"
  elif answers; then
    log "Redis on 127.0.0.1:$PORT was not started by this script; leaving it running"
  else
    rm -f "$PIDFILE"
  fi
}

cmd="${1:-start}"
[ $# -le 1 ] || usage
case "$cmd" in
  start) do_start ;;
  stop) do_stop ;;
  restart)
    do_stop
    exec 9>&-
    do_start
    ;;
  status)
    if answers; then
      if is_ours; then echo "running: $URL (pid $(our_pid), started by this script)"
      else echo "running: $URL (pid $(server_pid), not started by this script)"; fi
    else
      echo "stopped"; exit 3
    fi
    ;;
  url) echo "$URL" ;;
  *) usage ;;
esac
