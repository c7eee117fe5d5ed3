#!/usr/bin/env bash
# Command 1 of the README: installs everything, then starts Berth: berthd (root) on its Unix
# socket and the panel (as the unprivileged user berth-panel, never root) on
# http://localhost:3000, with a first admin account. Idempotent: when Berth is already
# running it says so and exits 0. scripts/stop.sh stops both.
#
# Settings (environment; the defaults are the installed layout):
#   BERTH_PORT (3000)             the panel's port
#   BERTH_DATA_DIR (/var/lib/berth) agent/ (root, 0700) and panel/ (berth-panel, 0700)
#   BERTH_RUN_DIR (/run/berth)    pid files, and the socket unless BERTH_SOCKET is set
#   BERTH_SOCKET                  berthd's socket ($BERTH_RUN_DIR/berthd.sock)
#   BERTH_LOG_DIR (/var/log/berth) berthd.log, panel.log
#   BERTH_ADMIN_PASSWORD          the first admin's password (generated and printed if unset)
#   DATABASE_URL                  a postgresql:// URL for the panel DB (default: SQLite file)
#   BERTH_APP_DIR (/usr/local/lib/berth) where the panel runs from if berth-panel cannot read
#                                 the clone (e.g. a clone under /root): a hard-linked mirror
#   BERTH_SKIP_INSTALL=1          skip scripts/install.sh (the e2e test, after test.sh installed)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() {
  echo "start.sh: $*" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root (berthd is the host's privileged agent)"

port=${BERTH_PORT:-3000}
data_dir=${BERTH_DATA_DIR:-/var/lib/berth}
run_dir=${BERTH_RUN_DIR:-/run/berth}
log_dir=${BERTH_LOG_DIR:-/var/log/berth}
socket=${BERTH_SOCKET:-$run_dir/berthd.sock}
group=berth
panel_user=berth-panel
agent_pidfile=$run_dir/berthd.pid
panel_pidfile=$run_dir/panel.pid
panel_url=http://localhost:$port

# A pid file counts only while its process is alive and is the program it names (a pid can be
# reused after a crash).
alive() { # pidfile script-path
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "$2"
}

if alive "$agent_pidfile" berthd.js && alive "$panel_pidfile" dist/server.js; then
  echo "Berth is already running: panel at $panel_url, agent on $socket (scripts/stop.sh stops it)."
  exit 0
fi

[ "${BERTH_SKIP_INSTALL:-0}" = 1 ] || scripts/install.sh

# The socket's group and the panel's user: a system account without a login shell.
getent group "$group" >/dev/null || groupadd --system "$group"
if ! id -u "$panel_user" >/dev/null 2>&1; then
  useradd --system --gid "$group" --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$panel_user"
fi

install -d -m 0755 "$data_dir" "$run_dir"
install -d -m 0750 "$log_dir"
install -d -m 0700 -o root -g root "$data_dir/agent"
install -d -m 0700 -o "$panel_user" -g "$group" "$data_dir/panel"

# Prefix that runs a command as berth-panel (uid and groups changed, so no capabilities are
# left) with only the environment the panel needs. An array, not a function, so that `&`
# runs it by exec and $! is the panel's own pid.
as_panel=(setpriv --reuid="$panel_user" --regid="$group" --init-groups
  env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/nonexistent NODE_ENV=production
  NEXT_TELEMETRY_DISABLED=1 BERTH_PORT="$port" BERTH_PANEL_DATA_DIR="$data_dir/panel"
  BERTH_SOCKET="$socket")
[ -n "${BERTH_HOST:-}" ] && as_panel+=(BERTH_HOST="$BERTH_HOST")
[ -n "${DATABASE_URL:-}" ] && as_panel+=(DATABASE_URL="$DATABASE_URL")

[ -f packages/agent/dist/berthd.js ] || die "packages/agent/dist/berthd.js is missing: run scripts/install.sh"
[ -f apps/web/dist/server.js ] || die "apps/web/dist/server.js is missing: run scripts/install.sh"

# The panel runs as berth-panel, which must read the app. A clone under /root (0700) is not
# readable by other users: then the panel runs from a hard-linked mirror of the clone (no
# extra space, a few seconds; files are shared, directories are new), refreshed at each start
# of the panel. BERTH_APP_DIR chooses where.
app_root=$root
panel_reads() { "${as_panel[@]}" test -r "$1/apps/web/dist/server.js" -a -r "$1/prisma/panel/models.prisma"; }
if ! panel_reads "$root"; then
  app_root=${BERTH_APP_DIR:-/usr/local/lib/berth}
  if ! alive "$panel_pidfile" dist/server.js; then
    say "$panel_user cannot read $root: mirroring the panel into $app_root"
    rm -rf "$app_root.new"
    install -d -m 0755 "$app_root.new"
    for entry in "$root"/* "$root"/.[!.]*; do
      [ -e "$entry" ] && [ "${entry##*/}" != .git ] || continue
      cp -al "$entry" "$app_root.new/" 2>/dev/null || cp -a "$entry" "$app_root.new/" # another filesystem
    done
    rm -rf "$app_root"
    mv "$app_root.new" "$app_root"
  fi
  panel_reads "$app_root" || die "$panel_user cannot read $app_root either; check its permissions"
