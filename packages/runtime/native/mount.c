/* The container's filesystem: every destination is resolved inside the rootfs with openat2
 * RESOLVE_IN_ROOT (a symlink can never lead out of it) and mounted through the resulting
 * /proc/self/fd/N, all before pivot_root while the host's /proc is still at hand. */
#include "berth.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int g_root = -1; /* O_PATH fd of the rootfs */

#define FDPATH(buf, fd) snprintf(buf, sizeof buf, "/proc/self/fd/%d", fd)

static int open_in_root(const char *path, int flags) {
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC), .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  int fd;
  do fd = (int)syscall(SYS_openat2, g_root, path, &how, sizeof how);
  while (fd < 0 && errno == EAGAIN);
  return fd;
}

static int resolve(const char *path, int kind);

/* Opens the directory that holds path's last component (created if missing) as a real
 * directory fd, and copies that component to name. */
static int open_parent(const char *path, char *name, size_t namelen) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  size_t n = strlen(buf);
  while (n > 1 && buf[n - 1] == '/') buf[--n] = 0;
  char *slash = strrchr(buf, '/');
  if (!slash || !slash[1]) return errno = EINVAL, -1;
  snprintf(name, namelen, "%s", slash + 1);
  if (slash == buf) slash[1] = 0;
  else *slash = 0;
  int pfd = resolve(buf, 'd');
  if (pfd < 0) return -1;
  int dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* O_PATH fds cannot mkdirat */
  close(pfd);
  return dfd;
}

/* Resolves path inside the rootfs, creating it (and its parents as directories) if missing.
 * kind: 0 do not create, 'd' directory, 'f' empty file. Returns an O_PATH fd or -1. */
static int resolve(const char *path, int kind) {
  int fd = open_in_root(path, O_PATH);
  if (fd >= 0 || errno != ENOENT || !kind) return fd;
  char name[256];
  int dfd = open_parent(path, name, sizeof name);
  if (dfd < 0) return -1;
  int r;
  if (kind == 'd') {
    r = mkdirat(dfd, name, 0755);
  } else {
    r = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (r >= 0) close(r);
  }
  int e = errno;
  close(dfd);
  if (r < 0 && e != EEXIST) return errno = e, -1;
  return open_in_root(path, O_PATH);
}

/* Flags the kernel locks on a mount we did not create (user namespaces): keep them. */
static unsigned long locked_flags(const char *path) {
  struct statvfs s;
  if (statvfs(path, &s) < 0) return 0;
  unsigned long f = 0;
  if (s.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (s.f_flag & ST_NODEV) f |= MS_NODEV;
  if (s.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (s.f_flag & ST_RDONLY) f |= MS_RDONLY;
  return f;
}

static void remount_bind(const char *dest, unsigned long flags) {
  int fd = resolve(dest, 0);
  if (fd < 0) die("resolve %s", dest);
  char p[64];
  FDPATH(p, fd);
  flags &= ~(unsigned long)(MS_REC | MS_BIND);
  if (mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | flags, NULL) < 0 &&
      (errno != EPERM || mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | flags | locked_flags(p), NULL) < 0))
    die("remount %s", dest);
  close(fd);
}

static void set_propagation(const char *dest, unsigned long prop) {
  if (!prop) return;
  int fd = resolve(dest, 0);
  char p[64];
  FDPATH(p, fd);
  if (fd < 0 || mount(NULL, p, NULL, prop, NULL) < 0) die("propagation of %s", dest);
  close(fd);
}

