/* berth-helper: one small binary, four modes.
 *   create   plan on fd 3, report on fd 4: forks the monitor (which outlives the caller),
 *            creates the container and reports "ok <pid>" or "err ...".
 *   exec     plan on fd 3, report on fd 4: runs one more process in a running container;
 *            reports "ok <pid>", then "err ..." if execve failed, then "exit <code> <signal>";
 *            exits with the process's code (128+signal when killed).
 *   zygote   long-lived spawner for a warm caller: reads u32-length-framed plans on stdin,
 *            forks a monitor per plan; every reply line on stdout starts with the plan's
 *            request id ("<id> ok <pid>", "<id> err ...", "<id> exit <code> <signal>").
 *   version */
#include "berth.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int read_plan(struct plan *p) {
  if (plan_read(3, p) < 0) die("read plan from fd 3");
  close(3);
  return 0;
}

static int zygote(void) {
  int report_fd = dup(1);
  if (report_fd < 0) die("dup");
  fcntl(report_fd, F_SETFD, FD_CLOEXEC);
  g_report_fd = report_fd;
  signal(SIGCHLD, SIG_IGN); /* monitors are reaped by the kernel */
  signal(SIGPIPE, SIG_IGN);
  for (;;) {
    struct plan p = {0};
    int r = plan_read_framed(0, &p);
    if (r == 0) return 0;
    if (r < 0) die("read framed plan");
    static char tag[64];
    const char *id = plan_str(&p, P_REQUEST_ID);
    snprintf(tag, sizeof tag, "%s", id ? id : "-");
    pid_t pid = fork();
    if (pid < 0) {
      g_report_tag = tag;
      report("err %d fork monitor: %s", errno, strerror(errno));
      g_report_tag = NULL;
    } else if (pid == 0) {
      g_report_tag = tag;
      close(0);
      setsid();
      int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
      dup2(fd, 0), dup2(fd, 1), dup2(fd, 2);
      if (fd > 2) close(fd);
      _exit(monitor_run(&p, report_fd, 1));
    }
    plan_free(&p);
  }
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  struct plan p = {0};
  if (strcmp(mode, "create") == 0) {
    g_report_fd = 4;
    read_plan(&p);
    fcntl(4, F_SETFD, FD_CLOEXEC);
    pid_t pid = fork();
    if (pid < 0) die("fork monitor");
    if (pid > 0) _exit(0); /* the monitor is reparented and outlives our caller */
    setsid();
    return monitor_run(&p, 4, 0);
  }
  if (strcmp(mode, "exec") == 0) {
    g_report_fd = 4;
    read_plan(&p);
    fcntl(4, F_SETFD, FD_CLOEXEC);
    return exec_run(&p, 4);
  }
  if (strcmp(mode, "zygote") == 0) return zygote();
  if (strcmp(mode, "version") == 0) {
    puts("berth-helper 1");
    return 0;
  }
  fprintf(stderr, "usage: berth-helper create|exec|zygote|version (plans come from berth-runtime)\n");
  return 2;
}
