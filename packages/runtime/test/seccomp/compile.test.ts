import { describe, expect, it } from 'vitest';
import {
  compileSeccomp,
  compileSeccompProgram,
  decodeFilter,
  defaultSeccompProfile,
  type LinuxSeccomp,
  SECCOMP_OPERATORS,
  SeccompError,
  type SeccompOperator,
  seccompProfileFor,
} from '../../src/seccomp/index.ts';
import { ABIS, AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64 } from '../../src/seccomp/syscalls.ts';
import { run, validate, verdict } from './bpf-interpreter.ts';

const ARM = 0x40000028;
const X32 = 0x40000000;
const nr64 = (name: string) => ABIS.x86_64.table.get(name)!;
const nrArm64 = (name: string) => ABIS.aarch64.table.get(name)!;
const nr32 = (name: string) => ABIS.x86.table.get(name)!;
const nrX32 = (name: string) => ABIS.x32.table.get(name)!;

const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWNET = 0x40000000;
const SIGCHLD = 17;
const CLONE_THREAD_FLAGS = 0x3d0f00; // what glibc's pthread_create passes

function check(filter: Buffer, arch: number, nr: number, args: (bigint | number)[] = []): string {
  return verdict(run(filter, { nr, arch, args }).ret);
}

describe('default profile on x86_64', () => {
  const filter = compileSeccomp(defaultSeccompProfile({ arch: 'x86_64', kernelRelease: '6.18.0' }), 'x86_64');
  const x64 = (name: string, args: (bigint | number)[] = []) =>
    check(filter, AUDIT_ARCH_X86_64, nr64(name), args);

  it('is a valid seccomp program', () => {
    validate(decodeFilter(filter));
  });

  it('allows the everyday syscalls', () => {
    for (const name of [
      'read',
      'write',
      'getpid',
      'openat',
      'mmap',
      'futex',
      'execve',
      'exit_group',
      'wait4',
    ]) {
      expect(x64(name), name).toBe('ALLOW');
    }
  });

  it('refuses what Docker refuses without CAP_SYS_ADMIN, and more', () => {
    const refused = [
      'unshare',
      'setns',
      'mount',
      'umount2',
      'keyctl',
      'add_key',
      'request_key',
      'bpf',
      'perf_event_open',
      'open_by_handle_at',
      'io_uring_setup',
      'io_uring_enter',
      'io_uring_register',
      'userfaultfd',
      'init_module',
      'finit_module',
      'delete_module',
      'kexec_load',
      'kexec_file_load',
      'reboot',
      'swapon',
      'swapoff',
      'pivot_root',
      'chroot',
      'fsopen',
      'open_tree',
      'move_mount',
      'mount_setattr',
      'sethostname',
      'settimeofday',
      'clock_settime',
      'acct',
      'iopl',
      'ioperm',
      'kcmp',
      'pidfd_getfd',
      'lookup_dcookie',
      'syslog',
      'vhangup',
      'quotactl',
      'nfsservctl',
      'statmount',
      'listmount',
    ];
    for (const name of refused) expect(x64(name), name).toBe('ERRNO(1)');
  });

  it('answers clone3 with ENOSYS so libc falls back to clone', () => {
    expect(x64('clone3')).toBe('ERRNO(38)');
  });

  it('filters clone on its namespace flags', () => {
    expect(x64('clone', [SIGCHLD])).toBe('ALLOW');
    expect(x64('clone', [CLONE_THREAD_FLAGS])).toBe('ALLOW');
    expect(x64('clone', [CLONE_NEWUSER | SIGCHLD])).toBe('ERRNO(1)');
    expect(x64('clone', [CLONE_NEWNET])).toBe('ERRNO(1)');
    expect(x64('clone', [0x2000000 /* CLONE_NEWCGROUP */])).toBe('ERRNO(1)');
  });

  it('allows personality only for the safe personas', () => {
    for (const p of [0, 8, 0x20000, 0x20008, 0xffffffff])
      expect(x64('personality', [p]), String(p)).toBe('ALLOW');
    expect(x64('personality', [0x0040000 /* ADDR_NO_RANDOMIZE */])).toBe('ERRNO(1)');
    expect(x64('personality', [0x1_00000000n])).toBe('ERRNO(1)');
  });

  it('refuses AF_VSOCK sockets even with garbage in the high half of the argument', () => {
    for (const family of [1, 2, 10, 16, 17, 39, 41, 44, 45]) {
      expect(x64('socket', [family, 1, 0]), String(family)).toBe('ALLOW');
    }
    expect(x64('socket', [40])).toBe('ERRNO(1)');
    expect(x64('socket', [0xdead_0000_0028n])).toBe('ERRNO(1)');
    expect(x64('socket', [0x1_00000002n])).toBe('ERRNO(1)');
    expect(x64('socket', [46])).toBe('ERRNO(1)');
  });

  it('allows ptrace on kernels from 4.8 only (Docker’s rule)', () => {
    expect(x64('ptrace')).toBe('ALLOW');
    const old = compileSeccomp(
      defaultSeccompProfile({ arch: 'x86_64', kernelRelease: '4.4.0-21' }),
      'x86_64',
    );
    expect(check(old, AUDIT_ARCH_X86_64, nr64('ptrace'))).toBe('ERRNO(1)');
    expect(check(old, AUDIT_ARCH_X86_64, nr64('process_vm_readv'))).toBe('ERRNO(1)');
  });

  it('returns ENOSYS for syscalls newer than its tables, EPERM for known ones it does not allow', () => {
    expect(check(filter, AUDIT_ARCH_X86_64, 470)).toBe('ERRNO(38)');
    expect(check(filter, AUDIT_ARCH_X86_64, 1000)).toBe('ERRNO(38)');
    expect(check(filter, AUDIT_ARCH_X86_64, 460)).toBe('ERRNO(1)');
    // 335..423 is a hole in x86_64's table below the newest syscall.
    expect(check(filter, AUDIT_ARCH_X86_64, 400)).toBe('ERRNO(1)');
  });

  it('kills a process of a foreign architecture', () => {
    expect(check(filter, AUDIT_ARCH_AARCH64, nrArm64('getpid'))).toBe('KILL_PROCESS');
    expect(check(filter, ARM, 20)).toBe('KILL_PROCESS');
    expect(check(filter, 0, 0)).toBe('KILL_PROCESS');
  });

  it('filters the i386 compat ABI with its own numbers', () => {
    expect(check(filter, AUDIT_ARCH_I386, nr32('getpid'))).toBe('ALLOW');
    expect(check(filter, AUDIT_ARCH_I386, nr32('socketcall'))).toBe('ALLOW');
    expect(check(filter, AUDIT_ARCH_I386, nr32('unshare'))).toBe('ERRNO(1)');
    expect(check(filter, AUDIT_ARCH_I386, nr32('mount'))).toBe('ERRNO(1)');
    expect(check(filter, AUDIT_ARCH_I386, nr32('clone'), [CLONE_NEWUSER])).toBe('ERRNO(1)');
    expect(check(filter, AUDIT_ARCH_I386, nr32('clone'), [SIGCHLD])).toBe('ALLOW');
    // 310 is unshare on i386 but set_robust_list... no: on x86_64, 272 is unshare; 310 is process_vm_readv.
    expect(nr32('unshare')).toBe(310);
  });

  it('filters x32 syscalls (x86_64 audit arch, X32_SYSCALL_BIT set) with the x32 numbers', () => {
    expect(check(filter, AUDIT_ARCH_X86_64, nrX32('getpid'))).toBe('ALLOW');
    expect(check(filter, AUDIT_ARCH_X86_64, nrX32('rt_sigaction'))).toBe('ALLOW');
    expect(nrX32('rt_sigaction')).toBe(X32 + 512);
    expect(check(filter, AUDIT_ARCH_X86_64, nrX32('unshare'))).toBe('ERRNO(1)');
    expect(check(filter, AUDIT_ARCH_X86_64, nrX32('keyctl'))).toBe('ERRNO(1)');
    expect(check(filter, AUDIT_ARCH_X86_64, X32 + 470)).toBe('ERRNO(38)');
    expect(check(filter, AUDIT_ARCH_X86_64, 0xffffffff)).toBe('ERRNO(38)');
  });

  it('kills x32 syscalls when the profile does not list SCMP_ARCH_X32', () => {
    const profile = {
      ...defaultSeccompProfile({ arch: 'x86_64' }),
      architectures: ['SCMP_ARCH_X86_64' as const],
    };
    const f = compileSeccomp(profile, 'x86_64');
    expect(check(f, AUDIT_ARCH_X86_64, nrX32('getpid'))).toBe('KILL_PROCESS');
    expect(check(f, AUDIT_ARCH_X86_64, X32 | nr64('getpid'))).toBe('KILL_PROCESS');
    expect(check(f, AUDIT_ARCH_I386, nr32('getpid'))).toBe('KILL_PROCESS');
    expect(check(f, AUDIT_ARCH_X86_64, nr64('getpid'))).toBe('ALLOW');
  });

  it('dispatches with a binary search: few instructions per syscall, far fewer than a linear chain', () => {
    const program = decodeFilter(filter);
    const withArgs = new Set(['personality', 'clone', 'socket']);
    const dispatch: number[] = [];
    let max = 0;
    for (const [name, nr] of ABIS.x86_64.table) {
      // 0x40000: a value no argument rule accepts, the longest way through a chain.
      const { steps } = run(program, { nr, arch: AUDIT_ARCH_X86_64, args: [0x40000] });
      max = Math.max(max, steps);
      if (!withArgs.has(name)) dispatch.push(steps);
    }
    const mean = dispatch.reduce((a, b) => a + b, 0) / dispatch.length;
    const allowed = defaultSeccompProfile({ arch: 'x86_64' }).syscalls!.flatMap((r) => r.names).length;
    console.log(
      `default profile x86_64: ${program.length} instructions; executed per syscall: mean ${mean.toFixed(1)}, ` +
        `max ${Math.max(...dispatch)} without argument rules, max ${max} with (a linear chain: up to ~${allowed})`,
    );
    expect(program.length).toBeLessThan(400);
    expect(Math.max(...dispatch)).toBeLessThanOrEqual(14);
    expect(max).toBeLessThanOrEqual(24);
    expect(mean).toBeLessThan(12);
    expect(run(program, { nr: nr64('read'), arch: AUDIT_ARCH_X86_64 }).steps).toBeLessThanOrEqual(12);
  });
});

