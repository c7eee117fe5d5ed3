import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { type AgentDb, openAgentDb } from './index.ts';

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
