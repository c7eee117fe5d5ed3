// Real databases for tests: a temporary SQLite file, or a fresh database on the test
// PostgreSQL that scripts/test-services.sh starts (scripts/test.sh exports its URL as
// BERTH_TEST_PG_URL; run directly, the URL is read from the repo's .test-env).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { PanelDbLocation } from '../connect.ts';

export const panelMigrationsRoot = fileURLToPath(new URL('../../../../prisma/panel', import.meta.url));

export function testPgUrl(): string {
  if (process.env.BERTH_TEST_PG_URL) return process.env.BERTH_TEST_PG_URL;
  const envFile = fileURLToPath(new URL('../../../../.test-env', import.meta.url));
  const line = existsSync(envFile)
    ? readFileSync(envFile, 'utf8')
        .split('\n')
        .find((l) => l.startsWith('BERTH_TEST_PG_URL='))
    : undefined;
  if (!line) throw new Error('BERTH_TEST_PG_URL is not set: run scripts/test-services.sh first');
  return line.slice('BERTH_TEST_PG_URL='.length);
}

export interface TestDatabase {
  location: PanelDbLocation;
  /** Removes the database (file or PostgreSQL database). */
  drop(): Promise<void>;
}

export function testSqlite(): TestDatabase {
  const dir = mkdtempSync(join(tmpdir(), 'berth-test-paneldb-'));
  return {
    location: { provider: 'sqlite', file: join(dir, 'panel.db') },
    async drop() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function testPostgres(): Promise<TestDatabase> {
  const admin = new URL(testPgUrl());
  const name = `berth_test_panel_${randomBytes(6).toString('hex')}`;
  const run = async (sql: string) => {
    const client = new pg.Client({ connectionString: admin.toString() });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await run(`CREATE DATABASE "${name}"`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    location: { provider: 'postgresql', url: url.toString() },
    drop: () => run(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}
