// Root: unpacking sets ownership, creates whiteout devices (mknod) and trusted.* xattrs.
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isImageError } from '../../src/image/errors.ts';
import { unpackLayer } from '../../src/image/unpack.ts';
import { lgetxattr } from '../../src/sys/mount.ts';
import { cleanupDir, makeTar, makeTempDir, type TarEntry } from './helpers.ts';

let tmp: string;
let root: string;
let outside: string;
beforeEach(() => {
  tmp = makeTempDir('unpack');
  root = join(tmp, 'layer');
  outside = join(tmp, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
});
afterEach(() => cleanupDir(tmp));

async function unpack(entries: TarEntry[], opts: Parameters<typeof unpackLayer>[2] = {}) {
  return unpackLayer(Readable.from([gzipSync(await makeTar(entries))]), root, opts);
}

async function expectUnsafe(entries: TarEntry[], pattern: RegExp) {
  const err = await unpack(entries).catch((e) => e);
  expect(isImageError(err, 'unsafe_layer'), String(err)).toBe(true);
  expect(String(err.message)).toMatch(pattern);
  expect(readdirSync(outside)).toEqual([]);
}

describe('unpackLayer', () => {
  it('keeps contents, ownership, modes (setuid only as the image says), links, and computes the diff-id', async () => {
    const entries: TarEntry[] = [
      { name: 'bin/', type: 'directory' },
      { name: 'bin/tool', content: 'suid', mode: 0o4755, uid: 0, gid: 0 },
      { name: 'bin/plain', content: 'plain', mode: 0o755, uid: 1000, gid: 1001 },
      { name: 'home/u/', type: 'directory', uid: 1000, gid: 1000, mode: 0o700 },
      { name: 'bin/sh', type: 'symlink', linkname: '/bin/tool' },
      { name: 'bin/hard', type: 'link', linkname: 'bin/plain' },
      { name: 'tmp/', type: 'directory', mode: 0o1777 },
    ];
    const tarBytes = await makeTar(entries);
    const r = await unpackLayer(Readable.from([gzipSync(tarBytes)]), root);
    expect(r.diffId).toBe(`sha256:${createHash('sha256').update(tarBytes).digest('hex')}`);
    expect(r.tarSize).toBe(tarBytes.length);
    expect(lstatSync(join(root, 'bin/tool')).mode & 0o7777).toBe(0o4755);
    const plain = lstatSync(join(root, 'bin/plain'));
    expect([plain.uid, plain.gid, plain.mode & 0o7777]).toEqual([1000, 1001, 0o755]);
    expect(plain.mtimeMs).toBe(1_700_000_000_000);
    expect(lstatSync(join(root, 'bin/hard')).ino).toBe(plain.ino);
    expect(readlinkSync(join(root, 'bin/sh'))).toBe('/bin/tool');
    expect(lstatSync(join(root, 'home/u')).mode & 0o7777).toBe(0o700);
    expect(lstatSync(join(root, 'home/u')).uid).toBe(1000);
    expect(lstatSync(join(root, 'tmp')).mode & 0o7777).toBe(0o1777);
    expect(lstatSync(join(root, 'home/u')).mtimeMs).toBe(1_700_000_000_000);
  });

  it('rejects ".." in names (path traversal)', async () => {
    await expectUnsafe([{ name: '../outside/evil', content: 'x' }], /\.\./);
  });

  it('rejects ".." in hardlink targets', async () => {
    await expectUnsafe([{ name: 'x', type: 'link', linkname: '../outside/secret' }], /\.\./);
  });

  it('neutralises absolute names into the layer root', async () => {
    await unpack([{ name: `/${outside.slice(1)}/abs`, content: 'x' }]);
    expect(readdirSync(outside)).toEqual([]);
    expect(readFileSync(join(root, outside, 'abs'), 'utf8')).toBe('x');
  });

  it('resolves symlinked parents inside the root, never outside it', async () => {
    await unpack([
      { name: 'abs', type: 'symlink', linkname: outside },
      { name: 'abs/evil1', content: '1' },
      { name: 'rel', type: 'symlink', linkname: '../../../../../../..' },
      { name: `rel/${outside.slice(1)}/evil2`, content: '2' },
      { name: 'chain', type: 'symlink', linkname: 'rel' },
      { name: `chain/${outside.slice(1)}/evil3`, content: '3' },
    ]);
    expect(readdirSync(outside)).toEqual([]);
    for (const n of ['evil1', 'evil2', 'evil3']) expect(existsSync(join(root, outside, n))).toBe(true);
  });

  it('never follows a symlink that replaced a directory when setting directory times', async () => {
    const { utimesSync, statSync } = await import('node:fs');
    utimesSync(outside, new Date(1_000_000), new Date(1_000_000));
    await unpack([
      { name: 'a/', type: 'directory', mtime: new Date(2_000_000_000_000) },
      { name: 'a', type: 'symlink', linkname: outside },
    ]);
    expect(statSync(outside).mtimeMs).toBe(1_000_000);
    expect(lstatSync(join(root, 'a')).isSymbolicLink()).toBe(true);
  });

  it('rejects hardlinks to files outside the layer, also through symlinks', async () => {
    await expectUnsafe(
      [
        { name: 'e', type: 'symlink', linkname: '/etc' },
        { name: 'pw', type: 'link', linkname: 'e/passwd' },
      ],
      /not in the layer|does not exist/,
    );
    await expectUnsafe(
      [{ name: 'pw', type: 'link', linkname: '/etc/passwd' }],
      /not in the layer|does not exist/,
    );
    await expectUnsafe(
      [
        { name: 'loop', type: 'symlink', linkname: '/loop' },
        { name: 'loop/x', content: '' },
      ],
      /levels/,
    );
  });

  it('applies whiteouts and opaque directories in overlayfs form', async () => {
    await unpack([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/.wh.gone', content: '' },
      { name: 'var/', type: 'directory' },
      { name: 'var/.wh..wh..opq', content: '' },
      { name: 'var/new', content: 'n' },
    ]);
    const wh = lstatSync(join(root, 'etc/gone'));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect(existsSync(join(root, 'etc/.wh.gone'))).toBe(false);
    expect(lgetxattr(join(root, 'var'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    expect(readdirSync(join(root, 'var'))).toEqual(['new']);
  });

  it('rejects a whiteout of ".."', async () => {
    await expectUnsafe([{ name: 'a/.wh...', content: '' }], /\.\./);
  });

  it('creates device nodes only when allowed (privileged)', async () => {
    const dev: TarEntry[] = [
      { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o660 },
    ];
    const r = await unpack(dev);
    expect(r.skippedDevices).toEqual(['dev/sda']);
    expect(existsSync(join(root, 'dev/sda'))).toBe(false);
    cleanupDir(root);
    mkdirSync(root);
    await unpack(dev, { allowDevices: true });
    const st = lstatSync(join(root, 'dev/sda'));
    expect(st.isBlockDevice()).toBe(true);
    expect(st.rdev).toBe(8 * 256);
  });

  it('stops a decompression bomb at the size limit with a clear error', async () => {
    const bomb = gzipSync(await makeTar([{ name: 'zeros', content: Buffer.alloc(64 * 1024 * 1024) }]));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const err = await unpackLayer(Readable.from([bomb]), root, { maxBytes: 8 * 1024 * 1024 }).catch((e) => e);
    expect(isImageError(err, 'layer_too_large'), String(err)).toBe(true);
    expect(err.message).toMatch(/decompress/);
  });

  it('fails when the content does not match the diff-id the config declares', async () => {
    const err = await unpack([{ name: 'f', content: 'x' }], {
      expectedDiffId: `sha256:${'0'.repeat(64)}`,
    }).catch((e) => e);
    expect(isImageError(err, 'digest_mismatch')).toBe(true);
  });

  it('reads zstd and plain layers too', async () => {
    const t = await makeTar([{ name: 'z', content: 'zstd!' }]);
    const { execFileSync } = await import('node:child_process');
    const zst = execFileSync('zstd', ['-q', '-c'], { input: t });
    const r = await unpackLayer(Readable.from([zst]), root);
    expect(readFileSync(join(root, 'z'), 'utf8')).toBe('zstd!');
    expect(r.diffId).toBe(`sha256:${createHash('sha256').update(t).digest('hex')}`);
    cleanupDir(root);
    mkdirSync(root);
    await unpackLayer(Readable.from([t]), root);
    expect(readFileSync(join(root, 'z'), 'utf8')).toBe('zstd!');
  });
});
