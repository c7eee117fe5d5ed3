#!/usr/bin/env bash
# Stops what scripts/start.sh started: the panel, then berthd (SIGTERM, then SIGKILL after
# 20 s). Takes the same BERTH_RUN_DIR as start.sh. Idempotent: nothing running is not an error.
set -euo pipefail
run_dir=${BERTH_RUN_DIR:-/run/berth}

[ "$(id -u)" -eq 0 ] || { echo "stop.sh: run as root" >&2; exit 1; }

stop() { # name pidfile script-path
  local name=$1 pidfile=$2 pid
  pid=$(cat "$pidfile" 2>/dev/null) || { echo "$name: not running"; return 0; }
  # Only the process the pid file names, and only if it still is that program.
  if [ -z "$pid" ] || ! { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "$3"; then
    echo "$name: not running"
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    echo "$name: killed (pid $pid did not stop within 20 s)"
  else
    echo "$name: stopped (pid $pid)"
  fi
  rm -f "$pidfile"
}

stop panel "$run_dir/panel.pid" dist/server.js
stop berthd "$run_dir/berthd.pid" berthd.js