describe('default profile on aarch64', () => {
  const filter = compileSeccomp(
    defaultSeccompProfile({ arch: 'aarch64', kernelRelease: '6.1.0' }),
    'aarch64',
  );
  const a64 = (name: string, args: (bigint | number)[] = []) =>
    check(filter, AUDIT_ARCH_AARCH64, nrArm64(name), args);

  it('uses the arm64 numbers', () => {
    validate(decodeFilter(filter));
    expect(a64('getpid')).toBe('ALLOW');
    expect(a64('openat')).toBe('ALLOW');
    expect(a64('unshare')).toBe('ERRNO(1)');
    expect(a64('mount')).toBe('ERRNO(1)');
    expect(a64('keyctl')).toBe('ERRNO(1)');
    expect(a64('io_uring_setup')).toBe('ERRNO(1)');
    expect(a64('clone3')).toBe('ERRNO(38)');
    expect(a64('clone', [CLONE_NEWUSER])).toBe('ERRNO(1)');
    expect(a64('clone', [SIGCHLD])).toBe('ALLOW');
    const program = decodeFilter(filter);
    const steps = [...new Set(ABIS.aarch64.table.values())].map(
      (nr) => run(program, { nr, arch: AUDIT_ARCH_AARCH64 }).steps,
    );
    console.log(
      `default profile aarch64: ${program.length} instructions; max ${Math.max(...steps)} executed`,
    );
  });

  it('kills x86_64 and 32-bit ARM processes', () => {
    expect(check(filter, AUDIT_ARCH_X86_64, nr64('getpid'))).toBe('KILL_PROCESS');
    expect(check(filter, ARM, 20)).toBe('KILL_PROCESS');
  });
});

