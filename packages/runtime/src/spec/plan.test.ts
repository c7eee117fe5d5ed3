import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { type OciConfig, parseConfig } from './config.ts';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, defaultConfig, rootlessConfig } from './defaults.ts';
import { encodePlan, P } from './encode.ts';
import { CLONE, DOCKER_DEFAULT_CAPABILITIES, MS } from './linux.ts';
import { parseMountOptions } from './mounts.ts';
import { capabilityMask, compilePlan, subordinateIds } from './plan.ts';

const bundle = mkdtempSync(join(tmpdir(), 'berth-test-plan-'));
mkdirSync(join(bundle, 'rootfs'));
afterAll(() => rmSync(bundle, { recursive: true, force: true }));

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

const compile = (edit?: (c: OciConfig) => void, opts: Partial<Parameters<typeof compilePlan>[1]> = {}) => {
  const c = defaultConfig({ args: ['true'] });
  edit?.(c);
  return compilePlan(parseConfig(JSON.parse(JSON.stringify(c))), { bundle, ...opts });
};

describe("Berth's defaults", () => {
  test("Berth's seccomp profile is compiled into the plan", () => {
    const plan = compile();
    expect(plan.seccomp!.filter.length % 8).toBe(0);
    expect(plan.seccomp!.filter.length / 8).toBeGreaterThan(20);
  });

  test('a frozen profile is compiled once and found again by identity, not by its JSON', () => {
    const profile = deepFreeze(structuredClone(defaultConfig({ args: ['true'] }).linux!.seccomp));
    const withProfile = () => {
      const c = defaultConfig({ args: ['true'] });
      c.linux!.seccomp = profile;
      return compilePlan(parseConfig(c), { bundle });
    };
    const first = withProfile().seccomp!;
    const stringify = vi.spyOn(JSON, 'stringify');
    try {
      const again = withProfile().seccomp!;
      expect(again.filter).toBe(first.filter);
      expect(stringify.mock.calls.filter(([v]) => v === profile)).toEqual([]);
    } finally {
      stringify.mockRestore();
    }
  });

  test('a changed profile compiles anew, frozen or changed in place', () => {
    const deny = (names: string[]) => ({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names, action: 'SCMP_ACT_ERRNO' }],
    });
    const filterOf = (profile: unknown) => {
      const c = defaultConfig({ args: ['true'] });
      c.linux!.seccomp = profile;
      return compilePlan(parseConfig(c), { bundle }).seccomp!.filter;
    };
    const one = filterOf(deepFreeze(deny(['mkdirat'])));
    const two = filterOf(deepFreeze(deny(['mkdirat', 'rmdir'])));
    expect(two.equals(one)).toBe(false);
    expect(filterOf(deepFreeze(deny(['mkdirat', 'rmdir'])))).toBe(two); // the same content: its JSON
    // Not frozen: the same object, changed after its compile, is compiled again.
    const open = deny(['mkdirat']);
    expect(filterOf(open).equals(one)).toBe(true);
    open.syscalls[0]!.names.push('rmdir');
    expect(filterOf(open).equals(two)).toBe(true);
  });

  test("capabilities are exactly Docker's default set, no_new_privs on, read-only root", () => {
    const plan = compile();
    const docker = 0xa80425fbn;
    expect(capabilityMask(DOCKER_DEFAULT_CAPABILITIES, 'x')).toBe(docker);
    expect(plan.caps).toEqual({
      bounding: docker,
      effective: docker,
      permitted: docker,
      inheritable: 0n,
      ambient: 0n,
    });
    expect(plan.noNewPrivileges).toBe(true);
    expect(plan.rootReadonly).toBe(true);
  });

  test('new pid, net, ipc, uts, mount and cgroup namespaces', () => {
    const plan = compile();
    expect(plan.namespaces).toBe(
      CLONE.pid | CLONE.network | CLONE.ipc | CLONE.uts | CLONE.mount | CLONE.cgroup,
    );
    expect(plan.joins).toEqual([]);
  });

  test('masked and read-only paths, default devices only, a pids limit', () => {
    const plan = compile();
    expect(plan.masked).toEqual(DEFAULT_MASKED_PATHS);
    expect(plan.masked).toEqual(
      expect.arrayContaining(['/proc/kcore', '/proc/keys', '/proc/timer_list', '/sys/firmware']),
    );
    expect(plan.readonly).toEqual(DEFAULT_READONLY_PATHS);
    expect(plan.devices.map((d) => d.path)).toEqual([
      '/dev/null',
      '/dev/zero',
      '/dev/full',
      '/dev/random',
      '/dev/urandom',
      '/dev/tty',
    ]);
    expect(plan.devices[0]).toEqual({
      path: '/dev/null',
      mode: 0o020666,
      major: 1,
      minor: 3,
      uid: 0,
      gid: 0,
    });
    expect(plan.symlinks).toContainEqual({ target: 'pts/ptmx', path: '/dev/ptmx' });
    expect(defaultConfig().linux?.resources?.pids?.limit).toBeGreaterThan(0);
  });

  test('mount options become flags and data', () => {
    const plan = compile();
    const sys = plan.mounts.find((m) => m.destination === '/sys')!;
    expect(sys).toMatchObject({
      type: 'sysfs',
      kind: 0,
      flags: MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RDONLY,
    });
    const pts = plan.mounts.find((m) => m.destination === '/dev/pts')!;
    expect(pts.data).toBe('newinstance,ptmxmode=0666,mode=0620,gid=5');
  });
});

