/* Warm cells: a monitor forked ahead of time, with a resident child that already sits in the
 * container's cgroups (a slot of the runtime's cgroup pool, src/cgroup/pool.ts). Init is then
 * born inside those cgroups by the resident's clone(CLONE_PARENT), so nothing writes to a
 * cgroup.procs file on the way to the container's start: such a write (a migration) waits for
 * an RCU grace period on a kernel whose cgroups are not mounted with favordynmods, about 2 ms
 * here, and it is the largest part of placing a container in its cgroups.
 *
 *   prepare  (zygote) a plan with P_CELL_PREPARE, the slot's P_CGROUP_PROCS and the cell's
 *            id as P_REQUEST_ID: the zygote forks the cell's monitor with a pipe; the monitor
 *            forks the resident, writes it into the cgroups, reports "<cell> ok <resident>"
 *            and waits for a container's plan on the pipe. End of file there (the zygote
 *            discards the cell, or exits) kills the resident, and the monitor exits.
 *   use      a container's plan with P_CELL goes down that pipe; the monitor runs it as any
 *            other (monitor_run), except that the resident clones init (cell_clone), with
 *            CLONE_PARENT so that init is the monitor's child, and exits.
 * The plan reaches the resident through memory shared before the fork; the monitor hands it
 * the sockets and stdio init needs with SCM_RIGHTS. */
#include "berth.h"
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define CELL_FDS 5 /* init's sync socket, stdin, stdout, stderr, console slave (optional) */

static int g_ctl = -1; /* the monitor's end of the resident's socket; -1 outside a cell */

int cell_active(void) { return g_ctl >= 0; }

static int send_fds(int sock, const void *data, size_t len, const int *fds, int n) {
  struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
  union {
    char buf[CMSG_SPACE(sizeof(int) * CELL_FDS)];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                       .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n)};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
  memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
  return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* Received descriptors are close-on-exec, as the monitor's own copies are. */
static ssize_t recv_fds(int sock, void *data, size_t len, int *fds, int *n) {
  struct iovec iov = {.iov_base = data, .iov_len = len};
  union {
    char buf[CMSG_SPACE(sizeof(int) * CELL_FDS)];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  ssize_t got;
  do got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (got < 0 && errno == EINTR);
  *n = 0;
  struct cmsghdr *c = got > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
  if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
    *n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)*n);
  }
  return got;
}

/* The resident: waits inside the slot's cgroups until a plan comes, clones init, exits. */
static void __attribute__((noreturn)) resident(int ctl, unsigned char *shared) {
  char msg[1 + sizeof(size_t)];
  int fds[CELL_FDS], n = 0;
  if (recv_fds(ctl, msg, sizeof msg, fds, &n) != (ssize_t)sizeof msg || msg[0] != 'C' || n < 4) _exit(0);
  struct plan p = {.buf = shared};
  memcpy(&p.len, msg + 1, sizeof p.len);
  g_report_fd = ctl, g_report_tag = NULL;
  for (int i = 0; i < 3; i++)
    if (dup2(fds[1 + i], i) < 0) die("stdio for init");
  for (int i = 1; i < 4; i++) close(fds[i]);
  join_namespaces(&p, 1);
  uint64_t flags = plan_u64(&p, P_NS_FLAGS, 0);
  enter_time_namespace(&p, flags);
  pid_t child = clone_container((flags & ~(uint64_t)(CLONE_NEWTIME_ | CLONE_NEWCGROUP)) | CLONE_PARENT);
  if (child < 0) die("clone");
  if (child == 0) {
    close(ctl);
    container_child(&p, fds[0], n > 4 ? fds[4] : -1);
  }
  char reply[32];
  int k = snprintf(reply, sizeof reply, "P%d", child);
  send(ctl, reply, (size_t)k, MSG_NOSIGNAL);
  _exit(0);
}

pid_t cell_clone(const struct plan *p, int child_sock, int slave) {
  char msg[1 + sizeof(size_t)] = {'C'};
  memcpy(msg + 1, &p->len, sizeof p->len);
  int fds[CELL_FDS] = {child_sock, 0, 1, 2, slave};
  if (send_fds(g_ctl, msg, sizeof msg, fds, slave >= 0 ? 5 : 4) < 0) die("hand the plan to the cell's resident");
  char line[1024];
  ssize_t got;
  do got = recv(g_ctl, line, sizeof line - 1, 0);
  while (got < 0 && errno == EINTR);
  close(g_ctl);
  g_ctl = -1;
  if (got > 0) line[got] = 0;
  if (got > 1 && line[0] == 'P') return (pid_t)atoi(line + 1);
  if (got > 4 && memcmp(line, "err ", 4) == 0) {
    report("%.*s", (int)strcspn(line, "\n"), line);
    _exit(1);
  }
  die_errno(0, "the cell's resident exited without cloning init");
}

int cell_run(struct plan *prep, int planfd, int report_fd) {
  g_report_fd = report_fd;
  signal(SIGCHLD, SIG_DFL); /* the zygote ignores it; the monitor reaps its children */
  unsigned char *shared =
      mmap(NULL, BERTH_PLAN_MAX, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (shared == MAP_FAILED) die("map the cell's plan");
  int ctl[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) die("socketpair");
  pid_t r = fork();
  if (r < 0) die("fork the cell's resident");
  if (r == 0) {
    close(ctl[0]), close(planfd), close(report_fd);
    resident(ctl[1], shared);
  }
  close(ctl[1]);
  g_ctl = ctl[0];
  /* Off the critical path: the migration (and its grace period) happens now. If it fails we
   * die, our end of ctl closes and the resident exits. */
  join_cgroups(prep, r, NULL);
  plan_free(prep);
  report("ok %d", r);
  struct plan p = {.buf = shared, .mapped = BERTH_PLAN_MAX};
  if (plan_read(planfd, &p) < 0) { /* discarded (or the zygote is gone) */
    kill(r, SIGKILL);
    waitpid(r, NULL, 0);
    return 0;
  }
  close(planfd);
  static char tag[64];
  const char *id = plan_str(&p, P_REQUEST_ID);
  snprintf(tag, sizeof tag, "%s", id ? id : "-");
  g_report_tag = tag;
  return monitor_run(&p, report_fd, 1);
}
