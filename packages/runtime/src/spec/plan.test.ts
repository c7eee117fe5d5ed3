import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { type OciConfig, parseConfig } from './config.ts';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, defaultConfig, rootlessConfig } from './defaults.ts';
import { encodePlan, P } from './encode.ts';
import { CLONE, DOCKER_DEFAULT_CAPABILITIES, MS } from './linux.ts';
import { parseMountOptions } from './mounts.ts';
import { capabilityMask, compilePlan, type Plan, subordinateIds } from './plan.ts';

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

  test('a plan with every field encodes to exactly its fixed bytes, padding zeroed', () => {
    const full: Plan = {
      requestId: 'req-1',
      namespaces: 0x7c020000,
      joins: [{ type: 0x40000000, path: '/proc/42/ns/net' }],
      uidMap: '0 100000 65536\n',
      gidMap: '0 100000 65536\n',
      setgroupsDeny: true,
      idMapHelper: true,
      timeOffsets: 'monotonic 10 0\n',
      cgroupProcs: [
        '/sys/fs/cgroup/pids/berth-test/cgroup.procs',
        '/sys/fs/cgroup/memory/berth-test/cgroup.procs',
      ],
      cgroupDelegate: { uid: 100000, gid: 100000, dirs: ['/sys/fs/cgroup/unified/berth-test'] },
      cellPrepare: true,
      cellDiscard: 'c9',
      rootfs: '/var/lib/berth/c1/rootfs',
      rootReadonly: true,
      rootPropagation: 0x40000,
      mounts: [
        { source: 'proc', destination: '/proc', type: 'proc', flags: 0, propagation: 0, kind: 0, data: '' },
        {
          source: '/host/dir',
          destination: '/mnt',
          type: 'none',
          flags: 0x1001,
          propagation: 0x100000,
          kind: 1,
          data: 'mode=755',
        },
      ],
      devices: [{ path: '/dev/null', mode: 0o20666, major: 1, minor: 3, uid: 0, gid: 0 }],
      symlinks: [{ target: '/proc/self/fd', path: '/dev/fd' }],
      masked: ['/proc/kcore'],
      readonly: ['/proc/sys'],
      hostname: 'hôte',
      domainname: 'example.test',
      sysctl: [['net.ipv4.ip_forward', '1']],
      rlimits: [{ resource: 7, soft: 1024n, hard: 524288n }],
      oomScoreAdj: -500,
      uid: 1000,
      gid: 1001,
      umask: 0o22,
      additionalGids: [10, 20],
      caps: {
        bounding: 0xa80425fbn,
        effective: 0xa80425fbn,
        permitted: 0xa80425fbn,
        inheritable: 0n,
        ambient: 1n,
      },
      noNewPrivileges: true,
      seccomp: { filter: Buffer.from('0600000000000000', 'hex'), flags: 8 },
      cwd: '/home/user',
      args: ['sh', '-c', 'echo grüße'],
      env: ['PATH=/usr/bin:/bin', 'TERM=xterm'],
      terminal: { rows: 24, cols: 80 },
      consoleSocket: '/run/console.sock',
      attachSocket: '/run/attach.sock',
      exitFile: '/run/exit',
      stateDir: '/run/berth/c1',
      logMax: 1048576,
      autostart: true,
      reportStart: true,
      targetPid: 4242,
      stdio: ['/dev/null', '/run/out', '/run/err'],
      preserveFds: 2,
      startHooks: [{ path: '/bin/start-hook' }],
      createHooks: [{ path: '/bin/create-hook', args: ['create-hook', '--x'], env: ['A=1'], timeout: 5 }],
      prestartHooks: [{ path: '/bin/prestart', args: [] }],
      createRuntimeHooks: [{ path: '/bin/runtime-hook', env: ['B=2', 'C=3'] }],
      stateJson: '{"pid":-1}',
      runtimeStateJson: '{"status":"creating"}',
      seccompListener: { path: '/run/listener.sock', state: '{"pid":-1}' },
    };
    // Each record as native/plan.c reads it: its type and its payload (hex).
    const expected: Array<[number, string]> = [
      [P.REQUEST_ID, '7265712d3100'],
      [P.NS_FLAGS, '0000027c00000000'],
      [P.NS_JOIN, '000000402f70726f632f34322f6e732f6e657400'],
      [P.UID_MAP, '30203130303030302036353533360a00'],
      [P.GID_MAP, '30203130303030302036353533360a00'],
      [P.SETGROUPS_DENY, ''],
      [P.ID_MAP_HELPER, ''],
      [P.TIMENS, '6d6f6e6f746f6e696320313020300a00'],
      [
        P.CGROUP_PROCS,
        '2f7379732f66732f6367726f75702f706964732f62657274682d746573742f6367726f75702e70726f637300',
      ],
      [
        P.CGROUP_PROCS,
        '2f7379732f66732f6367726f75702f6d656d6f72792f62657274682d746573742f6367726f75702e70726f637300',
      ],
      [
        P.CGROUP_DELEGATE,
        'a0860100a08601002f7379732f66732f6367726f75702f756e69666965642f62657274682d7465737400',
      ],
      [P.CELL_PREPARE, ''],
      [P.CELL_DISCARD, '633900'],
      [P.ROOTFS, '2f7661722f6c69622f62657274682f63312f726f6f74667300'],
      [P.ROOT_RO, ''],
      [P.ROOT_PROPAGATION, '0000040000000000'],
      [P.MOUNT, '00000000000000000000000000000000000000000000000070726f63002f70726f630070726f630000'],
      [
        P.MOUNT,
        '0110000000000000000010000000000001000000000000002f686f73742f646972002f6d6e74006e6f6e65006d6f64653d37353500',
      ],
      [P.DEVICE, 'b6210000010000000300000000000000000000002f6465762f6e756c6c00'],
      [P.SYMLINK, '2f70726f632f73656c662f6664002f6465762f666400'],
      [P.MASKED, '2f70726f632f6b636f726500'],
      [P.READONLY, '2f70726f632f73797300'],
      [P.HOSTNAME, '68c3b4746500'],
      [P.DOMAINNAME, '6578616d706c652e7465737400'],
      [P.SYSCTL, '6e65742e697076342e69705f666f7277617264003100'],
      [P.RLIMIT, '070000000000000000040000000000000000080000000000'],
      [P.OOM_SCORE, '0cfeffff'],
      [P.USER, 'e8030000e903000012000000020000000a00000014000000'],
      [P.CAPS, 'fb2504a800000000fb2504a800000000fb2504a80000000000000000000000000100000000000000'],
      [P.NNP, ''],
      [P.SECCOMP, '08000000000000000600000000000000'],
      [P.CWD, '2f686f6d652f7573657200'],
      [P.ARG, '736800'],
      [P.ARG, '2d6300'],
      [P.ARG, '6563686f206772c3bcc39f6500'],
      [P.ENV, '504154483d2f7573722f62696e3a2f62696e00'],
      [P.ENV, '5445524d3d787465726d00'],
      [P.TERMINAL, '18005000'],
      [P.CONSOLE_SOCKET, '2f72756e2f636f6e736f6c652e736f636b00'],
      [P.ATTACH_SOCKET, '2f72756e2f6174746163682e736f636b00'],
      [P.EXIT_FILE, '2f72756e2f6578697400'],
      [P.STATE_DIR, '2f72756e2f62657274682f633100'],
      [P.LOG_MAX, '0000100000000000'],
      [P.AUTOSTART, ''],
      [P.REPORT_START, ''],
      [P.TARGET_PID, '9210000000000000'],
      [P.STDIO, '2f6465762f6e756c6c002f72756e2f6f7574002f72756e2f65727200'],
      [P.PRESERVE_FDS, '02000000'],
      [P.HOOK, '00000000000000002f62696e2f73746172742d686f6f6b002f62696e2f73746172742d686f6f6b0000'],
      [
        P.HOOK,
        '01000000050000002f62696e2f6372656174652d686f6f6b006372656174652d686f6f6b002d2d780000413d3100',
      ],
      [P.HOOK, '02000000000000002f62696e2f7072657374617274002f62696e2f70726573746172740000'],
      [
        P.HOOK,
        '03000000000000002f62696e2f72756e74696d652d686f6f6b002f62696e2f72756e74696d652d686f6f6b0000423d3200433d3300',
      ],
      [P.STATE_JSON, '7b22706964223a2d317d00'],
      [P.RUNTIME_STATE, '7b22737461747573223a226372656174696e67227d00'],
      [P.SECCOMP_LISTENER, '2f72756e2f6c697374656e65722e736f636b007b22706964223a2d317d00'],
    ];
    const bytes = Buffer.concat([
      Buffer.from('BRT1'),
      ...expected.map(([type, hex]) => {
        const payload = Buffer.from(hex, 'hex');
        const head = Buffer.alloc(8);
        head.writeUInt32LE(type, 0);
        head.writeUInt32LE(payload.length, 4);
        return Buffer.concat([head, payload, Buffer.alloc((4 - (payload.length % 4)) % 4)]);
      }),
    ]);
    expect(encodePlan(full).equals(bytes)).toBe(true);
    expect(records(encodePlan(full)).map(([t, b]) => [t, b.toString('hex')])).toEqual(expected);
  });

  test('a NUL inside a string is refused', () => {
    expect(() => encodePlan({ args: ['a\0b'] })).toThrow(/NUL/);
  });
});
