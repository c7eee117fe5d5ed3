import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 as sha } from '@berth/runtime/image';
import { imageRecordFixture as record } from '@berth/runtime/testing/image';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type AgentDb, openAgentDb } from '../db/index.ts';
import { PrismaImageRecordStore } from './records.ts';

// The agent's image records against a real (temporary) agent DB.

let dir: string;
let db: AgentDb;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-image-records-'));
  db = await openAgentDb(join(dir, 'agent.db'));
});
afterEach(async () => {
  await db.$disconnect();
  rmSync(dir, { recursive: true, force: true });
});

it('finds an image by any of its references, with all of them, as get() has it; a moved reference follows', async () => {
  const s = new PrismaImageRecordStore(db);
  await s.save(record('a', ['x/a:1', 'x/a:latest']));
  expect(await s.byReference('x/a:1')).toEqual(await s.get(sha('a')));
  expect((await s.byReference('x/a:latest'))?.references).toEqual(['x/a:1', 'x/a:latest']);
  await s.save(record('b', ['x/a:latest']));
  expect((await s.byReference('x/a:latest'))?.digest).toBe(sha('b'));
  expect((await s.byReference('x/a:1'))?.references).toEqual(['x/a:1']);
  expect(await s.byReference('x/none:1')).toBeUndefined();
});
