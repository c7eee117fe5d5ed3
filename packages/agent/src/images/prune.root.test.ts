// Root (layers unpacked with their owners): berthd's image prune against a real agent DB and
// image store. A container create commits its record (its image named) and then makes the
// root; a prune running meanwhile must keep that image and its layers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILTIN_REFERENCE, type ImageRecord } from '@berth/runtime/image';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type AgentDb, openAgentDb } from '../db/index.ts';
import { imagesService } from './service.ts';

let dir: string;
let db: AgentDb;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-prune-'));
  db = await openAgentDb(join(dir, 'agent.db'));
});
afterEach(async () => {
  await db.$disconnect();
  rmSync(dir, { recursive: true, force: true });
});

it('keeps an image whose container record commits while the prune runs (its root made after)', async () => {
  const images = imagesService({ stateDir: join(dir, 'state'), db });
  const { store } = images;
  await images.ensureBuiltin();
  const img = (await store.records.byReference(BUILTIN_REFERENCE)) as ImageRecord;
  // Dangling: no reference left (a create by digest, or a tag moved since it resolved).
  await store.remove(BUILTIN_REFERENCE);
  await store.records.save({ ...img, references: [] });
  expect((await store.records.get(img.digest))?.references).toEqual([]);
  // The create's record commits while gc reads the image records.
  const list = store.records.list.bind(store.records);
  store.records.list = async () => {
    const all = await list();
    await db.container.create({
      data: {
        id: 'c1',
        name: 'c1',
        image: img.digest,
        imageDigest: img.digest,
        config: '{}',
        state: 'creating',
      },
    });
    return all;
  };
  const pruned = await images.prune(true, 'test');
  expect(pruned.images).toEqual([]);
  expect(await store.records.get(img.digest)).toBeDefined();
  const layers = img.layers.map((l) => l.diffId);
  for (const d of layers) expect(store.layers.has(d)).toBe(true);
  // The root the create makes next mounts its layers.
  const root = await store.roots.create({ id: 'c1', layers, image: img.digest });
  expect(store.roots.isMounted('c1')).toBe(true);
  expect(root.layers).toEqual(layers);
  await store.roots.remove('c1');
  // Once the record is gone, the dangling image goes.
  await db.container.delete({ where: { id: 'c1' } });
  store.records.list = list;
  expect((await images.prune(true, 'test')).images).toEqual([img.digest]);
});
