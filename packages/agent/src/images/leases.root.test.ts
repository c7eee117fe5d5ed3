// Root (the real bundled berthd, container roots mounted on the host, cgroups): berthd writes a
// container root's lease without flushing it (its record says the same, committed before the
// root is made), so at start it restores a lease a power loss emptied from the record, and
// removes such a root that no record names. The power loss is played by emptying the files a
// lost flush leaves empty, with berthd stopped and the root unmounted (as after a reboot).
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { detectHostCgroupLayout } from '@berth/runtime/cgroup';
import { removeTestTree } from '@berth/runtime/testing/cgroup';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type BerthdProcess, startBerthd } from '../../test/berthd-process.ts';
import { type AgentClient, createAgentClient } from '../client/index.ts';

const TAG = `berth-test-leases-${process.pid}`;
let dir: string;
let berthd: BerthdProcess | undefined;
let client: AgentClient;
const args = () => ({
  socketPath: join(dir, 'berthd.sock'),
  stateDir: join(dir, 'state'),
  socketGroup: '0',
  extraArgs: ['--config', join(dir, 'agent.json')],
});

beforeAll(async () => {
  dir = mkdtempSync(`/tmp/${TAG}-`);
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'agent.json'), JSON.stringify({ cgroupParent: `/${TAG}` }));
  berthd = await startBerthd(args());
  client = createAgentClient({ socketPath: args().socketPath });
}, 120_000);

afterAll(async () => {
  try {
    for (const c of await client.container.list.query().catch(() => []))
      await client.container.delete.mutate({ name: c.name, force: true, actor: 'test' }).catch(() => {});
    await berthd?.stop();
  } finally {
    unmountUnder(dir);
    removeTestTree(detectHostCgroupLayout(), `/${TAG}`);
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);

/** Lazily unmounts what this test mounted under `under` (deepest first). */
function unmountUnder(under: string): void {
  const points = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => under && m.startsWith(`${under}/`))
    .sort()
    .reverse();
  for (const m of points) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('restores a root lease a power loss emptied from the container record, and removes a root no record names', async () => {
  const { id } = await client.container.create.mutate({
    config: { name: 'kept', image: 'busybox', command: ['sh', '-c', 'test -x /bin/busybox && exit 7'] },
    start: true,
    actor: 'test',
  });
  await until(
    'the first run',
    async () => (await client.container.inspect.query({ name: 'kept' })).state === 'stopped',
  );
  const roots = join(args().stateDir, 'images', 'roots');
  const lease = join(roots, id, 'lease.json');
  const before = JSON.parse(readFileSync(lease, 'utf8')) as { layers: string[]; idmap?: unknown };
  expect(before.layers.length).toBeGreaterThan(0);
  expect(before.idmap).toBeDefined();
  await berthd!.stop();
  berthd = undefined;

  // The power loss: nothing mounted any more, the lease's bytes lost; and the root of a create
  // whose record the loss took too.
  unmountUnder(join(roots, id));
  writeFileSync(lease, '');
  const orphan = join(roots, 'abcdef012345');
  for (const d of ['rootfs', 'upper', 'work']) mkdirSync(join(orphan, d), { recursive: true });
  writeFileSync(join(orphan, 'lease.json'), '');

  berthd = await startBerthd(args());
  expect(berthd.stderr()).toContain(`root leases restored: ${id}`);
  expect(berthd.stderr()).toContain('roots of no container removed: abcdef012345');
  expect(existsSync(orphan)).toBe(false);
  expect(JSON.parse(readFileSync(lease, 'utf8'))).toMatchObject({
    id,
    layers: before.layers,
    idmap: before.idmap,
    mode: 'overlay',
  });
  // The container runs again on its root (mounted from the restored lease), and pruning images
  // keeps its image and layers.
  await client.image.prune.mutate({ dangling: true, actor: 'test' });
  await client.container.start.mutate({ name: 'kept', actor: 'test' });
  await until('the second run', async () => {
    const c = await client.container.inspect.query({ name: 'kept' });
    return c.state === 'stopped';
  });
  expect((await client.container.inspect.query({ name: 'kept' })).exitCode).toBe(7);
  await client.container.delete.mutate({ name: 'kept', actor: 'test' });
  expect(readdirSync(roots)).toEqual([]);
}, 120_000);
