// Needs root: the warm path (a long-lived berth-helper zygote) runs real containers.
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { detectHostCgroupLayout, openCgroupPool } from '../src/cgroup/index.ts';
import type { CgroupManager } from '../src/cgroup/manager.ts';
import { mountsOf, removeTestTree, testParent } from '../src/cgroup/testing.ts';
import { Runtime } from '../src/container/runtime.ts';
import { Spawner } from '../src/container/spawner.ts';
import { busyboxRootfs, deleteAll, makeBundle, removeScratch, scratch } from './fixtures.ts';

let base: string;
let spawner: Spawner;
let rt: Runtime;
beforeAll(() => {
  base = scratch();
  chmodSync(base, 0o755); // container root in a user namespace must reach the rootfs
  spawner = new Spawner();
  rt = new Runtime({ root: join(base, 'state'), cgroups: false, spawner });
});
afterAll(async () => {
  await deleteAll(rt);
  spawner.close();
  removeScratch(base);
});

test('containers started through the spawner run to their exit code, one after another and at once', async () => {
  const rootfs = busyboxRootfs(base);
  const bundle = makeBundle(base, 'warm', rootfs, (c) => {
    c.process!.args = ['sh', '-c', 'exit $(hostname | wc -c)'];
  });
  for (let i = 0; i < 3; i++)
    expect(await rt.run(`berth-test-warm-${i}`, { bundle })).toEqual({ code: 6, signal: 0 });
  const many = await Promise.all([3, 4, 5, 6].map((i) => rt.run(`berth-test-warm-${i}`, { bundle })));
  expect(many.every((r) => r.code === 6)).toBe(true);
  expect(rt.list()).toEqual([]);
});

test('a failure inside the helper comes back as an error and leaves nothing', async () => {
  const bundle = makeBundle(base, 'warm-bad', busyboxRootfs(base), (c) => {
    c.mounts!.push({ destination: '/mnt', type: 'no-such-fs', source: 'none' });
  });
  await expect(rt.run('berth-test-warm-bad', { bundle })).rejects.toThrow(/no-such-fs/);
  expect(existsSync(join(base, 'state', 'berth-test-warm-bad'))).toBe(false);
  const missing = makeBundle(base, 'warm-missing', busyboxRootfs(base), (c) => {
    c.process!.args = ['/nope'];
  });
  await expect(rt.run('berth-test-warm-missing', { bundle: missing })).rejects.toThrow(/exec \/nope/);
  expect(existsSync(join(base, 'state', 'berth-test-warm-missing'))).toBe(false);
});

test("a user-namespaced container's output goes to files only root can reach (opened by its monitor)", async () => {
  const bundle = makeBundle(base, 'warm-userns', busyboxRootfs(base), (c) => {
    c.process!.args = ['sh', '-c', 'echo out $(id -u); echo err >&2'];
    c.linux!.namespaces!.push({ type: 'user' });
    c.linux!.uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
    c.linux!.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
    const devpts = c.mounts!.find((m) => m.destination === '/dev/pts')!;
    devpts.options = devpts.options!.filter((o) => !o.startsWith('gid='));
  });
  const logs = join(base, 'private');
  mkdirSync(logs, { mode: 0o700 });
  const log = join(logs, 'console.log');
  const exit = await rt.run('berth-test-warm-userns', {
    bundle,
    stdioFiles: ['/dev/null', log, log],
  });
  expect(exit).toEqual({ code: 0, signal: 0 });
  expect(readFileSync(log, 'utf8')).toBe('out 0\nerr\n');
});

test('create with autostart and confirmStart: one request starts init, and its start and exit are reported', async () => {
  const rootfs = busyboxRootfs(base);
  const marker = join(base, 'poststart-ran');
  const bundle = makeBundle(base, 'warm-auto', rootfs, (c) => {
    c.process!.args = ['sh', '-c', 'exit 7'];
    c.hooks = { poststart: [{ path: '/bin/sh', args: ['sh', '-c', `cat > ${marker}`] }] };
  });
  const id = 'berth-test-warm-auto';
  const made = await rt.create(id, { bundle, autostart: true, confirmStart: true });
  expect(made.pid).toBeGreaterThan(0);
  await expect(made.started).resolves.toBeUndefined();
  expect(await made.exited).toEqual({ code: 7, signal: 0 });
  // The monitor's record agrees (what a later caller, or a restarted berthd, reads).
  expect(await rt.wait(id)).toEqual({ code: 7, signal: 0 });
  expect(rt.state(id).status).toBe('stopped');
  const exitRecord = JSON.parse(readFileSync(join(base, 'state', id, 'exit'), 'utf8'));
  expect(exitRecord).toMatchObject({ exitCode: 7, signal: 0 });
  expect(Number.isNaN(Date.parse(exitRecord.exitedAt))).toBe(false);
  // poststart ran (after the exec), with the running container's state on its stdin.
  expect(JSON.parse(readFileSync(marker, 'utf8'))).toMatchObject({ id, status: 'running', pid: made.pid });
  await rt.delete(id);

  // Without confirmStart nothing reports the exec: no `started`, the exit still comes.
  const quiet = await rt.create(`${id}-2`, { bundle, autostart: true });
  expect(quiet.started).toBeUndefined();
  expect(await quiet.exited).toEqual({ code: 7, signal: 0 });
  await rt.delete(`${id}-2`);
});

