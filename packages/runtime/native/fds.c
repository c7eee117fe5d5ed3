/* Descriptors handed across the container's boundary.
 *
 * In: the caller's descriptors for the container's process (OCI --preserve-fds, systemd's
 * LISTEN_FDS): berth-runtime passes its fds 3..3+n-1 to the helper at PASS_FD_BASE.. (3 and 4
 * carry the plan and the report), and the process gets them back at 3..3+n-1 right before
 * execve. Until then they are close-on-exec, so hooks never inherit them. */
#include "berth.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define PASS_FD_BASE 5
#define PASS_FD_MAX 4096

static int pass_count(const struct plan *p) {
  size_t pos = 0;
  struct rec r;
  if (!plan_next(p, P_PRESERVE_FDS, &pos, &r)) return 0;
  uint32_t n = rec_u32(&r, 0);
  if (n > PASS_FD_MAX) die_errno(EINVAL, "preserve-fds: %u is too many", n);
  return (int)n;
}

void pass_fds_hold(const struct plan *p) {
  int n = pass_count(p);
  for (int i = 0; i < n; i++)
    if (fcntl(PASS_FD_BASE + i, F_SETFD, FD_CLOEXEC) < 0) die("preserve-fds: fd %d", 3 + i);
}

void pass_fds_release(const struct plan *p) {
  int n = pass_count(p);
  for (int i = 0; i < n; i++) close(PASS_FD_BASE + i);
}

/* In the process, after everything else is close-on-exec: sources sit above their targets,
 * so copying in ascending order only ever overwrites a source already copied. */
void pass_fds_install(const struct plan *p) {
  int n = pass_count(p);
  if (!n) return;
  if (g_report_fd >= 3 && g_report_fd < 3 + n) {
    int moved = fcntl(g_report_fd, F_DUPFD_CLOEXEC, PASS_FD_BASE + n);
    if (moved < 0) die("preserve-fds: move the report channel");
    g_report_fd = moved;
  }
  for (int i = 0; i < n; i++)
    if (dup2(PASS_FD_BASE + i, 3 + i) < 0) die("preserve-fds: fd %d", 3 + i);
}

/* Out: the seccomp user-notification listener (SCMP_ACT_NOTIFY) goes to linux.seccomp.
 * listenerPath with the container process state (runtime-spec runtime.md), as runc sends it.
 * The socket is connected up front, on the host's filesystem: an exec session sends from
 * inside the container's mount namespace. */
int listener_connect(const struct plan *p) {
  size_t pos = 0;
  struct rec r;
  if (!plan_next(p, P_SECCOMP_LISTENER, &pos, &r)) return -1;
  const char *path = rec_str(&r, 0, NULL);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (!path || strlen(path) >= sizeof a.sun_path) die_errno(ENAMETOOLONG, "linux.seccomp.listenerPath");
  memcpy(a.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("linux.seccomp.listenerPath: connect to %s", path);
  return fd;
}

/* The state template is the plan's second string: each "pid":-1 becomes the process's pid. */
int listener_send(int sock, const char *tmpl, int fd, pid_t pid) {
  size_t len = strlen(tmpl);
  char *msg = malloc(len + 64), *out = msg, num[32];
  if (!msg) return -1;
  int nl = snprintf(num, sizeof num, "\"pid\":%d", (int)pid);
  for (const char *s = tmpl, *m; *s; s = m + 8) {
    m = strstr(s, "\"pid\":-1");
    if (!m || (size_t)(out - msg) + (size_t)(m - s) + (size_t)nl > len + 48) {
      strcpy(out, s);
      out += strlen(s);
      break;
    }
    memcpy(out, s, (size_t)(m - s));
    out += m - s;
    memcpy(out, num, (size_t)nl);
    out += nl;
  }
  int r = send_fd_data(sock, fd, msg, (size_t)(out - msg));
  int e = errno;
  free(msg);
  errno = e;
  return r;
}

/* A copy of the state template (the monitor frees the plan before the process starts). */
char *listener_state(const struct plan *p) {
  size_t pos = 0, off = 0;
  struct rec r;
  if (!plan_next(p, P_SECCOMP_LISTENER, &pos, &r) || !rec_str(&r, 0, &off)) return NULL;
  const char *s = rec_str(&r, off, NULL);
  return s ? strdup(s) : NULL;
}
