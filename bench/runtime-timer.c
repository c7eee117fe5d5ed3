/* A tiny driver for `pnpm bench runtime`: reads commands (argv joined by tabs) line by line
 * on stdin, fork+execs each with its output discarded, prints "<nanoseconds> <status>".
 * With "--crun-host", it first enters a private mount namespace with an empty tmpfs over
 * /sys/fs/cgroup/unified: crun 1.8 refuses this hybrid host otherwise (ENVIRONMENT.md). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--crun-host") == 0) {
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("tmpfs", "/sys/fs/cgroup/unified", "tmpfs", 0, NULL) < 0) {
      perror("crun host");
      return 1;
    }
  }
  char line[8192];
  setvbuf(stdout, NULL, _IOLBF, 0);
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    char *args[64];
    int n = 0;
    for (char *tok = strtok(line, "\t"); tok && n < 63; tok = strtok(NULL, "\t")) args[n++] = tok;
    args[n] = NULL;
    if (!n) continue;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pid_t pid = fork();
    if (pid == 0) {
      int fd = open("/dev/null", O_RDWR);
      dup2(fd, 0), dup2(fd, 1), dup2(fd, 2);
      execvp(args[0], args);
      _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%lld %d\n", (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec), st);
  }
  return 0;
}
