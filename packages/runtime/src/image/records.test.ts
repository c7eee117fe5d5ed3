import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256 } from './digest.ts';
import { FileImageRecordStore, type ImageRecord } from './records.ts';
import { imageRecordFixture as record } from './testing.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-records-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('FileImageRecordStore', () => {
  it('saves, finds by reference, moves a reference to the newer image, untags and deletes', async () => {
    const s = new FileImageRecordStore(dir);
    await s.save(record('a', ['x/a:1', 'x/a:latest']));
    await s.save(record('b', ['x/a:latest']));
    expect((await s.byReference('x/a:latest'))?.digest).toBe(sha256('b'));
    expect((await s.get(sha256('a')))?.references).toEqual(['x/a:1']);
    expect((await s.untag('x/a:1'))?.references).toEqual([]);
    await s.delete(sha256('a'));
    expect((await s.list()).map((r) => r.digest)).toEqual([sha256('b')]);
    // Another instance (a restarted agent) reads the same state.
    expect((await new FileImageRecordStore(dir).list()).map((r) => r.digest)).toEqual([sha256('b')]);
    expect(JSON.parse(readFileSync(join(dir, 'images.json'), 'utf8')).version).toBe(1);
  });

  it('keeps the earlier references of an image saved again under a second name', async () => {
    const s = new FileImageRecordStore(dir);
    await s.save(record('a', ['x/a:1']));
    await s.save(record('a', ['x/a:2']));
    expect((await s.get(sha256('a')))?.references).toEqual(['x/a:1', 'x/a:2']);
    expect((await s.byReference('x/a:1'))?.digest).toBe(sha256('a'));
    expect(await s.list()).toHaveLength(1);
  });

  it('serialises concurrent writes without losing any', async () => {
    const s = new FileImageRecordStore(dir);
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.save(record(`r${i}`, [`x/r:${i}`]))));
    expect(await s.list()).toHaveLength(20);
  });

  it('refuses an invalid record naming the field', async () => {
    const s = new FileImageRecordStore(dir);
    const bad = { ...record('a', []), digest: 'nope' } as unknown as ImageRecord;
    await expect(s.save(bad)).rejects.toThrow(/digest/);
    expect(await s.list()).toEqual([]);
  });
});
