/* berth-helper: executes a plan compiled by TypeScript (src/spec/plan.ts) between clone and
 * exec, and monitors the container afterwards. Policy lives in TypeScript; this is mechanism.
 *
 * Plan wire format (little endian): the magic "BRT1", then records of
 *   u32 type, u32 length, length bytes of payload, padded to 4 bytes.
 * Strings are NUL-terminated inside their payload; records of one type keep their order.
 * The record types are the P_* values below and must match src/spec/encode.ts.
 *
 * Error convention (one for every mode): a failing step calls die()/fail(), which writes one
 * line "err <errno> <stage>: <message>\n" to the report channel of the process that can still
 * speak to the caller (the monitor relays the container child's line unchanged) and exits 1.
 * Successful milestones are lines too: "ok <pid>\n" (created), "exit <code> <signal>\n"; a
 * failed execve after start is an "err" line before "exit".
 * In zygote mode each line is prefixed with the request id.
 */
#ifndef BERTH_H
#define BERTH_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum plan_type {
  P_NS_FLAGS = 1,     /* u64: CLONE_NEW* to create (create) or to join (exec) */
  P_NS_JOIN = 2,      /* u32 nstype, string path */
  P_UID_MAP = 3,      /* string, written to /proc/<pid>/uid_map */
  P_GID_MAP = 4,      /* string */
  P_CGROUP_PROCS = 5, /* string: a cgroup.procs file to put the process in before exec */
  P_ROOTFS = 6,       /* string: absolute host path of the root filesystem */
  P_ROOT_RO = 7,      /* empty */
  P_ROOT_PROPAGATION = 8, /* u64 MS_* propagation applied to / in the new mount ns */
  P_MOUNT = 9,        /* u64 flags, u64 propagation, u32 bind, u32 pad, strings src dst fstype data */
  P_DEVICE = 10,      /* u32 mode, major, minor, uid, gid, string path */
  P_SYMLINK = 11,     /* string target, string linkpath */
  P_MASKED = 12,      /* string */
  P_READONLY = 13,    /* string */
  P_HOSTNAME = 14,    /* string */
  P_DOMAINNAME = 15,  /* string */
  P_SYSCTL = 16,      /* string key (path under /proc/sys), string value */
  P_RLIMIT = 17,      /* u32 resource, u32 pad, u64 soft, u64 hard */
  P_OOM_SCORE = 18,   /* i32 */
  P_USER = 19,        /* u32 uid, gid, umask (0xffffffff: keep), ngroups, groups[] */
  P_CAPS = 20,        /* u64 bounding, effective, permitted, inheritable, ambient */
  P_NNP = 21,         /* empty */
  P_SECCOMP = 22,     /* u32 flags, u32 pad, struct sock_filter[] */
  P_CWD = 23,         /* string */
  P_ARG = 24,         /* string, in order */
  P_ENV = 25,         /* string "K=V", in order */
  P_TERMINAL = 26,    /* u16 rows, u16 cols */
  P_CONSOLE_SOCKET = 27, /* string: send the pty master there (OCI --console-socket) */
  P_STATE_DIR = 28,   /* string: monitor.sock, console.log, exit live here */
  P_LOG_MAX = 29,     /* u64: console log bound in bytes */
  P_AUTOSTART = 30,   /* empty: start as soon as created (run) */
  P_TIMENS = 31,      /* string written to /proc/self/timens_offsets */
  P_TARGET_PID = 32,         /* u32: exec: the container's init */
  P_PRESERVE_FDS = 33, /* u32 n: the caller's fds 3..3+n-1, passed at 5.., become 3.. (fds.c) */
  P_STDIO = 34,       /* strings: files for fd 0, 1, 2 (zygote containers) */
  P_REQUEST_ID = 35,  /* string: zygote reply prefix */
  P_ATTACH_SOCKET = 36, /* string: exec with a terminal serves attach here */
  P_HOOK = 37,        /* u32 kind (0 startContainer, 1 createContainer, 2 prestart, 3 createRuntime), u32 timeout, strings path, args..., "", env... */
  P_STATE_JSON = 38,  /* string: the container state given to in-container hooks */
  P_RUNTIME_STATE = 39, /* string: the state for prestart/createRuntime, "pid":-1 filled in */
  P_SECCOMP_LISTENER = 40, /* strings: listenerPath, containerProcessState JSON ("pid":-1 filled in) */
  P_SETGROUPS_DENY = 41, /* empty: write "deny" to setgroups before gid_map (rootless) */
  P_ID_MAP_HELPER = 42, /* empty: newuidmap/newgidmap write the maps (rootless, subordinate ids) */
  P_REPORT_START = 43, /* empty: with P_AUTOSTART, report "started" once init has exec'd (or its "err") */
  P_CGROUP_DELEGATE = 44, /* u32 uid, u32 gid, string dir: chowned with its cgroup.procs etc. before init starts */
  /* Warm cells (cell.c); numbered apart so that records added above never collide. */
  P_CELL = 50,          /* string: run this container in that warm cell (zygote) */
  P_CELL_PREPARE = 51,  /* empty: make a warm cell in the plan's P_CGROUP_PROCS; id = P_REQUEST_ID */
  P_CELL_DISCARD = 52,  /* string: let that warm cell go unused */
  /* Resumable exec sessions (monitor.c's exec path); numbered apart too. */
  P_EXIT_FILE = 60,     /* string: exec: the process's exit status is written there (opened before joining) */
};

