/* Test helper for notify.root.test.ts: a seccomp user-notification agent, as a supervisor such
 * as seccompagent is. Listens on argv[1], takes one runtime connection, receives the listener
 * fd with the container process state (written to argv[2]), prints "fd" on stdout, then
 * answers every notification: mkdir and mkdirat fail with EXDEV, getppid returns 4242,
 * anything else goes on as if unfiltered. Exits once no process uses the filter any more. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", argv[1]);
  int l = socket(AF_UNIX, SOCK_STREAM, 0);
  if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0) return perror("listen"), 1;
  printf("ready\n");
  fflush(stdout);
  int c = accept(l, NULL, NULL);
  if (c < 0) return perror("accept"), 1;
  static char buf[65536];
  union {
    char b[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf - 1};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
  ssize_t n = recvmsg(c, &msg, 0);
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  if (n <= 0 || !cm || cm->cmsg_type != SCM_RIGHTS) return fprintf(stderr, "no fd received\n"), 1;
  int fd;
  memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  FILE *f = fopen(argv[2], "w");
  if (!f) return perror("state file"), 1;
  fwrite(buf, 1, (size_t)n, f);
  fclose(f);
  printf("fd\n");
  fflush(stdout);
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, -1) < 0 && errno != EINTR) return perror("poll"), 1;
    if (p.revents & POLLHUP) return 0;
    struct seccomp_notif req;
    struct seccomp_notif_resp resp;
    memset(&req, 0, sizeof req);
    memset(&resp, 0, sizeof resp);
    if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
      if (errno == EINTR || errno == ENOENT) continue;
      return perror("NOTIF_RECV"), 1;
    }
    resp.id = req.id;
    int nr = req.data.nr;
    if (nr == SYS_mkdirat
#ifdef SYS_mkdir
        || nr == SYS_mkdir
#endif
    )
      resp.error = -EXDEV;
    else if (nr == SYS_getppid)
      resp.val = 4242;
    else
      resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    if (ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 && errno != ENOENT) return perror("NOTIF_SEND"), 1;
  }
}
