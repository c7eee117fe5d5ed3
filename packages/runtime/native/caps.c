/* The process's credentials and confinement, in runc's order (the rlimits came first, from
 * the monitor: set_rlimits_of): bounding set, user and groups (keeping capabilities across setuid), capabilities, ambient set, umask, cwd,
 * no_new_privs; seccomp last (or before the capability drop when no_new_privs is off, since
 * installing a filter then needs CAP_SYS_ADMIN). */
#include "berth.h"
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* The plan's rlimits on `pid` (0: ourselves). The monitor gives them to init (prlimit after
 * the clone) and to an exec'd process (its own, before the fork) while it is still host root:
 * in their user namespace, raising a hard limit above the one inherited needs the host's
 * CAP_SYS_RESOURCE. */
void set_rlimits_of(pid_t pid, const struct plan *p) {
  size_t pos = 0;
  struct rec r;
  while (plan_next(p, P_RLIMIT, &pos, &r)) {
    struct rlimit l = {.rlim_cur = rec_u64(&r, 8), .rlim_max = rec_u64(&r, 16)};
    if (prlimit(pid, (int)rec_u32(&r, 0), &l, NULL) < 0) die("setrlimit %u", rec_u32(&r, 0));
  }
}

static void set_caps(const struct rec *caps) {
  uint64_t bounding = rec_u64(caps, 0), eff = rec_u64(caps, 8), perm = rec_u64(caps, 16);
  uint64_t inh = rec_u64(caps, 24), amb = rec_u64(caps, 32);
  struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct d[2] = {
      {.effective = (uint32_t)eff, .permitted = (uint32_t)perm, .inheritable = (uint32_t)inh},
      {.effective = (uint32_t)(eff >> 32), .permitted = (uint32_t)(perm >> 32), .inheritable = (uint32_t)(inh >> 32)},
  };
  if (syscall(SYS_capset, &h, d) < 0) die("capset");
  (void)bounding;
  for (int cap = 0; cap < 64; cap++)
    if ((amb >> cap) & 1 && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) die("raise ambient cap %d", cap);
}

void install_seccomp(const struct plan *p) {
  size_t pos = 0;
  struct rec r;
  if (!plan_next(p, P_SECCOMP, &pos, &r)) return;
  /* u32 flags, u32 pad, then struct sock_filter[] */
  if (r.len < 8 || (r.len - 8) % sizeof(struct sock_filter)) die_errno(EINVAL, "malformed seccomp record");
  struct sock_fprog prog = {.len = (unsigned short)((r.len - 8) / sizeof(struct sock_filter)),
                            .filter = (struct sock_filter *)(r.data + 8)};
  uint32_t flags = rec_u32(&r, 0);
  long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  if (fd < 0) die("install seccomp filter");
  if (flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) {
    /* SCMP_ACT_NOTIFY: the listener goes to whoever supervises us (the monitor or the exec
     * session, on the report channel, 'N'), which sends it on to linux.seccomp.listenerPath;
     * we go on once it is delivered ('n'), keeping no copy. */
    char c, line[8];
    if (send_fd_data(g_report_fd, (int)fd, "N", 1) < 0) die("pass on the seccomp listener");
    close((int)fd);
    if (sync_recv(g_report_fd, &c, line, sizeof line) != 1 || c != 'n') _exit(1);
  }
}

