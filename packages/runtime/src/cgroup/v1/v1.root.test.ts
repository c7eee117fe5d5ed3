import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { watchCgroupEvent } from '../../sys/eventfd.ts';
import { type CgroupLayout, detectHostCgroupLayout } from '../detect.ts';
import { createCgroupManager } from '../index.ts';
import { useTestCgroup } from '../test-fixture.ts';
import { alive, exited, spawnInCgroup, waitUntil } from '../testing.ts';

// Needs root: the pure-v1 driver on this host's real v1 hierarchies, with the cgroup2 mount
// left out of the layout, so freeze uses the v1 freezer and kill-all is freeze → SIGKILL → thaw.

const host = detectHostCgroupLayout();
const layout: CgroupLayout = { mode: 'v1', v1: host.v1 };
const t = useTestCgroup(layout);

const file = (controller: string, f: string) => join(layout.v1[controller]!, t.parent, 'c1', f);

describe('v1 driver (freezer core)', () => {
  it('creates one directory per hierarchy, copying cpuset cpus and mems from the t.parent', () => {
    expect(t.cg.mode).toBe('v1');
    expect(t.cg.procsFiles().length).toBe(new Set(Object.values(layout.v1)).size);
    expect(readFileSync(file('cpuset', 'cpuset.cpus'), 'utf8').trim()).toBe(
      readFileSync(join(layout.v1.cpuset!, 'cpuset.cpus'), 'utf8').trim(),
    );
    expect(readFileSync(file('cpuset', 'cpuset.mems'), 'utf8').trim()).not.toBe('');
  });

  it('freezes with freezer.state and thaws', async () => {
    const child = spawnInCgroup(t.cg.procsFiles(), 'while :; do :; done');
    t.children.push(child);
    await waitUntil('inside', () => readFileSync(file('freezer', 'cgroup.procs'), 'utf8').trim() !== '');
    await t.cg.freeze();
    expect(readFileSync(file('freezer', 'freezer.state'), 'utf8').trim()).toBe('FROZEN');
    expect(await t.cg.freezeState()).toBe('frozen');
    const before = (await t.cg.stats()).cpu!.usageUsec!;
    await new Promise((r) => setTimeout(r, 200));
    expect((await t.cg.stats()).cpu!.usageUsec!).toBe(before);
    await t.cg.thaw();
    expect(await t.cg.freezeState()).toBe('thawed');
  });

  it('kills a daemonised tree through the freezer and removes every directory', async () => {
    const child = spawnInCgroup(
      t.cg.procsFiles(),
      'setsid sh -c "sleep 300 & sleep 300 & while :; do :; done" & sleep 0.1',
    );
    t.children.push(child);
    await waitUntil('daemons', () => readFileSync(file('pids', 'pids.current'), 'utf8').trim() === '3');
    await exited(child);
    const pids = await t.cg.pids();
    expect(pids.length).toBe(3);
    await t.cg.destroy();
    for (const pid of pids) expect(alive(pid)).toBe(false);
    for (const f of t.cg.procsFiles()) expect(() => readFileSync(f)).toThrow();
  });

  it('has no pressure information without a cgroup2 mount: absent, not zero', async () => {
    const s = await t.cg.stats();
    expect(s.pressure).toBeUndefined();
    expect(s.cpu!.usageUsec).toBe(0);
    expect(s.memory!.usage).toBeGreaterThanOrEqual(0);
  });

  it('is told of OOM kills through an eventfd on memory.oom_control', async () => {
    await t.cg.apply({ memory: { limit: 40 << 20, swap: 40 << 20 } });
    let registered = 0;
    // A second manager for the same cgroup, counting registrations of the real eventfd watch.
    const watched = createCgroupManager({
      path: `${t.parent}/c1`,
      layout,
      cgroupEvents: (...args) => {
        registered++;
        return watchCgroupEvent(...args);
      },
    });
    const got: number[] = [];
    const stop = watched.onOom((e) => got.push(e.delta));
    expect(registered).toBe(1);
    const child = spawnInCgroup(t.cg.procsFiles(), 'const a=[];for(;;)a.push(Buffer.alloc(1<<20,1))', [
      process.execPath,
      '-e',
    ]);
    t.children.push(child);
    expect((await exited(child)).signal).toBe('SIGKILL');
    await waitUntil('event', () => got.length > 0, 2000);
    stop();
    expect(got.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1);
  });
});
