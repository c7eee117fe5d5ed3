// Needs root: real namespaces, mounts, pivot_root and the native helper. Each test runs a
// busybox container and checks one behaviour from inside it.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { Runtime } from '../src/container/runtime.ts';
import {
  busyboxRootfs,
  deleteAll,
  hostMountsUnder,
  makeBundle,
  processesUsing,
  removeScratch,
  runCaptured,
  scratch,
} from './fixtures.ts';

let base: string;
let rootfs: string;
let rt: Runtime;
let n = 0;
const id = () => `berth-test-${process.pid}-${++n}`;
const sh = (script: string) => (c: import('../src/spec/config.ts').OciConfig) => {
  c.process!.args = ['sh', '-c', script];
};

beforeAll(() => {
  base = scratch();
  chmodSync(base, 0o755); // container root in a user namespace must reach the rootfs
  rootfs = busyboxRootfs(base);
  rt = new Runtime({ root: join(base, 'state'), cgroups: false });
});
afterEach(async () => deleteAll(rt));
afterAll(() => removeScratch(base));

describe('process and namespaces', () => {
  test('the command is PID 1 with the hostname, env, cwd, user and umask of the config', async () => {
    const bundle = makeBundle(base, 'proc', rootfs, (c) => {
      sh('echo pid=$$; hostname; echo foo=$FOO; pwd; id -u; id -g; id -G; umask')(c);
      c.hostname = 'berth-box';
      c.process!.env!.push('FOO=bar');
      c.process!.cwd = '/tmp';
      c.process!.user = { uid: 1000, gid: 1001, additionalGids: [1002], umask: 0o027 };
    });
    const r = await runCaptured(rt, id(), bundle);
    expect(r.out.split('\n')).toEqual([
      'pid=1',
      'berth-box',
      'foo=bar',
      '/tmp',
      '1000',
      '1001',
      '1001 1002',
      '0027',
      '',
    ]);
    expect(r.code).toBe(0);
  });

  test('exit codes and signals are reported', async () => {
    const r1 = await runCaptured(rt, id(), makeBundle(base, 'exit', rootfs, sh('exit 42')));
    expect(r1).toMatchObject({ code: 42, signal: 0 });
  });

  test("capabilities are Docker's set, no_new_privs is on, rlimits apply", async () => {
    const bundle = makeBundle(base, 'caps', rootfs, (c) => {
      sh('grep -E "^(CapBnd|CapEff|CapPrm|CapInh|CapAmb|NoNewPrivs)" /proc/self/status; ulimit -n')(c);
      c.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 321, hard: 654 }];
    });
    const { out } = await runCaptured(rt, id(), bundle);
    // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW
    // SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP = 0xa80425fb
    expect(out).toContain('CapBnd:\t00000000a80425fb');
    expect(out).toContain('CapEff:\t00000000a80425fb');
    expect(out).toContain('CapInh:\t0000000000000000');
    expect(out).toContain('NoNewPrivs:\t1');
    expect(out.trim().split('\n').at(-1)).toBe('321');
  });

  test('ambient capabilities reach a non-root user', async () => {
    const bundle = makeBundle(base, 'ambient', rootfs, (c) => {
      sh('grep -E "^(CapEff|CapAmb)" /proc/self/status')(c);
      c.process!.user = { uid: 1000, gid: 1000 };
      const caps = ['CAP_NET_BIND_SERVICE'];
      c.process!.capabilities = {
        bounding: caps,
        effective: caps,
        permitted: caps,
        inheritable: caps,
        ambient: caps,
      };
    });
    const { out } = await runCaptured(rt, id(), bundle);
    expect(out).toContain('CapEff:\t0000000000000400');
    expect(out).toContain('CapAmb:\t0000000000000400');
  });

  test('a new network namespace has only loopback; IPC and UTS are private', async () => {
    const bundle = makeBundle(base, 'net', rootfs, sh('ls /sys/class/net; cat /proc/sys/kernel/hostname'));
    const { out } = await runCaptured(rt, id(), bundle);
    expect(out).toBe('lo\nberth\n');
  });

  /** Container root as host uid 200000, ids 0-65535 mapped; devpts without a host gid. */
  const inUserNamespace = (c: import('../src/spec/config.ts').OciConfig) => {
    c.linux!.namespaces!.push({ type: 'user' });
    c.linux!.uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
    c.linux!.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
    const devpts = c.mounts!.find((m) => m.destination === '/dev/pts')!;
    devpts.options = devpts.options!.filter((o) => !o.startsWith('gid='));
  };

  test('a user namespace maps container root to an unprivileged host uid', async () => {
    const bundle = makeBundle(base, 'userns', rootfs, (c) => {
      sh('cat /proc/self/uid_map /proc/self/gid_map; id -u; ls /dev; touch /tmp/x && stat -c %u /tmp/x')(c);
      inUserNamespace(c);
    });
    const r = await runCaptured(rt, id(), bundle);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n').map((l) => l.trim().replace(/\s+/g, ' '));
    expect(lines[0]).toBe('0 200000 65536');
    expect(lines[1]).toBe('0 200000 65536');
    expect(lines[2]).toBe('0');
    expect(r.out).toContain('null');
    expect(lines.at(-2)).toBe('0');
  });

  test('rlimits reach init in a user namespace, up to what the host allows', async () => {
    // Raising a hard limit needs CAP_SYS_RESOURCE of the host, which init in its user
    // namespace lacks: the monitor gives init its limits while it is still host root. Where
    // root itself lacks CAP_SYS_RESOURCE (as on the CI VMs), the caller's hard limit is the top.
    const capEff = BigInt(
      `0x${/^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`,
    );
    const ownHard = /^Max open files\s+\d+\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))![1]!;
    const nrOpen =
      capEff & (1n << 24n) ? Number(readFileSync('/proc/sys/fs/nr_open', 'utf8')) : Number(ownHard);
    const bundle = makeBundle(base, 'userns-rlimit', rootfs, (c) => {
      sh('ulimit -Sn; ulimit -Hn')(c);
      inUserNamespace(c);
      c.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 4096, hard: nrOpen }];
    });
    const r = await runCaptured(rt, id(), bundle);
    expect([r.code, r.out.trim().split('\n')]).toEqual([0, ['4096', String(nrOpen)]]);
  });

  test("seccomp: the plan's filter is installed last and a blocked syscall fails with EPERM", async () => {
    // A hand-assembled filter (the seccomp compiler has its own tests): on x86_64,
    // mkdir and mkdirat → ERRNO(EPERM), everything else allowed.
    const ins = (code: number, jt: number, jf: number, k: number) => {
      const b = Buffer.alloc(8);
      b.writeUInt16LE(code, 0);
      b.writeUInt8(jt, 2);
      b.writeUInt8(jf, 3);
      b.writeUInt32LE(k >>> 0, 4);
      return b;
    };
    const LD = 0x20;
    const JEQ = 0x15;
    const RET = 0x06;
    const filter = Buffer.concat([
      ins(LD, 0, 0, 4), // arch
      ins(JEQ, 0, 4, 0xc000003e),
      ins(LD, 0, 0, 0), // nr
      ins(JEQ, 1, 0, 83), // mkdir
      ins(JEQ, 0, 1, 258), // mkdirat
      ins(RET, 0, 0, 0x00050000 | 1), // SECCOMP_RET_ERRNO | EPERM
      ins(RET, 0, 0, 0x7fff0000), // ALLOW
    ]);
    const bundle = makeBundle(base, 'seccomp', rootfs, (c) => {
      sh('grep ^Seccomp: /proc/self/status; mkdir /tmp/d 2>&1; echo rc=$?')(c);
      c.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW' };
    });
    const seccompRt = new Runtime({
      root: join(base, 'state'),
      cgroups: false,
      compileSeccomp: () => filter,
    });
    const { out } = await runCaptured(seccompRt, id(), bundle);
    expect(out).toContain('Seccomp:\t2');
    expect(out).toMatch(/Operation not permitted/);
    expect(out).toContain('rc=1');
  });

  test("Berth's default seccomp profile refuses unshare and mount with EPERM, even with CAP_SYS_ADMIN", async () => {
    const bundle = makeBundle(base, 'seccomp-default', rootfs, (c) => {
      c.root.readonly = false;
      sh(
        'grep ^Seccomp: /proc/self/status; unshare -U true 2>&1; echo rc=$?; mount -t tmpfs none /mnt 2>&1; echo rc=$?',
      )(c);
      // CAP_SYS_ADMIN would let mount through to the kernel; the profile must refuse it anyway.
      c.process!.capabilities!.bounding!.push('CAP_SYS_ADMIN');
      c.process!.capabilities!.effective!.push('CAP_SYS_ADMIN');
      c.process!.capabilities!.permitted!.push('CAP_SYS_ADMIN');
    });
    const { out } = await runCaptured(rt, id(), bundle);
    expect(out).toContain('Seccomp:\t2');
    expect(out).toMatch(/unshare.*Operation not permitted\nrc=1\n/);
    expect(out).toMatch(/mount: permission denied.*\nrc=1\n/);
  });
  test('startContainer hooks run inside the container before the process, with the state on stdin', async () => {
    const cid = id();
    const bundle = makeBundle(base, 'hook-in', rootfs, (c) => {
      sh('echo process')(c);
      c.hooks = {
        startContainer: [
          { path: '/bin/sh', args: ['sh', '-c', 'echo "hook $(hostname) $(grep -o running)"'] },
        ],
      };
    });
    const { out } = await runCaptured(rt, cid, bundle);
    expect(out).toBe('hook berth running\nprocess\n');
  });

  test('a time namespace shifts CLOCK_MONOTONIC by the configured offset', async () => {
    const bundle = makeBundle(base, 'timens', rootfs, (c) => {
      sh('cut -d. -f1 /proc/uptime')(c);
      c.linux!.namespaces!.push({ type: 'time' });
      c.linux!.timeOffsets = { boottime: { secs: 10 * 86400 }, monotonic: { secs: 10 * 86400 } };
    });
    const hostUptime = Number(readFileSync('/proc/uptime', 'utf8').split('.')[0]);
    const { out, code } = await runCaptured(rt, id(), bundle);
    expect(code).toBe(0);
    expect(Number(out.trim()) - hostUptime).toBeGreaterThanOrEqual(10 * 86400 - 5);
  });

  test('a namespace given by path is joined', async () => {
    const nsFile = join(base, 'netns-berth-test');
    writeFileSync(nsFile, '');
    execFileSync('unshare', [`--net=${nsFile}`, 'true']);
    try {
      const bundle = makeBundle(base, 'join', rootfs, (c) => {
        sh('readlink /proc/self/ns/net')(c);
        c.linux!.namespaces = c.linux!.namespaces!.map((n) =>
          n.type === 'network' ? { type: 'network', path: nsFile } : n,
        );
      });
      const { out } = await runCaptured(rt, id(), bundle);
      expect(out.trim()).toBe(`net:[${statSync(nsFile).ino}]`);
    } finally {
      execFileSync('umount', [nsFile]);
    }
  });
});