void finalize_process(const struct plan *p) {
  size_t pos = 0;
  struct rec caps, user;
  int have_caps = plan_next(p, P_CAPS, &pos, &caps);
  pos = 0;
  int have_user = plan_next(p, P_USER, &pos, &user);
  int nnp = plan_has(p, P_NNP);

  if (!nnp) install_seccomp(p);
  if (have_caps) {
    uint64_t bounding = rec_u64(&caps, 0);
    for (int cap = 0; cap < 64 && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
      if (!((bounding >> cap) & 1) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) die("drop bounding cap %d", cap);
  }
  if (have_user) {
    uid_t uid = rec_u32(&user, 0);
    gid_t gid = rec_u32(&user, 4);
    uint32_t ngroups = rec_u32(&user, 12);
    gid_t groups[256];
    if (ngroups > 256) die_errno(E2BIG, "too many additional gids");
    for (uint32_t i = 0; i < ngroups; i++) groups[i] = rec_u32(&user, 16 + 4 * i);
    if (setgroups(ngroups, groups) < 0 && !(errno == EPERM && ngroups == 0)) die("setgroups");
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) die("keepcaps");
    if (setresgid(gid, gid, gid) < 0) die("setgid %u", gid);
    if (setresuid(uid, uid, uid) < 0) die("setuid %u", uid);
    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  }
  if (have_caps) set_caps(&caps);
  if (have_user && rec_u32(&user, 8) != 0xffffffffu) umask((mode_t)rec_u32(&user, 8));
  const char *cwd = plan_str(p, P_CWD);
  if (cwd && chdir(cwd) < 0) die("chdir %s", cwd);
  if (nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("no_new_privs");
}

/* argv and envp point into the plan buffer; collect them into arrays on the stack's heap. */
static char **collect(const struct plan *p, uint32_t type) {
  size_t pos = 0, n = 0;
  struct rec r;
  while (plan_next(p, type, &pos, &r)) n++;
  char **v = calloc(n + 1, sizeof *v);
  if (!v) die("calloc");
  pos = 0, n = 0;
  while (plan_next(p, type, &pos, &r)) v[n++] = (char *)rec_str(&r, 0, NULL);
  return v;
}

void exec_process(const struct plan *p) {
  char **argv = collect(p, P_ARG);
  if (!argv[0]) die_errno(EINVAL, "process.args is empty");
  environ = collect(p, P_ENV);
  /* execvp searches the PATH of the container's environment, which we just installed. */
  execvp(argv[0], argv);
  die("exec %s", argv[0]);
}

static const char *const HOOK_NAMES[] = {"startContainer", "createContainer", "prestart", "createRuntime"};

int plan_has_hook(const struct plan *p, uint32_t kind) {
  size_t pos = 0;
  struct rec r;
  while (plan_next(p, P_HOOK, &pos, &r))
    if (rec_u32(&r, 0) == kind) return 1;
  return 0;
}

/* Writes the state a hook gets on stdin. For the runtime-side kinds (prestart,
 * createRuntime) the template's "pid":-1 becomes the container's pid. */
static void write_state(int fd, const struct plan *p, uint32_t kind, pid_t pid) {
  const char *state = plan_str(p, kind >= 2 ? P_RUNTIME_STATE : P_STATE_JSON);
  if (!state) return;
  const char *mark = kind >= 2 ? strstr(state, "\"pid\":-1") : NULL;
  if (!mark) {
    write_all(fd, state, strlen(state));
    return;
  }
  char num[32];
  int n = snprintf(num, sizeof num, "\"pid\":%d", (int)pid);
  write_all(fd, state, (size_t)(mark - state));
  write_all(fd, num, (size_t)n);
  write_all(fd, mark + 8, strlen(mark + 8));
}

/* Runs the hooks of one kind in order (record: u32 kind, u32 timeout, path, args..., "",
 * env...), each with the container's state JSON on stdin, as the runtime spec asks; a hook
 * past its timeout is killed. Returns 0, or -1 with what failed in msg. */
int run_hooks_of(const struct plan *p, uint32_t kind, pid_t pid, char *msg, size_t msglen) {
  size_t pos = 0;
  struct rec r;
  while (plan_next(p, P_HOOK, &pos, &r)) {
    if (rec_u32(&r, 0) != kind) continue;
    uint32_t timeout = rec_u32(&r, 4);
    char *argv[64], *envp[128];
    size_t off = 8, na = 0, ne = 0;
    const char *path = rec_str(&r, off, &off), *s;
    while ((s = rec_str(&r, off, &off)) && *s && na < 63) argv[na++] = (char *)s;
    while ((s = rec_str(&r, off, &off)) && ne < 127) envp[ne++] = (char *)s;
    argv[na] = NULL, envp[ne] = NULL;
    int in[2];
    if (!path || pipe(in) < 0) die("hook");
    pid_t hp = fork();
    if (hp < 0) die("fork hook %s", path);
    if (hp == 0) {
      dup2(in[0], 0);
      close(in[0]), close(in[1]);
      execve(path, argv, envp);
      _exit(127);
    }
    close(in[0]);
    /* a hook that does not read its stdin is not a failure; the old disposition comes back
     * (SIG_IGN would survive the container process's execve) */
    void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
    write_state(in[1], p, kind, pid);
    close(in[1]);
    signal(SIGPIPE, old_pipe);
    int status = 0, timed_out = 0;
    struct timespec tick = {0, 5 * 1000 * 1000};
    for (long waited = 0;; waited += 5) {
      pid_t w = waitpid(hp, &status, timeout ? WNOHANG : 0);
      if (w == hp) break;
      if (w < 0 && errno != EINTR) break;
      if (timeout && waited >= (long)timeout * 1000) {
        kill(hp, SIGKILL);
        waitpid(hp, &status, 0);
        timed_out = 1;
        break;
      }
      if (timeout) nanosleep(&tick, NULL);
    }
    if (timed_out || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      if (timed_out) snprintf(msg, msglen, "%s hook %s timed out after %u s", HOOK_NAMES[kind & 3], path, timeout);
      else snprintf(msg, msglen, "%s hook %s failed (status %d)", HOOK_NAMES[kind & 3], path, status);
      return -1;
    }
  }
  return 0;
}

void run_hooks(const struct plan *p, uint32_t kind) {
  char msg[512];
  if (run_hooks_of(p, kind, 0, msg, sizeof msg) < 0) die_errno(0, "%s", msg);
}

/* In the container's namespaces, before pivot_root: the monitor first runs the prestart and
 * createRuntime hooks (in the runtime's namespaces, on our 'H'), then createContainer runs. */
void create_hooks(const struct plan *p, int sync) {
  if (plan_has_hook(p, 2) || plan_has_hook(p, 3)) {
    char c, line[256];
    if (sync_send(sync, 'H') < 0 || sync_recv(sync, &c, line, sizeof line) != 1 || c != 'h') _exit(1);
  }
  run_hooks(p, 1);
}
