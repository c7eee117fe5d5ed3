import type { Socket } from 'node:net';

// The one seam between berthd and the container runtime (packages/runtime). Everything the
// agent asks of the runtime goes through ContainerRuntime; the real implementation is
// ./real.ts, and unit tests inject a fake explicitly (never switched on by itself).

export type RuntimeStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export interface RuntimeExit {
  /** The exit status, or -1 when init was killed by a signal. */
  code: number;
  signal: number;
}

/** The shell's convention: a status, or 128 + the signal that killed init. */
export function exitStatus(e: RuntimeExit): number {
  return e.code < 0 && e.signal > 0 ? 128 + e.signal : e.code;
}

/** An instance create() made. */
export interface RuntimeInstance {
  pid: number;
  /**
   * Present when create() started it too (`start`): resolves once init runs its command,
   * rejects as start() would have. Absent: the instance waits for start().
   */
  started?: Promise<void>;
  /**
   * Init's exit, as the runtime hears it from the monitor once its exit record is written
   * (quicker than wait(), and only while this berthd lives; wait() works for any instance).
   * Rejects when it cannot tell (the start failed, the spawner went away): then ask wait().
   */
  exited?: Promise<RuntimeExit>;
}

export interface RuntimeState {
  status: RuntimeStatus;
  pid?: number;
}

export interface ExecStdio {
  /** Open file descriptors for the process's stdin, stdout and stderr. */
  fds: [number, number, number];
}

export interface ExecProcess {
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
}

/** A connection to a terminal served by a container's monitor or an exec session. */
export interface TerminalStream {
  /** Raw output arrives as 'data'; 'close' when the session ends or drops this client. */
  socket: Socket;
  write(data: Buffer): void;
  resize(rows: number, cols: number): void;
  /** Lets go of what it holds (the spawner, the ready cgroups); containers keep running. */
  close(): void | Promise<void>;
}

/** A cgroup the agent manages itself (a group's parent cgroup). */
export interface GroupCgroup {
  create(): Promise<void>;
  apply(resources: Record<string, unknown>): Promise<void>;
  stats(): Promise<{ memoryBytes?: number; cpuUsageNs?: number; pids?: number }>;
  destroy(): Promise<void>;
}

export interface DefaultSpecOptions {
  args: string[];
  rootfs: string;
  /** A user namespace mapping container ids 0..size-1 to hostId.. (unprivileged). */
  userns?: { hostId: number; size: number };
  seccomp?: unknown;
}

export interface ContainerRuntime {
  /** The runtime's secure default OCI config (capabilities, masked paths, devices, pids limit). */
  defaultSpec(o: DefaultSpecOptions): Record<string, unknown>;
  /** Why containers cannot run on this build or host; undefined when they can. */
  unavailableReason(): string | undefined;
  /**
   * Create the container (init waits for start) from an OCI config whose root is an absolute
   * path. Without a terminal, init's stdout and stderr are appended to `logFile`. With
   * `start`, the runtime may start it in the same request (then the result has `started`).
   */
  create(
    id: string,
    bundle: string,
    spec: Record<string, unknown>,
    logFile: string,
    /** Told the end of each of the runtime's phases (BERTH_TRACE). */
    trace?: { mark(phase: string): void },
    opts?: { start?: boolean },
  ): Promise<RuntimeInstance>;
  start(id: string): Promise<void>;
  /** The runtime's view; undefined when it has no such container. */
  state(id: string): RuntimeState | undefined;
  /** Ids the runtime knows (to find containers the agent's DB does not). */
  list(): string[];
  kill(id: string, signal: number | string, all?: boolean): Promise<void>;
  /** Resolves when init exits (works for containers created by an earlier berthd too). */
  wait(id: string): Promise<RuntimeExit>;
  /**
   * `cgroupInBackground`: the instance's cgroup may still be being removed when this returns
   * (its next instance gets another: a restart's fresh one from reserveId).
   */
  delete(id: string, force?: boolean, opts?: { cgroupInBackground?: boolean }): Promise<void>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  update(id: string, resources: Record<string, unknown>): Promise<void>;
  exec(id: string, process: ExecProcess, stdio: ExecStdio): Promise<{ exit: Promise<number> }>;
  /**
   * A resumable session: a process on a new pty in the running container (the pty comes from
   * the container's own devpts), served on `socket` by a session process that outlives berthd
   * and keeps `scrollbackBytes` of output. The process starts once a client attaches
   * (attachSession). `pid` is the session's host pid; `exit` settles when it is gone.
   */
  execTerminal(
    id: string,
    process: ExecProcess,
    size: { rows: number; cols: number },
    scrollbackBytes: number,
    /** Told the socket before the session is made (a crash-safe caller records it first). */
    beforeExec?: (socket: string) => void,
  ): Promise<{ pid: number; socket: string; exit: Promise<number> }>;
  /** Attach to a session (execTerminal's socket): its scrollback, then live output to the
   * function given to live() (not to the socket's 'data' listeners). */
  attachSession(
    socket: string,
  ): Promise<TerminalStream & { scrollback: Buffer; live(onData: (chunk: Buffer) => void): void }>;
  /** What a session says of itself; undefined when it is gone; rejects when it lives but
   * does not answer (its container is frozen). */
  sessionInfo(
    socket: string,
  ): Promise<{ output: number; lastIoMs: number; attached: number; exited: boolean } | undefined>;
  /** Resolves when the session's process ends (undefined: it was gone already). */
  waitSession(socket: string): Promise<RuntimeExit | undefined>;
  /** Attach to the console of the container's init (held by its monitor). */
  attachConsole(id: string): Promise<TerminalStream>;
  /** The current instance's console log files, oldest first (none without a terminal). */
  consoleLogs(id: string): string[];
  /** The OOM kills counted in the container's cgroup so far. */
  oomKills(id: string): Promise<number>;
  group(path: string): GroupCgroup;
  /**
   * A new container's id whose cgroup, <cgroupParent>/<id>, was made ahead of time (limits,
   * a warm cell): create() with that cgroupsPath is placed in it. Absent: the caller makes ids.
   */
  reserveId?(cgroupParent: string): Promise<string>;
  /** Gives up a reserved id whose create() did not happen (create itself uses or gives it up). */
  releaseId?(id: string): void;
  /**
   * Removes the empty cgroups named like ids under these parents that `known` does not claim
   * (asked with the name and its path, <parent>/<name>): the reserved slots of a berthd that
   * was killed, and the old cgroups of restarted containers whose removal it left unfinished.
   * Returns the ids removed.
   */
  removeStrayCgroups?(parents: string[], known: (id: string, path: string) => boolean): Promise<string[]>;
  /** The cgroup the runtime put the container's current instance in (its own record of it);
   * undefined when it has no instance or cannot say. */
  cgroupPath?(id: string): string | undefined;
  /** Lets go of what it holds (the spawner, the ready cgroups); containers keep running. */
  close(): void | Promise<void>;
}
