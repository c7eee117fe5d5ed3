import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CgroupLayout, detectHostCgroupLayout } from '../detect.ts';
import { type CgroupManager, createCgroupManager } from '../index.ts';
import { alive, exited, removeTestTree, spawnInCgroup, testParent, waitUntil } from '../testing.ts';

// Needs root: the pure-v1 driver on this host's real v1 hierarchies, with the cgroup2 mount
// left out of the layout, so freeze uses the v1 freezer and kill-all is freeze → SIGKILL → thaw.

const host = detectHostCgroupLayout();
const layout: CgroupLayout = { mode: 'v1', v1: host.v1 };
let parent: string;
let cg: CgroupManager;
const children: Array<{ kill(s?: NodeJS.Signals): boolean }> = [];

beforeEach(async () => {
  parent = testParent();
  cg = createCgroupManager({ path: `${parent}/c1`, layout });
  await cg.create();
});

afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  try {
    await cg.destroy();
  } finally {
    expect(removeTestTree(host, parent)).toEqual([]);
  }
});

const file = (controller: string, f: string) => join(layout.v1[controller]!, parent, 'c1', f);

describe('v1 driver (freezer core)', () => {
  it('creates one directory per hierarchy, copying cpuset cpus and mems from the parent', () => {
    expect(cg.mode).toBe('v1');
    expect(cg.procsFiles().length).toBe(new Set(Object.values(layout.v1)).size);
    expect(readFileSync(file('cpuset', 'cpuset.cpus'), 'utf8').trim()).toBe(
      readFileSync(join(layout.v1.cpuset!, 'cpuset.cpus'), 'utf8').trim(),
    );
    expect(readFileSync(file('cpuset', 'cpuset.mems'), 'utf8').trim()).not.toBe('');
  });

  it('freezes with freezer.state and thaws', async () => {
    const child = spawnInCgroup(cg.procsFiles(), 'while :; do :; done');
    children.push(child);
    await waitUntil('inside', () => readFileSync(file('freezer', 'cgroup.procs'), 'utf8').trim() !== '');
    await cg.freeze();
    expect(readFileSync(file('freezer', 'freezer.state'), 'utf8').trim()).toBe('FROZEN');
    expect(await cg.freezeState()).toBe('frozen');
    const before = (await cg.stats()).cpu!.usageUsec!;
    await new Promise((r) => setTimeout(r, 200));
    expect((await cg.stats()).cpu!.usageUsec!).toBe(before);
    await cg.thaw();
    expect(await cg.freezeState()).toBe('thawed');
  });

  it('kills a daemonised tree through the freezer and removes every directory', async () => {
    const child = spawnInCgroup(
      cg.procsFiles(),
      'setsid sh -c "sleep 300 & sleep 300 & while :; do :; done" & sleep 0.1',
    );
    children.push(child);
    await waitUntil('daemons', () => readFileSync(file('pids', 'pids.current'), 'utf8').trim() === '3');
    await exited(child);
    const pids = await cg.pids();
    expect(pids.length).toBe(3);
    await cg.destroy();
    for (const pid of pids) expect(alive(pid)).toBe(false);
    for (const f of cg.procsFiles()) expect(() => readFileSync(f)).toThrow();
  });

  it('has no pressure information without a cgroup2 mount: absent, not zero', async () => {
    const s = await cg.stats();
    expect(s.pressure).toBeUndefined();
    expect(s.cpu!.usageUsec).toBe(0);
    expect(s.memory!.usage).toBeGreaterThanOrEqual(0);
  });

  it('polls memory.oom_control for OOM kills', async () => {
    await cg.apply({ memory: { limit: 40 << 20, swap: 40 << 20 } });
    const got: number[] = [];
    const stop = cg.onOom((e) => got.push(e.delta));
    const child = spawnInCgroup(cg.procsFiles(), 'const a=[];for(;;)a.push(Buffer.alloc(1<<20,1))', [
      process.execPath,
      '-e',
    ]);
    children.push(child);
    expect((await exited(child)).signal).toBe('SIGKILL');
    await waitUntil('event', () => got.length > 0, 2000);
    stop();
    expect(got[0]).toBeGreaterThanOrEqual(1);
  });
});
