// Needs root and the real kernel: a pool of container cgroups under /berth-test-<random>/pool
// in every hierarchy of this host, containers started in them through the library (the way
// berthd starts them), and the removal of everything the pool made, also what a crashed owner
// left behind.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { detectHostCgroupLayout } from '../src/cgroup/detect.ts';
import { createCgroupManager, hostCgroupFs, openCgroupPool, recordingCgroupFs } from '../src/cgroup/index.ts';
import { CgroupPool } from '../src/cgroup/pool.ts';
import { mountsOf, removeTestTree, spawnInCgroup, testParent, waitUntil } from '../src/cgroup/testing.ts';
import { Runtime } from '../src/container/runtime.ts';
import { Spawner } from '../src/container/spawner.ts';
import { parentPid, processStart } from '../src/container/state.ts';
import type { OciConfig } from '../src/spec/config.ts';
import type { Plan } from '../src/spec/plan.ts';
import { busyboxRootfs, makeBundle, removeScratch, scratch } from './fixtures.ts';

const layout = detectHostCgroupLayout();
let parent: string;
let base: string;
const pools: CgroupPool[] = [];
const spawners: Spawner[] = [];

beforeEach(() => {
  parent = testParent();
  base = scratch();
});
afterEach(async () => {
  for (const p of pools.splice(0)) await p.close();
  for (const s of spawners.splice(0)) s.close();
  removeScratch(base);
  expect(removeTestTree(layout, parent)).toEqual([]);
});

const dirsIn = (path: string) => mountsOf(layout).filter((m) => existsSync(join(m, path)));
/** A runtime on a fresh spawner and pool (warm cells or not), all closed after the test. */
async function pooledRuntime(size: number, cells: boolean) {
  const spawner = new Spawner();
  spawners.push(spawner);
  const pool = await openCgroupPool({ parent: `${parent}/pool`, size, ...(cells ? { cells: spawner } : {}) });
  pools.push(pool);
  return { spawner, pool, rt: new Runtime({ root: join(base, 'state'), spawner, cgroupPool: pool }) };
}

/** A bundle without cgroupsPath (so: a pooled cgroup) and with a pids limit. */
function pooledBundle(name: string, args: string[], edit?: (c: OciConfig) => void): string {
  return makeBundle(base, name, busyboxRootfs(base), (c) => {
    c.linux!.cgroupsPath = undefined;
    c.linux!.resources = { ...c.linux!.resources, pids: { limit: 40 } };
    c.process!.args = args;
    edit?.(c);
  });
}

/** init is in `path` in every hierarchy (named ones included) and the limit is there. */
function expectInside(pid: number, path: string): void {
  const membership = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  for (const c of ['memory', 'pids', 'cpu', 'devices', 'name=systemd'])
    expect(membership).toMatch(new RegExp(`:${c}:${path}\\n`));
  expect(membership).toMatch(new RegExp(`^0::${path}$`, 'm'));
  expect(pidsMax(path)).toBe('40');
}

const pidsMax = (path: string) => readFileSync(join(layout.v1.pids!, path, 'pids.max'), 'utf8').trim();

test('a pool hands out cgroups with the limits asked for, pre-writes the next ones and removes what it made', async () => {
  const fs = recordingCgroupFs((await import('../src/cgroup/fs.ts')).hostCgroupFs({ maxOpenFiles: 0 }));
  const pool = await openCgroupPool({
    parent: `${parent}/pool`,
    size: 2,
    fs,
    manager: (path) => createCgroupManager({ path, layout, fs }),
  });
  pools.push(pool);
  expect(pool.dir).toMatch(new RegExp(`^${parent}/pool/${process.pid}-\\d+$`));
  await waitUntil('two ready', () => pool.readyCount === 2);

  const a = await pool.take({ pids: { limit: 64 } });
  expect(a.path.startsWith(`${pool.dir}/`)).toBe(true);
  expect(pidsMax(a.path)).toBe('64');
  // In every hierarchy, the named ones (name=systemd) included.
  expect(dirsIn(a.path)).toEqual(mountsOf(layout));
  expect(a.procsFiles).toHaveLength(mountsOf(layout).length);

  // The refill writes the same limits ahead of time: the next take of that shape writes nothing.
  await waitUntil('refilled with the new shape', () => pool.readyFor({ pids: { limit: 64 } }).shape === 2);
  await new Promise((r) => setTimeout(r, 50));
  fs.writes.length = 0;
  const b = await pool.take({ pids: { limit: 64 } });
  expect(fs.writes).toEqual([]);
  expect(pidsMax(b.path)).toBe('64');

  // An impossible limit is refused naming the field, and the slot is not handed out.
  await expect(pool.take({ pids: { limit: -5 } })).rejects.toThrow(/pids\.limit/);

  // A second shape asked for gets its own slots, beside the first's.
  const c = await pool.take({ pids: { limit: 65 } });
  expect(pidsMax(c.path)).toBe('65');
  await waitUntil(
    'both shapes ready',
    () =>
      pool.readyFor({ pids: { limit: 64 } }).shape === 2 &&
      pool.readyFor({ pids: { limit: 65 } }).shape === 2,
  );

  pool.release(a.path);
  pool.release(b.path);
  pool.release(c.path);
  await pool.close();
  pools.length = 0;
  expect(dirsIn(`${parent}/pool`).length).toBeGreaterThan(0); // the parent stays, empty
  expect(mountsOf(layout).flatMap((m) => (existsSync(join(m, pool.dir)) ? [m] : []))).toEqual([]);
});