describe('compiling configs', () => {
  test('bind sources resolve against the bundle; rbind,ro,rprivate', () => {
    const plan = compile((c) => {
      c.mounts!.push({ destination: '/data//x/', source: 'rootfs', options: ['rbind', 'ro', 'rprivate'] });
    });
    expect(plan.mounts.at(-1)).toEqual({
      source: join(bundle, 'rootfs'),
      destination: '/data/x',
      type: 'bind',
      flags: MS.BIND | MS.REC | MS.RDONLY,
      propagation: MS.PRIVATE | MS.REC,
      kind: 1,
      data: '',
    });
  });

  test('the cgroup mount shows only the container own cgroups, sealed read-only (v1) or cgroup2 (v2)', () => {
    const procs = [
      '/sys/fs/cgroup/memory/berth/c1/cgroup.procs',
      '/sys/fs/cgroup/pids/berth/c1/cgroup.procs',
    ];
    const v1 = compile(undefined, { cgroupProcs: procs, cgroupMode: 'hybrid' }).mounts.filter((m) =>
      m.destination.startsWith('/sys/fs/cgroup'),
    );
    expect(v1.map((m) => [m.kind, m.destination, m.source])).toEqual([
      [0, '/sys/fs/cgroup', 'tmpfs'],
      [1, '/sys/fs/cgroup/memory', '/sys/fs/cgroup/memory/berth/c1'],
      [1, '/sys/fs/cgroup/pids', '/sys/fs/cgroup/pids/berth/c1'],
      [2, '/sys/fs/cgroup', ''],
    ]);
    expect(v1.at(-1)!.flags & MS.RDONLY).toBe(MS.RDONLY);
    const v2 = compile(undefined, {
      cgroupProcs: ['/sys/fs/cgroup/berth/c1/cgroup.procs'],
      cgroupMode: 'v2',
    });
    expect(v2.mounts.find((m) => m.destination === '/sys/fs/cgroup')).toMatchObject({
      type: 'cgroup2',
      kind: 0,
    });
  });

  test('user namespaces carry their maps; sysfs falls back to a bind without a network namespace', () => {
    const plan = compile((c) => {
      c.linux!.namespaces = c.linux!.namespaces!.filter((n) => n.type !== 'network');
      c.linux!.namespaces.push({ type: 'user' });
      c.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      c.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    });
    expect(plan.uidMap).toBe('0 100000 65536\n');
    expect(plan.namespaces & CLONE.user).toBe(CLONE.user);
    expect(plan.mounts.find((m) => m.destination === '/sys')).toMatchObject({ source: '/sys', kind: 1 });
  });

  test('a user namespace joined by path gets no maps written; maps given with it must be its own', () => {
    const own = readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/).map(Number);
    const join = (maps?: Array<{ containerID: number; hostID: number; size: number }>) =>
      compile((c) => {
        c.linux!.namespaces = c.linux!.namespaces!.filter((n) => n.type !== 'network');
        c.linux!.namespaces.push({ type: 'user', path: '/proc/self/ns/user' });
        if (maps) c.linux!.uidMappings = maps;
      });
    const plan = join();
    expect(plan.namespaces & CLONE.user).toBe(0);
    expect(plan.joins).toContainEqual({ type: CLONE.user, path: '/proc/self/ns/user' });
    expect(plan.uidMap).toBeUndefined();
    expect(plan.mounts.find((m) => m.destination === '/sys')).toMatchObject({ source: '/sys', kind: 1 });
    expect(() => join([{ containerID: own[0]!, hostID: own[1]!, size: own[2]! }])).not.toThrow();
    expect(() => join([{ containerID: 0, hostID: 100000, size: 65536 }])).toThrow(
      /^linux\.uidMappings: does not match the uid_map of the joined user namespace/,
    );
  });

  test("rootless: the caller's own ids only, setgroups denied, no supplementary groups", () => {
    const own = (c: OciConfig) => rootlessConfig(c, 1000, 1001);
    const plan = compilePlan(parseConfig(own(defaultConfig({ args: ['true'] }))), {
      bundle,
      rootless: { uid: 1000, gid: 1001 },
    });
    expect(plan.uidMap).toBe('0 1000 1\n');
    expect(plan.gidMap).toBe('0 1001 1\n');
    expect(plan.setgroupsDeny).toBe(true);
    expect(encodePlan(plan).includes(Buffer.from([P.SETGROUPS_DENY, 0, 0, 0, 0, 0, 0, 0]))).toBe(true);
    const rootless = { rootless: { uid: 1000, gid: 1001 } };
    expect(() => compile((c) => Object.assign(c, own(c)), { rootless: { uid: 1000, gid: 5 } })).toThrow(
      /^linux\.gidMappings: a rootless container can map only its own id 5 \(size 1\) and ranges \/etc\/subgid gives it \(none\)/,
    );
    expect(() => compile(undefined, rootless)).toThrow(/^linux\.namespaces: a rootless container needs/);
    expect(() =>
      compile((c) => {
        Object.assign(c, own(c));
        c.process!.user.additionalGids = [5];
      }, rootless),
    ).toThrow(/^process\.user\.additionalGids/);
    // Subordinate ranges go through newuidmap/newgidmap, and only within what the user has.
    const sub = (c: OciConfig) => {
      Object.assign(c, own(c));
      c.linux!.uidMappings!.push({ containerID: 1, hostID: 200000, size: 65536 });
      c.linux!.gidMappings!.push({ containerID: 1, hostID: 200000, size: 65536 });
    };
    const ranges = { subuids: [{ start: 200000, count: 65536 }], subgids: [{ start: 200000, count: 65536 }] };
    const helper = compile(sub, { rootless: { uid: 1000, gid: 1001, ...ranges, idMapTools: true } });
    expect(helper.idMapHelper).toBe(true);
    expect(helper.setgroupsDeny).toBeUndefined();
    expect(() => compile(sub, { rootless: { uid: 1000, gid: 1001, ...ranges } })).toThrow(/need newuidmap/);
    expect(() =>
      compile(sub, {
        rootless: {
          uid: 1000,
          gid: 1001,
          ...ranges,
          subuids: [{ start: 200000, count: 100 }],
          idMapTools: true,
        },
      }),
    ).toThrow(/^linux\.uidMappings: a rootless container can map only its own id 1000/);
    expect(subordinateIds('alice:100000:65536\n1000:300000:10\nbob:1:2\nbad line\n', 'alice', 1000)).toEqual([
      { start: 100000, count: 65536 },
      { start: 300000, count: 10 },
    ]);
    const config = own(defaultConfig());
    expect(config.linux!.resources).toBeUndefined();
    expect(config.mounts!.flatMap((m) => m.options ?? []).some((o) => /^(u|g)id=/.test(o))).toBe(false);
  });

  test('time namespaces carry offsets; sysctls become /proc/sys paths', () => {
    const plan = compile((c) => {
      c.linux!.namespaces!.push({ type: 'time' });
      c.linux!.timeOffsets = { monotonic: { secs: 86400 }, boottime: { secs: 1, nanosecs: 5 } };
      c.linux!.sysctl = { 'net.ipv4.ip_forward': '1' };
    });
    expect(plan.timeOffsets).toBe('monotonic 86400 0\nboottime 1 5\n');
    expect(plan.sysctl).toEqual([['net/ipv4/ip_forward', '1']]);
  });

  test.each<[string, (c: OciConfig) => void, RegExp]>([
    [
      'unknown capability',
      (c) => c.process!.capabilities!.effective!.push('CAP_FLY'),
      /^process\.capabilities\.effective\[14\]: unknown capability "CAP_FLY"$/,
    ],
    [
      'unknown rlimit',
      (c) => (c.process!.rlimits = [{ type: 'RLIMIT_FOO', soft: 1, hard: 1 }]),
      /^process\.rlimits\[0\]\.type/,
    ],
    [
      'soft above hard',
      (c) => (c.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 2, hard: 1 }]),
      /^process\.rlimits\[0\]: soft/,
    ],
    ['empty args', (c) => (c.process!.args = []), /^process\.args/],
    ['env without =', (c) => c.process!.env!.push('NOPE'), /^process\.env\[2\]/],
    [
      'duplicate namespace',
      (c) => c.linux!.namespaces!.push({ type: 'pid' }),
      /^linux\.namespaces\[6\]: duplicate pid/,
    ],
    [
      'no mount namespace',
      (c) => (c.linux!.namespaces = [{ type: 'pid' }]),
      /^linux\.namespaces: Berth needs a mount namespace/,
    ],
    [
      'hostname without uts',
      (c) => (c.linux!.namespaces = c.linux!.namespaces!.filter((n) => n.type !== 'uts')),
      /^hostname: needs a UTS/,
    ],
    ['userns without maps', (c) => c.linux!.namespaces!.push({ type: 'user' }), /^linux\.uidMappings/],
    ['missing rootfs', (c) => (c.root.path = 'nope'), /^root\.path: .*nope is not a directory/],
    [
      'missing bind source',
      (c) => c.mounts!.push({ destination: '/x', type: 'bind', source: '/nonexistent-berth' }),
      /^mounts\[8\]\.source/,
    ],
    [
      'remount option',
      (c) => c.mounts!.push({ destination: '/x', type: 'tmpfs', options: ['remount'] }),
      /^mounts\[8\]\.options\[0\]/,
    ],
    [
      'unknown syscall',
      (c) =>
        (c.linux!.seccomp = {
          defaultAction: 'SCMP_ACT_ALLOW',
          syscalls: [{ names: ['nope'], action: 'SCMP_ACT_ERRNO' }],
        }),
      /^linux\.seccomp\.syscalls\[0\]\.names\[0\]: unknown syscall "nope"/,
    ],
  ])('refuses %s, naming the field', (_name, edit, err) => {
    expect(() => compile(edit)).toThrow(err);
  });

  test('config.json shape errors name the field', () => {
    expect(() =>
      parseConfig({
        ociVersion: '1.2.0',
        root: { path: 'r' },
        process: { cwd: 'rel', user: { uid: 0, gid: 0 } },
      }),
    ).toThrow(/^process\.cwd: must be an absolute path$/);
    expect(() => parseConfig({ ociVersion: '1.2.0' })).toThrow(/^root: /);
    expect(() =>
      parseConfig({ ociVersion: '1.0.2', root: { path: 'r' }, linux: { namespaces: [{ type: 'bogus' }] } }),
    ).toThrow(/^linux\.namespaces\[0\]\.type/);
    expect(() => parseConfig({ ociVersion: 'invalid', root: { path: 'r' } })).toThrow(/^ociVersion: must be/);
  });

  test('mount options: flags cleared and set in order, unknown ones go to data', () => {
    expect(parseMountOptions(['ro', 'rw', 'nosuid', 'size=1m', 'rslave'])).toEqual({
      flags: MS.NOSUID,
      propagation: MS.SLAVE | MS.REC,
      data: 'size=1m',
    });
  });
});

