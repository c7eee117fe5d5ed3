/* The per-container monitor (and the exec session, which is the same loop): reaps the
 * container's init, writes its exit status atomically to the state dir, holds the console
 * pty master, appends console output to a bounded log, and serves a Unix socket:
 *   first byte 'S': start the container; the reply is "ok\n" or an "err ..." line.
 *   first byte 'A': attach. Client frames: 'i' u32le n + n bytes of input; 'r' u16le rows,
 *   u16le cols (resize). The server sends raw console output; slow clients are dropped
 *   rather than buffered (the monitor's memory stays bounded).
 *   first byte 'W': wait; the reply is "exit <code> <signal>\n" when init exits.
 * An exec session with an attach socket and a scrollback bound (P_LOG_MAX: a resumable shell)
 * also keeps its recent output in a ring of that size and serves:
 *   first byte 'R': attach with replay. The reply starts with a u64le count n, then the n bytes
 *   of the ring (the scrollback), then live output; input and resize frames as for 'A'. Each
 *   such client has a cursor into the ring: one that reads slowly lags behind (nothing is
 *   buffered for it) and skips ahead when it falls a whole ring behind; it is never waited for.
 *   first byte 'I': the reply is "info <bytes out> <last io, unix ms> <attached> <exited>\n".
 * Its process runs under a small reaper in the container's PID namespace (exec_run), so that
 * what the process leaves behind is reaped even in a container whose init reaps nobody. */
#include "berth.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 32

struct client {
  int fd;
  char mode; /* 0 until the first byte, then 'A', 'S' or 'W' */
  uint8_t hdrlen;
  uint32_t remaining; /* input bytes still to forward from an 'i' frame */
  unsigned char hdr[5];
  int replay;      /* 'R': served from the ring at cursor */
  uint64_t cursor; /* the next ring offset this client gets */
};

struct session {
  pid_t child;
  int sync;     /* SEQPACKET to the child; -1 once exec succeeded or failed */
  int master;   /* console pty master or -1 */
  int lfd;      /* listening socket or -1 */
  int dirfd;    /* state dir or -1 */
  int logfd;    /* console.log or -1 */
  uint64_t log_size, log_max;
  int keep_report;    /* zygote: report "exit" on the report fd */
  int report_start;   /* autostart under a zygote: report "started" once init has exec'd */
  int start_on_attach; /* exec -t: run the command once the first client is attached */
  int started;
  int start_client; /* index of the client waiting for the start reply, or -1 */
  int exited, status;
  int notify_sock;    /* connected to linux.seccomp.listenerPath, or -1 */
  char *notify_state; /* the containerProcessState template sent there */
  unsigned char *ring; /* exec with an attach socket: recent output */
  size_t ring_size;
  uint64_t total;      /* bytes of output so far (ring offsets) */
  int64_t last_io_ms;  /* last output or input, unix ms */
  int exitfd;          /* the reaper's pipe: the process's wait status, or -1 */
  int exitfile;        /* exec: P_EXIT_FILE, opened before joining the container, or -1 */
  int child_reaped;    /* s->child (the reaper, under exec) has been waited for */
  int mntns;           /* init's mount namespace, held until its exit is told, or -1 */
  struct client c[MAX_CLIENTS];
};

static void drop(struct session *s, int i) {
  /* What the client sent and we did not read would make the close a reset, and a client
   * that gets a reset may lose what we sent it last. */
  char scratch[4096];
  for (int n = 0; n < 64 && recv(s->c[i].fd, scratch, sizeof scratch, MSG_DONTWAIT) > 0; n++) {
  }
  close(s->c[i].fd);
  s->c[i].fd = -1;
  if (s->start_client == i) s->start_client = -1;
}

static void reply(struct session *s, int i, const char *msg) {
  if (i >= 0 && s->c[i].fd >= 0) {
    send(s->c[i].fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (s->c[i].mode == 'S') drop(s, i);
  }
}

static int listen_at(int dirfd, const char *path) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  /* Long state dirs do not fit sun_path: bind through the directory's fd. */
  if (dirfd >= 0) snprintf(a.sun_path, sizeof a.sun_path, "/proc/self/fd/%d/%s", dirfd, path);
  else snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (dirfd >= 0) unlinkat(dirfd, path, 0);
  else unlink(path);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 16) < 0) return close(fd), -1;
  return fd;
}

static void send_start(struct session *s) {
  if (!s->started && s->sync >= 0) sync_send(s->sync, 'S');
  s->started = 1;
}

