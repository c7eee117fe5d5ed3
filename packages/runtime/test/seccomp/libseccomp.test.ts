// Holds Berth's compiler against libseccomp (what runc and crun use) on the same profiles: both
// filters run in the interpreter on every syscall number of every ABI with a spread of
// arguments, and must agree except where Berth is documented to differ.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  compileSeccomp,
  decodeFilter,
  defaultSeccompProfile,
  type LinuxSeccomp,
  seccompProfileFor,
} from '../../src/seccomp/index.ts';
import {
  AUDIT_ARCH_AARCH64,
  AUDIT_ARCH_I386,
  AUDIT_ARCH_X86_64,
  X32_SYSCALL_BIT,
} from '../../src/seccomp/syscalls.ts';
import { run, verdict } from './bpf-interpreter.ts';
import { buildExporter, libseccompFilter } from './libseccomp.ts';

// Each comparison runs some 30,000 filter evaluations; give a loaded machine room.
vi.setConfig({ testTimeout: 60_000 });

let dir: string;
let exporter: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-libseccomp-'));
  exporter = buildExporter(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ARGS: bigint[][] = [
  [0n],
  [17n], // SIGCHLD
  [0x10000011n], // CLONE_NEWUSER | SIGCHLD
  [0x3d0f00n],
  [8n],
  [0x40000n],
  [0xffffffffn],
  [40n, 1n],
  [2n, 1n],
  [0x1_00000000n],
  [0xffffffff_ffffffffn, 5n, 0x1_00000005n],
];

function disagreements(profile: LinuxSeccomp, optimize: 1 | 2 = 1) {
  const berth = decodeFilter(compileSeccomp(profile, 'x86_64'));
  const lib = decodeFilter(libseccompFilter(exporter, profile, optimize));
  const out: string[] = [];
  // libseccomp 2.5.4 (Debian 12) knows syscalls up to 450; Berth's tables go further.
  const sections: [string, number, number[]][] = [
    ['x86_64', AUDIT_ARCH_X86_64, range(0, 450)],
    ['x86', AUDIT_ARCH_I386, range(0, 450)],
    [
      'x32',
      AUDIT_ARCH_X86_64,
      [
        ...range(X32_SYSCALL_BIT, X32_SYSCALL_BIT + 450),
        ...range(X32_SYSCALL_BIT + 512, X32_SYSCALL_BIT + 547),
      ],
    ],
  ];
  for (const [abi, arch, nrs] of sections) {
    for (const nr of nrs) {
      for (const args of ARGS) {
        const a = verdict(run(berth, { nr, arch, args }).ret);
        const b = verdict(run(lib, { nr, arch, args }).ret);
        if (a !== b) out.push(`${abi} ${nr} (${args.join(',')}): berth ${a}, libseccomp ${b}`);
      }
    }
  }
  return out;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

// Exhaustive comparisons (every syscall number × argument set × ABI): CPU-bound, so a loaded
// 2-core CI machine needs more than the default 10 s per case.
describe('Berth’s compiler agrees with libseccomp', { timeout: 60_000 }, () => {
  it('on the aarch64 default profile, which also checks the arm64 table against libseccomp’s', () => {
    const profile = defaultSeccompProfile({ arch: 'aarch64', kernelRelease: '6.18' });
    const berth = decodeFilter(compileSeccomp(profile, 'aarch64'));
    const lib = decodeFilter(libseccompFilter(exporter, profile, 1, 'aarch64'));
    const out: string[] = [];
    for (const nr of range(0, 450)) {
      for (const args of ARGS) {
        const a = verdict(run(berth, { nr, arch: AUDIT_ARCH_AARCH64, args }).ret);
        const b = verdict(run(lib, { nr, arch: AUDIT_ARCH_AARCH64, args }).ret);
        if (a !== b) out.push(`aarch64 ${nr} (${args.join(',')}): berth ${a}, libseccomp ${b}`);
      }
    }
    expect(out).toEqual([]);
    expect(verdict(run(lib, { nr: 39, arch: AUDIT_ARCH_X86_64 }).ret)).toBe('KILL_PROCESS');
  });

  it('on the default profile', () => {
    expect(disagreements(defaultSeccompProfile({ arch: 'x86_64', kernelRelease: '6.18' }))).toEqual([]);
  });

  it('with CAP_SYS_ADMIN and CAP_SYS_PTRACE', () => {
    const profile = seccompProfileFor({ arch: 'x86_64', capabilities: ['CAP_SYS_ADMIN', 'CAP_SYS_PTRACE'] });
    expect(disagreements(profile)).toEqual([]);
  });

  it('on crafted argument rules, with libseccomp’s binary-tree optimizer too', () => {
    const profile: LinuxSeccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
      syscalls: [
        {
          names: ['getpid'],
          action: 'SCMP_ACT_ERRNO',
          errnoRet: 3,
          args: [{ index: 0, value: 8, op: 'SCMP_CMP_GT' }],
        },
        {
          names: ['dup'],
          action: 'SCMP_ACT_ERRNO',
          errnoRet: 4,
          args: [{ index: 0, value: 0x1_00000000, op: 'SCMP_CMP_GE' }],
        },
        {
          names: ['dup2'],
          action: 'SCMP_ACT_ERRNO',
          errnoRet: 5,
          args: [{ index: 0, value: 17, op: 'SCMP_CMP_LT' }],
        },
        {
          names: ['dup3'],
          action: 'SCMP_ACT_ERRNO',
          errnoRet: 6,
          args: [{ index: 2, value: 5, op: 'SCMP_CMP_LE' }],
        },
        {
          names: ['kill'],
          action: 'SCMP_ACT_KILL_PROCESS',
          args: [{ index: 1, value: 1, op: 'SCMP_CMP_NE' }],
        },
        {
          names: ['clone'],
          action: 'SCMP_ACT_ERRNO',
          args: [{ index: 0, value: 0x7e020000, valueTwo: 0x10000000, op: 'SCMP_CMP_MASKED_EQ' }],
        },
        {
          names: ['openat'],
          action: 'SCMP_ACT_TRAP',
          args: [
            { index: 0, value: 0xffffffff, op: 'SCMP_CMP_EQ' },
            { index: 1, value: 1, op: 'SCMP_CMP_EQ' },
          ],
        },
        {
          names: ['ioctl'],
          action: 'SCMP_ACT_LOG',
          args: [
            { index: 0, value: 8, op: 'SCMP_CMP_EQ' },
            { index: 0, value: 17, op: 'SCMP_CMP_EQ' },
          ],
        },
        { names: ['read', 'write', 'keyctl'], action: 'SCMP_ACT_ERRNO', errnoRet: 99 },
      ],
    };
    expect(disagreements(profile, 1)).toEqual([]);
    expect(disagreements(profile, 2)).toEqual([]);
  });
});