#define BERTH_PLAN_MAX (4u << 20)
#define CLONE_NEWTIME_ 0x80 /* CLONE_NEWTIME, missing from older headers */

struct plan {
  unsigned char *buf;
  size_t len;
  size_t mapped; /* bytes mmap'd for buf */
};

struct rec {
  uint32_t type, len;
  const unsigned char *data;
};

/* plan.c */
int plan_read(int fd, struct plan *p); /* reads into p->buf (p->mapped bytes) if set, else maps one */
int plan_read_framed(int fd, struct plan *p); /* u32 length, then the plan; 0 on EOF */
void plan_free(struct plan *p);
/* Iterate records of one type: *pos starts at 0; returns 1 and fills r, or 0 at the end. */
int plan_next(const struct plan *p, uint32_t type, size_t *pos, struct rec *r);
int plan_has(const struct plan *p, uint32_t type);
const char *plan_str(const struct plan *p, uint32_t type); /* first record as a string or NULL */
uint64_t plan_u64(const struct plan *p, uint32_t type, uint64_t dflt);
const char *rec_str(const struct rec *r, size_t off, size_t *next); /* string at off */
uint32_t rec_u32(const struct rec *r, size_t off);
uint64_t rec_u64(const struct rec *r, size_t off);

/* sync.c: the error convention and the small messages between processes */
extern int g_report_fd;          /* where die() writes its line */
extern const char *g_report_tag; /* zygote request id, or NULL */
void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Field `field` (3 or later, numbered as in proc(5): 22 is the start time, 48 arg_start) of
 * /proc/<pid>/stat, /proc/self/stat for pid 0, into out; -1 when it cannot be read. */
int proc_stat_field(pid_t pid, int field, char *out, size_t size);
/* A process's start time (clock ticks since boot, field 22 of /proc/<pid>/stat) into out, or "-". */
void proc_start(pid_t pid, char *out, size_t size);
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void die_errno(int err, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
int write_all(int fd, const void *buf, size_t len);
int write_file(const char *path, const char *data, size_t len);
int write_file_atomic(int dirfd, const char *name, const char *data, size_t len);
int send_fd(int sock, int fd);
int send_fd_data(int sock, int fd, const void *data, size_t len);
int sync_send(int sock, char c);
int sync_recv(int sock, char *c, char *line, size_t linelen); /* c='E' with line on error */
int sync_recv_fd(int sock, char *c, char *line, size_t linelen, int *fd); /* and an fd passed with it */

/* ns.c */
pid_t clone_container(uint64_t flags);
void write_id_maps(pid_t pid, const struct plan *p);
void join_cgroups(const struct plan *p, pid_t pid, const char *skip); /* skip: a procs file init was born in */
void delegate_cgroups(const struct plan *p);
pid_t clone_container_into(uint64_t flags, const struct plan *p, const char **placed);
void join_namespaces(const struct plan *p, int pid_and_time_only);
int joins_user_namespace(const struct plan *p);
void enter_created_namespaces(uint64_t flags, int sync);
void set_hostname(const struct plan *p);

/* mount.c */
void setup_rootfs(const struct plan *p, int console_slave, int sync);
void create_hooks(const struct plan *p, int sync);
void apply_masked_and_readonly(const struct plan *p);
void apply_sysctls(const struct plan *p);

/* caps.c */
void finalize_process(const struct plan *p); /* user, caps, umask, cwd, nnp (rlimits: set_rlimits_of) */
void set_rlimits_of(pid_t pid, const struct plan *p); /* prlimit; pid 0: ourselves */
void install_seccomp(const struct plan *p);
void exec_process(const struct plan *p) __attribute__((noreturn));
void run_hooks(const struct plan *p, uint32_t kind);
int run_hooks_of(const struct plan *p, uint32_t kind, pid_t pid, char *msg, size_t msglen);
int plan_has_hook(const struct plan *p, uint32_t kind);

/* fds.c */
void pass_fds_hold(const struct plan *p);    /* close-on-exec until the process is exec'd */
void pass_fds_release(const struct plan *p); /* the monitor's copies, once the child has them */
void pass_fds_install(const struct plan *p); /* in the process, just before execve */
int listener_connect(const struct plan *p);   /* -1 when the plan has no seccomp listener */
int listener_send(int sock, const char *state, int fd, pid_t pid);
char *listener_state(const struct plan *p);

/* pty.c */
int pty_open(int *slave, uint16_t rows, uint16_t cols);
void pty_make_controlling(int slave);
void pty_resize(int master, uint16_t rows, uint16_t cols);
int pty_from_plan(const struct plan *p, int *slave);
int send_console(const char *path, int master);

/* monitor.c */
int monitor_run(struct plan *p, int report_fd, int keep_report);
void container_child(struct plan *p, int sock, int slave) __attribute__((noreturn));
void enter_time_namespace(const struct plan *p, uint64_t flags);

/* cell.c */
int cell_run(struct plan *prepare, int planfd, int report_fd);
int cell_active(void);
pid_t cell_clone(const struct plan *p, int child_sock, int slave);
int exec_run(struct plan *p, int report_fd);

#endif
