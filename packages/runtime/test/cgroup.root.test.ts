// Needs root: containers in real cgroups (v1 controllers on this host, the v2 core beside),
// through the CgroupManager. Checks limits from inside and the lifecycle verbs that use them.
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { createCgroupManager } from '../src/cgroup/index.ts';
import { Runtime } from '../src/container/runtime.ts';
import type { OciConfig } from '../src/spec/config.ts';
import { busyboxRootfs, deleteAll, makeBundle, removeScratch, scratch } from './fixtures.ts';

let base: string;
let rootfs: string;
let rt: Runtime;
let n = 0;
const id = () => `berth-test-cg-${process.pid}-${++n}`;
const cgroupDir = (cid: string, controller: string) => `/sys/fs/cgroup/${controller}/berth/${cid}`;

beforeAll(() => {
  base = scratch();
  rootfs = busyboxRootfs(base);
  rt = new Runtime({ root: join(base, 'state') });
});
afterEach(async () => deleteAll(rt));
afterAll(() => removeScratch(base));

const edit = (script: string, f?: (c: OciConfig) => void) => (c: OciConfig) => {
  c.process!.args = ['sh', '-c', script];
  f?.(c);
};

test('a fork bomb stops at the pids limit; the container sees only its own cgroup, read-only', async () => {
  const bundle = makeBundle(
    base,
    'pids',
    rootfs,
    edit(
      'grep pids /proc/self/cgroup; cat /sys/fs/cgroup/pids/pids.max; mkdir /sys/fs/cgroup/elsewhere 2>/dev/null; echo escape=$?; ls /sys/fs/cgroup/pids/.. | wc -l; sleep 30',
      (c) => {
        c.linux!.resources = { pids: { limit: 16 } };
      },
    ),
  );
  const cid = id();
  const out = join(base, 'pids.out');
  const fd = openSync(out, 'w');
  await rt.create(cid, { bundle, stdio: ['ignore', fd, fd] });
  await rt.start(cid);
  const bomb = await rt.exec(cid, {
    process: {
      args: ['sh', '-c', 'while true; do sleep 30 & done'],
      cwd: '/',
      user: { uid: 0, gid: 0 },
      env: ['PATH=/bin'],
    },
    stdio: ['ignore', fd, fd],
  });
  // The bomb's shell dies on its first failed fork; the limit held.
  expect(await bomb.exit).not.toBe(0);
  closeSync(fd);
  // What is left: init and the bomb's orphans (the shell and the exec helper have exited).
  const current = Number(readFileSync(join(cgroupDir(cid, 'pids'), 'pids.current'), 'utf8'));
  expect(current).toBeLessThanOrEqual(16);
  expect(current).toBeGreaterThanOrEqual(12);
  const text = readFileSync(out, 'utf8');
  expect(text).toMatch(/^\d+:pids:\/\n16\nescape=1\n/);
  expect(text).toMatch(/can't fork/);
  await rt.delete(cid, true);
  expect(existsSync(cgroupDir(cid, 'pids'))).toBe(false);
});

test('exceeding the memory limit is an OOM kill, reported as SIGKILL and counted', async () => {
  const limit = 32 * 1024 * 1024;
  const bundle = makeBundle(
    base,
    'oom',
    rootfs,
    edit('x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived', (c) => {
      c.linux!.resources = { memory: { limit, swap: limit } };
    }),
  );
  const cid = id();
  const fd = openSync(join(base, 'oom.out'), 'w');
  const exit = await rt.run(cid, { bundle, stdio: ['ignore', fd, fd], keep: true });
  closeSync(fd);
  expect(exit.signal).toBe(9);
  const stats = await createCgroupManager({ path: `/berth/${cid}` }).stats();
  expect(stats.memory?.oomKill ?? stats.memory?.oom).toBeGreaterThan(0);
  await rt.delete(cid);
  expect(existsSync(cgroupDir(cid, 'memory'))).toBe(false);
});

test('ps, pause and resume, and a live update', async () => {
  const bundle = makeBundle(base, 'live', rootfs, edit('sleep 30 & sleep 31; true'));
  const cid = id();
  const { pid } = await rt.create(cid, { bundle, stdio: 'ignore' });
  await rt.start(cid);
  // init (sh) and its two sleeps; the listing comes from the unified hierarchy on this host.
  let pids: number[] = [];
  for (let i = 0; i < 100; i++) {
    pids = await rt.ps(cid);
    if (pids.length === 3 && pids.includes(pid)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(pids).toContain(pid);
  expect(pids).toHaveLength(3);
  await rt.pause(cid);
  expect(rt.state(cid).status).toBe('paused');
  expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/State:\s+[SD]/);
  await expect(
    rt.exec(cid, { process: { args: ['true'], cwd: '/', user: { uid: 0, gid: 0 } } }),
  ).rejects.toThrow(/paused/);
  await rt.resume(cid);
  expect(rt.state(cid).status).toBe('running');
  await rt.update(cid, { pids: { limit: 77 } });
  expect(readFileSync(join(cgroupDir(cid, 'pids'), 'pids.max'), 'utf8').trim()).toBe('77');
  await expect(rt.update(cid, { pids: { limit: -5 } })).rejects.toThrow(/pids/);
  expect(readFileSync(join(cgroupDir(cid, 'pids'), 'pids.max'), 'utf8').trim()).toBe('77');
  await rt.delete(cid, true);
  expect(existsSync(cgroupDir(cid, 'pids'))).toBe(false);
});

test('an impossible cgroup value is refused before anything exists', async () => {
  const bundle = makeBundle(base, 'badcg', rootfs, (c) => {
    c.linux!.resources = { memory: { limit: -42 } };
  });
  const cid = id();
  await expect(rt.create(cid, { bundle, stdio: 'ignore' })).rejects.toThrow(/memory/);
  expect(existsSync(join(base, 'state', cid))).toBe(false);
  expect(existsSync(cgroupDir(cid, 'memory'))).toBe(false);
  expect(existsSync(cgroupDir(cid, 'pids'))).toBe(false);
});

test('a failed create removes the cgroup it made', async () => {
  const bundle = makeBundle(base, 'cgrollback', rootfs, (c) => {
    c.mounts!.push({ destination: '/mnt', type: 'no-such-fs', source: 'none' });
  });
  const cid = id();
  await expect(rt.create(cid, { bundle, stdio: 'ignore' })).rejects.toThrow(/no-such-fs/);
  expect(existsSync(cgroupDir(cid, 'pids'))).toBe(false);
  expect(existsSync(join(base, 'state', cid))).toBe(false);
});
