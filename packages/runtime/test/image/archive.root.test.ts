// Root: importing unpacks layers (ownership, whiteout devices). Archives made by umoci and
// skopeo; our exports are read back by skopeo and by ourselves with digest equality.
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportImage, exportImageToDir, importArchive } from '../../src/image/archive.ts';
import { sha256 } from '../../src/image/digest.ts';
import { isImageError } from '../../src/image/errors.ts';
import { ImageStore } from '../../src/image/store.ts';
import { cleanupDir, makeTar, makeTempDir } from './helpers.ts';
import { buildImage } from './registry-harness.ts';

let tmp: string;
let layout: string;
let n = 0;
const newStore = () => new ImageStore(join(tmp, `store-${n++}`));

beforeAll(() => {
  tmp = makeTempDir('archive');
  layout = join(tmp, 'layout');
  const scratch = join(tmp, 'scratch');
  buildImage(layout, 'v1', { '/etc/greeting': 'hello\n' }, { scratch, cmd: ['/bin/greet'] });
  buildImage(layout, 'v1', { '/usr/share/data': 'data\n' }, { scratch, from: 'v1', cmd: ['/bin/greet'] });
}, 60_000);
afterAll(() => cleanupDir(tmp));

function skopeoManifestDigest(src: string): string {
  return sha256(execFileSync('skopeo', ['inspect', '--raw', src]));
}

describe('image archives', () => {
  it('imports an OCI layout directory and exports it as a tar that skopeo reads, digests equal on round trip', async () => {
    const a = newStore();
    const [img] = await importArchive(a, layout, { reference: 'berth.local/greet:v1' });
    expect(img!.references).toEqual(['berth.local/greet:v1']);
    expect(img!.digest).toBe(skopeoManifestDigest(`oci:${layout}:v1`));
    expect(img!.config.cmd).toEqual(['/bin/greet']);
    expect(readFileSync(join(a.layers.path(img!.layers[1]!.diffId), 'usr/share/data'), 'utf8')).toBe(
      'data\n',
    );

    const tarPath = join(tmp, 'export.tar');
    await exportImage(a, 'berth.local/greet:v1', createWriteStream(tarPath));
    expect(skopeoManifestDigest(`oci-archive:${tarPath}`)).toBe(img!.digest);

    const b = newStore();
    const [back] = await importArchive(b, tarPath);
    expect(back!.digest).toBe(img!.digest);
    expect(back!.configDigest).toBe(img!.configDigest);
    expect(back!.layers).toEqual(img!.layers);
    expect(back!.references).toEqual(['berth.local/greet:v1']);

    const dir = join(tmp, 'export-dir');
    await exportImageToDir(b, back!.digest, dir);
    expect(skopeoManifestDigest(`oci:${dir}:v1`)).toBe(img!.digest);
    const [again] = await importArchive(newStore(), dir);
    expect(again!.digest).toBe(img!.digest);
  });

  it('imports a docker save archive (as skopeo writes one) and round-trips it with equal digests', async () => {
    const archive = join(tmp, 'docker.tar');
    execFileSync('skopeo', [
      'copy',
      '--quiet',
      `oci:${layout}:v1`,
      `docker-archive:${archive}:berth/greet:v1`,
    ]);
    const saved = JSON.parse(
      execFileSync('tar', ['-xOf', archive, 'manifest.json'], { encoding: 'utf8' }),
    ) as Array<{ Config: string }>;
    const a = newStore();
    const [img] = await importArchive(a, createReadStream(archive));
    expect(img!.references).toEqual(['docker.io/berth/greet:v1']);
    const savedConfig = execFileSync('tar', ['-xOf', archive, saved[0]!.Config]);
    expect(img!.configDigest).toBe(sha256(savedConfig));
    const oci = JSON.parse(
      execFileSync('skopeo', ['inspect', '--config', '--raw', `oci:${layout}:v1`], { encoding: 'utf8' }),
    );
    expect(img!.layers.map((l) => l.diffId)).toEqual(oci.rootfs.diff_ids);
    expect(readFileSync(join(a.layers.path(img!.layers[0]!.diffId), 'etc/greeting'), 'utf8')).toBe('hello\n');

    const out = join(tmp, 'docker-roundtrip.tar');
    await exportImage(a, img!.digest, createWriteStream(out));
    const [back] = await importArchive(newStore(), out);
    expect(back!.digest).toBe(img!.digest);
    expect(back!.configDigest).toBe(img!.configDigest);
    expect(back!.layers).toEqual(img!.layers);
    // skopeo reads our export's docker manifest.json too.
    expect(execFileSync('skopeo', ['inspect', '--raw', `docker-archive:${out}`]).length).toBeGreaterThan(0);
  });

  it('imports a gzip-compressed archive stream', async () => {
    const tarPath = join(tmp, 'for-gz.tar');
    const a = newStore();
    await importArchive(a, layout, { reference: 'berth.local/greet:v1' });
    await exportImage(a, 'berth.local/greet:v1', createWriteStream(tarPath));
    const gz = execFileSync('gzip', ['-c', tarPath]);
    const [img] = await importArchive(newStore(), Readable.from([gz]));
    expect(img!.references).toEqual(['berth.local/greet:v1']);
  });

  it('rejects a blob whose content does not match its name and keeps nothing', async () => {
    const fake = `blobs/sha256/${'a'.repeat(64)}`;
    const bad = await makeTar([
      { name: 'oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' },
      { name: fake, content: 'not what the name says' },
    ]);
    const s = newStore();
    const err = await importArchive(s, Readable.from([bad])).catch((e) => e);
    expect(isImageError(err, 'digest_mismatch'), String(err)).toBe(true);
    expect(s.blobs.list()).toEqual([]);
    expect(await s.list()).toEqual([]);
  });

  it('rejects an archive that is neither an OCI layout nor docker save, naming what is missing', async () => {
    const p = join(tmp, 'junk.tar');
    writeFileSync(p, await makeTar([{ name: 'hello.txt', content: 'hi' }]));
    const err = await importArchive(newStore(), p).catch((e) => e);
    expect(isImageError(err, 'invalid_archive'), String(err)).toBe(true);
    expect(err.message).toMatch(/index\.json.*manifest\.json/);
    const notTar = await importArchive(
      newStore(),
      Readable.from([Buffer.from('garbage '.repeat(200))]),
    ).catch((e) => e);
    expect(isImageError(notTar), String(notTar)).toBe(true);
  });
});
