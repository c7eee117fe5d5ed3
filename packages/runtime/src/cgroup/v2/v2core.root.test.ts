import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BPF_CGROUP_DEVICE, hostBpf } from '../../sys/bpf.ts';
import { type CgroupLayout, detectHostCgroupLayout } from '../detect.ts';
import { useTestCgroup } from '../test-fixture.ts';
import { alive, BUSYBOX, exited, runInCgroup, spawnInCgroup, waitUntil } from '../testing.ts';

// Needs root: the v2 driver against the real cgroup2 mount of this host
// (/sys/fs/cgroup/unified), which has no controllers here, so this is the v2 core: create,
// move, freeze, kill, PSI, and the BPF device program (a cgroup hook, not a controller).

const host = detectHostCgroupLayout();
const layout: CgroupLayout = { mode: 'v2', v2: { mountPoint: host.v2!.mountPoint, controllers: [] }, v1: {} };
const t = useTestCgroup(layout);

const dir = () => join(layout.v2!.mountPoint, t.parent, 'c1');

describe('v2 core on the real unified mount', () => {
  it('creates the cgroup and moves a running process in', async () => {
    expect(t.cg.procsFiles()).toEqual([join(dir(), 'cgroup.procs')]);
    const { spawn } = await import('node:child_process');
    const child = spawn(BUSYBOX, ['sleep', '30']);
    t.children.push(child);
    await t.cg.addProcess(child.pid!);
    expect(await t.cg.pids()).toEqual([child.pid]);
    expect(readFileSync(`/proc/${child.pid}/cgroup`, 'utf8')).toMatch(new RegExp(`^0::${t.parent}/c1$`, 'm'));
  });

  it('freezes (cgroup.freeze, waiting for cgroup.events) and thaws', async () => {
    const child = spawnInCgroup(t.cg.procsFiles(), 'while :; do :; done');
    t.children.push(child);
    await waitUntil('inside', () => readFileSync(join(dir(), 'cgroup.procs'), 'utf8').trim() !== '');
    await t.cg.freeze();
    expect(await t.cg.freezeState()).toBe('frozen');
    expect(readFileSync(join(dir(), 'cgroup.events'), 'utf8')).toMatch(/frozen 1/);
    await t.cg.thaw();
    expect(await t.cg.freezeState()).toBe('thawed');
  });

  it('kills a daemonised tree with cgroup.kill', async () => {
    const child = spawnInCgroup(
      t.cg.procsFiles(),
      'setsid sh -c "sleep 300 & sleep 300 & while :; do :; done" & sleep 0.1',
    );
    t.children.push(child);
    await exited(child);
    await waitUntil(
      'daemons',
      () => readFileSync(join(dir(), 'cgroup.procs'), 'utf8').trim().split('\n').length === 3,
    );
    const pids = await t.cg.pids();
    await t.cg.killAll();
    expect(readFileSync(join(dir(), 'cgroup.events'), 'utf8')).toMatch(/populated 0/);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });

  it('reports pressure stall information, and no controller stats it cannot know', async () => {
    const s = await t.cg.stats();
    expect(Object.keys(s.pressure ?? {}).sort()).toEqual(['cpu', 'io', 'memory']);
    expect(s.pressure!.cpu!.some.avg10).toBeGreaterThanOrEqual(0);
    expect(s.memory).toBeUndefined();
    expect(s.pids).toBeUndefined();
  });

  it('enforces the device allowlist with a BPF program, and replaces it on update', async () => {
    const rules = [
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c' as const, major: 1, minor: 3, access: 'rwm' },
    ];
    await t.cg.apply({ devices: rules });
    expect(hostBpf().query(dir(), BPF_CGROUP_DEVICE)).toHaveLength(1);
    const probe =
      'echo x > /dev/null && echo null-ok; head -c1 /dev/zero > /dev/null && echo zero-ok; exit 0';
    const run = async () => {
      const r = await runInCgroup(t.cg.procsFiles(), probe, t.children);
      expect(r.code).toBe(0);
      return r.stdout;
    };
    const before = await run();
    expect(before).toContain('null-ok');
    expect(before).not.toContain('zero-ok');
    await t.cg.update({ devices: [...rules, { allow: true, type: 'c', major: 1, minor: 5, access: 'r' }] });
    expect(hostBpf().query(dir(), BPF_CGROUP_DEVICE)).toHaveLength(1);
    const after = await run();
    expect(after).toContain('zero-ok');
  });
});
