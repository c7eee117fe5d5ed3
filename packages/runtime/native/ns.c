/* Namespaces: clone the container's init, write its id maps, join namespaces by path, put a
 * process into its cgroups, set the hostname. */
#include "berth.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

pid_t clone_container(uint64_t flags) {
  /* fork-like clone: the child continues on a copy of our stack (we are single-threaded). */
  return (pid_t)syscall(SYS_clone, (unsigned long)(flags | SIGCHLD), 0, 0, 0, 0);
}

#define CLONE_INTO_CGROUP_ 0x200000000ULL
#define CGROUP2_MAGIC_ 0x63677270

/* struct clone_args of clone3(2), spelled out: <linux/sched.h> clashes with <sched.h>. */
struct clone3_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

/* Like clone_container, but init is born in the plan's cgroup2 cgroup (CLONE_INTO_CGROUP,
 * Linux 5.7) instead of being moved there after: a move waits for an RCU grace period on
 * hosts without favordynmods. *placed names the cgroup.procs file that needs no write then. */
pid_t clone_container_into(uint64_t flags, const struct plan *p, const char **placed) {
  *placed = NULL;
  size_t pos = 0;
  struct rec r;
  while (plan_next(p, P_CGROUP_PROCS, &pos, &r)) {
    const char *procs = rec_str(&r, 0, NULL);
    char dir[4096];
    if (!procs || snprintf(dir, sizeof dir, "%s", procs) >= (int)sizeof dir) continue;
    char *slash = strrchr(dir, '/');
    if (!slash) continue;
    *slash = 0;
    struct statfs st;
    if (statfs(dir, &st) < 0 || st.f_type != CGROUP2_MAGIC_) continue;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) break;
    struct clone3_args a = {.flags = flags | CLONE_INTO_CGROUP_, .exit_signal = SIGCHLD, .cgroup = (uint64_t)fd};
    pid_t pid = (pid_t)syscall(SYS_clone3, &a, sizeof a);
    if (pid == 0) return 0;
    int e = errno;
    close(fd);
    if (pid > 0) {
      *placed = procs;
      return pid;
    }
    errno = e;
    break; /* an older kernel (ENOSYS, E2BIG) or a refusal: clone, then move */
  }
  return clone_container(flags);
}

static void write_map(pid_t pid, const char *file, const char *content) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", pid, file);
  if (write_file(path, content, strlen(content)) < 0) die("write %s", file);
}