static void log_output(struct session *s, const char *buf, size_t n) {
  if (s->logfd < 0) return;
  if (s->log_max && s->log_size + n > s->log_max) {
    /* Bounded: keep the previous generation as console.log.1, start a fresh one. */
    renameat(s->dirfd, "console.log", s->dirfd, "console.log.1");
    close(s->logfd);
    s->logfd = openat(s->dirfd, "console.log", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    s->log_size = 0;
  }
  if (s->logfd >= 0 && write_all(s->logfd, buf, n) == 0) s->log_size += n;
}

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void ring_put(struct session *s, const char *buf, size_t n) {
  if (n > s->ring_size) buf += n - s->ring_size, s->total += n - s->ring_size, n = s->ring_size;
  size_t at = (size_t)(s->total % s->ring_size), first = n < s->ring_size - at ? n : s->ring_size - at;
  memcpy(s->ring + at, buf, first);
  memcpy(s->ring, buf + first, n - first);
  s->total += n;
}

static uint64_t ring_start(const struct session *s) {
  return s->total > s->ring_size ? s->total - s->ring_size : 0;
}

/* Sends a replay client what it has not had yet, as much as its socket takes now. */
static void ring_flush(struct session *s, int i) {
  struct client *c = &s->c[i];
  if (c->cursor < ring_start(s)) c->cursor = ring_start(s); /* a whole ring behind: skip */
  while (c->cursor < s->total) {
    size_t at = (size_t)(c->cursor % s->ring_size);
    uint64_t left = s->total - c->cursor;
    size_t n = left < s->ring_size - at ? (size_t)left : s->ring_size - at;
    ssize_t w = send(c->fd, s->ring + at, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (w <= 0) {
      drop(s, i);
      return;
    }
    c->cursor += (uint64_t)w;
  }
}

static int replay_pending(const struct session *s) {
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (s->c[i].fd >= 0 && s->c[i].replay && s->c[i].cursor < s->total) return 1;
  return 0;
}

static int pump_master(struct session *s) {
  char buf[4096];
  ssize_t n = read(s->master, buf, sizeof buf);
  if (n <= 0) {
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 1;
    errno = EIO;
    close(s->master); /* EIO: every slave is closed */
    s->master = -1;
    return 0;
  }
  errno = 0;
  log_output(s, buf, (size_t)n);
  if (s->ring) {
    ring_put(s, buf, (size_t)n);
    s->last_io_ms = now_ms();
    for (int i = 0; i < MAX_CLIENTS; i++)
      if (s->c[i].fd >= 0 && s->c[i].replay) ring_flush(s, i);
  }
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (s->c[i].fd >= 0 && s->c[i].mode == 'A' && !s->c[i].replay && send(s->c[i].fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n)
      drop(s, i);
  return 1;
}

static void client_input(struct session *s, int i) {
  struct client *c = &s->c[i];
  unsigned char buf[4096];
  ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n <= 0) {
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    drop(s, i);
    return;
  }
  size_t k = 0;
  if (!c->mode) {
    c->mode = (char)buf[k++];
    if (c->mode == 'S') {
      if (s->started) reply(s, i, "err 16 container already started\n");
      else s->start_client = i, send_start(s);
      return;
    } else if (c->mode == 'A') {
      if (s->start_on_attach) send_start(s);
    } else if (c->mode == 'R' && s->ring) {
      c->mode = 'A', c->replay = 1, c->cursor = ring_start(s);
      uint64_t n = s->total - c->cursor;
      unsigned char head[8];
      for (int b = 0; b < 8; b++) head[b] = (unsigned char)(n >> (8 * b));
      if (send(c->fd, head, sizeof head, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof head) {
        drop(s, i);
        return;
      }
      if (s->start_on_attach) send_start(s);
      ring_flush(s, i);
      if (c->fd < 0) return;
    } else if (c->mode == 'I' && s->ring) {
      char msg[128];
      int attached = 0;
      for (int j = 0; j < MAX_CLIENTS; j++) attached += s->c[j].fd >= 0 && s->c[j].mode == 'A';
      snprintf(msg, sizeof msg, "info %llu %lld %d %d\n", (unsigned long long)s->total, (long long)s->last_io_ms,
               attached, s->exited);
      reply(s, i, msg);
      drop(s, i);
      return;
    } else if (c->mode != 'W') {
      drop(s, i);
      return;
    }
  }
  while (k < (size_t)n) {
    if (c->remaining) {
      size_t take = (size_t)n - k < c->remaining ? (size_t)n - k : c->remaining;
      if (s->ring) s->last_io_ms = now_ms();
      if (s->master >= 0 && write(s->master, buf + k, take) < 0 && errno != EAGAIN) {
      }
      k += take, c->remaining -= (uint32_t)take;
      continue;
    }
    c->hdr[c->hdrlen++] = buf[k++];
    if (c->hdr[0] != 'i' && c->hdr[0] != 'r') {
      drop(s, i);
      return;
    }
    if (c->hdrlen == 5) {
      c->hdrlen = 0;
      if (c->hdr[0] == 'i') memcpy(&c->remaining, c->hdr + 1, 4);
      else if (s->master >= 0) pty_resize(s->master, (uint16_t)(c->hdr[1] | c->hdr[2] << 8), (uint16_t)(c->hdr[3] | c->hdr[4] << 8));
    }
  }
}

/* The process's seccomp listener fd (see install_seccomp) on to listenerPath, once. */
static int deliver_listener(struct session *s, int fd) {
  int r = s->notify_sock >= 0 && fd >= 0 ? listener_send(s->notify_sock, s->notify_state, fd, s->child) : -1;
  int e = s->notify_sock >= 0 ? errno : ENOTCONN;
  if (fd >= 0) close(fd);
  if (s->notify_sock >= 0) close(s->notify_sock);
  s->notify_sock = -1;
  errno = e;
  return r;
}

static void on_sync(struct session *s) {
  char c, line[1024];
  int fd = -1;
  int r = sync_recv_fd(s->sync, &c, line, sizeof line, &fd);
  if (r == 1 && c == 'N') {
    /* no_new_privs: the filter went in after start, just before execve */
    if (deliver_listener(s, fd) == 0 && sync_send(s->sync, 'n') == 0) return;
    snprintf(line, sizeof line, "err %d send the seccomp listener: %s", errno, strerror(errno));
    kill(s->child, SIGKILL);
    c = 'E';
  } else if (fd >= 0) {
    close(fd);
  }
  close(s->sync);
  s->sync = -1;
  if (r == 1 && c == 'E') {
    reply(s, s->start_client, line), reply(s, s->start_client, "\n");
    if (s->keep_report) report("%s", line);
  } else {
    /* Success is not reported to the caller unless it asked (P_REPORT_START): waking it now
     * would compete with the process that just started; "exit" follows. */
    reply(s, s->start_client, "ok\n");
    if (s->report_start) report("started");
  }
}

/* Init has exited: what it wrote is already in the pty. Log it (and relay it) before the exit
 * is reported, so a caller woken by "exit" finds the whole console log, never one mid-rotation.
 * Stops at once when nothing is pending (another process may still hold the slave open). */
static void drain_master(struct session *s) {
  while (s->master >= 0) {
    struct pollfd p = {.fd = s->master, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0 || !pump_master(s)) break;
  }
}

static void write_exit(struct session *s) {
  int code = WIFEXITED(s->status) ? WEXITSTATUS(s->status) : -1;
  int sig = WIFSIGNALED(s->status) ? WTERMSIG(s->status) : 0;
  /* One record for both places: a container's exit file, an exec session's P_EXIT_FILE. */
  char json[160], ts[40];
  struct timespec now;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  int n = snprintf(json, sizeof json, "{\"exitCode\":%d,\"signal\":%d,\"exitedAt\":\"%s.%03ldZ\"}\n", code, sig, ts,
                   now.tv_nsec / 1000000);
  if (s->dirfd >= 0) write_file_atomic(s->dirfd, "exit", json, (size_t)n);
  if (s->exitfile >= 0 && (pwrite(s->exitfile, json, (size_t)n, 0) < 0 || fsync(s->exitfile) < 0)) {
    /* Best effort, as the state dir's record above: the attached clients are told the exit
     * below either way. */
  }
  char msg[64];
  snprintf(msg, sizeof msg, "exit %d %d\n", code, sig);
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (s->c[i].fd >= 0 && s->c[i].mode == 'W') reply(s, i, msg), drop(s, i);
  if (s->keep_report) report("exit %d %d", code, sig);
  /* Told: now the container's mounts may go (see monitor_run). */
  if (s->mntns >= 0) close(s->mntns), s->mntns = -1;
}

/* Runs until the child has exited and its console is drained. Returns the wait status. */
static int serve(struct session *s, int sigfd) {
  for (int i = 0; i < MAX_CLIENTS; i++) s->c[i].fd = -1;
  s->start_client = -1;
  int linger = 0;
  for (;;) {
    struct pollfd pf[MAX_CLIENTS + 5]; /* sigfd, exitfd, sync, master, lfd, the clients */
    int n = 0;
    int isig = n, isync = -1, imaster = -1, ilfd = -1, iexit = -1;
    pf[n++] = (struct pollfd){.fd = sigfd, .events = POLLIN};
    if (s->exitfd >= 0) iexit = n, pf[n++] = (struct pollfd){.fd = s->exitfd, .events = POLLIN};
    if (s->sync >= 0 && s->started) isync = n, pf[n++] = (struct pollfd){.fd = s->sync, .events = POLLIN};
    if (s->master >= 0) imaster = n, pf[n++] = (struct pollfd){.fd = s->master, .events = POLLIN};
    if (s->lfd >= 0) ilfd = n, pf[n++] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
    int first_client = n;
    int map[MAX_CLIENTS];
    for (int i = 0; i < MAX_CLIENTS; i++)
      if (s->c[i].fd >= 0) {
        short ev = POLLIN | (s->c[i].replay && s->c[i].cursor < s->total ? POLLOUT : 0);
        map[n - first_client] = i, pf[n++] = (struct pollfd){.fd = s->c[i].fd, .events = ev};
      }
    /* Done once the process is gone and its output out; a replay client that is behind gets
     * a few seconds to take the rest. */
    if (s->exited && s->master < 0 && s->sync < 0 && (!replay_pending(s) || ++linger > 25)) break;
    if (poll(pf, (nfds_t)n, s->exited ? 200 : -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (isync >= 0 && pf[isync].revents) on_sync(s);
    if (imaster >= 0 && pf[imaster].revents && !pump_master(s)) {
    }
    int newly = 0;
    if (pf[isig].revents) {
      struct signalfd_siginfo si;
      while (read(sigfd, &si, sizeof si) > 0) {
      }
      int st;
      pid_t w;
      while ((w = waitpid(-1, &st, WNOHANG)) > 0)
        if (w == s->child) {
          s->child_reaped = 1;
          if (!s->exited) s->exited = 1, s->status = st, newly = 1;
        }
    }
    if (iexit >= 0 && pf[iexit].revents) {
      /* The reaper says its process ended (its orphans may live on under it). */
      int st;
      if (read(s->exitfd, &st, sizeof st) == (ssize_t)sizeof st && !s->exited) s->exited = 1, s->status = st, newly = 1;
      close(s->exitfd);
      s->exitfd = -1;
    }
    if (newly) {
      if (s->sync >= 0 && s->started) on_sync(s);
      if (s->sync >= 0) close(s->sync), s->sync = -1;
      drain_master(s);
      write_exit(s);
    }
    if (ilfd >= 0 && pf[ilfd].revents) {
      int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      int slot = -1;
      for (int i = 0; i < MAX_CLIENTS && slot < 0; i++)
        if (s->c[i].fd < 0) slot = i;
      if (fd >= 0 && slot < 0) close(fd);
      else if (fd >= 0) s->c[slot] = (struct client){.fd = fd};
    }
    for (int k = first_client; k < n; k++) {
      int i = map[k - first_client];
      if ((pf[k].revents & POLLOUT) && s->c[i].fd == pf[k].fd) ring_flush(s, i);
      if ((pf[k].revents & ~POLLOUT) && s->c[i].fd == pf[k].fd) client_input(s, i);
    }
    if (s->exited && s->master >= 0) {
      /* init is gone: forward what is left in the pty, then stop even if a grandchild
       * still holds the slave. */
      while (s->master >= 0 && pump_master(s)) {
        if (errno == EAGAIN) break;
      }
      if (s->master >= 0) close(s->master), s->master = -1;
    }
  }
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (s->c[i].fd >= 0) drop(s, i);
  return s->status;
}

static int make_sigfd(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  signal(SIGCHLD, SIG_DFL); /* the zygote ignores it; we need it */
  sigprocmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) die("signalfd");
  return fd;
}

static void devnull_stdio(void) {
  int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int i = 0; i < 3; i++) dup2(fd, i);
  if (fd > 2) close(fd);
}

/* The plan's stdio files (zygote containers) on fds 0, 1 and 2. */
static void open_stdio(const struct plan *p) {
  size_t pos = 0, off = 0;
  struct rec r;
  if (!plan_next(p, P_STDIO, &pos, &r)) return;
  for (int i = 0; i < 3; i++) {
    const char *path = rec_str(&r, off, &off);
    if (!path) break;
    int fd = open(path, (i ? O_WRONLY | O_CREAT | O_APPEND : O_RDONLY) | O_CLOEXEC, 0600);
    if (fd < 0 || dup2(fd, i) < 0) die("open stdio %s", path);
    close(fd);
  }
}

/* The container's init between clone and exec. */
void container_child(struct plan *p, int sock, int slave) {
  char c, line[8];
  g_report_fd = sock, g_report_tag = NULL;
  sigset_t set;
  sigemptyset(&set);
  sigprocmask(SIG_SETMASK, &set, NULL);
  signal(SIGPIPE, SIG_DFL);
  if (sync_recv(sock, &c, line, sizeof line) != 1 || c != 'G') _exit(1);
  uint64_t flags = plan_u64(p, P_NS_FLAGS, 0);
  if (flags & CLONE_NEWUSER) {
    if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) die("become root in the user namespace");
  }
  join_namespaces(p, 0);
  if (joins_user_namespace(p)) enter_created_namespaces(flags, sock);
  if ((flags & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0) die("unshare cgroup namespace");
  if (slave >= 0) pty_make_controlling(slave);
  else setsid();
  if (flags & CLONE_NEWNS) setup_rootfs(p, slave, sock);
  else create_hooks(p, sock);
  set_hostname(p);
  if (slave > 2) close(slave);
  finalize_process(p);
  if (sync_send(sock, 'R') < 0) _exit(1);
  if (sync_recv(sock, &c, line, sizeof line) != 1 || c != 'S') _exit(0);
  run_hooks(p, 0);
  if (plan_has(p, P_NNP)) install_seccomp(p);
  syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
  pass_fds_install(p);
  exec_process(p);
}

/* clone() cannot take CLONE_NEWTIME; unshare makes our next child enter a new one. */
void enter_time_namespace(const struct plan *p, uint64_t flags) {
  if (!(flags & CLONE_NEWTIME_)) return;
  if (unshare(CLONE_NEWTIME_) < 0) die("unshare time namespace");
  const char *off = plan_str(p, P_TIMENS);
  if (off && write_file("/proc/self/timens_offsets", off, strlen(off)) < 0) die("write timens_offsets");
}

int monitor_run(struct plan *p, int report_fd, int keep_report) {
  struct session s = {
      .master = -1, .lfd = -1, .dirfd = -1, .logfd = -1, .sync = -1, .exitfd = -1, .exitfile = -1,
      .mntns = -1, .keep_report = keep_report};
  g_report_fd = report_fd;
  pass_fds_hold(p);
  s.notify_sock = listener_connect(p);
  s.notify_state = listener_state(p);
  const char *state_dir = plan_str(p, P_STATE_DIR);
  if (state_dir) {
    s.dirfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s.dirfd < 0) die("open state dir %s", state_dir);
    s.lfd = listen_at(s.dirfd, "monitor.sock");
    if (s.lfd < 0) die("listen on %s/monitor.sock", state_dir);
  }
  int slave = -1;
  s.master = pty_from_plan(p, &slave);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) die("socketpair");
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  int sigfd = make_sigfd();
  /* init inherits its stdio files from us: opened here, as the caller's root, because init
   * itself is already the user namespace's root (an unprivileged host id) when it could open
   * them, and a log file in the caller's private state dir is out of its reach. We go back to
   * /dev/null before serving. (In a warm cell, the resident gets them from us.) */
  open_stdio(p);
  uint64_t flags = plan_u64(p, P_NS_FLAGS, 0);
  if (!cell_active()) { /* in a warm cell, the resident does this (cell.c) */
    join_namespaces(p, 1);
    enter_time_namespace(p, flags);
  }
  size_t pos;
  /* The cgroup namespace is unshared by the child once it is in its cgroups, so that they
   * are the namespace's root (as runc does). */
  /* Joining a user namespace: the child creates the others once inside it (ns.c). */
  int join_user = joins_user_namespace(p);
  const char *placed = NULL; /* the cgroup.procs init was born in (clone3), no write needed */
  if (cell_active()) s.child = cell_clone(p, sv[1], slave);
  else if (join_user) s.child = clone_container(0);
  else s.child = clone_container_into(flags & ~(uint64_t)(CLONE_NEWTIME_ | CLONE_NEWCGROUP), p, &placed);
  if (s.child < 0) die("clone");
  if (s.child == 0) {
    /* Nothing of the monitor's may stay open in init while it waits for start: the
     * caller's report pipe in particular, or the caller would never see it close. */
    close(sv[0]), close(report_fd), close(sigfd);
    if (s.notify_sock >= 0) close(s.notify_sock);
    if (s.lfd >= 0) close(s.lfd);
    if (s.dirfd >= 0) close(s.dirfd);
    if (s.master >= 0) close(s.master);
    container_child(p, sv[1], slave);
  }
  close(sv[1]);
  if (slave >= 0) close(slave);
  pass_fds_release(p);
  s.sync = sv[0];
  if (flags & CLONE_NEWUSER) write_id_maps(s.child, p);
  set_rlimits_of(s.child, p); /* as host root: see caps.c */
  pos = 0;
  struct rec oom;
  if (plan_next(p, P_OOM_SCORE, &pos, &oom)) {
    char path[64], v[16];
    snprintf(path, sizeof path, "/proc/%d/oom_score_adj", s.child);
    int n = snprintf(v, sizeof v, "%d", (int32_t)rec_u32(&oom, 0));
    if (write_file(path, v, (size_t)n) < 0) die("write oom_score_adj");
  }
  join_cgroups(p, s.child, placed);
  char c, line[1024];
  if (sync_send(s.sync, 'G') < 0) die("sync with container init");
  delegate_cgroups(p); /* while init sets itself up: it is done before init can start */
  /* The start times the caller records with the pids (so that a recycled pid is never taken
   * for ours): read here, while init sets itself up, rather than by the caller once woken. */
  char init_start[32], own_start[32];
  proc_start(s.child, init_start, sizeof init_start);
  proc_start(getpid(), own_start, sizeof own_start);
  /* Steps before 'R' (ready): 'P' init's pid (user namespace joined), 'H' hooks to run
   * here, 'N' the seccomp listener to deliver. */
  int r, nfd;
  for (;;) {
    nfd = -1;
    r = sync_recv_fd(s.sync, &c, line, sizeof line, &nfd);
    if (r == 1 && c == 'P' && join_user) {
      /* init is the child's child, in the namespaces made inside the joined user namespace */
      pid_t first = s.child;
      s.child = (pid_t)atoi(line);
      waitpid(first, NULL, 0);
      proc_start(s.child, init_start, sizeof init_start);
    } else if (r == 1 && c == 'H') {
      /* The child's mounts are made: prestart and createRuntime hooks run here, in the
       * runtime's namespaces, before the child's createContainer hooks and pivot_root. */
      char msg[512];
      if (run_hooks_of(p, 2, s.child, msg, sizeof msg) < 0 || run_hooks_of(p, 3, s.child, msg, sizeof msg) < 0) {
        kill(s.child, SIGKILL);
        waitpid(s.child, NULL, 0);
        die_errno(0, "%s", msg);
      }
      if (sync_send(s.sync, 'h') < 0) die("sync with container init");
    } else if (r == 1 && c == 'N') {
      if (deliver_listener(&s, nfd) < 0) {
        int e = errno;
        kill(s.child, SIGKILL);
        waitpid(s.child, NULL, 0);
        die_errno(e, "send the seccomp listener");
      }
      if (sync_send(s.sync, 'n') < 0) die("sync with container init");
    } else {
      if (nfd >= 0) close(nfd);
      break;
    }
  }
  if (r != 1 || c != 'R') {
    kill(s.child, SIGKILL);
    waitpid(s.child, NULL, 0);
    if (r == 1 && c == 'E') report("%s", line);
    else report("err 0 container init exited during setup");
    _exit(1);
  }
  const char *console_socket = plan_str(p, P_CONSOLE_SOCKET);
  if (console_socket && s.master >= 0) {
    if (send_console(console_socket, s.master) < 0) {
      kill(s.child, SIGKILL);
      die("send console to %s", console_socket);
    }
    close(s.master);
    s.master = -1;
  }
  if (s.master >= 0) fcntl(s.master, F_SETFL, O_NONBLOCK);
  if (s.master >= 0 && s.dirfd >= 0) {
    s.logfd = openat(s.dirfd, "console.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    s.log_max = plan_u64(p, P_LOG_MAX, 1u << 20);
  }
  /* Init's mount namespace, held: when init exits, the kernel would otherwise tear its mounts
   * down (an RCU grace period, measured 0.2 ms with a handful of mounts) before it tells us;
   * held, that happens once we have written and told the exit (write_exit). */
  char mntns[64];
  snprintf(mntns, sizeof mntns, "/proc/%d/ns/mnt", (int)s.child);
  s.mntns = open(mntns, O_RDONLY | O_CLOEXEC);
  int autostart = plan_has(p, P_AUTOSTART);
  s.report_start = autostart && keep_report && plan_has(p, P_REPORT_START);
  plan_free(p);
  devnull_stdio();
  /* Start before reporting: the report wakes the caller, which on a busy machine can take
   * our CPU for a scheduler slice (measured: 12 ms between "ok" and 'S' the other way). */
  if (autostart) send_start(&s);
  report("ok %d %s %d %s", s.child, init_start, (int)getpid(), own_start);
  if (!keep_report) {
    close(report_fd);
    g_report_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  }
  serve(&s, sigfd);
  if (s.dirfd >= 0) unlinkat(s.dirfd, "monitor.sock", 0);
  return 0;
}

/* Our arguments' bounds (arg_start, arg_end: fields 48, 49 of /proc/self/stat), read on the
 * host's /proc before we join the container: the container's /proc is its own to mount, and
 * what it says there must not pick what a root process overwrites. A fork keeps them. */
static unsigned long g_arg_start, g_arg_end;

static void read_arg_bounds(void) {
  char start[32], end[32];
  if (proc_stat_field(0, 48, start, sizeof start) < 0 || proc_stat_field(0, 49, end, sizeof end) < 0) return;
  g_arg_start = strtoul(start, NULL, 10);
  g_arg_end = strtoul(end, NULL, 10);
}

/* Our arguments (the helper's host path) become "berth-reaper", which is what the container's
 * ps shows of us. */
static void hide_args(void) {
  unsigned long start = g_arg_start, end = g_arg_end;
  if (!start || end <= start + 1) return;
  memset((void *)start, 0, end - start);
  snprintf((char *)start, end - start, "berth-reaper");
}

/* In the child of a resumable exec session, in the container's PID namespace: forks the
 * process (which returns, to become it) and stays as its reaper: every orphan of the
 * process's tree is reparented here and waited for. The process's wait status goes to the
 * session on ep[1] as soon as it ends; the reaper itself exits once it has no child left. */
static void reaper(int ep[2]) {
  close(ep[0]);
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) die("become a subreaper");
  pid_t main = fork();
  if (main < 0) die("fork");
  if (main == 0) return;
  /* Nothing of the session's stays open here (its pty, socket, pipes), and the container's
   * root cannot trace or inspect a process that holds host state (not dumpable). */
  if (dup2(ep[1], 3) < 0) _exit(127);
  signal(SIGPIPE, SIG_IGN);
  syscall(SYS_close_range, 4, ~0U, 0);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  prctl(PR_SET_NAME, "berth-reaper", 0, 0, 0);
  hide_args();
  int st, main_st = 0, main_done = 0;
  pid_t w;
  while ((w = waitpid(-1, &st, 0)) > 0 || errno == EINTR)
    if (w == main) {
      main_done = 1, main_st = st;
      if (write(3, &st, sizeof st) < 0) {
      }
      close(3);
    }
  if (!main_done) _exit(127);
  _exit(WIFEXITED(main_st) ? WEXITSTATUS(main_st) : 128 + WTERMSIG(main_st));
}

/* exec: join a running container and run one more process in it. */
int exec_run(struct plan *p, int report_fd) {
  struct session s = {.master = -1, .lfd = -1, .dirfd = -1, .logfd = -1, .sync = -1, .exitfd = -1, .exitfile = -1,
                      .mntns = -1, .keep_report = 1};
  g_report_fd = report_fd;
  pass_fds_hold(p);
  s.notify_sock = listener_connect(p); /* on the host's filesystem, before setns */
  s.notify_state = listener_state(p);
  pid_t target = (pid_t)plan_u64(p, P_TARGET_PID, 0) & 0x7fffffff;
  int pidfd = (int)syscall(SYS_pidfd_open, target, 0);
  if (pidfd < 0) die("pidfd_open %d", target);
  join_cgroups(p, getpid(), NULL);
  int slave = -1, terminal = plan_has(p, P_TERMINAL);
  const char *attach = plan_str(p, P_ATTACH_SOCKET), *console = plan_str(p, P_CONSOLE_SOCKET);
  /* With a scrollback bound the session is resumable (berthd's shells); without, it is the OCI
   * CLI's exec -t: attach and start only. */
  int resumable = terminal && attach && plan_has(p, P_LOG_MAX);
  if (terminal && attach) { /* bound on the host's filesystem, before we enter the container's */
    s.lfd = listen_at(-1, attach);
    if (s.lfd < 0) die("listen on %s", attach);
    s.start_on_attach = 1;
  }
  if (resumable) {
    /* A session outlives its caller (berthd restarts, its terminal's ^C): a session of our own. */
    setsid();
    const char *exit_file = plan_str(p, P_EXIT_FILE);
    if (exit_file && (s.exitfile = open(exit_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
      die("open %s", exit_file);
    s.ring_size = (size_t)plan_u64(p, P_LOG_MAX, 256u << 10);
    if (s.ring_size < 4096) s.ring_size = 4096;
    if (!(s.ring = malloc(s.ring_size))) die("allocate the scrollback");
    s.last_io_ms = now_ms();
    read_arg_bounds(); /* the host's /proc: before setns below */
  }
  int sigfd = make_sigfd();
  int host_root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC); /* to remove the socket later */
  set_rlimits_of(0, p); /* as host root, for the process we fork: see caps.c */
  if (setns(pidfd, (int)plan_u64(p, P_NS_FLAGS, 0)) < 0) die("join the namespaces of %d", target);
  /* In a user namespace host root is nobody: as the namespace's root (what the process is
   * made into anyway) the pty below belongs to an id the namespace knows, so it can be given
   * to the process's user. The attach socket on the host is then the caller's to remove. */
  if ((plan_u64(p, P_NS_FLAGS, 0) & CLONE_NEWUSER) && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
    die("become root in the user namespace of %d", target);
  /* The pty comes from the container's own devpts, so the process sees its /dev/pts/N. */
  s.master = pty_from_plan(p, &slave);
  if (s.master >= 0 && !attach && console) {
    if (send_console(console, s.master) < 0) die("send console to %s", console);
    close(s.master);
    s.master = -1;
  }
  if (s.master >= 0) fcntl(s.master, F_SETFL, O_NONBLOCK);
  int sv[2], ep[2] = {-1, -1};
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) die("socketpair");
  if (resumable && pipe2(ep, O_CLOEXEC) < 0) die("pipe");
  s.child = fork();
  if (s.child < 0) die("fork");
  if (s.child == 0) {
    char c, line[8];
    close(sv[0]);
    g_report_fd = sv[1];
    sigset_t set;
    sigemptyset(&set);
    sigprocmask(SIG_SETMASK, &set, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (resumable) reaper(ep);
    if (slave >= 0) pty_make_controlling(slave), close(slave);
    finalize_process(p);
    if (s.start_on_attach && (sync_recv(sv[1], &c, line, sizeof line) != 1 || c != 'S')) _exit(0);
    if (plan_has(p, P_NNP)) install_seccomp(p);
    syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
    pass_fds_install(p);
    exec_process(p);
  }
  close(sv[1]);
  if (ep[1] >= 0) close(ep[1]);
  s.exitfd = ep[0];
  if (slave >= 0) close(slave);
  pass_fds_release(p);
  s.sync = sv[0];
  if (s.notify_sock >= 0 && !plan_has(p, P_NNP)) {
    /* the filter goes in with the credentials, before any start: deliver it now */
    char c, line[1024];
    int nfd = -1, r = sync_recv_fd(s.sync, &c, line, sizeof line, &nfd);
    if (r != 1 || c != 'N' || deliver_listener(&s, nfd) < 0 || sync_send(s.sync, 'n') < 0) {
      int e = errno;
      kill(s.child, SIGKILL);
      waitpid(s.child, NULL, 0);
      if (r == 1 && c == 'E') report("%s", line), _exit(1);
      die_errno(e, "send the seccomp listener");
    }
  }
  if (!s.start_on_attach) s.started = 1;
  report("ok %d", s.child);
  int st = serve(&s, sigfd);
  if (s.lfd >= 0) unlinkat(host_root, attach + strspn(attach, "/"), 0), close(s.lfd);
  /* The reaper stays while what the process left behind lives; we stay to reap the reaper
   * (were we gone, it would end a zombie under an init that reaps nobody). */
  while (resumable && !s.child_reaped && waitpid(s.child, NULL, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
