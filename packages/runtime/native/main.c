/* berth-helper: one small binary, four modes.
 *   create   plan on fd 3, report on fd 4: forks the monitor (which outlives the caller),
 *            creates the container and reports "ok <pid>" or "err ...".
 *   exec     plan on fd 3, report on fd 4: runs one more process in a running container;
 *            reports "ok <pid>", then "err ..." if execve failed, then "exit <code> <signal>";
 *            exits with the process's code (128+signal when killed).
 *   zygote   long-lived spawner for a warm caller: reads u32-length-framed plans on stdin,
 *            forks a monitor per plan; every reply line on stdout starts with the plan's
 *            request id ("<id> ok <pid>", "<id> err ...", "<id> exit <code> <signal>"; with
 *            P_AUTOSTART and P_REPORT_START also "<id> started" once init has exec'd).
 *            Also keeps warm cells (cell.c): P_CELL_PREPARE makes one, P_CELL runs a plan
 *            in one, P_CELL_DISCARD lets one go.
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

/* Warm cells (cell.c): the write end of each cell monitor's plan pipe, by cell id. */
#define MAX_CELLS 256
static struct {
  char id[64];
  int fd;
} cells[MAX_CELLS];

static int find_cell(const char *id) {
  for (int i = 0; i < MAX_CELLS; i++)
    if (cells[i].fd > 0 && strcmp(cells[i].id, id) == 0) return i;
  return -1;
}

static void drop_cell(int i) {
  close(cells[i].fd);
  cells[i].fd = 0;
}

/* A container's plan for a warm cell goes down its pipe (the cell's monitor reports). */
static void use_cell(struct plan *p, const char *cell) {
  int i = find_cell(cell);
  if (i < 0) {
    report("err %d no warm cell %s", ENOENT, cell);
    return;
  }
  if (write_all(cells[i].fd, p->buf, p->len) < 0) report("err %d hand the plan to cell %s: %s", errno, cell, strerror(errno));
  drop_cell(i);
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
    g_report_tag = tag;
    const char *cell = plan_str(&p, P_CELL), *discard = plan_str(&p, P_CELL_DISCARD);
    int prepare = plan_has(&p, P_CELL_PREPARE), slot = -1, pipefd[2] = {-1, -1};
    if (discard) {
      if ((slot = find_cell(discard)) >= 0) drop_cell(slot);
      plan_free(&p);
      continue;
    }
    if (cell) {
      use_cell(&p, cell);
      plan_free(&p);
      continue;
    }
    if (prepare) {
      for (int i = 0; i < MAX_CELLS && slot < 0; i++)
        if (cells[i].fd <= 0) slot = i;
      if (slot < 0 || pipe2(pipefd, O_CLOEXEC) < 0) {
        report("err %d no room for another warm cell", slot < 0 ? ENOSPC : errno);
        plan_free(&p);
        continue;
      }
    }
    pid_t pid = fork();
    if (pid < 0) {
      report("err %d fork monitor: %s", errno, strerror(errno));
      if (prepare) close(pipefd[0]), close(pipefd[1]);
    } else if (pid == 0) {
      for (int i = 0; i < MAX_CELLS; i++) /* other cells' pipes: theirs to close */
        if (cells[i].fd > 0) close(cells[i].fd);
      close(0);
      setsid();
      int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
      dup2(fd, 0), dup2(fd, 1), dup2(fd, 2);
      if (fd > 2) close(fd);
      if (prepare) {
        close(pipefd[1]);
        _exit(cell_run(&p, pipefd[0], report_fd));
      }
      _exit(monitor_run(&p, report_fd, 1));
    } else if (prepare) {
      close(pipefd[0]);
      snprintf(cells[slot].id, sizeof cells[slot].id, "%s", tag);
      cells[slot].fd = pipefd[1];
    }
    g_report_tag = NULL;
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
