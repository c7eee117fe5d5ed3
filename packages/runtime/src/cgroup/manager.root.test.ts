import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectHostCgroupLayout } from './detect.ts';
import { CgroupError, type OomEvent } from './index.ts';
import { useTestCgroup } from './test-fixture.ts';
import { alive, exited, runInCgroup, spawnInCgroup, waitUntil } from './testing.ts';

// Needs root and the real kernel: creates cgroups under /berth-test-<random> in every hierarchy
// of this hybrid host (controllers on v1, core on the unified cgroup2 mount), runs busybox and
// node children inside them and checks the kernel enforces what the manager wrote.

const layout = detectHostCgroupLayout();
const t = useTestCgroup(layout);

const v1 = (controller: string, file: string) =>
  readFileSync(join(layout.v1[controller]!, t.parent, 'c1', file), 'utf8').trim();

describe('CgroupManager on this hybrid host', () => {
  it('is hybrid, and a process written to procsFiles is in every hierarchy', async () => {
    expect(t.cg.mode).toBe('hybrid');
    const files = t.cg.procsFiles();
    expect(files).toContain(join(layout.v2!.mountPoint, t.parent, 'c1', 'cgroup.procs'));
    expect(files).toContain(join(layout.v1.memory!, t.parent, 'c1', 'cgroup.procs'));
    const child = spawnInCgroup(files, 'sleep 30');
    t.children.push(child);
    // It writes itself into every file, then execs sleep.
    await waitUntil('child inside', () => readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim() === 'sleep');
    const membership = readFileSync(`/proc/${child.pid}/cgroup`, 'utf8');
    for (const c of ['memory', 'pids', 'cpu', 'freezer', 'devices'])
      expect(membership).toMatch(new RegExp(`:${c}:${t.parent}/c1\\n`));
    expect(membership).toMatch(new RegExp(`^0::${t.parent}/c1$`, 'm'));
    expect(await t.cg.pids()).toEqual([child.pid]);
  });

  it('OOM-kills a process allocating past the memory limit, counts it and raises an event', async () => {
    await t.cg.apply({ memory: { limit: 48 * 1024 * 1024, swap: 48 * 1024 * 1024 } });
    expect(v1('memory', 'memory.limit_in_bytes')).toBe(String(48 * 1024 * 1024));
    const events: OomEvent[] = [];
    const stop = t.cg.onOom((e) => events.push(e));
    const child = spawnInCgroup(
      t.cg.procsFiles(),
      'const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1));',
      [process.execPath, '-e'],
    );
    t.children.push(child);
    const { signal } = await exited(child);
    expect(signal).toBe('SIGKILL');
    await waitUntil('OOM event', () => events.length > 0, 3000);
    stop();
    expect(events[0]!.kind).toBe('oom-kill');
    const s = await t.cg.stats();
    expect(s.memory!.oomKill).toBeGreaterThanOrEqual(1);
    expect(s.memory!.limit).toBe(48 * 1024 * 1024);
    expect(s.memory!.peak).toBeGreaterThan(40 * 1024 * 1024);
  });

  it('stops a fork loop at the pids limit', async () => {
    await t.cg.apply({ pids: { limit: 8 } });
    const child = spawnInCgroup(
      t.cg.procsFiles(),
      'i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done; wait',
    );
    t.children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d) => {
      stderr += d;
    });
    // busybox sh reports the failed fork (and may give up the loop there).
    await waitUntil('a fork refused', () => /fork|Resource temporarily unavailable/i.test(stderr));
    const s = await t.cg.stats();
    // The sleeps that were forked, plus the shell unless it gave up after the refusal.
    expect(s.pids!.limit).toBe(8);
    expect(s.pids!.current).toBeLessThanOrEqual(8);
    expect(s.pids!.current).toBeGreaterThanOrEqual(7);
    expect(v1('pids', 'pids.events')).toMatch(/^max [1-9]/);
    // Live update: more room, and forks succeed again.
    await t.cg.update({ pids: { limit: 20 } });
    expect(v1('pids', 'pids.max')).toBe('20');
    await t.cg.killAll();
    expect(await t.cg.pids()).toEqual([]);
  });

  it('throttles a busy loop under a CPU quota, and the throttled time grows', async () => {
    await t.cg.apply({ cpu: { quota: 10_000, period: 100_000, shares: 512 } });
    expect(v1('cpu', 'cpu.cfs_quota_us')).toBe('10000');
    expect(v1('cpu', 'cpu.shares')).toBe('512');
    const child = spawnInCgroup(t.cg.procsFiles(), 'while :; do :; done');
    t.children.push(child);
    await waitUntil('child inside', () => v1('cpu', 'cgroup.procs') !== '');
    const before = await t.cg.stats();
    await new Promise((r) => setTimeout(r, 1000));
    const after = await t.cg.stats();
    expect(after.cpu!.nrThrottled!).toBeGreaterThan(before.cpu!.nrThrottled ?? 0);
    expect(after.cpu!.throttledUsec!).toBeGreaterThan(before.cpu!.throttledUsec ?? 0);
    // 10 % of one CPU for ~1 s is ~100 ms; far below a full second even on a noisy host.
    expect(after.cpu!.usageUsec! - before.cpu!.usageUsec!).toBeLessThan(500_000);
    expect(after.cpu!.usageUsec!).toBeGreaterThan(0);
    // Live update to no quota: throttling stops growing the throttled count.
    await t.cg.update({ cpu: { quota: -1 } });
    expect(v1('cpu', 'cpu.cfs_quota_us')).toBe('-1');
  });

  it('pins a process with cpuset and refuses CPUs that are not online', async () => {
    await t.cg.apply({ cpu: { cpus: '1', mems: '0' } });
    const child = spawnInCgroup(t.cg.procsFiles(), 'sleep 30');
    t.children.push(child);
    await waitUntil('child inside', () => v1('cpuset', 'cgroup.procs') !== '');
    expect(readFileSync(`/proc/${child.pid}/status`, 'utf8')).toMatch(/Cpus_allowed_list:\s+1\n/);
    await t.cg.update({ cpu: { cpus: '0-1' } });
    expect(readFileSync(`/proc/${child.pid}/status`, 'utf8')).toMatch(/Cpus_allowed_list:\s+0-1\n/);
    await expect(t.cg.update({ cpu: { cpus: '0-63' } })).rejects.toThrow(/cpu\.cpus: CPUs 2,3.* not online/);
    expect(v1('cpuset', 'cpuset.cpus')).toBe('0-1');
  });

  it('validates everything before writing anything, and undoes earlier writes when the kernel refuses one', async () => {
    await expect(t.cg.apply({ pids: { limit: 10 }, memory: { limit: -5 } })).rejects.toMatchObject({
      code: 'CGROUP_INVALID_RESOURCES',
      field: 'memory.limit',
    });
    expect(v1('pids', 'pids.max')).toBe('max');
    await expect(
      t.cg.apply({ pids: { limit: 10 }, memory: { limit: 64 << 20, swap: 32 << 20 } }),
    ).rejects.toThrow(/memory.swap: memory\+swap .* must not be below the memory limit/);
    // A device that does not exist passes validation but the kernel refuses it: pids is put back.
    const err = await t.cg
      .apply({
        pids: { limit: 10 },
        blockIO: { throttleReadBpsDevice: [{ major: 4095, minor: 99999, rate: 1000 }] },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CgroupError);
    expect((err as CgroupError).code).toBe('CGROUP_KERNEL_REJECTED');
    expect((err as CgroupError).field).toMatch(/^blockIO.throttleReadBpsDevice/);
    expect(v1('pids', 'pids.max')).toBe('max');
    await expect(t.cg.apply({ hugepageLimits: [{ pageSize: '2MB', limit: 0 }] })).rejects.toThrow(
      /hugepageLimits: the hugetlb controller/,
    );
  });

  it('applies the device allowlist and the kernel enforces it', async () => {
    await t.cg.apply({
      devices: [
        { allow: false, access: 'rwm' },
        { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
      ],
    });
    expect(v1('devices', 'devices.list')).toBe('c 1:3 rwm');
    const run = await runInCgroup(
      t.cg.procsFiles(),
      'echo ok > /dev/null && echo null-ok; head -c1 /dev/zero > /dev/null && echo zero-ok; exit 0',
      t.children,
    );
    expect(run).toMatchObject({ code: 0 });
    expect(run.stdout).toContain('null-ok');
    expect(run.stdout).not.toContain('zero-ok');
    // Live update adds /dev/zero without passing through "deny all".
    await t.cg.update({
      devices: [
        { allow: false, access: 'rwm' },
        { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
        { allow: true, type: 'c', major: 1, minor: 5, access: 'r' },
      ],
    });
    expect(v1('devices', 'devices.list').split('\n').sort()).toEqual(['c 1:3 rwm', 'c 1:5 r']);
  });

  it('freezes and thaws a running process tree', async () => {
    const counter = `/tmp/${t.parent.slice(1)}-count`;
    const child = spawnInCgroup(
      t.cg.procsFiles(),
      `(while :; do echo x >> ${counter}; sleep 0.01; done) & wait`,
    );
    t.children.push(child);
    await waitUntil('counter moving', () => {
      try {
        return readFileSync(counter, 'utf8').length > 10;
      } catch {
        return false;
      }
    });
    await t.cg.freeze();
    expect(await t.cg.freezeState()).toBe('frozen');
    const frozenAt = readFileSync(counter, 'utf8').length;
    await new Promise((r) => setTimeout(r, 300));
    expect(readFileSync(counter, 'utf8').length).toBe(frozenAt);
    await t.cg.thaw();
    expect(await t.cg.freezeState()).toBe('thawed');
    await waitUntil('counter moving again', () => readFileSync(counter, 'utf8').length > frozenAt);
    await t.cg.killAll();
    const { rmSync } = await import('node:fs');
    rmSync(counter, { force: true });
  });

  it('kills a tree that daemonised, then removes the cgroup everywhere', async () => {
    const child = spawnInCgroup(
      t.cg.procsFiles(),
      'setsid sh -c "sleep 300 & sleep 300 & echo started" & wait',
    );
    t.children.push(child);
    await waitUntil(
      'daemons running',
      () => v1('pids', 'pids.current') === '3' || v1('pids', 'pids.current') === '2',
    );
    await exited(child);
    const orphans = await t.cg.pids();
    expect(orphans.length).toBeGreaterThanOrEqual(2);
    await t.cg.destroy();
    for (const pid of orphans) expect(alive(pid)).toBe(false);
    for (const f of t.cg.procsFiles()) expect(() => readFileSync(f)).toThrow();
  });

  it('reports stats of a running container, with pressure from the unified mount', async () => {
    await t.cg.apply({ memory: { limit: 256 << 20 }, pids: { limit: 50 } });
    const child = spawnInCgroup(t.cg.procsFiles(), 'x=$(head -c 20000000 /dev/zero | tr "\\0" a); sleep 30');
    t.children.push(child);
    await waitUntil('memory used', () => Number(v1('memory', 'memory.usage_in_bytes')) > 10_000_000);
    const s = await t.cg.stats();
    expect(s.memory!.usage).toBeGreaterThan(10_000_000);
    expect(s.memory!.limit).toBe(256 << 20);
    expect(s.memory!.anon).toBeGreaterThan(0);
    expect(s.memory!.oom).toBeUndefined(); // v1 cannot know it: absent, not zero
    expect(s.pids!.limit).toBe(50);
    expect(s.cpu!.usageUsec).toBeGreaterThan(0);
    expect(s.pressure!.cpu!.some.total).toBeGreaterThanOrEqual(0);
    expect(s.pressure!.memory!.full).toBeDefined();
    expect(Array.isArray(s.io!.devices)).toBe(true);
  });
});
