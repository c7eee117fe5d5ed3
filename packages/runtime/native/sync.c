/* The error convention (see berth.h) and the small messages between caller, monitor and the
 * container's child. Between monitor and child: a SOCK_SEQPACKET pair, one byte per step
 * ('G' go, 'R' ready, 'S' start) or an error line starting with "err ". The child's end is
 * close-on-exec, so end-of-file after 'S' means execve succeeded. */
#include "berth.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int g_report_fd = 2;
const char *g_report_tag;

int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    p += n, len -= (size_t)n;
  }
  return 0;
}

static void vreport(const char *prefix, const char *fmt, va_list ap) {
  char line[1024];
  int n = 0;
  if (g_report_tag) n = snprintf(line, sizeof line, "%s ", g_report_tag);
  n += snprintf(line + n, sizeof line - (size_t)n, "%s", prefix);
  n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  if (n >= (int)sizeof line - 1) n = sizeof line - 2;
  for (int i = 0; i < n; i++)
    if (line[i] == '\n') line[i] = ' ';
  line[n++] = '\n';
  write_all(g_report_fd, line, (size_t)n);
}

int proc_stat_field(pid_t pid, int field, char *out, size_t size) {
  char path[32], buf[2048];
  if (pid) snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  else snprintf(path, sizeof path, "/proc/self/stat");
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  /* The name (field 2) may hold spaces and parentheses: fields are counted from its last ')'.
   * At each turn p is the space before field f. */
  char *p = strrchr(buf, ')');
  for (int f = 3; p && f <= field; f++) p = strchr(p + 1, ' ');
  if (!p) return -1;
  snprintf(out, size, "%.*s", (int)strcspn(p + 1, " \n"), p + 1);
  return 0;
}

void proc_start(pid_t pid, char *out, size_t size) {
  if (proc_stat_field(pid, 22, out, size) < 0) snprintf(out, size, "-");
}

void report(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport("", fmt, ap);
  va_end(ap);
}

void die_errno(int err, const char *fmt, ...) {
  char prefix[64], msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(prefix, sizeof prefix, "err %d ", err);
  /* report() takes a format; pass the message through "%s". */
  char line[900];
  snprintf(line, sizeof line, "%s%s%s%s", prefix, msg, err ? ": " : "", err ? strerror(err) : "");
  report("%s", line);
  _exit(1);
}

void die(const char *fmt, ...) {
  int err = errno;
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  die_errno(err, "%s", msg);
}

int write_file(const char *path, const char *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int r = write_all(fd, data, len);
  int e = errno;
  close(fd);
  errno = e;
  return r;
}

int write_file_atomic(int dirfd, const char *name, const char *data, size_t len) {
  char tmp[256];
  snprintf(tmp, sizeof tmp, ".%s.tmp", name);
  int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  /* No fsync: these records describe live processes (the exit of a container's init), which a
   * power loss ends anyway; the rename alone keeps readers from seeing a torn file. An fsync
   * cost every container's exit 2.5 ms or more on an ext4 state dir. */
  if (write_all(fd, data, len) < 0) {
    close(fd);
    return -1;
  }
  close(fd);
  return renameat(dirfd, tmp, dirfd, name);
}

/* One message with fd attached (SCM_RIGHTS). */
int send_fd_data(int sock, int fd, const void *data, size_t len) {
  struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  ssize_t n;
  do n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == (ssize_t)len ? 0 : -1;
}

int send_fd(int sock, int fd) { return send_fd_data(sock, fd, "F", 1); }

int sync_send(int sock, char c) { return send(sock, &c, 1, MSG_NOSIGNAL) == 1 ? 0 : -1; }

int sync_recv_fd(int sock, char *c, char *line, size_t linelen, int *fd) {
  char buf[1024];
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf - 1};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return n == 0 ? 0 : -1;
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
    int got;
    memcpy(&got, CMSG_DATA(cm), sizeof got);
    if (fd) *fd = got;
    else close(got);
  }
  buf[n] = 0;
  if (n > 4 && memcmp(buf, "err ", 4) == 0) {
    *c = 'E';
    snprintf(line, linelen, "%s", buf);
    size_t l = strlen(line);
    if (l && line[l - 1] == '\n') line[l - 1] = 0;
  } else {
    *c = buf[0];
    snprintf(line, linelen, "%s", buf + 1); /* the payload of a step that has one ('P' <pid>) */
  }
  return 1;
}

int sync_recv(int sock, char *c, char *line, size_t linelen) { return sync_recv_fd(sock, c, line, linelen, NULL); }
