import type { SeccompArchitecture } from './schema.ts';
import { AARCH64_SYSCALLS } from './tables/aarch64.ts';
import { X32_SYSCALLS } from './tables/x32.ts';
import { X86_SYSCALLS } from './tables/x86.ts';
import { X86_64_SYSCALLS } from './tables/x86_64.ts';

/** The host architectures Berth compiles filters for (`uname -m` spelling). */
export type SeccompHostArch = 'x86_64' | 'aarch64';
export const SECCOMP_HOST_ARCHES: readonly SeccompHostArch[] = ['x86_64', 'aarch64'];

/** The architecture of this machine, or undefined when Berth has no syscall table for it. */
export function hostSeccompArch(): SeccompHostArch | undefined {
  if (process.arch === 'x64') return 'x86_64';
  if (process.arch === 'arm64') return 'aarch64';
  return undefined;
}

// AUDIT_ARCH_* from linux/audit.h: what the kernel puts in seccomp_data.arch.
export const AUDIT_ARCH_X86_64 = 0xc000003e;
export const AUDIT_ARCH_I386 = 0x40000003;
export const AUDIT_ARCH_AARCH64 = 0xc00000b7;
export const X32_SYSCALL_BIT = 0x40000000;

/**
 * One syscall ABI a filter section handles. x32 shares AUDIT_ARCH_X86_64 with x86_64 and is told
 * apart by X32_SYSCALL_BIT in the syscall number, which is why its numbers include the bit.
 */
export interface SyscallAbi {
  readonly name: 'x86_64' | 'x86' | 'x32' | 'aarch64';
  readonly architecture: SeccompArchitecture;
  readonly auditArch: number;
  readonly table: ReadonlyMap<string, number>;
  /** Syscall numbers above this are newer than any Berth knows (unified numbering since 424). */
  readonly newest: number;
  /** Width of the arguments the kernel reads (x32 and i386: 32, as libseccomp treats them). */
  readonly argBits: 32 | 64;
}

function abi(
  name: SyscallAbi['name'],
  architecture: SeccompArchitecture,
  auditArch: number,
  numbers: Readonly<Record<string, number>>,
  argBits: 32 | 64,
  base = 0,
): SyscallAbi {
  const table = new Map(Object.entries(numbers));
  // Numbers 512+ on x32 are its own compat entry points, not newer syscalls.
  const newest = Math.max(...[...table.values()].filter((nr) => nr - base < 512));
  return { name, architecture, auditArch, table, newest, argBits };
}

export const ABIS = {
  x86_64: abi('x86_64', 'SCMP_ARCH_X86_64', AUDIT_ARCH_X86_64, X86_64_SYSCALLS, 64),
  x86: abi('x86', 'SCMP_ARCH_X86', AUDIT_ARCH_I386, X86_SYSCALLS, 32),
  x32: abi('x32', 'SCMP_ARCH_X32', AUDIT_ARCH_X86_64, X32_SYSCALLS, 32, X32_SYSCALL_BIT),
  aarch64: abi('aarch64', 'SCMP_ARCH_AARCH64', AUDIT_ARCH_AARCH64, AARCH64_SYSCALLS, 64),
} as const;

/** The native ABI of each host arch and the compat ABIs a profile may add to it. */
export const HOST_ABIS: Record<SeccompHostArch, { native: SyscallAbi; compat: readonly SyscallAbi[] }> = {
  x86_64: { native: ABIS.x86_64, compat: [ABIS.x86, ABIS.x32] },
  // 32-bit ARM compat (SCMP_ARCH_ARM) has no table here: such processes hit the bad-arch action.
  aarch64: { native: ABIS.aarch64, compat: [] },
};

/**
 * Syscalls that exist only on architectures Berth has no table for. Profiles written for every
 * architecture (Docker's, Podman's) name them; they are skipped, while a name that is a syscall
 * nowhere is an error (a typo must not silently leave a syscall at the default action).
 */
const OTHER_ARCH_SYSCALLS = new Set([
  // arm
  'arm_fadvise64_64',
  'arm_sync_file_range',
  'breakpoint',
  'cacheflush',
  'set_tls',
  'usr26',
  'usr32',
  'sync_file_range2',
  'pciconfig_iobase',
  'pciconfig_read',
  'pciconfig_write',
  'recv',
  'send',
  // powerpc
  'spu_run',
  'spu_create',
  'subpage_prot',
  'swapcontext',
  'sys_debug_setcontext',
  'multiplexer',
  'rtas',
  'switch_endian',
  // s390
  's390_pci_mmio_read',
  's390_pci_mmio_write',
  's390_runtime_instr',
  's390_guarded_storage',
  's390_sthyi',
  // mips, m68k, riscv, sparc, parisc, alpha, sh
  'cachectl',
  'sysmips',
  'atomic_barrier',
  'atomic_cmpxchg_32',
  'riscv_flush_icache',
  'riscv_hwprobe',
  'getpagesize',
  'kern_features',
  'utrap_install',
  'memory_ordering',
  'getxpid',
  'getxuid',
  'getxgid',
  'osf_getsysinfo',
  'osf_setsysinfo',
  'getdomainname',
  'or1k_atomic',
  'timerfd',
  // x86_64 syscalls newer than the installed headers
  'uretprobe',
  'uprobe',
]);

let allKnown: Set<string> | undefined;
/** True when `name` is a Linux syscall on some architecture. */
export function isKnownSyscall(name: string): boolean {
  if (!allKnown) {
    allKnown = new Set(OTHER_ARCH_SYSCALLS);
    for (const a of Object.values(ABIS)) for (const n of a.table.keys()) allKnown.add(n);
  }
  return allKnown.has(name);
}

/** The syscall number of `name` on a host arch's native ABI, if it has one. */
export function syscallNumber(name: string, arch: SeccompHostArch): number | undefined {
  return HOST_ABIS[arch].native.table.get(name);
}
