/* The console: a pty pair from the host's /dev/ptmx; the monitor keeps the master, the
 * container gets the slave as its controlling terminal and as /dev/console. */
#include "berth.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

int pty_open(int *slave, uint16_t rows, uint16_t cols) {
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return -1;
  if (grantpt(master) < 0 || unlockpt(master) < 0) return close(master), -1;
  *slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (*slave < 0) return close(master), -1;
  if (rows && cols) pty_resize(master, rows, cols);
  return master;
}

void pty_make_controlling(int slave) {
  if (setsid() < 0) die("setsid");
  if (ioctl(slave, TIOCSCTTY, 0) < 0) die("set controlling terminal");
  for (int fd = 0; fd < 3; fd++)
    if (dup2(slave, fd) < 0) die("dup2 console");
}

void pty_resize(int master, uint16_t rows, uint16_t cols) {
  struct winsize ws = {.ws_row = rows, .ws_col = cols};
  ioctl(master, TIOCSWINSZ, &ws);
}

/* The host id a user namespace map ("inside outside count" lines) gives `id`, or -1. */
static long map_id(const char *map, uint32_t id) {
  if (!map) return id;
  unsigned long in, out, count;
  int n;
  while (sscanf(map, "%lu %lu %lu%n", &in, &out, &count, &n) == 3) {
    if (id >= in && id - in < count) return (long)(out + (id - in));
    map += n;
  }
  return -1;
}

/* The pty the plan asks for (P_TERMINAL: u16 rows, u16 cols), or -1 without a terminal. The
 * slave belongs to the container's user (its host id in a user namespace), as /dev/console
 * does on a machine: an init such as systemd reopens it. */
int pty_from_plan(const struct plan *p, int *slave) {
  size_t pos = 0;
  struct rec term;
  *slave = -1;
  if (!plan_next(p, P_TERMINAL, &pos, &term)) return -1;
  uint32_t rc = rec_u32(&term, 0);
  int master = pty_open(slave, (uint16_t)rc, (uint16_t)(rc >> 16));
  if (master < 0) die("open console pty");
  pos = 0;
  struct rec user;
  if (plan_next(p, P_USER, &pos, &user)) {
    long uid = map_id(plan_str(p, P_UID_MAP), rec_u32(&user, 0));
    long gid = map_id(plan_str(p, P_GID_MAP), rec_u32(&user, 4));
    if (uid >= 0 && gid >= 0 && fchown(*slave, (uid_t)uid, (gid_t)gid) < 0) die("chown console pty");
  }
  return master;
}

/* OCI --console-socket: hand the pty master to whoever listens there. */
int send_console(const char *path, int master) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int r = connect(fd, (struct sockaddr *)&a, sizeof a) < 0 ? -1 : send_fd(fd, master);
  close(fd);
  return r;
}
