// Root: the real bundled berthd with the real runtime places containers in cgroups made ahead
// of time (a flat pool per parent, real.ts) and yet at <parent>/<id> in every hierarchy of this
// host (a restarted one in a fresh ready cgroup under the same parent, its old one gone): a
// restart (a second start), a group, a live limit update, kill -9 of berthd with its ready
// slots left behind, and delete, with nothing of ours left at the end.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { ContainerInfo } from '@berth/contracts';
import { detectHostCgroupLayout } from '@berth/runtime/cgroup';
import { removeTestTree } from '@berth/runtime/testing/cgroup';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type BerthdProcess, startBerthd } from '../../test/berthd-process.ts';
import { type AgentClient, createAgentClient } from '../client/index.ts';

const TAG = `berth-test-cells-${randomBytes(3).toString('hex')}`;
const PARENT = `/${TAG}`;
const ROOT = '/sys/fs/cgroup';
let dir: string;
let berthd: BerthdProcess | undefined;
let client: AgentClient;

const args = () => ({
  socketPath: join(dir, 'berthd.sock'),
  stateDir: join(dir, 'state'),
  socketGroup: '0',
  extraArgs: ['--config', join(dir, 'agent.json')],
});
async function start(): Promise<void> {
  berthd = await startBerthd(args());
  client = createAgentClient({ socketPath: args().socketPath });
}

beforeAll(async () => {
  dir = mkdtempSync(`/tmp/${TAG}-`);
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'agent.json'), JSON.stringify({ cgroupParent: PARENT }));
  await start();
}, 120_000);
afterAll(async () => {
  try {
    await berthd?.stop();
  } finally {
    // Whatever a failed test left: its processes and cgroups, the container roots, the dir.
    const left = removeTestTree(detectHostCgroupLayout(), PARENT);
    const mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(`${dir}/`))
      .reverse();
    for (const m of mounts) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
    expect(left).toEqual([]);
  }
}, 120_000);

/** The hierarchies of this host: v1 controllers, named ones (systemd) and the unified one. */
const hierarchies = readdirSync(ROOT).filter((h) => existsSync(join(ROOT, h, 'cgroup.procs')));
const membership = (pid: number) => readFileSync(`/proc/${pid}/cgroup`, 'utf8');
/** init sits in `path` in every hierarchy it is in, named and unified ones included. */
function expectIn(pid: number, path: string): void {
  const lines = membership(pid).trim().split('\n');
  expect(lines.length).toBeGreaterThan(1);
  for (const l of lines) expect(l.slice(l.indexOf(':', l.indexOf(':') + 1) + 1)).toBe(path);
  expect(membership(pid)).toMatch(/:name=systemd:/);
  expect(membership(pid)).toMatch(/^0::/m);
}
/** Where init sits (the pids hierarchy's path; expectIn checks the others agree). */
const cgroupOf = (pid: number) => /:pids:(.*)/.exec(membership(pid))![1]!;
/** Sub-directories of `path` named like container ids, in any hierarchy. */
function idDirs(path: string): string[] {
  const names = hierarchies.flatMap((h) =>
    existsSync(join(ROOT, h, path))
      ? readdirSync(join(ROOT, h, path), { withFileTypes: true })
          .filter((e) => e.isDirectory() && /^[0-9a-f]{12}$/.test(e.name))
          .map((e) => e.name)
      : [],
  );
  return [...new Set(names)].sort();
}
const everywhere = (path: string) => hierarchies.filter((h) => existsSync(join(ROOT, h, path)));
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const create = (name: string, extra: Record<string, unknown> = {}) =>
  client.container.create.mutate({
    config: { name, image: 'busybox', command: ['sleep', '1000'], network: 'none', ...extra },
    start: true,
    actor: 'test',
  } as never) as Promise<ContainerInfo>;
const inspect = (name: string) => client.container.inspect.query({ name }) as Promise<ContainerInfo>;