test('open() removes the empty cgroups a dead owner left, and keeps one a container still runs in', async () => {
  const stale = `${parent}/pool/999999999-1`;
  const empty = createCgroupManager({ path: `${stale}/x1`, layout });
  const busy = createCgroupManager({ path: `${stale}/x2`, layout });
  await empty.create();
  await busy.create();
  const child = spawnInCgroup(busy.procsFiles(), 'sleep 30');
  try {
    await waitUntil('child inside', () => readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim() === 'sleep');
    // A directory that is not a pool's (no owner in its name) is not the pool's to touch.
    const other = createCgroupManager({ path: `${parent}/pool/not-a-pool`, layout });
    await other.create();
    const pool = await openCgroupPool({ parent: `${parent}/pool`, size: 0 });
    pools.push(pool);
    expect(dirsIn(`${stale}/x1`)).toEqual([]);
    expect(dirsIn(`${stale}/x2`).length).toBeGreaterThan(0);
    expect(dirsIn(`${parent}/pool/not-a-pool`).length).toBeGreaterThan(0);
    // That container ends and is deleted by the new owner: the old pool goes with it.
    child.kill('SIGKILL');
    await waitUntil(
      'child gone',
      () => !existsSync(`/proc/${child.pid}/stat`) || child.exitCode !== null || child.signalCode !== null,
    );
    pool.release(`${stale}/x2`);
    await pool.close();
    expect(dirsIn(stale)).toEqual([]);
  } finally {
    child.kill('SIGKILL');
  }
});

test('containers without cgroupsPath start in a pooled cgroup with their limits; delete hands it back', async () => {
  const { pool, rt } = await pooledRuntime(1, false);
  const bundle = pooledBundle('b', ['sleep', '30']);
  const id = 'berth-test-pool-1';
  const { pid } = await rt.create(id, { bundle, stdio: 'ignore' });
  const rec = JSON.parse(readFileSync(join(base, 'state', id, 'state.json'), 'utf8'));
  expect(rec.cgroupPooled).toBe(true);
  expect(rec.cgroupPath.startsWith(`${pool.dir}/`)).toBe(true);
  // init is inside before it runs its command, with the limits.
  expectInside(pid, rec.cgroupPath);
  await rt.start(id);
  expect(await rt.ps(id)).toEqual([pid]);
  await rt.delete(id, true);
  await pool.close(); // waits for the removal in the background
  expect(dirsIn(rec.cgroupPath)).toEqual([]);
});

test('state.json is written before the helper is asked to make the container, and a record without its pid (its maker killed meanwhile) is killed and removed through its cgroup', async () => {
  const { spawner, pool, rt } = await pooledRuntime(1, true);
  const id = 'berth-test-pool-crash';
  const stateFile = join(base, 'state', id, 'state.json');
  const seen: boolean[] = [];
  const spawn = spawner.spawn.bind(spawner);
  spawner.spawn = (plan) => {
    seen.push(existsSync(stateFile));
    return spawn(plan);
  };
  const { pid } = await rt.create(id, {
    bundle: pooledBundle('crash', ['sleep', '600']),
    autostart: true,
    confirmStart: true,
  });
  expect(seen).toEqual([true]);
  // What a caller killed between the spawn and the pid's record leaves: the first record.
  const rec = JSON.parse(readFileSync(stateFile, 'utf8'));
  for (const k of ['pid', 'pidStart', 'monitorPid', 'monitorStart', 'started']) delete rec[k];
  writeFileSync(stateFile, JSON.stringify(rec));
  expect(rt.state(id).status).toBe('creating');
  await rt.delete(id, true);
  await pool.close(); // waits for the slot's removal (which kills what is in it)
  await waitUntil('init killed', () => !existsSync(`/proc/${pid}`));
  expect(existsSync(join(base, 'state', id))).toBe(false);
  expect(dirsIn(rec.cgroupPath)).toEqual([]);
});

