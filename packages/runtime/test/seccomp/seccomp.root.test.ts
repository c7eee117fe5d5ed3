// Needs the real kernel: a process installs Berth's compiled filter with seccomp(2) and reports
// what its syscalls return. It runs as root on purpose: with CAP_SYS_ADMIN the kernel would let
// unshare, mount and the rest through, so only the filter can be refusing them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  compileSeccomp,
  defaultSeccompProfile,
  hostSeccompArch,
  type LinuxSeccomp,
} from '../../src/seccomp/index.ts';

const here = dirname(fileURLToPath(import.meta.url));
const arch = hostSeccompArch()!;
let dir: string;
let probe: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-seccomp-'));
  probe = join(dir, 'seccomp-probe');
  const cc = spawnSync('cc', ['-O1', '-Wall', '-o', probe, join(here, 'seccomp-probe.c')], {
    encoding: 'utf8',
  });
  if (cc.status !== 0) throw new Error(`cc failed: ${cc.stderr}`);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function runProbe(profile: LinuxSeccomp, ...args: string[]) {
  const file = join(dir, `filter-${Math.random().toString(36).slice(2)}.bpf`);
  writeFileSync(file, compileSeccomp(profile, arch));
  const r = spawnSync(probe, [file, ...args], { encoding: 'utf8', timeout: 20_000 });
  const results = Object.fromEntries(
    r.stdout
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => l.split('=', 2) as [string, string]),
  );
  return { ...r, results };
}

describe('a compiled filter in a real process', () => {
  it('the kernel accepts Berth’s default profile and enforces it', () => {
    const r = runProbe(defaultSeccompProfile({ arch }));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const EPERM = 'err1';
    expect(r.results).toMatchObject({
      installed: 'ok',
      getpid: 'ok',
      read: 'ok',
      write: 'ok',
      unshare: EPERM,
      mount: EPERM,
      umount2: EPERM,
      setns: EPERM,
      keyctl: EPERM,
      add_key: EPERM,
      clone3: 'err38', // ENOSYS
      clone_newuser: EPERM,
      io_uring_setup: EPERM,
      bpf: EPERM,
      personality_query: 'ok',
      personality_no_randomize: EPERM,
      socket_unix: 'ok',
      socket_vsock: EPERM,
      socket_vsock_high: EPERM, // the kernel would read 0x1_00000028 as AF_VSOCK
      fork: 'ok',
    });
    expect(r.stdout).toMatch(/^status_Seccomp:\s+2$/m);
  });

  it('without the filter the same probes would succeed or fail differently (the test can fail)', () => {
    const r = runProbe({ defaultAction: 'SCMP_ACT_ALLOW' });
    expect(r.status).toBe(0);
    expect(r.results.unshare).toBe('ok');
    expect(r.results.mount).not.toBe('err1');
    expect(r.results.clone3).not.toBe('err38');
  });

  it.runIf(arch === 'x86_64')('filters i386 syscalls (int 0x80) with the i386 numbers, or kills them', () => {
    const profile = defaultSeccompProfile({ arch });
    const r = runProbe(profile, 'i386');
    expect(r.status).toBe(0);
    expect(r.results).toMatchObject({ i386_getpid: 'ok', i386_unshare: 'err1', i386_keyctl: 'err1' });
    const without = runProbe({ ...profile, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X32'] }, 'i386');
    expect(without.results.installed).toBe('ok');
    expect(without.signal).toBe('SIGSYS');
    expect(without.results.i386_getpid).toBeUndefined();
  });

  it.runIf(arch === 'x86_64')('filters x32 syscall numbers with the x32 table, or kills them', () => {
    const profile = defaultSeccompProfile({ arch });
    const r = runProbe(profile, 'x32');
    expect(r.status).toBe(0);
    // Allowed by the filter; this kernel may or may not have the x32 ABI itself.
    expect(['ok', 'err38']).toContain(r.results.x32_getpid);
    expect(r.results.x32_unshare).toBe('err1');
    const without = runProbe({ ...profile, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'] }, 'x32');
    expect(without.results.installed).toBe('ok');
    expect(without.signal).toBe('SIGSYS');
  });

  it('runs real programs under the default profile: a busybox shell and Node.js', () => {
    const profile = defaultSeccompProfile({ arch });
    const work = join(dir, 'work');
    const script = [
      'set -e',
      `mkdir -p ${work}/a/b && cd ${work}`,
      'echo hello > a/b/f && cp a/b/f g && cat g',
      'ls a/b | wc -l',
      'tar -cf t.tar a && rm -r a && tar -xf t.tar && cat a/b/f',
      'printf "3\n1\n2\n" | sort | tr "\n" " "',
      'ln -s g link && readlink link',
      'id -u >/dev/null && date +%s >/dev/null && ps >/dev/null',
      '(sleep 0; echo sub) & wait',
      'grep Seccomp: /proc/self/status | tr -d "\t "',
      'unshare -U true 2>/dev/null && echo unshare-allowed || echo unshare-refused',
    ].join('\n');
    const sh = runProbe(profile, 'exec', '/bin/busybox', 'sh', '-c', script);
    expect(sh.stderr).toBe('');
    expect(sh.status).toBe(0);
    expect(sh.stdout.split('\n').slice(1).join('\n')).toBe(
      'hello\n1\nhello\n1 2 3 g\nsub\nSeccomp:2\nunshare-refused\n',
    );

    // Node: threads (clone with CLONE_VM|CLONE_THREAD...), a child process (clone3 -> ENOSYS,
    // glibc falls back to clone), files, and libuv's io_uring refused (it falls back too).
    const js = [
      "const fs = require('fs'); const cp = require('child_process'); const { Worker } = require('worker_threads');",
      `fs.writeFileSync('${work}/n', 'node');`,
      "const child = cp.spawnSync('/bin/busybox', ['echo', 'child']).stdout.toString().trim();",
      'new Worker(\'require("worker_threads").parentPort.postMessage(6*7)\', { eval: true })',
      `  .on('message', (m) => console.log(fs.readFileSync('${work}/n', 'utf8'), child, m));`,
    ].join('\n');
    const node = runProbe(profile, 'exec', process.execPath, '-e', js);
    expect(node.stderr).toBe('');
    expect(node.status).toBe(0);
    expect(node.stdout).toMatch(/^node child 42$/m);
  });

  it('kills the process on SCMP_ACT_KILL_PROCESS, and returns a crafted errno', () => {
    const killed = runProbe(
      {
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['getppid'], action: 'SCMP_ACT_KILL_PROCESS' }],
      },
      'getppid',
    );
    expect(killed.results.installed).toBe('ok');
    expect(killed.signal).toBe('SIGSYS');
    const errno = runProbe(
      {
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['getppid'], action: 'SCMP_ACT_ERRNO', errnoRet: 42 }],
      },
      'getppid',
    );
    expect(errno.results.getppid).toBe('err42');
  });
});