it('starts containers in ready cgroups named by their id, limits written, also after a restart and live updates', async () => {
  const a = await create('a', { limits: { memoryBytes: 64 << 20, pids: 50 } });
  expectIn(a.pid!, `${PARENT}/${a.id}`);
  expect(readFileSync(join(ROOT, 'pids', PARENT, a.id, 'pids.max'), 'utf8').trim()).toBe('50');
  // The pool refills: ready slots beside the container, with its limits written ahead.
  await until('ready slots', () => idDirs(PARENT).length >= 2);
  const b = await create('b', { limits: { memoryBytes: 64 << 20, pids: 50 } });
  expect(idDirs(PARENT)).toContain(b.id);
  expectIn(b.pid!, `${PARENT}/${b.id}`);
  expect(readFileSync(join(ROOT, 'memory', PARENT, b.id, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(
    String(64 << 20),
  );

  // Live limits reach the pooled cgroup.
  await client.container.limits.mutate({ name: 'b', limits: { pids: 70 }, actor: 'test' } as never);
  expect(readFileSync(join(ROOT, 'pids', PARENT, b.id, 'pids.max'), 'utf8').trim()).toBe('70');

  // A second start: a new instance, in a ready cgroup of its own under the same parent (not
  // the old one made again), with the limits as they are now; the old one goes.
  await client.container.stop.mutate({ name: 'b', timeoutSec: 0, actor: 'test' } as never);
  await client.container.start.mutate({ name: 'b', actor: 'test' } as never);
  const b2 = await inspect('b');
  expect(b2.pid).not.toBe(b.pid);
  const b2Path = cgroupOf(b2.pid!);
  expect(b2Path).toMatch(new RegExp(`^${PARENT}/[0-9a-f]{12}$`));
  expect(b2Path).not.toBe(`${PARENT}/${b.id}`);
  expectIn(b2.pid!, b2Path);
  expect(readFileSync(join(ROOT, 'pids', b2Path, 'pids.max'), 'utf8').trim()).toBe('70');
  await until("the old instance's cgroup removed", () => everywhere(`${PARENT}/${b.id}`).length === 0);

  // Delete leaves nothing of the container in any hierarchy.
  await client.container.delete.mutate({ name: 'b', force: true, actor: 'test' } as never);
  expect(everywhere(b2Path)).toEqual([]);
}, 120_000);

it('gives a group its own ready cgroups, and the group goes once its containers have', async () => {
  await client.group.create.mutate({ name: 'team', limits: { pids: 200 }, actor: 'test' } as never);
  const g1 = await create('g1', { group: 'team' });
  const groupPath = `${PARENT}/g.team`;
  expectIn(g1.pid!, `${groupPath}/${g1.id}`);
  await until('ready slots in the group', () => idDirs(groupPath).length >= 2);
  const g2 = await create('g2', { group: 'team' });
  expectIn(g2.pid!, `${groupPath}/${g2.id}`);
  for (const n of ['g1', 'g2'])
    await client.container.delete.mutate({ name: n, force: true, actor: 'test' } as never);
  await client.group.delete.mutate({ name: 'team', actor: 'test' } as never);
  expect(everywhere(groupPath)).toEqual([]);
}, 120_000);

it('after kill -9 of berthd, adopts its containers and removes the slots it had ready', async () => {
  const a = await inspect('a');
  await until('ready slots', () => idDirs(PARENT).length >= 3);
  const before = idDirs(PARENT);
  berthd!.child.kill('SIGKILL');
  await berthd!.exited;
  await start();
  expect((await inspect('a')).state).toBe('running');
  expectIn(a.pid!, `${PARENT}/${a.id}`);
  // The dead berthd's ready slots are gone (their cells went with its spawner); the
  // container's cgroup stays.
  await until('stray slots removed', () => idDirs(PARENT).join() === a.id);
  expect(before.length).toBeGreaterThan(1);

  await client.container.delete.mutate({ name: 'a', force: true, actor: 'test' } as never);
  expect(everywhere(`${PARENT}/${a.id}`)).toEqual([]);
  // A stopped berthd leaves none of its ready cgroups behind either.
  await create('c');
  await until('ready slots', () => idDirs(PARENT).length >= 2);
  await client.container.delete.mutate({ name: 'c', force: true, actor: 'test' } as never);
  await berthd!.stop();
  berthd = undefined;
  expect(idDirs(PARENT)).toEqual([]);
}, 180_000);

it("after kill -9 of berthd during a restart's removal of the old cgroup, removes that leftover and nothing in use", async () => {
  await berthd?.stop(); // (when run alone: the one beforeAll started)
  await start();
  const r = await create('r');
  const s = await create('s');
  await client.container.stop.mutate({ name: 'r', timeoutSec: 0, actor: 'test' } as never);
  await client.container.start.mutate({ name: 'r', actor: 'test' } as never);
  const r2 = await inspect('r');
  const r2Path = cgroupOf(r2.pid!);
  expect(r2Path).not.toBe(`${PARENT}/${r.id}`);
  await until("the old instance's cgroup removed", () => everywhere(`${PARENT}/${r.id}`).length === 0);
  // What a berthd killed in the middle of that removal leaves: the old cgroup, empty, in the
  // hierarchies not yet done (here every one of them).
  for (const h of hierarchies) spawnSync('mkdir', [join(ROOT, h, PARENT, r.id)]);
  expect(everywhere(`${PARENT}/${r.id}`)).toEqual(hierarchies);
  // A stopped container's cgroup is where the runtime records its instance: it stays.
  await client.container.stop.mutate({ name: 's', timeoutSec: 0, actor: 'test' } as never);
  const sHeld = everywhere(`${PARENT}/${s.id}`);
  expect(sHeld.length).toBeGreaterThan(1);

  berthd!.child.kill('SIGKILL');
  await berthd!.exited;
  await start();
  await until('the leftover removed', () => everywhere(`${PARENT}/${r.id}`).length === 0);
  // The running instance, in its own cgroup, untouched; the stopped one's cgroup kept.
  expect((await inspect('r')).state).toBe('running');
  expectIn(r2.pid!, r2Path);
  expect(everywhere(`${PARENT}/${s.id}`)).toEqual(sHeld);

  for (const n of ['r', 's'])
    await client.container.delete.mutate({ name: n, force: true, actor: 'test' } as never);
  expect(everywhere(r2Path)).toEqual([]);
  expect(everywhere(`${PARENT}/${s.id}`)).toEqual([]);
  await berthd!.stop();
  berthd = undefined;
  expect(idDirs(PARENT)).toEqual([]);
}, 180_000);
