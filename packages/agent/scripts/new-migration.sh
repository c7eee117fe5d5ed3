#!/usr/bin/env bash
# Usage: pnpm --filter @berth/agent migration:new <name>
# Writes prisma/agent/migrations/<UTC timestamp>_<name>/migration.sql: the SQL that takes the
# agent DB from the schema as of the last commit that added a migration to the schema in the
# work tree. Offline (Prisma's WebAssembly schema engine); review the SQL, then commit it with
# the schema. Committed migrations are never edited (berthd refuses a changed one).
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: migration:new <name> (letters, digits, _)}
[[ $name =~ ^[a-z0-9_]+$ ]] || { echo "migration:new: name must be lower-case letters, digits and _" >&2; exit 2; }
schema=../../prisma/agent/schema.prisma
migrations=../../prisma/agent/migrations
export BERTH_AGENT_DATABASE_URL=file:/dev/null CHECKPOINT_DISABLE=1
out="$migrations/$(date -u +%Y%m%d%H%M%S)_$name/migration.sql"
last=$(git log -1 --format=%H -- "$migrations" || true)
if [ -z "$last" ]; then
  from=(--from-empty)
else
  old=$(mktemp --suffix=.prisma)
  trap 'rm -f "$old"' EXIT
  git show "$last:prisma/agent/schema.prisma" > "$old"
  from=(--from-schema-datamodel "$old")
fi
mkdir -p "$(dirname "$out")"
prisma migrate diff "${from[@]}" --to-schema-datamodel "$schema" --script -o "$out"
echo "wrote $out"
