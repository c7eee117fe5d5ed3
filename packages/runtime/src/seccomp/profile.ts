import { release } from 'node:os';
import type { LinuxSeccomp, LinuxSyscall, SeccompArchitecture } from './schema.ts';
import { HOST_ABIS, hostSeccompArch, type SeccompHostArch } from './syscalls.ts';

// Berth's default seccomp profile, built like Docker's (moby profiles/seccomp/default.json): an
// allowlist with ERRNO(EPERM) as the default action, plus rules that only apply when the
// container holds a capability (CAP_SYS_ADMIN widens it to mount/unshare/setns/..., CAP_SYS_PTRACE
// to ptrace/process_vm_*, ...) or lacks one. `seccompProfileFor` renders it for one container.
//
// Where Berth is stricter than Docker's default profile (see also docs in ./README.md):
// - io_uring_setup/io_uring_enter/io_uring_register are never allowed (older Docker releases
//   allowed them; io_uring bypasses the syscall filter for the operations it performs).
// - On aarch64 the 32-bit ARM compat ABI is not allowed (Berth has no ARM syscall table, so such
//   processes are killed as a foreign architecture); Docker allows SCMP_ARCH_ARM.
// - Called without capabilities, the profile is the one for a container with none: e.g. chroot
//   needs CAP_SYS_CHROOT to be passed in (Docker's default capability set has it).
// - socket(AF_VSOCK) is refused whatever the high half of the argument holds (Docker's rule lets
//   0x1_00000028 through, and the kernel reads it as 40); families above AF_MCTP (45), which
//   do not exist yet, are refused too.
// - Syscalls newer than Berth's tables get ENOSYS (as runc does) rather than running.

const CLONE_NAMESPACE_FLAGS =
  0x00020000 | // CLONE_NEWNS
  0x04000000 | // CLONE_NEWUTS
  0x08000000 | // CLONE_NEWIPC
  0x10000000 | // CLONE_NEWUSER
  0x20000000 | // CLONE_NEWPID
  0x40000000 | // CLONE_NEWNET
  0x02000000; // CLONE_NEWCGROUP
const AF_VSOCK = 40;
const ENOSYS = 38;

/** A profile rule with Docker's conditions on capabilities, architecture and kernel version. */
export interface SeccompTemplateRule extends LinuxSyscall {
  comment?: string;
  /** All listed capabilities must be held / the host must be one of the arches / kernel at least. */
  includes?: { caps?: string[]; arches?: SeccompHostArch[]; minKernel?: [number, number] };
  /** The rule is dropped when any listed capability is held or the host is one of the arches. */
  excludes?: { caps?: string[]; arches?: SeccompHostArch[] };
}

