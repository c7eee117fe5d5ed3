import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { describeDriver } from './driver-suite.ts';
import { postgresDriver } from './postgres.ts';

// A real PostgreSQL, started by scripts/test-services.sh (which scripts/test.sh runs first).
function testDatabaseUrl(): string {
  if (process.env.BERTH_TEST_PG_URL) return process.env.BERTH_TEST_PG_URL;
  const envFile = fileURLToPath(new URL('../../../.test-env', import.meta.url));
  const line = existsSync(envFile)
    ? readFileSync(envFile, 'utf8')
        .split('\n')
        .find((l) => l.startsWith('BERTH_TEST_PG_URL='))
    : undefined;
  if (!line) throw new Error('BERTH_TEST_PG_URL is not set: run scripts/test-services.sh first');
  return line.slice('BERTH_TEST_PG_URL='.length);
}

describeDriver('PostgreSQL (pg)', async () => {
  const client = new pg.Client({ connectionString: testDatabaseUrl() });
  await client.connect();
  // Each test gets a schema of its own, dropped afterwards.
  const schema = `berth_test_migrate_${randomBytes(6).toString('hex')}`;
  await client.query(`CREATE SCHEMA "${schema}"`);
  await client.query(`SET search_path TO "${schema}"`);
  return {
    driver: postgresDriver(client),
    async tables() {
      const res = await client.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name <> '_berth_migrations' ORDER BY table_name`,
        [schema],
      );
      return res.rows.map((r) => r.table_name);
    },
    async records() {
      const res = await client.query<{ name: string; checksum: string; applied_at: Date }>(
        'SELECT name, checksum, applied_at FROM _berth_migrations ORDER BY name',
      );
      return res.rows.map((r) => ({ name: r.name, checksum: r.checksum, appliedAt: r.applied_at }));
    },
    async close() {
      try {
        await client.query(`DROP SCHEMA "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
});
