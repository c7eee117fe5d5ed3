import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageStore } from '@berth/runtime/image';
import { imageRecordFixture } from '@berth/runtime/testing/image';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { storeImages } from './images.ts';

// berthd's start-up restoration of container roots' leases, on a real image store in a
// temporary directory (roots made by hand as a power loss or a bad disk leaves them).

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-root-leases-'));
});
afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

it('restores and removes lost leases past a root whose lease cannot be read otherwise, which is logged and left', async () => {
  const store = new ImageStore(join(dir, 'images'));
  const image = imageRecordFixture('img', ['x/img:1']);
  await store.records.save(image);
  const root = (id: string) => {
    mkdirSync(join(store.roots.dir, id, 'upper'), { recursive: true });
    mkdirSync(join(store.roots.dir, id, 'rootfs'));
    return join(store.roots.dir, id, 'lease.json');
  };
  writeFileSync(root('a-lost'), ''); // a lease a power loss emptied: its record says what it was
  mkdirSync(root('b-bad')); // EISDIR: no lost flush, and nothing to restore it from
  writeFileSync(root('c-orphan'), ''); // made by a create the power loss took as well
  const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
  const result = await storeImages(store).restoreLeases!([
    { id: 'a-lost', imageDigest: image.digest, idBase: null },
    { id: 'b-bad', imageDigest: image.digest, idBase: null },
  ]);
  expect(result).toEqual({ restored: ['a-lost'], removed: ['c-orphan'] });
  expect(store.roots.get('a-lost')).toMatchObject({ image: image.digest, mode: 'overlay' });
  expect(existsSync(join(store.roots.dir, 'c-orphan'))).toBe(false);
  expect(existsSync(join(store.roots.dir, 'b-bad', 'lease.json'))).toBe(true);
  expect(logged.mock.calls.map((c) => String(c[0]))).toEqual([
    expect.stringMatching(/container root b-bad: .*EISDIR/),
  ]);
});
