#!/usr/bin/env node
// One model definition, two providers. Prisma wants a schema (and migrations) per provider,
// so prisma/panel/models.prisma holds the models and this script renders
// prisma/panel/<provider>/schema.prisma from it (a generated header + the models).
//
//   node scripts/panel-schema.mjs generate         generate both Prisma clients (generated/)
//   node scripts/panel-schema.mjs check            fail if a rendered schema is stale
//   node scripts/panel-schema.mjs migration NAME   write the next migration for every
//                                                  provider (diff committed schema → models)
//                                                  and the rendered schemas
//
// Migrations are authored with `prisma migrate diff --script` (offline, WebAssembly engine)
// and committed; Berth applies them itself at start-up (packages/migrate).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const dbDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const panelDir = resolve(dbDir, '../../prisma/panel');
export const providers = ['sqlite', 'postgresql'];

export function render(provider) {
  const models = readFileSync(join(panelDir, 'models.prisma'), 'utf8');
  return `// GENERATED from ../models.prisma by packages/db/scripts/panel-schema.mjs. Do not edit.

generator client {
  provider        = "prisma-client"
  output          = "../../../packages/db/generated/${provider}"
  previewFeatures = ["driverAdapters", "queryCompiler"]
  engineType      = "client"
  runtime         = "nodejs"
  moduleFormat    = "esm"
}

datasource db {
  provider = "${provider}"
  url      = env("DATABASE_URL")
}

${models}`;
}

const schemaPath = (provider) => join(panelDir, provider, 'schema.prisma');

// The PostgreSQL schema engine asks a live server for its version even to diff two
// datamodels: use the test PostgreSQL (scripts/test-services.sh writes its URL to .test-env).
function testPgUrl() {
  if (process.env.BERTH_TEST_PG_URL) return process.env.BERTH_TEST_PG_URL;
  const envFile = resolve(dbDir, '../../.test-env');
  const line = existsSync(envFile)
    ? readFileSync(envFile, 'utf8')
        .split('\n')
        .find((l) => l.startsWith('BERTH_TEST_PG_URL='))
    : undefined;
  return line ? line.slice('BERTH_TEST_PG_URL='.length) : 'postgresql://unused@127.0.0.1/unused';
}

// Runs the Prisma CLI for one provider (prisma.config.ts picks the schema and adapter).
// The schema must name DATABASE_URL; generate never opens the database.
function prisma(provider, args) {
  return execFileSync(join(dbDir, 'node_modules/.bin/prisma'), args, {
    cwd: dbDir,
    encoding: 'utf8',
    env: {
      ...process.env,
      PANEL_PROVIDER: provider,
      DATABASE_URL: provider === 'sqlite' ? 'file:unused.db' : testPgUrl(),
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
    },
  });
}

function generate() {
  for (const provider of providers) prisma(provider, ['generate']);
}

function check() {
  const stale = providers.filter(
    (p) => !existsSync(schemaPath(p)) || readFileSync(schemaPath(p), 'utf8') !== render(p),
  );
  if (stale.length > 0) {
    console.error(
      `panel-schema: ${stale.map(schemaPath).join(', ')} out of date with models.prisma; ` +
        'run `pnpm --filter @berth/db db:migration <name>`',
    );
    process.exit(1);
  }
}

function migration(name) {
  if (!/^[a-z0-9_]+$/.test(name ?? '')) {
    console.error('panel-schema: migration name: use lower-case letters, digits and _');
    process.exit(2);
  }
  const tmp = join(tmpdir(), `berth-panel-schema-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  try {
    for (const provider of providers) {
      // The CLI reads the config's schema (prisma/panel/<provider>/schema.prisma) to see
      // which engines it needs, so the new schema goes there first (engineType "client":
      // none to download) and the committed one is diffed from a temporary copy.
      const migrationsDir = join(panelDir, provider, 'migrations');
      mkdirSync(migrationsDir, { recursive: true });
      const previous = join(tmp, `${provider}.prisma`);
      let from = ['--from-empty'];
      if (existsSync(schemaPath(provider))) {
        writeFileSync(previous, readFileSync(schemaPath(provider)));
        from = ['--from-schema-datamodel', previous];
      }
      writeFileSync(schemaPath(provider), render(provider));
      const sql = prisma(provider, [
        'migrate',
        'diff',
        ...from,
        '--to-schema-datamodel',
        schemaPath(provider),
        '--script',
      ]);
      const seq = String(readdirSync(migrationsDir).length + 1).padStart(4, '0');
      const dir = join(migrationsDir, `${seq}_${name}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'migration.sql'), sql);
      console.log(`wrote ${dir}/migration.sql`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const [command, arg] = process.argv.slice(2);
if (command === 'generate') generate();
else if (command === 'check') check();
else if (command === 'migration') migration(arg);
else {
  console.error('usage: panel-schema.mjs generate | check | migration NAME');
  process.exit(2);
}