describe('the profile follows the container’s capabilities like Docker’s', () => {
  const x64 = (caps: string[], name: string, args: (bigint | number)[] = []) =>
    check(
      compileSeccomp(
        seccompProfileFor({ arch: 'x86_64', capabilities: caps, kernelRelease: '6.18' }),
        'x86_64',
      ),
      AUDIT_ARCH_X86_64,
      nr64(name),
      args,
    );

  it('CAP_SYS_ADMIN opens mount, unshare, setns, namespaced clone and clone3', () => {
    for (const name of ['mount', 'umount2', 'unshare', 'setns', 'sethostname', 'bpf', 'perf_event_open']) {
      expect(x64(['CAP_SYS_ADMIN'], name), name).toBe('ALLOW');
    }
    expect(x64(['CAP_SYS_ADMIN'], 'clone', [CLONE_NEWUSER])).toBe('ALLOW');
    expect(x64(['SYS_ADMIN'], 'clone3')).toBe('ALLOW');
    // Still never: keys, io_uring, kexec, modules without CAP_SYS_MODULE.
    for (const name of ['keyctl', 'io_uring_setup', 'kexec_load', 'init_module']) {
      expect(x64(['CAP_SYS_ADMIN'], name), name).toBe('ERRNO(1)');
    }
  });

  it('other capabilities open their own syscalls only', () => {
    expect(x64(['CAP_SYS_PTRACE'], 'kcmp')).toBe('ALLOW');
    expect(x64(['CAP_SYS_PTRACE'], 'pidfd_getfd')).toBe('ALLOW');
    expect(x64(['CAP_SYS_CHROOT'], 'chroot')).toBe('ALLOW');
    expect(x64(['CAP_SYS_BOOT'], 'reboot')).toBe('ALLOW');
    expect(x64(['CAP_SYS_MODULE'], 'finit_module')).toBe('ALLOW');
    expect(x64(['CAP_SYS_TIME'], 'clock_settime')).toBe('ALLOW');
    expect(x64(['CAP_DAC_READ_SEARCH'], 'open_by_handle_at')).toBe('ALLOW');
    expect(x64(['CAP_BPF'], 'bpf')).toBe('ALLOW');
    expect(x64(['CAP_PERFMON'], 'perf_event_open')).toBe('ALLOW');
    expect(x64(['CAP_SYS_NICE'], 'mbind')).toBe('ALLOW');
    expect(x64(['CAP_BPF'], 'mount')).toBe('ERRNO(1)');
    expect(x64(['CAP_SYS_PTRACE'], 'unshare')).toBe('ERRNO(1)');
    expect(x64(['CAP_SYS_PTRACE'], 'clone3')).toBe('ERRNO(38)');
  });

  it('renders only names that exist on the host’s ABIs', () => {
    const names = seccompProfileFor({ arch: 'x86_64' }).syscalls!.flatMap((r) => r.names);
    expect(names).toContain('chown32'); // i386
    expect(names).not.toContain('arm_fadvise64_64');
    expect(names).not.toContain('recv');
    const arm = seccompProfileFor({ arch: 'aarch64' }).syscalls!.flatMap((r) => r.names);
    expect(arm).not.toContain('arch_prctl');
    expect(arm).not.toContain('open'); // arm64 has only openat
  });
});

