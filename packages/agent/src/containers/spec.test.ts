import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerConfig } from '@berth/contracts';
import { compilePlan, defaultConfig, MS, parseConfig } from '@berth/runtime';
import { afterAll, describe, expect, it } from 'vitest';
import type { ContainerRuntime } from '../runtime/types.ts';
import { buildSpec, SYSTEMD_STOP_SIGNAL, stopSignalOf, systemNofileHard } from './spec.ts';

// What berthd asks of the runtime for a system container, compiled into the runtime's plan for
// both host layouts: this host is hybrid, so the v2 (pure unified) path is pinned here.

const bundle = mkdtempSync(join(tmpdir(), 'berth-test-spec-'));
mkdirSync(join(bundle, 'rootfs'));
afterAll(() => rmSync(bundle, { recursive: true, force: true }));

const rt = { defaultSpec: (o) => defaultConfig({ ...o, seccomp: false }) } as Pick<
  ContainerRuntime,
  'defaultSpec'
> as ContainerRuntime;
const image = { env: ['LANG=C.UTF-8'], entrypoint: null, cmd: ['/sbin/init'] };

function systemSpec() {
  return buildSpec(rt, {
    id: 'c1',
    config: ContainerConfig.parse({ name: 'deb', image: 'debian', kind: 'system' }),
    image,
    rootfs: join(bundle, 'rootfs'),
    cgroupsPath: '/berth/c1',
    idBase: 1_000_000_000,
    uid: 0,
    gid: 0,
    binds: [],
  });
}

describe('a system container', () => {
  it('runs /sbin/init with container=berth, stops on SIGRTMIN+3, and has /run and /run/lock as tmpfs', () => {
    const spec = systemSpec() as {
      process: { args: string[]; env: string[] };
      mounts: Array<{ destination: string; type?: string; options?: string[] }>;
    };
    expect(spec.process.args).toEqual(['/sbin/init']);
    expect(spec.process.env).toContain('container=berth');
    expect(stopSignalOf(ContainerConfig.parse({ name: 'd', image: 'x', kind: 'system' }), image)).toBe(
      SYSTEMD_STOP_SIGNAL,
    );
    for (const d of ['/run', '/run/lock'])
      expect(spec.mounts.find((m) => m.destination === d)).toMatchObject({ type: 'tmpfs' });
    expect(spec.mounts.find((m) => m.destination === '/sys/fs/cgroup')!.options).not.toContain('ro');
    // systemd's own defaults for open files: soft 1024, hard 524288 (or what the host allows).
    expect((systemSpec() as { process: { rlimits: unknown[] } }).process.rlimits).toContainEqual({
      type: 'RLIMIT_NOFILE',
      soft: Math.min(1024, systemNofileHard()),
      hard: systemNofileHard(),
    });
  });

  it('asks for a hard open-file limit of 524288, or what berthd may give without CAP_SYS_RESOURCE', () => {
    const limits = (hard: string) =>
      `Limit Soft Limit Hard Limit Units\nMax open files            1024                 ${hard}                files\n`;
    const status = (capEff: string) => `Name:\tberthd\nCapEff:\t${capEff}\n`;
    expect(systemNofileHard(status('000001ffffffffff'), limits('20000'))).toBe(524288);
    expect(systemNofileHard(status('000001fffeffffff'), limits('20000'))).toBe(20000);
    expect(systemNofileHard(status('000001fffeffffff'), limits('1048576'))).toBe(524288);
    expect(systemNofileHard(status('000001fffeffffff'), limits('unlimited'))).toBe(524288);
    expect(systemNofileHard(status('000001fffeffffff'), limits('64'))).toBe(64);
  });

  it('on a cgroup v2 host gets a writable cgroup2 mount of its own cgroup namespace', () => {
    const plan = compilePlan(parseConfig(systemSpec()), {
      bundle,
      cgroupMode: 'v2',
      cgroupProcs: ['/sys/fs/cgroup/berth/c1/cgroup.procs'],
    });
    const cg = plan.mounts.filter((m) => m.destination.startsWith('/sys/fs/cgroup'));
    expect(cg).toHaveLength(1);
    expect(cg[0]).toMatchObject({ type: 'cgroup2', kind: 0 });
    expect(cg[0]!.flags & MS.RDONLY).toBe(0);
    expect(systemSpec()).toMatchObject({
      linux: { namespaces: expect.arrayContaining([{ type: 'cgroup' }]) },
    });
  });

  it('on a v1 or hybrid host gets its own directory of every hierarchy bound in writable', () => {
    const procs = ['memory/berth/c1', 'systemd/berth/c1', 'unified/berth/c1'].map(
      (d) => `/sys/fs/cgroup/${d}/cgroup.procs`,
    );
    const plan = compilePlan(parseConfig(systemSpec()), { bundle, cgroupMode: 'hybrid', cgroupProcs: procs });
    const binds = plan.mounts.filter((m) => m.destination.startsWith('/sys/fs/cgroup/'));
    expect(binds.map((m) => [m.destination, m.source])).toEqual([
      ['/sys/fs/cgroup/memory', '/sys/fs/cgroup/memory/berth/c1'],
      ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/systemd/berth/c1'],
      ['/sys/fs/cgroup/unified', '/sys/fs/cgroup/unified/berth/c1'],
    ]);
    for (const b of binds) expect(b.flags & MS.RDONLY).toBe(0);
  });
});

describe('seccomp', () => {
  it("gives every container the runtime's default profile, rendered once per runtime and shared", () => {
    let rendered = 0;
    const real = {
      defaultSpec: (o: { seccomp?: unknown }) => {
        if (o.seccomp !== false) rendered++;
        return defaultConfig(o as Parameters<typeof defaultConfig>[0]);
      },
    } as unknown as ContainerRuntime;
    const spec = (name: string) =>
      buildSpec(real, {
        id: name,
        config: ContainerConfig.parse({ name, image: 'busybox' }),
        image,
        rootfs: join(bundle, 'rootfs'),
        cgroupsPath: `/berth/${name}`,
        idBase: 1_000_000_000,
        uid: 0,
        gid: 0,
        binds: [],
        seccomp: true,
      }) as { linux: { seccomp: unknown } };
    const [a, b] = [spec('a'), spec('b')];
    expect(a.linux.seccomp).toEqual(defaultConfig().linux!.seccomp);
    expect(b.linux.seccomp).toBe(a.linux.seccomp);
    expect(Object.isFrozen(a.linux.seccomp)).toBe(true);
    expect(rendered).toBe(1);
  });
});
