import { cpSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, expect, test } from 'vitest';
import { type AgentDb, agentMigrationsDir, openAgentDb, sqlOf } from './index.ts';

let dir: string | undefined;
let db: AgentDb | undefined;
afterEach(async () => {
  await db?.$disconnect();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("the agent's database runs in WAL mode with synchronous NORMAL on Prisma's connection", async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-db-'));
  db = await openAgentDb(join(dir, 'agent.db'));
  const [mode] = await db.$queryRawUnsafe<Array<{ journal_mode: string }>>('PRAGMA journal_mode');
  const [sync] = await db.$queryRawUnsafe<Array<{ synchronous: bigint | number }>>('PRAGMA synchronous');
  expect(mode?.journal_mode).toBe('wal');
  expect(Number(sync?.synchronous)).toBe(1); // NORMAL (FULL is 2)
});

test("with checkpointEveryMs, the WAL is checkpointed by a worker thread, not by a commit on berthd's connection", async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-db-'));
  const file = join(dir, 'agent.db');
  // 2 MB in the WAL: past what a commit would have checkpointed itself (1000 pages).
  const fill = (connection: ReturnType<typeof sqlOf>['connection'], tag: string) => {
    const insert = connection.prepare('INSERT INTO AgentMeta (key, value, updatedAt) VALUES (?, ?, 0)');
    for (let i = 0; i < 8; i++) insert.run(`${tag}${i}`, 'x'.repeat(256 * 1024));
  };
  // No commit checkpoints: with the worker's first turn an hour away, the file does not grow.
  db = await openAgentDb(file, undefined, { checkpointEveryMs: 3_600_000 });
  let { connection } = sqlOf(db);
  expect(Number(connection.pragma('wal_autocheckpoint', { simple: true }))).toBe(0);
  const before = statSync(file).size;
  fill(connection, 'big');
  expect(statSync(file).size).toBe(before);
  await db.$disconnect();
  // The worker (every 20 ms here) copies the pages into the database file.
  db = await openAgentDb(file, undefined, { checkpointEveryMs: 20 });
  ({ connection } = sqlOf(db));
  const reopened = statSync(file).size;
  fill(connection, 'more');
  for (let i = 0; i < 500 && statSync(file).size <= reopened + 1024 * 1024; i++)
    await new Promise((r) => setTimeout(r, 20));
  expect(statSync(file).size).toBeGreaterThan(reopened + 1024 * 1024);
  // $disconnect stops the worker (and does not hang on it).
  await db.$disconnect();
  db = undefined;
  expect((await openAgentDb(file)).$disconnect()).resolves.toBeUndefined();
});

test('without checkpointEveryMs, commits checkpoint as SQLite does by default', async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-db-'));
  db = await openAgentDb(join(dir, 'agent.db'));
  expect(Number(sqlOf(db).connection.pragma('wal_autocheckpoint', { simple: true }))).toBe(1000);
});

test("the container_spec migration moves each container's spec into its own row, and a deleted container takes its spec along", async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-db-'));
  // The database as the migrations before container_spec left it, with a container in it.
  const before = join(dir, 'before');
  const all = readdirSync(agentMigrationsDir()).sort();
  const at = all.findIndex((m) => m.endsWith('_container_spec'));
  for (const m of all.slice(0, at))
    cpSync(join(agentMigrationsDir(), m), join(before, m), { recursive: true });
  const file = join(dir, 'agent.db');
  await (await openAgentDb(file, before)).$disconnect();
  const raw = new Database(file);
  raw
    .prepare(
      "INSERT INTO Container (id, name, image, imageDigest, config, spec, state, updatedAt) VALUES ('c1', 'lab', 'busybox', 'sha256:0', '{}', '{\"ociVersion\":\"1.0.2\"}', 'stopped', 0)",
    )
    .run();
  raw.close();
  db = await openAgentDb(file);
  expect(await db.containerSpec.findUnique({ where: { containerId: 'c1' } })).toEqual({
    containerId: 'c1',
    spec: '{"ociVersion":"1.0.2"}',
  });
  expect((await db.container.findUnique({ where: { id: 'c1' } }))?.name).toBe('lab');
  await db.container.delete({ where: { id: 'c1' } });
  expect(await db.containerSpec.count()).toBe(0);
});
