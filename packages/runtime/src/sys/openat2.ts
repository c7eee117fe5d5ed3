// openat2(2) and the *at() calls that go with it, through koffi: paths inside a container's
// root resolved by the kernel as if that root were "/" (RESOLVE_IN_ROOT), so a container that
// swaps a directory for a symlink between our check and our use cannot send a read or a
// write to the host (no check-then-use in user space at all). Safe from a threaded process.
import { check, libc as loadLibc } from './libc.ts';

/** openat2's resolve flags (linux/openat2.h). */
export const RESOLVE = {
  NO_XDEV: 0x01,
  NO_MAGICLINKS: 0x02,
  NO_SYMLINKS: 0x04,
  BENEATH: 0x08,
  IN_ROOT: 0x10,
} as const;

/** open(2) flags Node's fs.constants lacks. */
export const O_PATH = 0o10000000;
export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_EMPTY_PATH = 0x1000;
export const AT_REMOVEDIR = 0x200;

// openat2 has the same number on every architecture (the generic table, >= 424).
const SYS_openat2 = 437;

interface AtLibc {
  syscall: (...args: unknown[]) => number | bigint;
  mkdirat: (dirfd: number, path: string, mode: number) => number;
  symlinkat: (target: string, dirfd: number, path: string) => number;
  fchownat: (dirfd: number, path: string, uid: number, gid: number, flags: number) => number;
  linkat: (olddirfd: number, oldpath: string, newdirfd: number, newpath: string, flags: number) => number;
  unlinkat: (dirfd: number, path: string, flags: number) => number;
  readlinkat: (dirfd: number, path: string, buf: Buffer, size: number) => number | bigint;
}

let fns: AtLibc | undefined;
function lib(): AtLibc {
  if (fns) return fns;
  const l = loadLibc();
  fns = {
    syscall: l.func('long syscall(long number, ...)'),
    mkdirat: l.func('int mkdirat(int dirfd, const char *path, unsigned int mode)'),
    symlinkat: l.func('int symlinkat(const char *target, int dirfd, const char *path)'),
    fchownat: l.func(
      'int fchownat(int dirfd, const char *path, unsigned int uid, unsigned int gid, int flags)',
    ),
    linkat: l.func(
      'int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)',
    ),
    unlinkat: l.func('int unlinkat(int dirfd, const char *path, int flags)'),
    readlinkat: l.func('long readlinkat(int dirfd, const char *path, _Out_ uint8_t *buf, size_t size)'),
  };
  return fns;
}

export interface OpenHow {
  /** open(2) flags (O_CLOEXEC is always added). */
  flags: number;
  mode?: number;
  /** RESOLVE_* flags. */
  resolve: number;
}

const O_CLOEXEC = 0o2000000;

/** openat2(dirfd, path, how): a new fd, or a SysError (its errno: ENOENT, ELOOP, EXDEV, ...). */
export function openat2(dirfd: number, path: string, how: OpenHow): number {
  const b = Buffer.alloc(24);
  b.writeBigUInt64LE(BigInt(how.flags | O_CLOEXEC), 0);
  b.writeBigUInt64LE(BigInt(how.mode ?? 0), 8);
  b.writeBigUInt64LE(BigInt(how.resolve), 16);
  return check(
    lib().syscall(SYS_openat2, 'int', dirfd, 'const char *', path, 'void *', b, 'size_t', 24),
    `openat2(${path})`,
  );
}

export function mkdirat(dirfd: number, name: string, mode: number): void {
  check(lib().mkdirat(dirfd, name, mode), `mkdirat(${name})`);
}

export function symlinkat(target: string, dirfd: number, name: string): void {
  check(lib().symlinkat(target, dirfd, name), `symlinkat(${name})`);
}

/** fchownat(dirfd, name, ..., AT_SYMLINK_NOFOLLOW): a symlink's own owner. */
export function lchownat(dirfd: number, name: string, uid: number, gid: number): void {
  check(lib().fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW), `fchownat(${name})`);
}

/** A hard link named `name` in `dirfd` to the file open as `fd` (needs CAP_DAC_READ_SEARCH). */
export function linkFd(fd: number, dirfd: number, name: string): void {
  check(lib().linkat(fd, '', dirfd, name, AT_EMPTY_PATH), `linkat(${name})`);
}

export function unlinkat(dirfd: number, name: string, removeDir = false): void {
  check(lib().unlinkat(dirfd, name, removeDir ? AT_REMOVEDIR : 0), `unlinkat(${name})`);
}

/** The target of the symlink `name` in `dirfd` ("" for name: the symlink open as dirfd). */
export function readlinkat(dirfd: number, name: string): string {
  const buf = Buffer.alloc(4096);
  const n = check(lib().readlinkat(dirfd, name, buf, buf.length), `readlinkat(${name})`);
  return buf.subarray(0, n).toString('utf8');
}