const ALLOWED = [
  'accept',
  'accept4',
  'access',
  'adjtimex',
  'alarm',
  'bind',
  'brk',
  'cachestat',
  'capget',
  'capset',
  'chdir',
  'chmod',
  'chown',
  'chown32',
  'clock_adjtime',
  'clock_adjtime64',
  'clock_getres',
  'clock_getres_time64',
  'clock_gettime',
  'clock_gettime64',
  'clock_nanosleep',
  'clock_nanosleep_time64',
  'close',
  'close_range',
  'connect',
  'copy_file_range',
  'creat',
  'dup',
  'dup2',
  'dup3',
  'epoll_create',
  'epoll_create1',
  'epoll_ctl',
  'epoll_ctl_old',
  'epoll_pwait',
  'epoll_pwait2',
  'epoll_wait',
  'epoll_wait_old',
  'eventfd',
  'eventfd2',
  'execve',
  'execveat',
  'exit',
  'exit_group',
  'faccessat',
  'faccessat2',
  'fadvise64',
  'fadvise64_64',
  'fallocate',
  'fanotify_mark',
  'fchdir',
  'fchmod',
  'fchmodat',
  'fchmodat2',
  'fchown',
  'fchown32',
  'fchownat',
  'fcntl',
  'fcntl64',
  'fdatasync',
  'fgetxattr',
  'flistxattr',
  'flock',
  'fork',
  'fremovexattr',
  'fsetxattr',
  'fstat',
  'fstat64',
  'fstatat64',
  'fstatfs',
  'fstatfs64',
  'fsync',
  'ftruncate',
  'ftruncate64',
  'futex',
  'futex_requeue',
  'futex_time64',
  'futex_wait',
  'futex_waitv',
  'futex_wake',
  'futimesat',
  'getcpu',
  'getcwd',
  'getdents',
  'getdents64',
  'getegid',
  'getegid32',
  'geteuid',
  'geteuid32',
  'getgid',
  'getgid32',
  'getgroups',
  'getgroups32',
  'getitimer',
  'getpeername',
  'getpgid',
  'getpgrp',
  'getpid',
  'getppid',
  'getpriority',
  'getrandom',
  'getresgid',
  'getresgid32',
  'getresuid',
  'getresuid32',
  'getrlimit',
  'get_robust_list',
  'getrusage',
  'getsid',
  'getsockname',
  'getsockopt',
  'get_thread_area',
  'gettid',
  'gettimeofday',
  'getuid',
  'getuid32',
  'getxattr',
  'inotify_add_watch',
  'inotify_init',
  'inotify_init1',
  'inotify_rm_watch',
  'io_cancel',
  'ioctl',
  'io_destroy',
  'io_getevents',
  'io_pgetevents',
  'io_pgetevents_time64',
  'ioprio_get',
  'ioprio_set',
  'io_setup',
  'io_submit',
  'ipc',
  'kill',
  'landlock_add_rule',
  'landlock_create_ruleset',
  'landlock_restrict_self',
  'lchown',
  'lchown32',
  'lgetxattr',
  'link',
  'linkat',
  'listen',
  'listxattr',
  'llistxattr',
  '_llseek',
  'lremovexattr',
  'lseek',
  'lsetxattr',
  'lstat',
  'lstat64',
  'madvise',
  'map_shadow_stack',
  'membarrier',
  'memfd_create',
  'memfd_secret',
  'mincore',
  'mkdir',
  'mkdirat',
  'mknod',
  'mknodat',
  'mlock',
  'mlock2',
  'mlockall',
  'mmap',
  'mmap2',
  'mprotect',
  'mq_getsetattr',
  'mq_notify',
  'mq_open',
  'mq_timedreceive',
  'mq_timedreceive_time64',
  'mq_timedsend',
  'mq_timedsend_time64',
  'mq_unlink',
  'mremap',
  'mseal',
  'msgctl',
  'msgget',
  'msgrcv',
  'msgsnd',
  'msync',
  'munlock',
  'munlockall',
  'munmap',
  'name_to_handle_at',
  'nanosleep',
  'newfstatat',
  '_newselect',
  'open',
  'openat',
  'openat2',
  'pause',
  'pidfd_open',
  'pidfd_send_signal',
  'pipe',
  'pipe2',
  'pkey_alloc',
  'pkey_free',
  'pkey_mprotect',
  'poll',
  'ppoll',
  'ppoll_time64',
  'prctl',
  'pread64',
  'preadv',
  'preadv2',
  'prlimit64',
  'process_mrelease',
  'pselect6',
  'pselect6_time64',
  'pwrite64',
  'pwritev',
  'pwritev2',
  'read',
  'readahead',
  'readlink',
  'readlinkat',
  'readv',
  'recvfrom',
  'recvmmsg',
  'recvmmsg_time64',
  'recvmsg',
  'remap_file_pages',
  'removexattr',
  'rename',
  'renameat',
  'renameat2',
  'restart_syscall',
  'rmdir',
  'rseq',
  'rt_sigaction',
  'rt_sigpending',
  'rt_sigprocmask',
  'rt_sigqueueinfo',
  'rt_sigreturn',
  'rt_sigsuspend',
  'rt_sigtimedwait',
  'rt_sigtimedwait_time64',
  'rt_tgsigqueueinfo',
  'sched_getaffinity',
  'sched_getattr',
  'sched_getparam',
  'sched_get_priority_max',
  'sched_get_priority_min',
  'sched_getscheduler',
  'sched_rr_get_interval',
  'sched_rr_get_interval_time64',
  'sched_setaffinity',
  'sched_setattr',
  'sched_setparam',
  'sched_setscheduler',
  'sched_yield',
  'seccomp',
  'select',
  'semctl',
  'semget',
  'semop',
  'semtimedop',
  'semtimedop_time64',
  'sendfile',
  'sendfile64',
  'sendmmsg',
  'sendmsg',
  'sendto',
  'setfsgid',
  'setfsgid32',
  'setfsuid',
  'setfsuid32',
  'setgid',
  'setgid32',
  'setgroups',
  'setgroups32',
  'setitimer',
  'setpgid',
  'setpriority',
  'setregid',
  'setregid32',
  'setresgid',
  'setresgid32',
  'setresuid',
  'setresuid32',
  'setreuid',
  'setreuid32',
  'setrlimit',
  'set_robust_list',
  'setsid',
  'setsockopt',
  'set_thread_area',
  'set_tid_address',
  'setuid',
  'setuid32',
  'setxattr',
  'shmat',
  'shmctl',
  'shmdt',
  'shmget',
  'shutdown',
  'sigaltstack',
  'signalfd',
  'signalfd4',
  'sigprocmask',
  'sigreturn',
  'socketcall',
  'socketpair',
  'splice',
  'stat',
  'stat64',
  'statfs',
  'statfs64',
  'statx',
  'symlink',
  'symlinkat',
  'sync',
  'sync_file_range',
  'syncfs',
  'sysinfo',
  'tee',
  'tgkill',
  'time',
  'timer_create',
  'timer_delete',
  'timer_getoverrun',
  'timer_gettime',
  'timer_gettime64',
  'timer_settime',
  'timer_settime64',
  'timerfd_create',
  'timerfd_gettime',
  'timerfd_gettime64',
  'timerfd_settime',
  'timerfd_settime64',
  'times',
  'tkill',
  'truncate',
  'truncate64',
  'ugetrlimit',
  'umask',
  'uname',
  'unlink',
  'unlinkat',
  'utime',
  'utimensat',
  'utimensat_time64',
  'utimes',
  'vfork',
  'vmsplice',
  'wait4',
  'waitid',
  'waitpid',
  'write',
  'writev',
];

