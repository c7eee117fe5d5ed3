#!/usr/bin/env bash
# Installs everything Berth needs on a Debian/Ubuntu host, idempotently: Debian packages,
# pnpm, node modules, the build (TypeScript bundles, the native helper, the panel), and the
# `berth`, `berthd` and `berth-runtime` commands on PATH. Safe to run again and again.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
PNPM_VERSION=12.4.2

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (it installs Debian packages and Berth's commands)" >&2
  exit 1
fi

# 1. Debian packages: only ask apt when something is missing.
mapfile -t wanted < <(grep -vE '^\s*(#|$)' scripts/apt-packages.txt)
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "apt: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. pnpm, pinned (the registry copy; corepack's signature check fails offline).
if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  say "npm: installing pnpm@$PNPM_VERSION"
  npm install -g --loglevel=error "pnpm@$PNPM_VERSION"
  hash -r
fi

# 3. Node modules and the build. Native addons (better-sqlite3) build against the headers
# Debian's nodejs ships, never ones node-gyp would download.
[ -d /usr/include/node ] && export npm_config_nodedir=/usr
say "pnpm install"
CI=true pnpm install --frozen-lockfile --reporter=append-only >/dev/null
say "build"
log=$(mktemp)
pnpm run build >"$log" 2>&1 || { tail -n 80 "$log" >&2; rm -f "$log"; echo "install.sh: the build failed" >&2; exit 1; }
rm -f "$log"

# 4. Commands on PATH.
for cmd in berth:apps/cli/dist/berth.js berthd:packages/agent/dist/berthd.js berth-runtime:packages/runtime/dist/berth-runtime.js; do
  name=${cmd%%:*}; target=$root/${cmd#*:}
  [ -f "$target" ] && ln -sfn "$target" "/usr/local/bin/$name"
done
say "installed"