test('with warm cells, init is born in its pooled cgroups (nothing written to cgroup.procs) and runs to its exit', async () => {
  const { spawner, pool, rt } = await pooledRuntime(2, true);
  const bundle = pooledBundle('cell', ['sleep', '30']);
  const exit3 = pooledBundle('cell-exit', ['sh', '-c', 'exit 3']);
  const plans: Plan[] = [];
  const spawn = spawner.spawn.bind(spawner);
  spawner.spawn = (plan) => {
    plans.push(plan);
    return spawn(plan);
  };
  // The first container teaches the pool its limits; the slots made after it hold cells.
  expect(await rt.run('berth-test-cell-0', { bundle: exit3 })).toEqual({ code: 3, signal: 0 });
  await waitUntil('cells ready', () => pool.readyFor().withCell === 2);
  const { pid } = await rt.create('berth-test-cell-1', { bundle, stdio: 'ignore' });
  const rec = JSON.parse(readFileSync(join(base, 'state', 'berth-test-cell-1', 'state.json'), 'utf8'));
  expectInside(pid, rec.cgroupPath);
  // init is the monitor's child, and alone in its cgroup (the resident has exited).
  expect(rec.monitorPid).toBeGreaterThan(0);
  await rt.start('berth-test-cell-1');
  await waitUntil(
    'resident gone',
    () => readFileSync(join(layout.v1.pids!, rec.cgroupPath, 'cgroup.procs'), 'utf8').trim() === String(pid),
  );
  await rt.delete('berth-test-cell-1', true);

  expect(plans.at(-1)!.cell).toMatch(/^c\d+$/);
  // Run to the exit code, one after another and at once.
  for (let i = 0; i < 3; i++)
    expect(await rt.run(`berth-test-cell-r${i}`, { bundle: exit3 })).toEqual({ code: 3, signal: 0 });
  const many = await Promise.all([3, 4, 5].map((i) => rt.run(`berth-test-cell-r${i}`, { bundle: exit3 })));
  expect(many.map((r) => r.code)).toEqual([3, 3, 3]);
  expect(plans.filter((p) => p.cell).length).toBeGreaterThanOrEqual(2);

  // A failure inside the cell comes back as an error and leaves nothing.
  const bad = pooledBundle('cell-bad', ['true'], (c) => {
    c.mounts!.push({ destination: '/mnt', type: 'no-such-fs', source: 'none' });
  });
  await waitUntil('cells ready', () => pool.readyFor().withCell === 2);
  await expect(rt.run('berth-test-cell-bad', { bundle: bad })).rejects.toThrow(/no-such-fs/);
  expect(existsSync(join(base, 'state', 'berth-test-cell-bad'))).toBe(false);
  expect(rt.list()).toEqual([]);
});