describe('filesystem', () => {
  test('pivot_root into a read-only root with the configured mounts, default devices and a new devpts', async () => {
    const bundle = makeBundle(
      base,
      'fs',
      rootfs,
      sh(
        'cat /proc/self/mountinfo; echo ---; ls /dev; echo ---; ls /dev/pts; touch /x 2>&1; cat /proc/1/root/../../../etc/hostname 2>&1 || true',
      ),
    );
    const { out } = await runCaptured(rt, id(), bundle);
    const [mountinfo, dev, pts] = out.split('---\n');
    const mounts = mountinfo!
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const f = l.split(' ');
        return { target: f[4]!, opts: f[5]!, fstype: f[f.indexOf('-') + 1]! };
      });
    expect(mounts[0]).toMatchObject({ target: '/' });
    expect(mounts[0]!.opts.split(',')).toContain('ro');
    for (const [target, fstype] of [
      ['/proc', 'proc'],
      ['/dev', 'tmpfs'],
      ['/dev/pts', 'devpts'],
      ['/dev/shm', 'tmpfs'],
      ['/dev/mqueue', 'mqueue'],
      ['/sys', 'sysfs'],
      ['/tmp', 'tmpfs'],
    ])
      expect(mounts.find((m) => m.target === target)?.fstype, target).toBe(fstype);
    expect(mounts.find((m) => m.target === '/sys')!.opts.split(',')).toContain('ro');
    expect(mountinfo).not.toContain('/work');
    expect(dev!.split('\n').filter(Boolean).sort()).toEqual(
      [
        'fd',
        'full',
        'mqueue',
        'null',
        'ptmx',
        'pts',
        'random',
        'shm',
        'stderr',
        'stdin',
        'stdout',
        'tty',
        'urandom',
        'zero',
      ].sort(),
    );
    expect(pts!.split('\n')[0]).toBe('ptmx');
    expect(out).toMatch(/Read-only file system/);
  });

  test('masked paths read empty and read-only /proc paths refuse writes', async () => {
    const bundle = makeBundle(
      base,
      'mask',
      rootfs,
      sh(
        'echo keys=$(wc -c < /proc/keys); echo timer=$(wc -c < /proc/timer_list); echo fw=$(ls /sys/firmware | wc -l); ' +
          'echo 1 > /proc/sys/kernel/domainname 2>/dev/null; echo sys=$?; echo x > /proc/sysrq-trigger 2>/dev/null; echo sysrq=$?; ' +
          'grep -c " /proc/sys " /proc/self/mountinfo',
      ),
    );
    const { out } = await runCaptured(rt, id(), bundle);
    expect(out).toContain('keys=0');
    expect(out).toContain('timer=0');
    expect(out).toContain('fw=0');
    expect(out).toContain('sys=1');
    expect(out).toContain('sysrq=1');
  });

  test('bind mounts: ro, a file, and a relative source', async () => {
    const host = join(base, 'share');
    mkdirSync(host, { recursive: true });
    writeFileSync(join(host, 'hello'), 'from the host\n');
    const bundle = makeBundle(base, 'bind', rootfs, (c) => {
      sh('cat /mnt/share/hello; echo x > /mnt/share/y 2>&1; cat /etc/greeting')(c);
      c.mounts!.push({ destination: '/mnt/share', type: 'bind', source: host, options: ['rbind', 'ro'] });
      c.mounts!.push({ destination: '/etc/greeting', type: 'bind', source: 'greeting', options: ['bind'] });
    });
    writeFileSync(join(bundle, 'greeting'), 'hi\n');
    const { out } = await runCaptured(rt, id(), bundle);
    expect(out).toMatch(/^from the host\n.*Read-only file system\nhi\n$/s);
    expect(existsSync(join(host, 'y'))).toBe(false);
  });

  test('mount destinations resolve inside the rootfs: a symlink to a host path cannot escape', async () => {
    // A rootfs of its own whose /mnt is an absolute symlink to a host directory.
    const evil = busyboxRootfs(base, 'evil-rootfs');
    const hostDir = join(base, 'host-target');
    mkdirSync(hostDir);
    writeFileSync(join(hostDir, 'precious'), 'keep\n');
    symlinkSync(hostDir, join(evil, 'mnt'));
    mkdirSync(join(evil, hostDir), { recursive: true });
    const bundle = makeBundle(base, 'evil', evil, (c) => {
      sh('touch /mnt/inside && grep -c " /mnt " /proc/self/mountinfo; ls /mnt')(c);
      // (the default /tmp tmpfs would hide the symlink's target, which lives under /tmp)
      c.mounts = c.mounts!.filter((m) => m.destination !== '/tmp');
      c.mounts!.push({ destination: '/mnt', type: 'tmpfs', source: 'tmpfs', options: [] });
    });
    const r = await runCaptured(rt, id(), bundle);
    // The tmpfs went on <evil><hostDir>, inside the rootfs; the host's directory is untouched.
    expect(r.code).toBe(0);
    expect(r.out).toBe(`0\ninside\n`);
    expect(hostMountsUnder(hostDir)).toEqual([]);
    expect(readdirSync(hostDir)).toEqual(['precious']);
  });

  test('a dangling symlink out of the rootfs as a mount destination fails safely', async () => {
    const evil = busyboxRootfs(base, 'evil2-rootfs');
    const hostDir = join(base, 'host-target2');
    mkdirSync(hostDir);
    symlinkSync(hostDir, join(evil, 'mnt'));
    const bundle = makeBundle(base, 'evil2', evil, (c) => {
      c.mounts!.push({ destination: '/mnt', type: 'tmpfs', source: 'tmpfs', options: [] });
    });
    await expect(rt.create(id(), { bundle, stdio: 'ignore' })).rejects.toThrow(/mount \/mnt: destination/);
    expect(hostMountsUnder(hostDir)).toEqual([]);
    expect(readdirSync(hostDir)).toEqual([]);
  });
});