static void do_mount(const struct rec *r) {
  unsigned long flags = (unsigned long)rec_u64(r, 0), prop = (unsigned long)rec_u64(r, 8);
  int bind = (int)rec_u32(r, 16);
  size_t off = 24;
  const char *src = rec_str(r, off, &off), *dest = rec_str(r, off, &off);
  const char *type = rec_str(r, off, &off), *data = rec_str(r, off, &off);
  if (!src || !dest || !type || !data) die_errno(EINVAL, "malformed mount record");
  if (bind == 2) { /* remount: seal a filesystem set up by the records before */
    int fd = resolve(dest, 0);
    char p[64];
    FDPATH(p, fd);
    if (fd < 0 || (mount(NULL, p, NULL, MS_REMOUNT | flags, NULL) < 0 &&
                   mount(NULL, p, NULL, MS_REMOUNT | flags | locked_flags(p), NULL) < 0))
      die("remount %s", dest);
    close(fd);
    return;
  }
  int kind = 'd';
  struct stat st;
  if (bind) {
    if (stat(src, &st) < 0) die("mount %s: source %s", dest, src);
    if (!S_ISDIR(st.st_mode)) kind = 'f';
  }
  int fd = resolve(dest, kind);
  if (fd < 0) die("mount %s: destination", dest);
  char p[64];
  FDPATH(p, fd);
  if (bind) {
    if (mount(src, p, NULL, MS_BIND | (flags & MS_REC), NULL) < 0) die("bind mount %s on %s", src, dest);
    if (flags & ~(unsigned long)(MS_BIND | MS_REC)) remount_bind(dest, flags);
  } else if (mount(src, p, type, flags, *data ? data : NULL) < 0) {
    die("mount %s (%s) on %s", src, type, dest);
  }
  close(fd);
  set_propagation(dest, prop);
}

