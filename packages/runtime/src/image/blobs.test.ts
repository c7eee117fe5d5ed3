import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlobStore } from './blobs.ts';
import { sha256 } from './digest.ts';
import { isImageError } from './errors.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-blobs-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('BlobStore', () => {
  it('stores content under its digest, verified, and reads it back', async () => {
    const s = new BlobStore(dir);
    const info = await s.write(sha256('hello'), Readable.from([Buffer.from('hel'), Buffer.from('lo')]), {
      size: 5,
    });
    expect(info).toEqual({ digest: sha256('hello'), size: 5 });
    expect(s.read(info.digest).toString()).toBe('hello');
    expect(s.list()).toEqual([info.digest]);
    expect((await s.putBuffer('x')).digest).toBe(sha256('x'));
  });

  it('keeps nothing when the content does not match the expected digest', async () => {
    const s = new BlobStore(dir);
    const err = await s.write(sha256('expected'), [Buffer.from('something else')]).catch((e) => e);
    expect(isImageError(err, 'digest_mismatch')).toBe(true);
    expect(err.message).toContain('nothing was kept');
    expect(s.list()).toEqual([]);
    expect(readdirSync(s.ingestDir)).toEqual([]);
  });

  it('keeps nothing when the content is longer or shorter than declared', async () => {
    const s = new BlobStore(dir);
    const long = await s.write(sha256('abc'), [Buffer.from('abcd')], { size: 3 }).catch((e) => e);
    expect(isImageError(long, 'size_mismatch')).toBe(true);
    const short = await s.write(undefined, [Buffer.from('ab')], { size: 3 }).catch((e) => e);
    expect(isImageError(short, 'size_mismatch')).toBe(true);
    expect(s.list()).toEqual([]);
    expect(readdirSync(s.ingestDir)).toEqual([]);
  });

  it('detects a blob corrupted on disk when reading it', async () => {
    const s = new BlobStore(dir);
    const { digest } = await s.putBuffer('good');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(s.path(digest), 'evil');
    expect(() => s.read(digest)).toThrow(/corrupt/);
  });
});
