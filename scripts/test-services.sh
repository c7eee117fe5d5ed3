#!/usr/bin/env bash
# Starts the services tests talk to for real, idempotently: a PostgreSQL cluster on loopback.
# Prints nothing on success. Tests read BERTH_TEST_PG_URL from .test-env.
set -euo pipefail
cd "$(dirname "$0")/.."
ver=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
if [ -n "$ver" ]; then
  if ! pg_lsclusters -h 2>/dev/null | grep -q "^$ver main .* online"; then
    pg_lsclusters -h 2>/dev/null | grep -q "^$ver main" || pg_createcluster "$ver" main >/dev/null
    pg_ctlcluster "$ver" main start
  fi
  su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='berth_test'\"" | grep -q 1 ||
    su postgres -c "psql -qc \"CREATE ROLE berth_test LOGIN SUPERUSER PASSWORD 'berth_test'\""
  port=$(pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" {print $3}')
  echo "BERTH_TEST_PG_URL=postgresql://berth_test:berth_test@127.0.0.1:$port/postgres" > .test-env
fi
