// Root: debootstrap builds a chroot (mknod, chown, mounts proc inside its target). Builds one
// Debian bookworm minbase + systemd image from Debian's mirror, once (about 90 s here), and
// checks everything against that one build.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDebianImage } from '../../src/image/debootstrap.ts';
import { isImageError } from '../../src/image/errors.ts';
import type { ImageRecord } from '../../src/image/records.ts';
import { type ImageProgress, ImageStore } from '../../src/image/store.ts';
import { cleanupDir, makeTempDir } from './helpers.ts';

let tmp: string;
let store: ImageStore;
let image: ImageRecord;
const events: ImageProgress[] = [];
// Cancels a build still running when the suite ends early (timeout), before cleaning up.
const cancel = new AbortController();

beforeAll(async () => {
  tmp = makeTempDir('debian');
  store = new ImageStore(join(tmp, 'images'));
  image = await buildDebianImage(store, { onProgress: (e) => events.push(e), signal: cancel.signal });
}, 900_000);
afterAll(async () => {
  cancel.abort();
  // A cancelled build removes its own tree; give it a moment before removing the rest.
  await new Promise((r) => setTimeout(r, 500));
  cleanupDir(tmp);
});

describe('Debian image built with debootstrap', () => {
  it('reports progress through the build phases', () => {
    const phases = new Set(events.flatMap((e) => (e.type === 'status' ? [e.phase] : [])));
    for (const p of ['retrieving', 'unpacking', 'configuring', 'pack', 'commit']) expect(phases).toContain(p);
    const configuring = events.filter((e) => e.type === 'status' && e.phase === 'configuring').at(-1);
    expect(configuring).toMatchObject({ type: 'status' });
    expect(events.at(-1)).toMatchObject({ type: 'done' });
  });

  it('records an image with systemd as init and a layer that is the built tree', () => {
    expect(image.references).toEqual(['berth.local/debian:bookworm']);
    expect(image.source).toBe('debootstrap');
    expect(image.config.cmd).toEqual(['/sbin/init']);
    const layer = store.layers.path(image.layers[0]!.diffId);
    expect(readFileSync(join(layer, 'etc/debian_version'), 'utf8')).toMatch(/^12\./);
    expect(realpathSync(join(layer, 'sbin/init')).endsWith('/lib/systemd/systemd')).toBe(true);
    expect(existsSync(join(layer, 'etc/resolv.conf'))).toBe(false);
    expect(readFileSync(join(layer, 'etc/machine-id'), 'utf8')).toBe('');
    expect(store.blobs.has(image.layers[0]!.digest)).toBe(true);
    expect(image.size).toBeGreaterThan(100 * 1024 * 1024);
  });

  it('runs programs of the image in a container root made from it', async () => {
    const { rootfs } = await store.createRootfs('deb1', image.digest);
    try {
      const out = execFileSync('chroot', [rootfs.path, '/usr/bin/dpkg', '-s', 'systemd'], {
        encoding: 'utf8',
      });
      expect(out).toContain('Status: install ok installed');
    } finally {
      await store.removeRootfs('deb1');
    }
  });

  it('returns the cached image for the same options instead of building again', async () => {
    const seen: ImageProgress[] = [];
    const again = await buildDebianImage(store, { onProgress: (e) => seen.push(e) });
    expect(again.digest).toBe(image.digest);
    expect(seen).toEqual([expect.objectContaining({ type: 'status', phase: 'cached' })]);
  });

  it('stops a build when cancelled, leaving no tree and no mounts behind', async () => {
    const ac = new AbortController();
    const other = new ImageStore(join(tmp, 'cancelled'));
    const err = await buildDebianImage(other, {
      include: [],
      signal: ac.signal,
      onProgress: (e) => {
        if (e.type === 'status' && e.phase === 'retrieving') ac.abort();
      },
    }).catch((e) => e);
    expect(isImageError(err, 'aborted'), String(err)).toBe(true);
    expect(readdirSync(join(other.dir, 'tmp'))).toEqual([]);
    expect(readFileSync('/proc/self/mounts', 'utf8')).not.toContain(other.dir);
    expect(await other.list()).toEqual([]);
  });

  it('refuses bad options naming the field, before running anything', async () => {
    const err = await buildDebianImage(store, { suite: 'bookworm; rm -rf /' }).catch((e) => e);
    expect(isImageError(err, 'build_failed')).toBe(true);
    expect(err.message).toMatch(/^suite: /);
    const err2 = await buildDebianImage(store, { mirror: 'file:///etc' }).catch((e) => e);
    expect(err2.message).toMatch(/^mirror: /);
  });
});
