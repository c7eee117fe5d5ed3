// Root: pulls unpack layers with their ownership and whiteout devices. Against Debian's
// docker-registry on loopback, images built with umoci and pushed with skopeo.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../src/image/digest.ts';
import { isImageError } from '../../src/image/errors.ts';
import { MediaType } from '../../src/image/oci.ts';
import { hostPlatform } from '../../src/image/platform.ts';
import { type ImageProgress, ImageStore, progressIterable } from '../../src/image/store.ts';
import { cleanupDir, makeTempDir } from './helpers.ts';
import {
  buildImage,
  type Gateway,
  push,
  startGateway,
  startRegistry,
  type TestRegistry,
} from './registry-harness.ts';

let tmp: string;
let plain: TestRegistry;
let secured: TestRegistry;
const gateways: Gateway[] = [];
const big = randomBytes(3 * 1024 * 1024); // incompressible: a download long enough to cut
const auth = { username: 'berth', password: `pw-${randomBytes(6).toString('hex')}` };
const host = hostPlatform().architecture;
const other = host === 'arm64' ? 'amd64' : 'arm64';

function layerFile(store: ImageStore, diffId: string, path: string): string {
  return readFileSync(join(store.layers.path(diffId as `sha256:${string}`), path), 'utf8');
}

function expectBig(store: ImageStore, rec: { layers: Array<{ diffId: `sha256:${string}` }> }) {
  expect(readFileSync(join(store.layers.path(rec.layers[1]!.diffId), 'srv/big.bin')).equals(big)).toBe(true);
}

async function gateway(opts: Parameters<typeof startGateway>[1]) {
  const g = await startGateway(plain.host, opts);
  gateways.push(g);
  return g;
}