test('a discarded warm cell lets its resident and monitor go', async () => {
  const spawner = new Spawner();
  spawners.push(spawner);
  const cg = createCgroupManager({ path: `${parent}/cell`, layout });
  await cg.create();
  const id = await spawner.prepareCell(cg.procsFiles());
  const [resident] = await cg.pids();
  expect(resident).toBeGreaterThan(0);
  const monitor = Number(readFileSync(`/proc/${resident}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
  spawner.discardCell(id);
  await waitUntil('resident gone', () => !existsSync(`/proc/${resident}`));
  await waitUntil('monitor gone', () => !existsSync(`/proc/${monitor}`));
  expect(await cg.pids()).toEqual([]);
  await cg.destroy();
});

test('releasing a slot whose cell was never used lets the cell go', async () => {
  const { pool } = await pooledRuntime(1, true);
  await pool.take({ pids: { limit: 50 } });
  await waitUntil('a cell ready', () => pool.readyFor().withCell === 1);
  const slot = await pool.take({ pids: { limit: 50 } });
  expect(slot.cell).toBeDefined();
  const procs = join(layout.v1.pids!, slot.path, 'cgroup.procs');
  const resident = Number(readFileSync(procs, 'utf8').trim());
  const monitor = Number(readFileSync(`/proc/${resident}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
  pool.release(slot.path);
  await waitUntil('resident gone', () => !existsSync(`/proc/${resident}`));
  await waitUntil('monitor gone', () => !existsSync(`/proc/${monitor}`));
});

test('once the spawner has exited, its cells are gone and the pool hands out slots without them', async () => {
  const { spawner, pool } = await pooledRuntime(1, true);
  await pool.take({ pids: { limit: 50 } });
  await waitUntil('a cell ready', () => pool.readyFor().withCell === 1);
  spawner.close();
  await waitUntil('spawner gone', () => !spawner.alive);
  const slot = await pool.take({ pids: { limit: 50 } });
  expect(slot.cell).toBeUndefined();
  // Its resident went with the spawner: nothing is left in the cgroup.
  await waitUntil(
    'resident gone',
    () => readFileSync(join(layout.v1.pids!, slot.path, 'cgroup.procs'), 'utf8') === '',
  );
  pool.release(slot);
});

test('a flat pool: slots named like ids under the parent, a container placed in its reserved one, the path made again after delete, strays removed', async () => {
  const spawner = new Spawner();
  spawners.push(spawner);
  const flatParent = `${parent}/flat`;
  const pool = await openCgroupPool({ parent: flatParent, flat: true, size: 1, cells: spawner });
  pools.push(pool);
  const rt = new Runtime({
    root: join(base, 'state'),
    spawner,
    cgroupPoolOf: (p) => (p === flatParent ? pool : undefined),
  });
  const inParent = (c: OciConfig, id: string) => {
    c.linux!.cgroupsPath = `${flatParent}/${id}`;
  };
  // The first container of a shape: its slot is made on demand (no cell), the refill learns it.
  const first = await pool.reserve();
  expect(first).toMatch(new RegExp(`^${flatParent}/[0-9a-f]{12}$`));
  const id1 = first.slice(flatParent.length + 1);
  const bundle1 = pooledBundle('f1', ['sleep', '30'], (c) => inParent(c, id1));
  const { pid: pid1 } = await rt.create(id1, { bundle: bundle1, stdio: 'ignore' });
  expectInside(pid1, first);
  expect(pool.isReserved(first)).toBe(false);
  // The start times came with the monitor's report: the same as /proc says.
  const rec1 = JSON.parse(readFileSync(join(base, 'state', id1, 'state.json'), 'utf8'));
  expect([rec1.pidStart, rec1.monitorPid, rec1.monitorStart]).toEqual([
    processStart(pid1),
    parentPid(pid1),
    processStart(parentPid(pid1)!),
  ]);

  // The next one is born in a ready slot with the limits written ahead.
  await waitUntil('a cell ready', () => pool.readyFor().withCell >= 1);
  const second = await pool.reserve();
  const id2 = second.slice(flatParent.length + 1);
  const { pid: pid2 } = await rt.create(id2, {
    bundle: pooledBundle('f2', ['sleep', '30'], (c) => inParent(c, id2)),
    stdio: 'ignore',
  });
  expectInside(pid2, second);
  expect(pool.counts.withCell).toBe(1);

  // Delete waits for the removal: the same path made again at once (a restart) is a fresh cgroup.
  await rt.delete(id1, true);
  expect(dirsIn(first)).toEqual([]);
  const again = await rt.create(id1, { bundle: bundle1, stdio: 'ignore' });
  expectInside(again.pid, first);
  await rt.delete(id1, true);
  expect(dirsIn(first)).toEqual([]);

  // A reservation given up goes; a path nobody reserved is made as usual.
  const unused = await pool.reserve();
  pool.unreserve(unused);
  await pool.removed(unused);
  expect(dirsIn(unused)).toEqual([]);

  // What a crashed owner left: empty id-named cgroups that no container claims go; a claimed
  // one, one with a process (a container) and one not named like an id stay.
  await pool.close();
  pools.length = 0;
  const made = ['0123456789ab', 'fedcba987654', 'not-a-slot'].map((n) =>
    createCgroupManager({ path: `${flatParent}/${n}`, layout }),
  );
  for (const m of made) await m.create();
  const removed = await CgroupPool.removeStraySlots(
    {
      parent: flatParent,
      layout,
      fs: hostCgroupFs(),
      manager: (path) => createCgroupManager({ path, layout }),
    },
    (name) => name === 'fedcba987654',
  );
  expect(removed).toEqual(['0123456789ab']);
  expect(dirsIn(`${flatParent}/0123456789ab`)).toEqual([]);
  expect(dirsIn(`${flatParent}/fedcba987654`).length).toBeGreaterThan(0);
  expect(dirsIn(`${flatParent}/not-a-slot`).length).toBeGreaterThan(0);
  expectInside(pid2, second);
  for (const m of made.slice(1)) await m.destroy();
  await rt.delete(id2, true);
  expect(dirsIn(second)).toEqual([]);
});
