// koffi bindings for the mount-related syscalls the image store needs on the host: mounting and
// unmounting container roots (overlayfs), the new mount API (fsopen/fsconfig `lowerdir+`, which
// lifts overlayfs' one-page limit on the lowerdir option), idmapped layers (open_tree +
// mount_setattr(MOUNT_ATTR_IDMAP) + move_mount), and the two inode operations overlayfs layers
// need that Node lacks: mknod (whiteouts are 0:0 character devices) and lsetxattr (opaque
// directories are marked with `trusted.overlay.opaque`). All of these are safe to call from a
// multithreaded process (see DESIGN.md, "FFI").
import koffi from 'koffi';
import { closeFd } from './index.ts';
import { check, libc, SysError } from './libc.ts';

export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_PRIVATE = 1 << 18;

export const MNT_DETACH = 0x2;

export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;

// The new mount API's syscall numbers are the same on every architecture (>= 424).
const SYS_open_tree = 428;
const SYS_move_mount = 429;
const SYS_fsopen = 430;
const SYS_fsconfig = 431;
const SYS_fsmount = 432;
const SYS_mount_setattr = 442;

const OPEN_TREE_CLONE = 1;
const OPEN_TREE_CLOEXEC = 0o2000000;
const AT_FDCWD = -100;
const AT_RECURSIVE = 0x8000;
const AT_EMPTY_PATH = 0x1000;
const MOVE_MOUNT_F_EMPTY_PATH = 0x4;
const FSOPEN_CLOEXEC = 1;
const FSMOUNT_CLOEXEC = 1;
const FSCONFIG_SET_STRING = 1;
const FSCONFIG_SET_FD = 5;
const FSCONFIG_CMD_CREATE = 6;
const MOUNT_ATTR_RDONLY = 0x1;
const MOUNT_ATTR_IDMAP = 0x100000;

interface Libc {
  mount: (
    src: string | null,
    target: string,
    fstype: string | null,
    flags: number,
    data: string | null,
  ) => number;
  umount2: (target: string, flags: number) => number;
  mknod: (path: string, mode: number, dev: bigint) => number;
  lsetxattr: (path: string, name: string, value: Buffer, size: number, flags: number) => number;
  lgetxattr: (path: string, name: string, value: Buffer | null, size: number) => number;
  syncfs: (fd: number) => number;
  syscall: (...args: unknown[]) => number | bigint;
}

let fns: Libc | undefined;
function lib(): Libc {
  if (fns) return fns;
  const l = libc();
  fns = {
    mount: l.func(
      'int mount(const char *src, const char *target, const char *fstype, unsigned long flags, const char *data)',
    ),
    umount2: l.func('int umount2(const char *target, int flags)'),
    mknod: l.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
    lsetxattr: l.func(
      'int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)',
    ),
    lgetxattr: l.func('long lgetxattr(const char *path, const char *name, void *value, size_t size)'),
    syncfs: l.func('int syncfs(int fd)'),
    syscall: l.func('long syscall(long number, ...)'),
  };
  return fns;
}

export function mount(
  source: string | null,
  target: string,
  fstype: string | null,
  flags: number,
  data: string | null,
): void {
  check(lib().mount(source, target, fstype, flags, data), 'mount', `${fstype ?? source}, ${target}`);
}

export function umount2(target: string, flags = 0): void {
  check(lib().umount2(target, flags), 'umount2', target);
}

export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}

export function mknod(path: string, mode: number, dev: bigint = 0n): void {
  check(lib().mknod(path, mode, dev), 'mknod', path);
}

export function lsetxattr(path: string, name: string, value: Buffer | string): void {
  const buf = typeof value === 'string' ? Buffer.from(value) : value;
  check(lib().lsetxattr(path, name, buf, buf.length, 0), 'lsetxattr', `${path}, ${name}`);
}

/** The xattr's value, or undefined when the file has none of that name. */
export function lgetxattr(path: string, name: string): Buffer | undefined {
  const buf = Buffer.alloc(65536);
  const n = Number(lib().lgetxattr(path, name, buf, buf.length));
  if (n < 0) {
    const errno = koffi.errno();
    if (errno === koffi.os.errno.ENODATA || errno === koffi.os.errno.ENOTSUP) return undefined;
    throw new SysError('lgetxattr', errno, `${path}, ${name}`);
  }
  return buf.subarray(0, n);
}

/** Flushes the filesystem holding the open file `fd` (one call for a whole unpacked layer). */
export function syncfs(fd: number): void {
  check(lib().syncfs(fd), 'syncfs', String(fd));
}