const allow = (names: string[], extra: Partial<SeccompTemplateRule> = {}): SeccompTemplateRule => ({
  names,
  action: 'SCMP_ACT_ALLOW',
  ...extra,
});

/** Berth's default profile before it is fitted to a container (Docker's structure). */
export const BERTH_SECCOMP_TEMPLATE: readonly SeccompTemplateRule[] = [
  allow(ALLOWED),
  allow(['process_vm_readv', 'process_vm_writev', 'ptrace'], {
    comment: 'ptrace can no longer be used to bypass seccomp since Linux 4.8',
    includes: { minKernel: [4, 8] },
  }),
  // Every address family but AF_VSOCK (40, host communication). Docker writes `arg0 != 40`, but
  // the kernel reads the family as an int: socket(0x1_00000028, ...) passes that test and opens
  // a vsock. These rules only accept a family whose high half is zero, and hold the same under
  // libseccomp (all are conditional ALLOWs, ORed).
  allow(['socket'], { args: [{ index: 0, value: AF_VSOCK - 1, op: 'SCMP_CMP_LE' }] }),
  ...[41, 42, 43, 44, 45].map((family) =>
    allow(['socket'], {
      comment: 'AF_KCM ... AF_MCTP',
      args: [{ index: 0, value: family, op: 'SCMP_CMP_EQ' }],
    }),
  ),
  ...[0x0, 0x0008, 0x20000, 0x20008, 0xffffffff].map((persona) =>
    allow(['personality'], {
      comment: 'PER_LINUX, PER_LINUX32, UNAME26 and the query value only',
      args: [{ index: 0, value: persona, op: 'SCMP_CMP_EQ' }],
    }),
  ),
  allow(
    ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'],
    {
      includes: { arches: ['aarch64'] },
    },
  ),
  allow(['arch_prctl'], { includes: { arches: ['x86_64'] } }),
  allow(['modify_ldt'], { includes: { arches: ['x86_64'] } }),
  allow(['open_by_handle_at'], { includes: { caps: ['CAP_DAC_READ_SEARCH'] } }),
  allow(
    [
      'bpf',
      'clone',
      'clone3',
      'fanotify_init',
      'fsconfig',
      'fsmount',
      'fsopen',
      'fspick',
      'lookup_dcookie',
      'mount',
      'mount_setattr',
      'move_mount',
      'open_tree',
      'perf_event_open',
      'quotactl',
      'quotactl_fd',
      'setdomainname',
      'sethostname',
      'setns',
      'syslog',
      'umount',
      'umount2',
      'unshare',
    ],
    { includes: { caps: ['CAP_SYS_ADMIN'] } },
  ),
  allow(['clone'], {
    comment: 'threads and processes, but no new namespaces',
    args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    excludes: { caps: ['CAP_SYS_ADMIN'] },
  }),
  {
    names: ['clone3'],
    action: 'SCMP_ACT_ERRNO',
    errnoRet: ENOSYS,
    comment:
      'its flags are behind a pointer, out of the filter’s reach: ENOSYS makes libc fall back to clone',
    excludes: { caps: ['CAP_SYS_ADMIN'] },
  },
  allow(['reboot'], { includes: { caps: ['CAP_SYS_BOOT'] } }),
  allow(['chroot'], { includes: { caps: ['CAP_SYS_CHROOT'] } }),
  allow(['delete_module', 'init_module', 'finit_module'], { includes: { caps: ['CAP_SYS_MODULE'] } }),
  allow(['acct'], { includes: { caps: ['CAP_SYS_PACCT'] } }),
  allow(['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace'], {
    includes: { caps: ['CAP_SYS_PTRACE'] },
  }),
  allow(['iopl', 'ioperm'], { includes: { caps: ['CAP_SYS_RAWIO'] } }),
  allow(['settimeofday', 'stime', 'clock_settime', 'clock_settime64'], {
    includes: { caps: ['CAP_SYS_TIME'] },
  }),
  allow(['vhangup'], { includes: { caps: ['CAP_SYS_TTY_CONFIG'] } }),
  allow(['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node'], {
    includes: { caps: ['CAP_SYS_NICE'] },
  }),
  allow(['syslog'], { includes: { caps: ['CAP_SYSLOG'] } }),
  allow(['bpf'], { includes: { caps: ['CAP_BPF'] } }),
  allow(['perf_event_open'], { includes: { caps: ['CAP_PERFMON'] } }),
];

