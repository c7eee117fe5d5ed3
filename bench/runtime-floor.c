/* The floor of `pnpm bench runtime`: the least a container start can cost on this machine.
 * clone with five namespaces, make / private, bind the rootfs, pivot_root, mount /proc,
 * exec the command; the parent waits. No error handling beyond exit codes: a bench tool. */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *rootfs = argv[1];
  pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | SIGCHLD,
                             0, 0, 0, 0);
  if (pid < 0) return 3;
  if (pid == 0) {
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) _exit(10);
    if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) _exit(11);
    if (chdir(rootfs) < 0) _exit(12);
    if (syscall(SYS_pivot_root, ".", ".") < 0) _exit(13);
    if (umount2(".", MNT_DETACH) < 0) _exit(14);
    if (chdir("/") < 0) _exit(15);
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) _exit(16);
    execv(argv[2], argv + 2);
    _exit(17);
  }
  int st;
  if (waitpid(pid, &st, 0) < 0) return 4;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}