fi

# 1. berthd, as root, in the background.
if ! alive "$agent_pidfile" berthd.js; then
  say "starting berthd on $socket"
  rm -f "$agent_pidfile"
  # berthd holds a few files per container (cgroup and monitor fds): its open-file limit goes
  # up to the hard limit, as the systemd unit's LimitNOFILE does.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  setsid node "$root/packages/agent/dist/berthd.js" --socket "$socket" --state-dir "$data_dir/agent" \
    --socket-group "$group" >>"$log_dir/berthd.log" 2>&1 </dev/null &
  echo $! >"$agent_pidfile"
  for _ in $(seq 1 150); do
    [ -S "$socket" ] && break
    alive "$agent_pidfile" berthd.js || { tail -n 20 "$log_dir/berthd.log" >&2; die "berthd did not start (log: $log_dir/berthd.log)"; }
    sleep 0.2
  done
  [ -S "$socket" ] || die "berthd did not open $socket within 30 s (log: $log_dir/berthd.log)"
fi

# 2. The panel DB (migrations) and the first admin.
say "preparing the panel database"
admin_env=()
[ -n "${BERTH_ADMIN_PASSWORD:-}" ] && admin_env=(BERTH_ADMIN_PASSWORD="$BERTH_ADMIN_PASSWORD")
"${as_panel[@]}" "${admin_env[@]}" node "$app_root/apps/web/dist/setup.js"

# 3. The panel, as berth-panel.
if ! alive "$panel_pidfile" dist/server.js; then
  say "starting the panel on port $port"
  rm -f "$panel_pidfile"
  "${as_panel[@]}" setsid node "$app_root/apps/web/dist/server.js" >>"$log_dir/panel.log" 2>&1 </dev/null &
  echo $! >"$panel_pidfile"
fi

# Wait until the panel answers (curl is not on every fresh machine; node is).
for _ in $(seq 1 120); do
  node -e "fetch('http://127.0.0.1:$port/login').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))" && break
  alive "$panel_pidfile" dist/server.js || { tail -n 20 "$log_dir/panel.log" >&2; die "the panel did not start (log: $log_dir/panel.log)"; }
  sleep 0.5
done
node -e "fetch('http://127.0.0.1:$port/login').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))" ||
  die "the panel did not answer on port $port within 60 s (log: $log_dir/panel.log)"

say "Berth is running"
echo "  panel:  $panel_url  (sign in as admin)"
echo "  agent:  $socket"
echo "  logs:   $log_dir/berthd.log, $log_dir/panel.log"
echo "  stop:   scripts/stop.sh"
