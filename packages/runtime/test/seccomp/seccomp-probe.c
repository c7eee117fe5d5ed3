/* Installs a seccomp filter read from a file, then tries syscalls and prints what they return.
 * Built by seccomp.root.test.ts with the system cc. Usage:
 *   seccomp-probe FILTER.bpf          run every probe, one "name=result" line each
 *   seccomp-probe FILTER.bpf getppid  call only getppid (for KILL actions)
 *   seccomp-probe FILTER.bpf exec PROGRAM ARGS...  run a real program under the filter
 * A result is "ok" (or the value) on success, else the errno name's number: "err=1". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef __x86_64__
/* A 32-bit syscall from this 64-bit process: the kernel takes the ia32 compat path and seccomp
 * sees AUDIT_ARCH_I386. Returns -errno like the raw syscall. */
static long int80(long nr, long a, long b, long c) {
  long r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory", "r8", "r9", "r10", "r11");
  return r;
}
#define X32_SYSCALL_BIT 0x40000000L
#endif

static void report_raw(const char *name, long r) {
  if (r < 0)
    printf("%s=err%ld\n", name, -r);
  else
    printf("%s=ok\n", name);
}

static void report(const char *name, long r) {
  if (r < 0)
    printf("%s=err%d\n", name, errno);
  else
    printf("%s=ok\n", name);
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  static struct sock_filter insns[4096];
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0) { perror("open filter"); return 2; }
  ssize_t n = read(fd, insns, sizeof insns);
  close(fd);
  if (n <= 0 || n % 8 != 0) { fprintf(stderr, "bad filter size %zd\n", n); return 2; }
  struct sock_fprog prog = { .len = (unsigned short)(n / 8), .filter = insns };

  int devnull = open("/dev/null", O_RDWR);
  setvbuf(stdout, NULL, _IONBF, 0);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { perror("no_new_privs"); return 2; }
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) { perror("seccomp"); return 3; }
  printf("installed=ok\n");

  if (argc > 3 && strcmp(argv[2], "exec") == 0) {
    close(devnull);
    execv(argv[3], argv + 3);
    perror("execv");
    return 4;
  }

  if (argc > 2 && strcmp(argv[2], "getppid") == 0) {
    report("getppid", syscall(SYS_getppid));
    return 0;
  }
#ifdef __x86_64__
  if (argc > 2 && strcmp(argv[2], "i386") == 0) {
    report_raw("i386_getpid", int80(20 /* i386 getpid */, 0, 0, 0));
    report_raw("i386_unshare", int80(310 /* i386 unshare */, CLONE_NEWUTS, 0, 0));
    report_raw("i386_keyctl", int80(288 /* i386 keyctl */, 0, -3, 0));
    return 0;
  }
  if (argc > 2 && strcmp(argv[2], "x32") == 0) {
    /* The filter sees these even where the kernel has no x32 ABI (it then returns ENOSYS). */
    report("x32_getpid", syscall(X32_SYSCALL_BIT | 39));
    report("x32_unshare", syscall(X32_SYSCALL_BIT | 272, CLONE_NEWUTS));
    return 0;
  }
#endif

  report("getpid", syscall(SYS_getpid));
  char c;
  report("read", read(devnull, &c, 1));
  report("write", write(devnull, "x", 1));
  report("unshare", unshare(CLONE_NEWUTS));
  report("mount", mount("none", "/berth-test-nonexistent", "tmpfs", 0, NULL));
  report("umount2", umount2("/berth-test-nonexistent", 0));
  report("setns", setns(devnull, 0));
  report("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0));
  report("add_key", syscall(SYS_add_key, "user", "berth-test", "x", 1, -3));
  report("clone3", syscall(SYS_clone3, NULL, 0));
  long child = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (child == 0) _exit(0);
  if (child > 0) waitpid((pid_t)child, NULL, 0);
  report("clone_newuser", child);
  report("io_uring_setup", syscall(SYS_io_uring_setup, 1, NULL));
  report("bpf", syscall(SYS_bpf, 0, NULL, 0));
  report("personality_query", syscall(SYS_personality, 0xffffffffUL));
  report("personality_no_randomize", syscall(SYS_personality, 0x0040000UL));
  long s = syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
  report("socket_unix", s);
  report("socket_vsock", syscall(SYS_socket, 40L, SOCK_STREAM, 0));
  report("socket_vsock_high", syscall(SYS_socket, 0x100000028L, SOCK_STREAM, 0));

  pid_t pid = fork(); /* glibc: clone(SIGCHLD|CLONE_CHILD_*), allowed */
  if (pid == 0) _exit(7);
  int status = 0;
  if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 7)
    printf("fork=ok\n");
  else
    printf("fork=err%d\n", pid < 0 ? errno : 0);

  char buf[4096];
  int st = open("/proc/self/status", O_RDONLY);
  ssize_t len = st >= 0 ? read(st, buf, sizeof buf - 1) : -1;
  if (len > 0) {
    buf[len] = 0;
    char *line = strstr(buf, "Seccomp:");
    if (line) printf("status_%.*s\n", (int)strcspn(line, "\n"), line);
  }
  return 0;
}