test('create with autostart and confirmStart: an init that cannot exec rejects `started`, as start() would', async () => {
  const bundle = makeBundle(base, 'warm-auto-missing', busyboxRootfs(base), (c) => {
    c.process!.args = ['/nope'];
  });
  const id = 'berth-test-warm-auto-missing';
  const made = await rt.create(id, { bundle, autostart: true, confirmStart: true });
  await expect(made.started).rejects.toThrow(/exec \/nope/);
  await expect(made.exited).rejects.toThrow(/exec \/nope/);
  // The instance is there, stopped, for its caller to delete.
  expect((await rt.wait(id)).code).not.toBe(0);
  expect(rt.state(id).status).toBe('stopped');
  await rt.delete(id);
});

test("a user-namespaced container's root owns its cgroup directories, not their limits, before init starts (warm cell or not)", async () => {
  const layout = detectHostCgroupLayout();
  const parent = testParent();
  const cg = new Spawner();
  const pool = await openCgroupPool({ parent, flat: true, size: 1, shapes: 1, cells: cg });
  const rtCg = new Runtime({
    root: join(base, 'state-cg'),
    spawner: cg,
    cgroupPoolOf: (p) => (p === parent ? pool : undefined),
  });
  const hostId = 300000;
  const bundle = makeBundle(base, 'warm-delegate', busyboxRootfs(base), (c) => {
    c.process!.args = ['sleep', '60'];
    c.linux!.namespaces!.push({ type: 'user' });
    c.linux!.uidMappings = [{ containerID: 0, hostID: hostId, size: 65536 }];
    c.linux!.gidMappings = [{ containerID: 0, hostID: hostId, size: 65536 }];
    c.linux!.resources = { ...c.linux!.resources, pids: { limit: 64 } };
    const devpts = c.mounts!.find((m) => m.destination === '/dev/pts')!;
    devpts.options = devpts.options!.filter((o) => !o.startsWith('gid='));
  });
  const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
  try {
    // In a slot of the pool (a warm cell: init born in its cgroups), and in a cgroup made for it.
    const slot = await pool.reserve();
    for (const [id, cgroupsPath] of [
      [slot.slice(parent.length + 1), slot],
      ['berth-test-made', `${parent}/made`],
    ] as const) {
      await rtCg.create(id, { bundle, config: { ...config, linux: { ...config.linux, cgroupsPath } } });
      const dirs = mountsOf(layout)
        .map((m) => join(m, cgroupsPath))
        .filter((d) => existsSync(d));
      expect(dirs.length).toBeGreaterThan(0);
      for (const d of dirs) {
        expect(statSync(d).uid).toBe(hostId);
        expect(statSync(join(d, 'cgroup.procs')).gid).toBe(hostId);
      }
      const pidsMax = dirs.map((d) => join(d, 'pids.max')).find((f) => existsSync(f));
      if (pidsMax) expect(statSync(pidsMax).uid).toBe(0);
      await rtCg.delete(id, true);
    }
  } finally {
    await deleteAll(rtCg);
    await pool.close();
    cg.close();
    removeTestTree(layout, parent);
  }
});

test("the monitor's cgroup delegation follows no symlink: neither a file's nor the directory's", async () => {
  // A cgroupfs cannot hold a symlink, so the kernel's own cannot show this: the container's
  // cgroup is a plain directory here (an explicit stand-in for its manager, whose procs files
  // the helper writes init's pid into and whose directories the monitor chowns).
  const fake = join(base, 'fake-cgroup');
  const real = join(base, 'fake-cgroup-real');
  const victim = join(base, 'victim');
  for (const d of [join(fake, 'a'), real]) mkdirSync(d, { recursive: true });
  for (const d of [join(fake, 'a'), real]) writeFileSync(join(d, 'cgroup.procs'), '');
  writeFileSync(victim, 'host root owns this\n');
  symlinkSync(victim, join(fake, 'a', 'tasks'));
  symlinkSync(real, join(fake, 'b'));
  const manager = (dir: string) =>
    ({
      mode: 'v1',
      create: async () => {},
      apply: async () => {},
      procsFiles: () => [join(dir, 'cgroup.procs')],
      pids: async () => [],
      killAll: async () => {},
      destroy: async () => {},
    }) as unknown as CgroupManager;
  const hostId = 310000;
  const bundle = makeBundle(base, 'warm-delegate-symlink', busyboxRootfs(base), (c) => {
    c.process!.args = ['true'];
    c.linux!.namespaces!.push({ type: 'user' });
    c.linux!.uidMappings = [{ containerID: 0, hostID: hostId, size: 65536 }];
    c.linux!.gidMappings = [{ containerID: 0, hostID: hostId, size: 65536 }];
    const devpts = c.mounts!.find((m) => m.destination === '/dev/pts')!;
    devpts.options = devpts.options!.filter((o) => !o.startsWith('gid='));
  });
  for (const [dir, id] of [
    [join(fake, 'a'), 'berth-test-delegate-file'],
    [join(fake, 'b'), 'berth-test-delegate-dir'],
  ] as const) {
    const rtFake = new Runtime({ root: join(base, `state-${id}`), cgroups: () => manager(dir) });
    try {
      if (dir.endsWith('a')) {
        expect(await rtFake.run(id, { bundle })).toEqual({ code: 0, signal: 0 });
        expect(statSync(join(fake, 'a')).uid).toBe(hostId);
        expect(lstatSync(join(fake, 'a', 'tasks')).uid).toBe(hostId);
        expect(statSync(victim).uid).toBe(0);
      } else {
        await expect(rtFake.run(id, { bundle })).rejects.toThrow(/delegate cgroup/);
        expect(statSync(real).uid).toBe(0);
      }
    } finally {
      await deleteAll(rtFake);
    }
  }
});