describe('the wire format', () => {
  // A reader with the same rules as native/plan.c.
  function records(buf: Buffer): Array<[number, Buffer]> {
    expect(buf.subarray(0, 4).toString()).toBe('BRT1');
    const out: Array<[number, Buffer]> = [];
    let pos = 4;
    while (pos < buf.length) {
      const type = buf.readUInt32LE(pos);
      const len = buf.readUInt32LE(pos + 4);
      out.push([type, buf.subarray(pos + 8, pos + 8 + len)]);
      pos += 8 + Math.ceil(len / 4) * 4;
    }
    expect(pos).toBe(buf.length);
    return out;
  }

  test('records are 4-byte aligned, strings NUL-terminated, order kept', () => {
    const plan = compile((c) => {
      c.process!.args = ['sh', '-c', 'echo hi'];
    });
    const recs = records(encodePlan(plan));
    expect(recs.filter(([t]) => t === P.ARG).map(([, b]) => b.toString())).toEqual([
      'sh\0',
      '-c\0',
      'echo hi\0',
    ]);
    const mount = recs.find(([t]) => t === P.MOUNT)!;
    expect(mount[1].readBigUInt64LE(0)).toBe(0n); // /proc: no flags
    expect(mount[1].subarray(24).toString()).toBe('proc\0/proc\0proc\0\0');
    const caps = recs.find(([t]) => t === P.CAPS)![1];
    expect(caps.readBigUInt64LE(0)).toBe(0xa80425fbn);
    expect(recs.some(([t]) => t === P.NNP)).toBe(true);
  });

  test('a plan for a warm cell names the cell and writes no cgroup.procs (init is born inside)', () => {
    const procs = ['/sys/fs/cgroup/pids/berth/pool/1-2/a1/cgroup.procs'];
    const moved = records(encodePlan({ args: ['true'], cgroupProcs: procs }));
    expect(moved.filter(([t]) => t === P.CGROUP_PROCS).map(([, b]) => b.toString())).toEqual([
      `${procs[0]}\0`,
    ]);
    const born = records(encodePlan({ args: ['true'], cgroupProcs: procs, cell: 'c7' }));
    expect(born.some(([t]) => t === P.CGROUP_PROCS)).toBe(false);
    expect(born.find(([t]) => t === P.CELL)![1].toString()).toBe('c7\0');
    const prepare = records(encodePlan({ args: [], cgroupProcs: procs, cellPrepare: true }));
    expect(prepare.filter(([t]) => t === P.CGROUP_PROCS || t === P.CELL_PREPARE).map(([t]) => t)).toEqual([
      P.CGROUP_PROCS,
      P.CELL_PREPARE,
    ]);
  });

  test('a NUL inside a string is refused', () => {
    expect(() => encodePlan({ args: ['a\0b'] })).toThrow(/NUL/);
  });
});
