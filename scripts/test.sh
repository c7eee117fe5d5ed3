#!/usr/bin/env bash
# Command 2 of the README: installs what the tests need and runs every suite: lint, types,
# unit tests, root integration tests (real namespaces, cgroups, mounts), end-to-end tests in
# Debian's Chromium. Run as root. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
# Test services: a real PostgreSQL for the panel DB's PostgreSQL path.
scripts/test-services.sh
# ...whose addresses the tests read from the environment (BERTH_TEST_PG_URL).
[ -f .test-env ] && { set -a; . ./.test-env; set +a; }

say "lint";       pnpm run lint
say "typecheck";  pnpm run typecheck
say "unit tests"; pnpm run test:unit
say "root tests"; pnpm run test:root
say "e2e tests";  pnpm run test:e2e
say "all tests passed"
