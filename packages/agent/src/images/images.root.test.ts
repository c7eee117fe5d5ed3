// Root: berthd (the real bundle) pulls from Debian's docker-registry on loopback, unpacks
// layers with their owners, and mounts a container root to prove an image in use cannot be
// removed. The registry and its images come from the image library's test harness.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageProgressEvent } from '@berth/contracts';
import { type Digest, ImageStore } from '@berth/runtime/image';
import { buildImage, push, startRegistry, type TestRegistry } from '@berth/runtime/testing/registry';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type BerthdProcess, startBerthd } from '../../test/berthd-process.ts';
import { type AgentClient, createAgentClient } from '../client/index.ts';

let dir: string;
let registry: TestRegistry;
let privateRegistry: TestRegistry;
let berthd: BerthdProcess;
let client: AgentClient;
const auth = { username: 'berth', password: 'berth-test-secret' };

beforeAll(async () => {
  dir = mkdtempSync('/tmp/berth-test-images-');
  chmodSync(dir, 0o755);
  registry = await startRegistry(join(dir, 'registry'));
  privateRegistry = await startRegistry(join(dir, 'private'), auth);
  const img = buildImage(
    join(dir, 'layout'),
    'v1',
    { 'srv/hello.txt': 'hello from berth\n' },
    { scratch: join(dir, 'scratch') },
  );
  push(img, `${registry.host}/test/hello:v1`);
  push(img, `${privateRegistry.host}/team/hello:v1`, { creds: `${auth.username}:${auth.password}` });
  berthd = await startBerthd({
    socketPath: join(dir, 'berthd.sock'),
    stateDir: join(dir, 'state'),
    socketGroup: '0',
    extraArgs: ['--insecure-registry', `${registry.host},${privateRegistry.host}`],
  });
  client = createAgentClient({ socketPath: join(dir, 'berthd.sock') });
}, 120_000);