describe('lifecycle and errors', () => {
  test('create → created, start → running, kill → stopped, delete; wrong transitions are refused', async () => {
    const bundle = makeBundle(base, 'life', rootfs, sh('sleep 30'));
    const cid = id();
    const { pid } = await rt.create(cid, { bundle, stdio: 'ignore' });
    expect(rt.state(cid)).toMatchObject({ id: cid, status: 'created', pid, bundle });
    await expect(rt.delete(cid)).rejects.toThrow(/created/);
    await expect(
      rt.exec(cid, { process: { args: ['true'], cwd: '/', user: { uid: 0, gid: 0 } } }),
    ).rejects.toThrow(/cannot exec .* it is created/);
    await rt.start(cid);
    expect(rt.state(cid).status).toBe('running');
    await expect(rt.start(cid)).rejects.toThrow(/cannot start .* it is running/);
    await expect(rt.create(cid, { bundle })).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    const waiting = rt.wait(cid);
    await rt.kill(cid, 'KILL');
    expect(await waiting).toEqual({ code: -1, signal: 9 });
    expect(rt.state(cid).status).toBe('stopped');
    await expect(rt.kill(cid, 'TERM')).rejects.toThrow(/stopped/);
    await rt.delete(cid);
    expect(() => rt.state(cid)).toThrow(/does not exist/);
  });

  test('exec runs in the container with pipes and returns the exit code', async () => {
    const bundle = makeBundle(base, 'exec', rootfs, sh('sleep 30'));
    const cid = id();
    await rt.create(cid, { bundle, stdio: 'ignore' });
    await rt.start(cid);
    const outFile = join(base, 'exec.out');
    const { openSync, closeSync, readFileSync } = await import('node:fs');
    const fd = openSync(outFile, 'w');
    const r = await rt.exec(cid, {
      process: {
        args: ['sh', '-c', 'hostname; ps -o pid,args | grep -c sleep; ulimit -Sn; ulimit -Hn; exit 7'],
        cwd: '/',
        user: { uid: 0, gid: 0 },
        env: ['PATH=/bin'],
        rlimits: [{ type: 'RLIMIT_NOFILE', soft: 123, hard: 456 }],
      },
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    expect(await r.exit).toBe(7);
    expect(readFileSync(outFile, 'utf8')).toMatch(/^berth\n[1-9]\d*\n123\n456\n$/);
    const missing = await rt.exec(cid, {
      process: { args: ['/nope'], cwd: '/', user: { uid: 0, gid: 0 } },
      stdio: 'ignore',
    });
    await expect(missing.exit).rejects.toThrow(/exec \/nope/);
  });

  test('bad input names the field and leaves nothing behind', async () => {
    const cases: Array<[string, (c: import('../src/spec/config.ts').OciConfig) => void, RegExp]> = [
      [
        'cap',
        (c) => c.process!.capabilities!.bounding!.push('CAP_NOPE'),
        /process\.capabilities\.bounding\[14\]: unknown capability "CAP_NOPE"/,
      ],
      ['rootfs', (c) => (c.root.path = join(base, 'no-such-rootfs')), /root\.path/],
      ['cwd', (c) => (c.process!.cwd = 'relative'), /process\.cwd/],
      [
        'rlimit',
        (c) => c.process!.rlimits!.push({ type: 'RLIMIT_NOPE', soft: 1, hard: 1 }),
        /process\.rlimits\[1\]\.type/,
      ],
    ];
    for (const [name, edit, err] of cases) {
      const cid = id();
      await expect(rt.create(cid, { bundle: makeBundle(base, `bad-${name}`, rootfs, edit) })).rejects.toThrow(
        err,
      );
      expect(existsSync(join(base, 'state', cid))).toBe(false);
    }
  });

  test('a failure half-way (a mount fails) rolls everything back', async () => {
    const bundle = makeBundle(base, 'rollback', rootfs, (c) => {
      c.mounts!.push({ destination: '/mnt', type: 'no-such-fs', source: 'none' });
    });
    const cid = id();
    const stateDir = join(base, 'state', cid);
    await expect(rt.create(cid, { bundle, stdio: 'ignore' })).rejects.toThrow(
      /mount none \(no-such-fs\) on \/mnt: No such device/,
    );
    expect(existsSync(stateDir)).toBe(false);
    expect(processesUsing(stateDir)).toEqual([]);
    expect(processesUsing(rootfs)).toEqual([]);
    expect(hostMountsUnder(rootfs)).toEqual([]);
  });
});