static void make_device(const struct rec *r) {
  mode_t mode = rec_u32(r, 0);
  unsigned maj = rec_u32(r, 4), min = rec_u32(r, 8);
  uid_t uid = rec_u32(r, 12);
  gid_t gid = rec_u32(r, 16);
  const char *path = rec_str(r, 20, NULL);
  if (!path) die_errno(EINVAL, "malformed device record");
  char base[256];
  int dfd = open_parent(path, base, sizeof base);
  if (dfd < 0) die("device %s: parent", path);
  unlinkat(dfd, base, 0); /* a file the image shipped there is not the device we mean */
  if (mknodat(dfd, base, mode, makedev(maj, min)) == 0) {
    if (fchownat(dfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) die("chown device %s", path);
    fchmodat(dfd, base, mode & 07777, 0);
  } else if (errno == EPERM) {
    /* In a user namespace mknod is refused: bind the host's node, as runc and LXC do. */
    int f = openat(dfd, base, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (f < 0) die("device %s: placeholder", path);
    close(f);
    int fd = resolve(path, 0);
    char p[64];
    FDPATH(p, fd);
    if (fd < 0 || mount(path, p, NULL, MS_BIND, NULL) < 0) die("bind device %s", path);
    close(fd);
  } else {
    die("mknod %s", path);
  }
  close(dfd);
}

static void make_symlink(const struct rec *r) {
  size_t off = 0;
  const char *target = rec_str(r, 0, &off), *link = rec_str(r, off, NULL);
  if (!target || !link) die_errno(EINVAL, "malformed symlink record");
  char name[256];
  int dfd = open_parent(link, name, sizeof name);
  if (dfd < 0) die("symlink %s: parent", link);
  if (symlinkat(target, dfd, name) < 0 && errno != EEXIST) die("symlink %s", link);
  close(dfd);
}

static void mask_path(const char *path, int devnull) {
  int fd = resolve(path, 0);
  if (fd < 0) {
    if (errno == ENOENT) return;
    die("masked path %s", path);
  }
  struct stat st;
  char p[64], src[64];
  FDPATH(p, fd);
  if (fstat(fd, &st) < 0) die("masked path %s", path);
  if (S_ISDIR(st.st_mode)) {
    if (mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0") < 0) die("mask %s", path);
  } else {
    FDPATH(src, devnull);
    if (mount(src, p, NULL, MS_BIND, NULL) < 0) die("mask %s", path);
  }
  close(fd);
}

static void readonly_path(const char *path) {
  int fd = resolve(path, 0);
  if (fd < 0) {
    if (errno == ENOENT) return;
    die("read-only path %s", path);
  }
  char p[64];
  FDPATH(p, fd);
  if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) die("read-only path %s", path);
  close(fd);
  remount_bind(path, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
}

void apply_sysctls(const struct plan *p) {
  size_t pos = 0, off;
  struct rec r;
  while (plan_next(p, P_SYSCTL, &pos, &r)) {
    const char *key = rec_str(&r, 0, &off), *value = rec_str(&r, off, NULL);
    char path[512];
    snprintf(path, sizeof path, "/proc/sys/%s", key);
    int fd = open_in_root(path, O_WRONLY);
    if (fd < 0 || write_all(fd, value, strlen(value)) < 0) die("sysctl %s", key);
    close(fd);
  }
}

void setup_rootfs(const struct plan *p, int console_slave, int sync) {
  const char *rootfs = plan_str(p, P_ROOTFS);
  if (!rootfs) die_errno(EINVAL, "plan has no rootfs");
  unsigned long prop = (unsigned long)plan_u64(p, P_ROOT_PROPAGATION, MS_REC | MS_PRIVATE);
  /* Whatever the config asks, nothing mounted in here may reach the host: the copied tree
   * (the rootfs, its parent mount, the host's shared mounts) first becomes a slave of the
   * host's, which receives but never sends, so no mount the container makes, not even after
   * it makes its / shared again (systemd's `mount --make-rshared /`), joins a host peer group.
   * The propagation asked for is set on the container's own / after pivot_root (shared or
   * unbindable before it would make pivot_root refuse a shared parent (EINVAL) or the rootfs
   * bind an unbindable source). Pinned by test/propagation.root.test.ts. */
  if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) die("make / rslave");
  if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) die("bind rootfs %s", rootfs);
  g_root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (g_root < 0) die("open rootfs %s", rootfs);
  int devnull = open("/dev/null", O_PATH | O_CLOEXEC);

  size_t pos = 0;
  struct rec r;
  while (plan_next(p, P_MOUNT, &pos, &r)) do_mount(&r);
  apply_sysctls(p);
  for (pos = 0; plan_next(p, P_DEVICE, &pos, &r);) make_device(&r);
  for (pos = 0; plan_next(p, P_SYMLINK, &pos, &r);) make_symlink(&r);
  if (console_slave >= 0) {
    /* Bind by path: the slave's fd belongs to a mount of the namespace we were cloned from,
     * which mount(2) refuses as a bind source; our copy of /dev/pts has the same node. */
    int fd = resolve("/dev/console", 'f');
    char dst[64], link[64], src[256];
    FDPATH(dst, fd);
    FDPATH(link, console_slave);
    ssize_t n = readlink(link, src, sizeof src - 1);
    if (n <= 0) die("console name");
    src[n] = 0;
    if (fd < 0 || mount(src, dst, NULL, MS_BIND, NULL) < 0) die("bind /dev/console");
    close(fd);
  }
  /* Mask files with the container's own /dev/null when it has one (the mount table then
   * shows no host filesystem), else with the host's. */
  int own_null = open_in_root("/dev/null", O_PATH | O_NOFOLLOW);
  struct stat nst;
  if (own_null >= 0 && fstat(own_null, &nst) == 0 && S_ISCHR(nst.st_mode)) close(devnull), devnull = own_null;
  else if (own_null >= 0) close(own_null);
  for (pos = 0; plan_next(p, P_MASKED, &pos, &r);) mask_path(rec_str(&r, 0, NULL), devnull);
  for (pos = 0; plan_next(p, P_READONLY, &pos, &r);) readonly_path(rec_str(&r, 0, NULL));
  close(devnull);

  create_hooks(p, sync); /* in the container's namespaces, before pivot_root */

  /* pivot_root(".", ".") stacks the old root under the new one; detach it (runc's trick). */
  if (fchdir(g_root) < 0) die("chdir rootfs");
  if (syscall(SYS_pivot_root, ".", ".") < 0) die("pivot_root");
  if (umount2(".", MNT_DETACH) < 0) die("detach old root");
  if (chdir("/") < 0) die("chdir /");
  close(g_root);
  if (mount(NULL, "/", NULL, prop, NULL) < 0) die("rootfsPropagation of /");
  if (plan_has(p, P_ROOT_RO)) {
    if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0 &&
        mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags("/"), NULL) < 0)
      die("remount / read-only");
  }
}
