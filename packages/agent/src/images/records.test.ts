import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Digest, ImageRecord } from '@berth/runtime/image';
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

const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}` as Digest;
const record = (seed: string, references: string[]): ImageRecord => ({
  digest: sha(seed),
  references,
  manifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
  configDigest: sha(`${seed}-config`),
  platform: { os: 'linux', architecture: 'amd64' },
  config: { env: [], entrypoint: null, cmd: ['/bin/sh'], exposedPorts: [], labels: {} },
  layers: [],
  size: 0,
  source: 'archive',
  addedAt: new Date(0).toISOString(),
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
