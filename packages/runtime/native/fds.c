/* Descriptors the caller hands to the container's process (OCI --preserve-fds, systemd's
 * LISTEN_FDS): berth-runtime passes its fds 3..3+n-1 to the helper at PASS_FD_BASE.. (3 and 4
 * carry the plan and the report), and the process gets them back at 3..3+n-1 right before
 * execve. Until then they are close-on-exec, so hooks never inherit them. */
#include "berth.h"
#include <errno.h>
#include <fcntl.h>
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