const ARCHITECTURES: Record<SeccompHostArch, SeccompArchitecture[]> = {
  x86_64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  aarch64: ['SCMP_ARCH_AARCH64'],
};

export interface SeccompProfileOptions {
  /** Host architecture; default this machine's. */
  arch?: SeccompHostArch;
  /** The container's capabilities (its bounding set, as Docker uses), `CAP_X` or `X`. Default none. */
  capabilities?: Iterable<string>;
  /** Kernel release (`uname -r`) for version-gated rules; default the running kernel's. */
  kernelRelease?: string;
}

function kernelVersion(text: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

/**
 * Berth's default profile fitted to a container's capabilities and the host, as Docker fits its
 * own: rules whose `includes` are all met and whose `excludes` are not, with the names that exist
 * on the host's ABIs. Without capabilities it is the strictest form.
 */
export function seccompProfileFor(options: SeccompProfileOptions = {}): LinuxSeccomp {
  const arch = options.arch ?? hostSeccompArch();
  if (!arch) throw new Error(`Berth has no seccomp profile for this architecture (${process.arch})`);
  const caps = new Set(
    [...(options.capabilities ?? [])].map((c) => {
      const up = c.toUpperCase();
      return up.startsWith('CAP_') ? up : `CAP_${up}`;
    }),
  );
  const [major, minor] = kernelVersion(options.kernelRelease ?? release());
  const host = HOST_ABIS[arch];
  const abis = [host.native, ...host.compat];
  const exists = (name: string) => abis.some((a) => a.table.has(name));

  const syscalls: LinuxSyscall[] = [];
  for (const rule of BERTH_SECCOMP_TEMPLATE) {
    const inc = rule.includes;
    if (inc?.caps && !inc.caps.every((c) => caps.has(c))) continue;
    if (inc?.arches && !inc.arches.includes(arch)) continue;
    if (inc?.minKernel) {
      const [wantMajor, wantMinor] = inc.minKernel;
      if (major < wantMajor || (major === wantMajor && minor < wantMinor)) continue;
    }
    const exc = rule.excludes;
    if (exc?.caps?.some((c) => caps.has(c))) continue;
    if (exc?.arches?.includes(arch)) continue;
    const names = rule.names.filter(exists);
    if (names.length === 0) continue;
    const out: LinuxSyscall = { names, action: rule.action };
    if (rule.errnoRet !== undefined) out.errnoRet = rule.errnoRet;
    if (rule.args) out.args = rule.args.map((a) => ({ ...a }));
    syscalls.push(out);
  }
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    architectures: [...ARCHITECTURES[arch]],
    syscalls,
  };
}

/** Berth's default profile for a container without extra capabilities (see `seccompProfileFor`). */
export function defaultSeccompProfile(options: SeccompProfileOptions = {}): LinuxSeccomp {
  return seccompProfileFor(options);
}