async function putIndex(registryHost: string, repo: string, tag: string, tags: Array<[string, string]>) {
  const manifests = [];
  for (const [t, arch] of tags) {
    const r = await fetch(`http://${registryHost}/v2/${repo}/manifests/${t}`, {
      headers: { accept: MediaType.ociManifest },
    });
    const body = Buffer.from(await r.arrayBuffer());
    manifests.push({
      mediaType: MediaType.ociManifest,
      digest: sha256(body),
      size: body.length,
      platform: { os: 'linux', architecture: arch },
    });
  }
  const index = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests });
  const r = await fetch(`http://${registryHost}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'content-type': MediaType.ociIndex },
    body: index,
  });
  expect(r.status).toBe(201);
}

beforeAll(async () => {
  tmp = makeTempDir('pull');
  plain = await startRegistry(join(tmp, 'registry'));
  secured = await startRegistry(join(tmp, 'registry-auth'), auth);
  const layout = join(tmp, 'layout');
  const scratch = join(tmp, 'scratch');
  buildImage(layout, 'base', { '/etc/base': 'base layer\n' }, { scratch, cmd: ['/bin/app', '--serve'] });
  buildImage(layout, 'app', { '/srv/big.bin': big }, { scratch, from: 'base' });
  buildImage(layout, 'app', { '/srv/app': 'app\n' }, { scratch, from: 'app' });
  buildImage(layout, 'host', { '/arch': `${host}\n` }, { scratch, architecture: host });
  buildImage(layout, 'other', { '/arch': `${other}\n` }, { scratch, architecture: other });
  push({ layout, tag: 'base' }, `${plain.host}/berth/base:1`, { format: 'v2s2' });
  push({ layout, tag: 'app' }, `${plain.host}/berth/app:1`, { format: 'oci' });
  // Content of its own, so skopeo cannot reuse a gzip blob it pushed before.
  buildImage(layout, 'zstd', { '/etc/base': `zstd ${randomBytes(8).toString('hex')}\n` }, { scratch });
  push({ layout, tag: 'zstd' }, `${plain.host}/berth/zstd:1`, { format: 'oci', compress: 'zstd' });
  push({ layout, tag: 'host' }, `${plain.host}/berth/multi:host`, { format: 'oci' });
  push({ layout, tag: 'other' }, `${plain.host}/berth/multi:other`, { format: 'oci' });
  await putIndex(plain.host, 'berth/multi', '1', [
    ['host', host],
    ['other', other],
  ]);
  push({ layout, tag: 'base' }, `${secured.host}/private/base:1`, {
    format: 'oci',
    creds: `${auth.username}:${auth.password}`,
  });
}, 120_000);

afterAll(async () => {
  for (const g of gateways) await g.stop().catch(() => {});
  await plain?.stop();
  await secured?.stop();
  cleanupDir(tmp);
});

function newStore(name: string, insecure: string[]) {
  return new ImageStore(join(tmp, name), { registry: { insecure, retryDelayMs: 20 } });
}

describe('pull from a registry', () => {
  it('pulls anonymously a Docker v2 schema 2 image with gzip layers, reporting progress', async () => {
    const store = newStore('anon', [plain.host]);
    const events: ImageProgress[] = [];
    const rec = await store.pull(`${plain.host}/berth/base:1`, { onProgress: (e) => events.push(e) });
    expect(rec.references).toEqual([`${plain.host}/berth/base:1`]);
    expect(rec.manifestMediaType).toBe(MediaType.dockerManifest);
    expect(rec.config.cmd).toEqual(['/bin/app', '--serve']);
    expect(rec.config.env).toContain('PATH=/bin');
    expect(rec.config.workingDir).toBe('/srv');
    expect(rec.config.exposedPorts).toEqual(['8080/tcp']);
    expect(layerFile(store, rec.layers[0]!.diffId, 'etc/base')).toBe('base layer\n');
    expect(events[0]?.type).toBe('resolved');
    expect(events.at(-1)).toMatchObject({ type: 'done' });
    const dl = events.filter((e) => e.type === 'layer' && e.phase === 'download');
    expect(dl.at(-1)).toMatchObject({ done: rec.layers[0]!.size, total: rec.layers[0]!.size });
    expect(await store.inspect(`${plain.host}/berth/base:1`)).toEqual(rec);
    expect(await store.inspect(rec.digest.slice(7, 19))).toEqual(rec);
  });

  it('shares unpacked layers between images and reports the pull as an async iterable', async () => {
    const store = newStore('shared', [plain.host]);
    await store.pull(`${plain.host}/berth/base:1`);
    const it = progressIterable((onProgress) => store.pull(`${plain.host}/berth/app:1`, { onProgress }));
    const seen: string[] = [];
    let r = await it.next();
    while (!r.done) {
      seen.push(r.value.type === 'layer' ? `layer:${r.value.phase}` : r.value.type);
      r = await it.next();
    }
    expect(seen).toContain('resolved');
    expect(seen).toContain('layer:exists');
    expect(seen.at(-1)).toBe('done');
    const app = r.value;
    expect(app.manifestMediaType).toBe(MediaType.ociManifest);
    expect(readFileSync(join(store.layers.path(app.layers[1]!.diffId), 'srv/big.bin')).equals(big)).toBe(
      true,
    );
    // base's one layer and app's three: the identical first layer is stored once.
    expect(store.layers.list()).toHaveLength(3);
  });

  it('pulls zstd layers through an anonymous bearer-token challenge', async () => {
    const g = await gateway({ bearer: true });
    const store = newStore('bearer', [g.host]);
    const rec = await store.pull(`${g.host}/berth/zstd:1`);
    expect(rec.layers[0]!.mediaType).toBe(MediaType.ociLayerZstd);
    expect(layerFile(store, rec.layers[0]!.diffId, 'etc/base')).toMatch(/^zstd /);
    expect(g.tokensIssued).toBeGreaterThan(0);
    expect(g.log.some((l) => l.status === 401)).toBe(true);
  });

  it('uses stored credentials for basic auth, and refuses without or with wrong ones', async () => {
    const store = newStore('basic', [secured.host]);
    const ref = `${secured.host}/private/base:1`;
    const none = await store.pull(ref).catch((e) => e);
    expect(isImageError(none, 'unauthorized'), String(none)).toBe(true);
    expect(none.message).toMatch(/none stored/);
    await store.credentials.set(secured.host, { username: auth.username, password: 'wrong' });
    const wrong = await newStore('basic', [secured.host])
      .pull(ref)
      .catch((e) => e);
    expect(isImageError(wrong, 'unauthorized'), String(wrong)).toBe(true);
    expect(store.layers.list()).toHaveLength(0);
    await store.credentials.set(secured.host, auth);
    const rec = await newStore('basic', [secured.host]).pull(ref);
    expect(layerFile(store, rec.layers[0]!.diffId, 'etc/base')).toBe('base layer\n');
  });

  it("resolves a two-platform index to this host's platform, or to the one asked for", async () => {
    const store = newStore('multi', [plain.host]);
    const mine = await store.pull(`${plain.host}/berth/multi:1`);
    expect(mine.platform.architecture).toBe(host);
    expect(layerFile(store, mine.layers[0]!.diffId, 'arch')).toBe(`${host}\n`);
    const theirs = await store.pull(`${plain.host}/berth/multi:1`, { platform: `linux/${other}` });
    expect(layerFile(store, theirs.layers[0]!.diffId, 'arch')).toBe(`${other}\n`);
    const err = await store.pull(`${plain.host}/berth/multi:1`, { platform: 'linux/s390x' }).catch((e) => e);
    expect(isImageError(err, 'platform_not_found'), String(err)).toBe(true);
    expect(err.message).toContain(`linux/${other}`);
  });

  it('resumes a layer download with HTTP Range after the connection is cut', async () => {
    const g = await gateway({ cutBlobAfter: { bytes: 700_000, times: 2 } });
    const store = newStore('resume', [g.host]);
    const rec = await store.pull(`${g.host}/berth/app:1`);
    expect(readFileSync(join(store.layers.path(rec.layers[1]!.diffId), 'srv/big.bin')).equals(big)).toBe(
      true,
    );
    const ranged = g.log.filter((l) => l.range?.startsWith('bytes='));
    expect(ranged.length).toBeGreaterThan(0);
    expect(ranged.every((l) => l.status === 206)).toBe(true);
  });

  it('garbage collection during a pull leaves the pull alone', async () => {
    const g = await gateway({ throttleBytesPerSec: 1_500_000 });
    const store = newStore('gc-during-pull', [g.host]);
    let collected: Promise<unknown> | undefined;
    const rec = await store.pull(`${g.host}/berth/app:1`, {
      onProgress: (e) => {
        if (!collected && e.type === 'layer' && e.phase === 'download' && e.done > 500_000)
          collected = store.gc({ dangling: true });
      },
    });
    expect(collected).toBeDefined();
    await collected;
    expectBig(store, rec);
    await store.gc({ dangling: true });
    for (const l of rec.layers) {
      expect(store.layers.has(l.diffId)).toBe(true);
      expect(store.blobs.has(l.digest)).toBe(true);
    }
  });

  it('pulls by digest and keeps that image through pruning', async () => {
    const store = newStore('by-digest', [plain.host]);
    const tagged = await newStore('by-digest-probe', [plain.host]).pull(`${plain.host}/berth/base:1`);
    const ref = `${plain.host}/berth/base@${tagged.digest}`;
    const rec = await store.pull(ref);
    expect(rec.digest).toBe(tagged.digest);
    expect(rec.references).toEqual([ref]);
    await store.gc({ dangling: true });
    expect((await store.inspect(ref)).digest).toBe(tagged.digest);
    const wrong = await store.pull(`${plain.host}/berth/base@sha256:${'0'.repeat(64)}`).catch((e) => e);
    expect(isImageError(wrong, 'not_found'), String(wrong)).toBe(true);
  });

  it('stops a pull when its signal aborts, recording nothing, and a later pull completes', async () => {
    const g = await gateway({ throttleBytesPerSec: 1_000_000 });
    const store = newStore('abort', [g.host]);
    const ac = new AbortController();
    const err = await store
      .pull(`${g.host}/berth/app:1`, {
        signal: ac.signal,
        onProgress: (e) => {
          if (e.type === 'layer' && e.phase === 'download' && e.done > 300_000) ac.abort();
        },
      })
      .catch((e) => e);
    expect(isImageError(err, 'aborted'), String(err)).toBe(true);
    expect(await store.list()).toEqual([]);
    const rec = await store.pull(`${g.host}/berth/app:1`);
    expectBig(store, rec);
  });

  it('names what is wrong for a missing tag', async () => {
    const store = newStore('missing', [plain.host]);
    const err = await store.pull(`${plain.host}/berth/base:nope`).catch((e) => e);
    expect(isImageError(err, 'not_found'), String(err)).toBe(true);
    expect(err.message).toContain('berth/base:nope');
  });

  it('survives a pulling process killed mid-download: nothing looks complete, a new pull resumes and succeeds', async () => {
    const g = await gateway({ throttleBytesPerSec: 400_000 });
    const dir = join(tmp, 'crash');
    const ref = `${g.host}/berth/app:1`;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'pull-child.ts'), dir, ref, g.host],
      { stdio: ['ignore', 'pipe', 'pipe'], cwd: join(import.meta.dirname, '../..') },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const exited = new Promise((r) => child.once('exit', r));
    try {
      // Wait until the big layer is partly downloaded, then kill -9.
      const deadline = Date.now() + 30_000;
      while (!/download \w+ [0-9]{6,}/.test(out)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`child: ${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      child.kill('SIGKILL');
      await exited;
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    const store = newStore('crash', [g.host]);
    expect(await store.list()).toEqual([]);
    const ingests = readdirSync(store.blobs.ingestDir);
    expect(ingests.length).toBeGreaterThan(0);
    for (const d of store.blobs.list()) expect(sha256(store.blobs.read(d))).toBe(d);
    for (const d of store.layers.list())
      expect(existsSync(join(store.layers.dir, d.slice(7), 'meta.json'))).toBe(true);
    expect(readdirSync(store.layers.dir).filter((f) => f.startsWith('.tmp-'))).toEqual([]);
    g.log.length = 0;
    const rec = await store.pull(ref);
    expect(readFileSync(join(store.layers.path(rec.layers[1]!.diffId), 'srv/big.bin')).equals(big)).toBe(
      true,
    );
    expect(g.log.some((l) => l.range?.startsWith('bytes='))).toBe(true);
    expect(readdirSync(store.blobs.ingestDir)).toEqual([]);
  });
});