afterAll(async () => {
  await berthd?.stop();
  await registry?.stop();
  await privateRegistry?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function pull(reference: string): Promise<ImageProgressEvent[]> {
  return new Promise((resolve, reject) => {
    const events: ImageProgressEvent[] = [];
    const sub = client.image.pull.subscribe(
      { reference, actor: 'test' },
      {
        onData(e) {
          events.push(e);
          if (e.type === 'done' || e.type === 'error') {
            sub.unsubscribe();
            resolve(events);
          }
        },
        onError: reject,
      },
    );
  });
}

it('pulls through berthd with per-layer progress, then lists and inspects the image', async () => {
  const events = await pull(`${registry.host}/test/hello:v1`);
  const resolved = events.find((e) => e.type === 'resolved');
  expect(resolved?.type === 'resolved' && resolved.layers.length).toBeGreaterThan(0);
  const layerDone = events.filter((e) => e.type === 'layer' && e.phase === 'done');
  expect(layerDone.length).toBe(resolved?.type === 'resolved' ? resolved.layers.length : -1);
  const last = events.at(-1)!;
  expect(last.type).toBe('done');
  if (last.type !== 'done') return;
  expect(last.image.references).toEqual([`${registry.host}/test/hello:v1`]);
  expect(last.image.source).toBe('registry');
  expect(last.image.config.workingDir).toBe('/srv');

  const list = await client.image.list.query();
  expect(list.map((i) => i.digest)).toContain(last.image.digest);
  expect(list.map((i) => i.references[0])).toContain('berth.local/minimal:latest');
  const byDigest = await client.image.inspect.query({ image: last.image.digest });
  expect(byDigest.references).toEqual(last.image.references);
});

it('reports a failed pull as an error event in plain words', async () => {
  const missing = await pull(`${registry.host}/test/nothere:v1`);
  expect(missing.at(-1)).toMatchObject({ type: 'error', code: 'NOT_FOUND' });
  const denied = await pull(`${privateRegistry.host}/team/hello:v1`);
  expect(denied.at(-1)).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
});

it('pulls from a private registry with stored basic-auth credentials', async () => {
  await client.image.login.mutate({ registry: privateRegistry.host, ...auth, actor: 'test' });
  const events = await pull(`${privateRegistry.host}/team/hello:v1`);
  expect(events.at(-1)?.type).toBe('done');
  await client.image.logout.mutate({ registry: privateRegistry.host, actor: 'test' });
});

it('refuses to remove an image a container root uses, and removes it once the root is gone', async () => {
  const ref = `${registry.host}/test/hello:v1`;
  const image = await client.image.inspect.query({ image: ref });
  // A container's root, made the way the container service makes it (same store on disk).
  const store = new ImageStore(join(dir, 'state', 'images'));
  const id = 'berth-test-user1';
  await store.roots.create({
    id,
    layers: image.layers.map((l) => l.diffId as Digest),
    image: image.digest as Digest,
  });
  try {
    expect((await client.image.inspect.query({ image: ref })).usedBy).toEqual([id]);
    await expect(client.image.remove.mutate({ image: ref, actor: 'test' })).rejects.toThrow(
      `image ${ref} is used by container ${id}; remove it first`,
    );
    // Garbage collection keeps the layers the root uses.
    await client.image.prune.mutate({ actor: 'test' });
    expect(image.layers.every((l) => store.layers.has(l.diffId as Digest))).toBe(true);
  } finally {
    await store.roots.remove(id);
  }
  // By tag: the tag goes, the image stays (the private registry's reference still names it).
  expect(await client.image.remove.mutate({ image: ref, actor: 'test' })).toEqual({ untagged: [ref] });
  // By digest: the image and all its references.
  const removed = await client.image.remove.mutate({ image: image.digest, actor: 'test' });
  expect(removed).toEqual({ untagged: [`${privateRegistry.host}/team/hello:v1`], deleted: image.digest });
  const pruned = await client.image.prune.mutate({ actor: 'test' });
  expect(pruned.layers.length).toBeGreaterThan(0);
  expect(image.layers.some((l) => store.layers.has(l.diffId as Digest))).toBe(false);
});

it('builds Debian images only from the configured mirror, and refuses a bad suite naming the field', async () => {
  const foreign = await new Promise<ImageProgressEvent[]>((resolve, reject) => {
    const got: ImageProgressEvent[] = [];
    const sub = client.image.buildDebian.subscribe(
      { suite: 'bookworm', mirror: 'http://127.0.0.1:9/debian', actor: 'test' },
      {
        onData(e) {
          got.push(e);
          if (e.type === 'error' || e.type === 'done') {
            sub.unsubscribe();
            resolve(got);
          }
        },
        onError: reject,
      },
    );
  });
  expect(foreign).toEqual([
    {
      type: 'error',
      code: 'FORBIDDEN',
      message: 'mirror: this agent builds only from its configured mirror http://deb.debian.org/debian',
    },
  ]);
  const bad = await new Promise<unknown>((resolve) => {
    client.image.buildDebian.subscribe(
      { suite: '../etc', actor: 'test' },
      { onData: () => resolve(new Error('expected a refusal')), onError: resolve },
    );
  });
  expect(String((bad as Error).message)).toBe('invalid suite: is not a Debian suite name');
});

it('refuses bad input naming the field, and changes nothing', async () => {
  const before = await client.image.list.query();
  await expect(client.image.inspect.query({ image: 'has space' })).rejects.toThrow(
    'invalid image: must not contain spaces or control characters',
  );
  await expect(client.image.remove.mutate({ image: 'x'.repeat(600), actor: 't' })).rejects.toThrow(
    'invalid image: must be at most 512 characters',
  );
  await expect(
    client.image.login.mutate({ registry: 'bad/host', username: 'u', password: 'p', actor: 't' }),
  ).rejects.toThrow('invalid registry');
  await expect(client.image.remove.mutate({ image: 'nothere:1', actor: 't' })).rejects.toThrow(
    'image: no image "nothere:1" in the store',
  );
  expect(await client.image.list.query()).toEqual(before);
});