/**
 * Mounts an overlayfs through the new mount API, adding each lower layer with its own
 * `lowerdir+` call, so the number of layers is not bounded by the one-page option string of
 * mount(2). Needs Linux >= 6.8; throws a SysError (EINVAL) on older kernels. A lower given as
 * a number is an open fd of a directory or a detached mount (openIdmappedTree), passed with
 * FSCONFIG_SET_FD (Linux >= 6.13; EINVAL before).
 */
export function mountOverlayFsconfig(
  target: string,
  opts: {
    lowers: Array<string | number>;
    upper?: string;
    work?: string;
    extra?: Record<string, string>;
  },
): void {
  const l = lib();
  const fs = check(
    l.syscall(SYS_fsopen, 'const char *', 'overlay', 'unsigned int', FSOPEN_CLOEXEC),
    'fsopen',
    'overlay',
  );
  try {
    // A string value, or an fd (FSCONFIG_SET_FD: the value is null, the fd goes in `aux`).
    const set = (key: string, value: string | number) =>
      check(
        l.syscall(
          SYS_fsconfig,
          'int',
          fs,
          'unsigned int',
          typeof value === 'number' ? FSCONFIG_SET_FD : FSCONFIG_SET_STRING,
          'const char *',
          key,
          'const char *',
          typeof value === 'number' ? null : value,
          'int',
          typeof value === 'number' ? value : 0,
        ),
        'fsconfig',
        typeof value === 'number' ? `${key}=fd ${value}` : `${key}=${value}`,
      );
    for (const lower of opts.lowers) set('lowerdir+', lower);
    if (opts.upper) set('upperdir', opts.upper);
    if (opts.work) set('workdir', opts.work);
    for (const [k, v] of Object.entries(opts.extra ?? {})) set(k, v);
    check(
      l.syscall(
        SYS_fsconfig,
        'int',
        fs,
        'unsigned int',
        FSCONFIG_CMD_CREATE,
        'const char *',
        null,
        'const char *',
        null,
        'int',
        0,
      ),
      'fsconfig',
      'create',
    );
    const mnt = check(
      l.syscall(SYS_fsmount, 'int', fs, 'unsigned int', FSMOUNT_CLOEXEC, 'unsigned int', 0),
      'fsmount',
      target,
    );
    try {
      moveMountTo(mnt, target);
    } finally {
      closeFd(mnt);
    }
  } finally {
    closeFd(fs);
  }
}

/** Attaches the detached mount `fd` (from fsmount or open_tree) at `target`. */
function moveMountTo(fd: number, target: string): void {
  check(
    lib().syscall(
      SYS_move_mount,
      'int',
      fd,
      'const char *',
      '',
      'int',
      AT_FDCWD,
      'const char *',
      target,
      'unsigned int',
      MOVE_MOUNT_F_EMPTY_PATH,
    ),
    'move_mount',
    target,
  );
}

/**
 * Makes an idmapped, read-only copy of the mount tree at `source` appear at `target`: files
 * owned by id N in `source` appear as the id N maps to through the user namespace `usernsFd`
 * (open('/proc/<pid>/ns/user')). The source is untouched (no chown).
 */
export function mountIdmapped(source: string, target: string, usernsFd: number): void {
  const tree = openIdmappedTree(source, usernsFd);
  try {
    moveMountTo(tree, target);
  } finally {
    closeFd(tree);
  }
}

/**
 * The same idmapped, read-only copy of `source` as mountIdmapped, left detached: an fd (close
 * on exec) that overlayfs takes as a lower layer (mountOverlayFsconfig) without the copy being
 * attached anywhere, and that serves any number of such mounts. The caller closes it.
 */
export function openIdmappedTree(source: string, usernsFd: number): number {
  const l = lib();
  const tree = check(
    l.syscall(
      SYS_open_tree,
      'int',
      AT_FDCWD,
      'const char *',
      source,
      'unsigned int',
      OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE,
    ),
    'open_tree',
    source,
  );
  try {
    // struct mount_attr { u64 attr_set; u64 attr_clr; u64 propagation; u64 userns_fd; }
    const attr = Buffer.alloc(32);
    attr.writeBigUInt64LE(BigInt(MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY), 0);
    // A clone of a shared mount is its peer: private, or mounts would propagate between the
    // layer's copy and the host's mount the layer lives on (systemd hosts share /).
    attr.writeBigUInt64LE(BigInt(MS_PRIVATE), 16);
    attr.writeBigUInt64LE(BigInt(usernsFd), 24);
    check(
      l.syscall(
        SYS_mount_setattr,
        'int',
        tree,
        'const char *',
        '',
        'unsigned int',
        AT_EMPTY_PATH | AT_RECURSIVE,
        'void *',
        attr,
        'size_t',
        attr.length,
      ),
      'mount_setattr',
      source,
    );
    return tree;
  } catch (e) {
    closeFd(tree);
    throw e;
  }
}
