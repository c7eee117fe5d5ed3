import { constants } from 'node:os';
import { check, libc, SysError } from './libc.ts';

export { check, errnoName, libc, SysError } from './libc.ts';

// The runtime's thread-safe syscalls, through koffi (DESIGN.md: FFI only for calls that are
// safe from a multithreaded process). Everything that must happen between clone and exec
// lives in native/ instead.

interface Libc {
  pidfd_open: (pid: number, flags: number) => number;
  pidfd_send_signal: (fd: number, sig: number, info: null, flags: number) => number;
  close: (fd: number) => number;
  prctl: (option: number, arg2: number, arg3: number, arg4: number, arg5: number) => number;
  statfs: (path: string, buf: Buffer) => number;
}

let fns: Libc | undefined;
function load(): Libc {
  if (fns) return fns;
  const lib = libc();
  fns = {
    pidfd_open: lib.func('int pidfd_open(int pid, unsigned int flags)'),
    pidfd_send_signal: lib.func('int pidfd_send_signal(int pidfd, int sig, void *info, unsigned int flags)'),
    close: lib.func('int close(int fd)'),
    prctl: lib.func(
      'int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)',
    ),
    statfs: lib.func('int statfs(const char *path, _Out_ uint8_t *buf)'),
  };
  return fns;
}

/** A process handle that cannot be confused with a later process reusing the pid. */
export function pidfdOpen(pid: number): number {
  return check(load().pidfd_open(pid, 0), `pidfd_open(${pid})`);
}

export function pidfdSendSignal(pidfd: number, signal: number): void {
  check(load().pidfd_send_signal(pidfd, signal, null, 0), 'pidfd_send_signal');
}

export function closeFd(fd: number): void {
  load().close(fd);
}

/** Signals pid through a pidfd; returns false if the process no longer exists. */
export function signalProcess(pid: number, signal: number): boolean {
  let fd: number;
  try {
    fd = pidfdOpen(pid);
  } catch (e) {
    if (e instanceof SysError && e.errno === constants.errno.ESRCH) return false;
    throw e;
  }
  try {
    pidfdSendSignal(fd, signal);
    return true;
  } catch (e) {
    if (e instanceof SysError && e.errno === constants.errno.ESRCH) return false;
    throw e;
  } finally {
    closeFd(fd);
  }
}

const PR_SET_CHILD_SUBREAPER = 36;
export function setChildSubreaper(on = true): void {
  check(load().prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0), 'prctl(PR_SET_CHILD_SUBREAPER)');
}

/** statfs(2)'s f_type (filesystem magic), e.g. 0x63677270 for cgroup2. */
export function statfsType(path: string): number {
  const buf = Buffer.alloc(120);
  check(load().statfs(path, buf), `statfs(${path})`);
  return Number(buf.readBigInt64LE(0));
}

export const FS_MAGIC = {
  CGROUP2: 0x63677270,
  TMPFS: 0x01021994,
  PROC: 0x9fa0,
  OVERLAY: 0x794c7630,
} as const;
export * from './openat2.ts';