/* Rootless with subordinate ids: the setuid helpers check /etc/subuid and write the map. */
static void run_map_tool(const char *tool, pid_t pid, const char *map) {
  char args[4096], num[16], *argv[3 * 64 + 3];
  int n = 0;
  snprintf(args, sizeof args, "%s", map);
  snprintf(num, sizeof num, "%d", (int)pid);
  argv[n++] = (char *)tool, argv[n++] = num;
  for (char *save, *t = strtok_r(args, " \n", &save); t && n < 3 * 64 + 2; t = strtok_r(NULL, " \n", &save))
    argv[n++] = t;
  argv[n] = NULL;
  pid_t c = fork();
  if (c < 0) die("fork %s", tool);
  if (c == 0) {
    execvp(tool, argv);
    _exit(127);
  }
  int st;
  if (waitpid(c, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    die_errno(0, "%s %d failed (status %d)", tool, (int)pid, st);
}

void write_id_maps(pid_t pid, const struct plan *p) {
  const char *uid = plan_str(p, P_UID_MAP), *gid = plan_str(p, P_GID_MAP);
  if (plan_has(p, P_ID_MAP_HELPER)) {
    if (uid) run_map_tool("newuidmap", pid, uid);
    if (gid) run_map_tool("newgidmap", pid, gid);
    return;
  }
  if (uid) write_map(pid, "uid_map", uid);
  /* An unprivileged writer may map its own gid only once setgroups is denied. */
  if (gid && plan_has(p, P_SETGROUPS_DENY)) write_map(pid, "setgroups", "deny");
  if (gid) write_map(pid, "gid_map", gid);
}

void join_cgroups(const struct plan *p, pid_t pid, const char *skip) {
  char buf[16];
  int n = snprintf(buf, sizeof buf, "%d", pid);
  size_t pos = 0;
  struct rec r;
  while (plan_next(p, P_CGROUP_PROCS, &pos, &r)) {
    const char *path = rec_str(&r, 0, NULL);
    if (path && path == skip) continue;
    if (path && write_file(path, buf, (size_t)n) < 0) die("join cgroup %s", path);
  }
}

/* A user-namespaced container's root owns its own cgroup directories (not their limits), as
 * LXC delegates them: an init such as systemd makes its sub-cgroups there and moves processes.
 * Done by the monitor, as host root, while init sets itself up and before it starts. A
 * hierarchy has only some of these files (v1: tasks; v2: cgroup.threads, subtree_control). */
void delegate_cgroups(const struct plan *p) {
  static const char *const files[] = {"cgroup.procs", "tasks", "cgroup.subtree_control", "cgroup.threads"};
  size_t pos = 0;
  struct rec r;
  while (plan_next(p, P_CGROUP_DELEGATE, &pos, &r)) {
    uid_t uid = rec_u32(&r, 0);
    gid_t gid = rec_u32(&r, 4);
    const char *dir = rec_str(&r, 8, NULL);
    if (!dir) die_errno(EINVAL, "malformed cgroup delegation record");
    /* A cgroupfs holds no symlinks; one here is not ours to follow (the chown would land
     * wherever it points): the open fails on it (ENOTDIR), a file's chown changes the link. */
    int dfd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0 || fchownat(dfd, "", uid, gid, AT_EMPTY_PATH) < 0) die("delegate cgroup %s", dir);
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
      if (fchownat(dfd, files[i], uid, gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT)
        die("delegate cgroup %s/%s", dir, files[i]);
    close(dfd);
  }
}

/* Namespaces joined by path. pid and time ones only affect children, so the monitor joins
 * them before clone; the child joins the rest, the user namespace first. Every path is opened
 * before the first setns: once in another user namespace, the host's /proc/<pid>/ns files may
 * no longer be ours to open. A network namespace joined by a container that gets a new user
 * namespace is joined by the monitor too: from inside its new user namespace the child holds
 * no capability over another container's network namespace (owned by that one's user
 * namespace), while the monitor, still host root, does; clone without CLONE_NEWNET then hands
 * it to the child. */
void join_namespaces(const struct plan *p, int pid_and_time_only) {
  int new_user = (plan_u64(p, P_NS_FLAGS, 0) & CLONE_NEWUSER) != 0;
  int fds[16], types[16], n = 0;
  for (int pass = 0; pass < 2; pass++) {
    size_t pos = 0;
    struct rec r;
    while (plan_next(p, P_NS_JOIN, &pos, &r)) {
      uint32_t type = rec_u32(&r, 0);
      const char *path = rec_str(&r, 4, NULL);
      int for_children = type == CLONE_NEWPID || type == 0x80 /* CLONE_NEWTIME */ ||
                         (type == CLONE_NEWNET && new_user);
      if (pid_and_time_only != for_children) continue;
      if ((pass == 0) != (type == CLONE_NEWUSER)) continue;
      if (n == 16) die_errno(E2BIG, "too many namespaces to join");
      fds[n] = open(path, O_RDONLY | O_CLOEXEC);
      if (fds[n] < 0) die("linux.namespaces: open %s", path);
      types[n++] = (int)type;
    }
  }
  for (int i = 0; i < n; i++) {
    if (setns(fds[i], types[i]) < 0) die("linux.namespaces: setns %s namespace", types[i] == CLONE_NEWUSER ? "user" : "joined");
    close(fds[i]);
  }
}

int joins_user_namespace(const struct plan *p) {
  size_t pos = 0;
  struct rec r;
  while (plan_next(p, P_NS_JOIN, &pos, &r))
    if (rec_u32(&r, 0) == CLONE_NEWUSER) return 1;
  return 0;
}

/* In a user namespace joined by path, the namespaces to create must belong to it (a mount or
 * PID namespace the host's user namespace owns would refuse the container's root its mounts
 * and /proc): so they are made here, after setns, and a fork enters the new PID namespace.
 * The parent (the monitor's direct child) reports the new init's pid ('P' <pid>) and exits;
 * the monitor, a subreaper, adopts it. Returns in the new init. */
void enter_created_namespaces(uint64_t flags, int sync) {
  if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) die("become root in the joined user namespace");
  int create = (int)(flags & ~(uint64_t)(CLONE_NEWUSER | CLONE_NEWCGROUP | 0x80 /* CLONE_NEWTIME */));
  if (create && unshare(create) < 0) die("create namespaces in the joined user namespace");
  pid_t pid = fork();
  if (pid < 0) die("fork container init");
  if (pid == 0) return;
  char msg[32];
  int len = snprintf(msg, sizeof msg, "P%d", (int)pid);
  _exit(send(sync, msg, (size_t)len, MSG_NOSIGNAL) == len ? 0 : 1);
}

void set_hostname(const struct plan *p) {
  const char *h = plan_str(p, P_HOSTNAME), *d = plan_str(p, P_DOMAINNAME);
  if (h && sethostname(h, strlen(h)) < 0) die("sethostname %s", h);
  if (d && setdomainname(d, strlen(d)) < 0) die("setdomainname %s", d);
}