describe('crafted profiles', () => {
  const base = (syscalls: LinuxSeccomp['syscalls'], extra: Partial<LinuxSeccomp> = {}): LinuxSeccomp => ({
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls,
    ...extra,
  });

  it('encodes every action', () => {
    const actions: [LinuxSeccomp['defaultAction'], string, number?][] = [
      ['SCMP_ACT_KILL', 'KILL_THREAD'],
      ['SCMP_ACT_KILL_THREAD', 'KILL_THREAD'],
      ['SCMP_ACT_KILL_PROCESS', 'KILL_PROCESS'],
      ['SCMP_ACT_TRAP', 'TRAP(0)'],
      ['SCMP_ACT_ERRNO', 'ERRNO(1)'],
      ['SCMP_ACT_ERRNO', 'ERRNO(13)', 13],
      ['SCMP_ACT_ERRNO', 'ERRNO(0)', 0],
      ['SCMP_ACT_TRACE', 'TRACE(1)'],
      ['SCMP_ACT_TRACE', 'TRACE(7)', 7],
      ['SCMP_ACT_LOG', 'LOG'],
      ['SCMP_ACT_NOTIFY', 'USER_NOTIF'],
    ];
    for (const [action, want, errnoRet] of actions) {
      const f = compileSeccomp(
        base([{ names: ['getpid'], action, ...(errnoRet === undefined ? {} : { errnoRet }) }], {
          listenerPath: '/run/x.sock',
        }),
        'x86_64',
      );
      expect(check(f, AUDIT_ARCH_X86_64, nr64('getpid')), action).toBe(want);
      expect(check(f, AUDIT_ARCH_X86_64, nr64('getppid')), action).toBe('ALLOW');
    }
    const def = compileSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 95 }, 'x86_64');
    expect(check(def, AUDIT_ARCH_X86_64, nr64('getpid'))).toBe('ERRNO(95)');
  });

  it('does not turn new syscalls into ENOSYS when the default allows, or when asked not to', () => {
    const allow = compileSeccomp(base([{ names: ['getpid'], action: 'SCMP_ACT_ERRNO' }]), 'x86_64');
    expect(check(allow, AUDIT_ARCH_X86_64, 500)).toBe('ALLOW');
    const kill = compileSeccomp({ defaultAction: 'SCMP_ACT_KILL_PROCESS' }, 'x86_64', {
      enosysForNewSyscalls: false,
    });
    expect(check(kill, AUDIT_ARCH_X86_64, 500)).toBe('KILL_PROCESS');
  });

  // Reference semantics, in BigInt, for every operator (OCI: MASKED_EQ is (arg & value) == valueTwo).
  const reference = (op: SeccompOperator, arg: bigint, value: bigint, valueTwo: bigint): boolean => {
    switch (op) {
      case 'SCMP_CMP_NE':
        return arg !== value;
      case 'SCMP_CMP_LT':
        return arg < value;
      case 'SCMP_CMP_LE':
        return arg <= value;
      case 'SCMP_CMP_EQ':
        return arg === value;
      case 'SCMP_CMP_GE':
        return arg >= value;
      case 'SCMP_CMP_GT':
        return arg > value;
      case 'SCMP_CMP_MASKED_EQ':
        return (arg & value) === valueTwo;
    }
  };

  it('compares 64-bit arguments word by word for every operator', () => {
    // Values around the word boundaries, where a 32-bit comparison would go wrong.
    const interesting = [
      0n,
      1n,
      5n,
      0x7fffffffn,
      0xfffffffen,
      0xffffffffn,
      0x1_00000000n,
      0x1_00000005n,
      0x2_00000000n,
      0xffffffff_00000000n,
      0xffffffff_ffffffffn,
      0x80000000_00000001n,
    ];
    let seed = 42n;
    const random = () => {
      seed = (seed * 6364136223846793005n + 1442695040888963407n) & 0xffffffff_ffffffffn;
      return seed;
    };
    for (let i = 0; i < 12; i++) interesting.push(random());
    const ops = SECCOMP_OPERATORS;
    let checked = 0;
    for (const op of ops) {
      for (const value of interesting) {
        const valueTwo = op === 'SCMP_CMP_MASKED_EQ' ? value & 0x0000ffff_0000ff0fn : 0n;
        for (const index of [0, 5]) {
          const f = compileSeccomp(
            base([
              {
                names: ['getpid'],
                action: 'SCMP_ACT_ERRNO',
                errnoRet: 33,
                args: [{ index, value, valueTwo, op }],
              },
            ]),
            'x86_64',
          );
          for (const arg of interesting) {
            const args = [0n, 0n, 0n, 0n, 0n, 0n];
            args[index] = arg;
            const got = check(f, AUDIT_ARCH_X86_64, nr64('getpid'), args);
            const want = reference(op, arg, value, valueTwo) ? 'ERRNO(33)' : 'ALLOW';
            if (got !== want) throw new Error(`${op} arg=${arg} value=${value} valueTwo=${valueTwo}: ${got}`);
            checked++;
          }
        }
      }
    }
    expect(checked).toBe(7 * 24 * 2 * 24);
  });

  it('ANDs conditions on distinct arguments, ORs conditions on the same one (as runc)', () => {
    const and = compileSeccomp(
      base([
        {
          names: ['kill'],
          action: 'SCMP_ACT_ERRNO',
          args: [
            { index: 0, value: 1, op: 'SCMP_CMP_EQ' },
            { index: 1, value: 9, op: 'SCMP_CMP_EQ' },
          ],
        },
      ]),
      'x86_64',
    );
    expect(check(and, AUDIT_ARCH_X86_64, nr64('kill'), [1, 9])).toBe('ERRNO(1)');
    expect(check(and, AUDIT_ARCH_X86_64, nr64('kill'), [1, 15])).toBe('ALLOW');
    expect(check(and, AUDIT_ARCH_X86_64, nr64('kill'), [2, 9])).toBe('ALLOW');
    const or = compileSeccomp(
      base([
        {
          names: ['kill'],
          action: 'SCMP_ACT_ERRNO',
          args: [
            { index: 1, value: 9, op: 'SCMP_CMP_EQ' },
            { index: 1, value: 19, op: 'SCMP_CMP_EQ' },
          ],
        },
      ]),
      'x86_64',
    );
    expect(check(or, AUDIT_ARCH_X86_64, nr64('kill'), [1, 9])).toBe('ERRNO(1)');
    expect(check(or, AUDIT_ARCH_X86_64, nr64('kill'), [1, 19])).toBe('ERRNO(1)');
    expect(check(or, AUDIT_ARCH_X86_64, nr64('kill'), [1, 15])).toBe('ALLOW');
  });

  it('lets a syscall’s first unconditional rule decide it, as libseccomp does', () => {
    const compiled = compileSeccompProgram(
      {
        defaultAction: 'SCMP_ACT_KILL_PROCESS',
        architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
        syscalls: [
          { names: ['dup'], action: 'SCMP_ACT_ALLOW' },
          {
            names: ['dup'],
            action: 'SCMP_ACT_ERRNO',
            errnoRet: 9,
            args: [{ index: 0, value: 100, op: 'SCMP_CMP_GE' }],
          },
          { names: ['dup', 'dup2'], action: 'SCMP_ACT_ERRNO', errnoRet: 5 },
          {
            names: ['dup3'],
            action: 'SCMP_ACT_ERRNO',
            errnoRet: 9,
            args: [{ index: 0, value: 100, op: 'SCMP_CMP_GE' }],
          },
          {
            names: ['dup3'],
            action: 'SCMP_ACT_ERRNO',
            errnoRet: 1,
            args: [{ index: 0, value: 50, op: 'SCMP_CMP_GE' }],
          },
        ],
      },
      'x86_64',
    );
    const f = compiled.filter;
    expect(check(f, AUDIT_ARCH_X86_64, nr64('dup'), [3])).toBe('ALLOW');
    expect(check(f, AUDIT_ARCH_X86_64, nr64('dup'), [200])).toBe('ALLOW');
    expect(check(f, AUDIT_ARCH_X86_64, nr64('dup2'), [3])).toBe('ERRNO(5)');
    // Conditional rules alone: tried in profile order, then the default action.
    expect(check(f, AUDIT_ARCH_X86_64, nr64('dup3'), [3])).toBe('KILL_PROCESS');
    expect(check(f, AUDIT_ARCH_X86_64, nr64('dup3'), [60])).toBe('ERRNO(1)');
    expect(check(f, AUDIT_ARCH_X86_64, nr64('dup3'), [200])).toBe('ERRNO(9)');
    expect(compiled.shadowed).toEqual([
      { field: 'linux.seccomp.syscalls[2].names[0]', name: 'dup', by: 'linux.seccomp.syscalls[0].names[0]' },
      { field: 'linux.seccomp.syscalls[1].names[0]', name: 'dup', by: 'linux.seccomp.syscalls[0].names[0]' },
    ]);
  });

  it('compares only the low 32 bits on 32-bit ABIs (i386, x32), as libseccomp does', () => {
    const f = compileSeccomp(
      {
        defaultAction: 'SCMP_ACT_ALLOW',
        architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
        syscalls: [
          {
            names: ['dup'],
            action: 'SCMP_ACT_ERRNO',
            errnoRet: 7,
            args: [{ index: 0, value: 5, op: 'SCMP_CMP_EQ' }],
          },
          {
            names: ['dup2'],
            action: 'SCMP_ACT_ERRNO',
            errnoRet: 8,
            args: [{ index: 1, value: 5, op: 'SCMP_CMP_GT' }],
          },
          {
            names: ['dup3'],
            action: 'SCMP_ACT_ERRNO',
            errnoRet: 9,
            args: [{ index: 2, value: 0xf0, valueTwo: 0x10, op: 'SCMP_CMP_MASKED_EQ' }],
          },
        ],
      },
      'x86_64',
    );
    const high = 0xabcd_0000_0000n;
    // x86_64: all 64 bits count.
    expect(check(f, AUDIT_ARCH_X86_64, nr64('dup'), [5])).toBe('ERRNO(7)');
    expect(check(f, AUDIT_ARCH_X86_64, nr64('dup'), [high | 5n])).toBe('ALLOW');
    expect(check(f, AUDIT_ARCH_X86_64, nr64('dup2'), [0, high])).toBe('ERRNO(8)');
    // i386 and x32: the kernel ignores the high half, so must the filter.
    for (const [arch, nr] of [
      [AUDIT_ARCH_I386, nr32],
      [AUDIT_ARCH_X86_64, nrX32],
    ] as const) {
      expect(check(f, arch, nr('dup'), [high | 5n])).toBe('ERRNO(7)');
      expect(check(f, arch, nr('dup'), [high | 6n])).toBe('ALLOW');
      expect(check(f, arch, nr('dup2'), [0, high])).toBe('ALLOW');
      expect(check(f, arch, nr('dup2'), [0, high | 6n])).toBe('ERRNO(8)');
      expect(check(f, arch, nr('dup3'), [0, 0, high | 0x1fn])).toBe('ERRNO(9)');
      expect(check(f, arch, nr('dup3'), [0, 0, high | 0x2fn])).toBe('ALLOW');
    }
  });

  it('handles programs far beyond the 255-instruction reach of a conditional jump', () => {
    // Every allowed syscall gets its own argument chain (~5 instructions each, distinct verdicts),
    // so the tree's jumps to most chains, and the chains' jumps, span far more than 255.
    const names = [...ABIS.x86_64.table.keys()].slice(0, 300);
    const syscalls = names.map((name, i) => ({
      names: [name],
      action: 'SCMP_ACT_ERRNO' as const,
      errnoRet: 1000 + i,
      args: [{ index: i % 6, value: BigInt(i + 1) << 32n, op: 'SCMP_CMP_EQ' as const }],
    }));
    const compiled = compileSeccompProgram({ defaultAction: 'SCMP_ACT_ALLOW', syscalls }, 'x86_64');
    validate(compiled.program);
    expect(compiled.program.length).toBeGreaterThan(1500);
    names.forEach((name, i) => {
      const args = [0n, 0n, 0n, 0n, 0n, 0n];
      args[i % 6] = BigInt(i + 1) << 32n;
      expect(check(compiled.filter, AUDIT_ARCH_X86_64, nr64(name), args), name).toBe(`ERRNO(${1000 + i})`);
      args[i % 6] = BigInt(i + 1);
      expect(check(compiled.filter, AUDIT_ARCH_X86_64, nr64(name), args), name).toBe('ALLOW');
    });
    // One syscall with a chain of 300 rules: its last rules sit thousands of instructions away.
    const long = compileSeccompProgram(
      {
        defaultAction: 'SCMP_ACT_ERRNO',
        syscalls: Array.from({ length: 300 }, (_, i) => ({
          names: ['ioctl'],
          action: 'SCMP_ACT_ALLOW' as const,
          args: [{ index: 1, value: 0x5400 + i, op: 'SCMP_CMP_EQ' as const }],
        })),
      },
      'x86_64',
    );
    validate(long.program);
    for (const i of [0, 1, 150, 298, 299]) {
      expect(check(long.filter, AUDIT_ARCH_X86_64, nr64('ioctl'), [3, 0x5400 + i])).toBe('ALLOW');
    }
    expect(check(long.filter, AUDIT_ARCH_X86_64, nr64('ioctl'), [3, 0x5400 + 300])).toBe('ERRNO(1)');
    expect(check(long.filter, AUDIT_ARCH_X86_64, nr64('read'))).toBe('ERRNO(1)');
  });

  it('refuses a program longer than the kernel accepts', () => {
    const syscalls = Array.from({ length: 900 }, (_, i) => ({
      names: ['ioctl'],
      action: 'SCMP_ACT_ERRNO' as const,
      errnoRet: i,
      args: [{ index: 1, value: i, op: 'SCMP_CMP_EQ' as const }],
    }));
    expect(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls }, 'x86_64')).toThrow(
      /^linux\.seccomp: the compiled filter has \d+ instructions, more than the kernel's limit of 4096$/,
    );
  });

  it('names the unknown syscall, its place and the arch', () => {
    const profile = base([
      { names: ['read'], action: 'SCMP_ACT_ERRNO' },
      { names: ['write'], action: 'SCMP_ACT_ERRNO' },
      { names: ['getpid'], action: 'SCMP_ACT_ERRNO' },
      { names: ['getppid', 'foo'], action: 'SCMP_ACT_ERRNO' },
    ]);
    expect(() => compileSeccomp(profile, 'x86_64')).toThrow(
      'linux.seccomp.syscalls[3].names[1]: unknown syscall "foo" on x86_64',
    );
    try {
      compileSeccomp(profile, 'aarch64', { path: 'process.seccomp' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SeccompError);
      expect((e as SeccompError).field).toBe('process.seccomp.syscalls[3].names[1]');
      expect((e as SeccompError).message).toContain('unknown syscall "foo" on aarch64');
    }
  });

  it('skips syscalls of other architectures, and says which', () => {
    const compiled = compileSeccompProgram(
      base([{ names: ['arm_fadvise64_64', 'getpid', 'epoll_ctl_old'], action: 'SCMP_ACT_ERRNO' }]),
      'aarch64',
    );
    // arm_fadvise64_64 is 32-bit ARM's, epoll_ctl_old x86_64's: neither is an arm64 syscall.
    expect(compiled.skipped.map((s) => s.name)).toEqual(['arm_fadvise64_64', 'epoll_ctl_old']);
    expect(compiled.skipped[1]!.field).toBe('linux.seccomp.syscalls[0].names[2]');
    expect(check(compiled.filter, AUDIT_ARCH_AARCH64, nrArm64('getpid'))).toBe('ERRNO(1)');
    const x = compileSeccompProgram(
      base([{ names: ['arm_fadvise64_64', 'recv'], action: 'SCMP_ACT_ERRNO' }]),
      'x86_64',
    );
    expect(x.skipped.map((s) => s.name)).toEqual(['arm_fadvise64_64', 'recv']);
  });

  it('validates its input before compiling', () => {
    expect(() =>
      compileSeccomp({ defaultAction: 'SCMP_ACT_NOPE' } as unknown as LinuxSeccomp, 'x86_64'),
    ).toThrow(/^linux\.seccomp\.defaultAction: unknown action "SCMP_ACT_NOPE"/);
  });
});
