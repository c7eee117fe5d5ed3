import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type {
  ContainerConfig,
  ShellAttach,
  ShellOpen,
  ShellSessionInfo,
  TerminalSize,
} from '@berth/contracts';
import type { z } from 'zod';
import { isDirectoryInRoot, readFileInRoot } from '../containers/files.ts';
import type { ContainerService } from '../containers/service.ts';
import { passwdIn, resolveUserIn } from '../containers/service.ts';
import { mergeEnv } from '../containers/spec.ts';
import { AgentError, conflict } from '../errors.ts';
import type { EventLog } from '../events/log.ts';
import { readSessionExit, releaseSessionSocket } from '../runtime/session-socket.ts';
import { type ContainerRuntime, exitStatus, type TerminalStream } from '../runtime/types.ts';
import { sessionMembers, socketHolders, statFields } from './sessions.ts';
import type { TerminalSession } from './terminals.ts';

// Shell sessions: a shell outlives its clients. Each runs as a resumable exec session of the
// runtime (a small C process beside the container's monitor, in the container's cgroup: it
// holds the pty, keeps a ring of recent output, runs the shell under a reaper and outlives
// berthd). berthd keeps a record of each under its state dir, attaches one monitor client per
// viewer (so a slow viewer lags on its own, see terminals.ts), watches for the end, and ends
// sessions nobody has been attached to for the idle timeout. At start it adopts the sessions
// an earlier berthd left running.

export interface ShellSessionsDeps {
  stateDir: string;
  runtime: ContainerRuntime;
  events: Pick<EventLog, 'append'>;
  /** Seconds a session lives on with nobody attached (0: no limit). */
  idleTimeoutSec: number;
  /** Output each session keeps to replay. */
  scrollbackBytes: number;
}

/** A session as recorded under the state dir (what a restarted berthd adopts). */
interface ShellRecord {
  id: string;
  containerId: string;
  container: string;
  /** The session's reaper (what the runtime reports) and the shell (its session's leader),
   * host pids. */
  pid: number;
  leader: number | null;
  /** The shell's start time (/proc stat field 22): its pid may be another's once it is gone. */
  leaderStart?: string;
  socket: string;
  command: string[];
  user: string | null;
  actor: string;
  createdAt: string;
  detachedAt: string | null;
  /** Recorded before the session was made, not yet completed (pid unknown): a berthd that
   * finds it at start was killed in between, and ends the session (adopt). */
  starting?: true;
}

interface Viewer {
  stream: TerminalStream;
  size: TerminalSize;
  actor: string;
  /** Ends its run() with the session's exit status, or with why there is none. */
  end(end: number | AgentError): void;
}

interface LiveShell {
  rec: ShellRecord;
  viewers: Set<Viewer>;
  /** The last viewer that typed: its size is the pty's. */
  writer?: Viewer;
  applied?: TerminalSize;
  lastActivityMs: number;
  idle?: NodeJS.Timeout;
  /** Who ended it and why, when it did not end by itself. */
  ending?: { actor: string; reason: 'killed' | 'idle' };
  ended: boolean;
}

/** How long the shell has between SIGHUP and SIGKILL when its session is killed. */
const KILL_GRACE_MS = 2000;
/** setTimeout's largest delay. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Account {
  name: string;
  home: string;
  shell: string;
}

function accountIn(passwd: string, uid: number): Account | undefined {
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f.length >= 7 && Number(f[2]) === uid) return { name: f[0]!, home: f[5]!, shell: f[6]! };
  }
  return undefined;
}

export class ShellSessions {
  private readonly live = new Map<string, LiveShell>();
  private closed = false;

  constructor(private readonly d: ShellSessionsDeps) {}

  private get dir(): string {
    return join(this.d.stateDir, 'terminals');
  }

  private save(rec: ShellRecord): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = join(this.dir, `${rec.id}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(rec), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }

  /** A new shell session in the container, with the opener as its first viewer. */
  async open(svc: ContainerService, o: z.output<typeof ShellOpen>): Promise<TerminalSession> {
    const id = this.newId();
    const { base, started } = await svc.withContainer(o.name, 'exec', async (row) => {
      const spec = JSON.parse(row.spec) as { process?: { env?: string[]; cwd?: string } };
      const config = JSON.parse(row.config) as ContainerConfig;
      const root = await svc.rootPath(row);
      // One read of its passwd file, for the user's ids and for the account's home and shell.
      const passwd = passwdIn(root);
      const { uid, gid } = resolveUserIn(passwd, o.user ?? config.user);
      const account = accountIn(passwd, uid);
      const home = account && isDirectoryInRoot(root, account.home) ? account.home : '/';
      const shell =
        account?.shell && !/(nologin|false)$/.test(account.shell) && readFileInRoot(root, account.shell, 1)
          ? account.shell
          : '/bin/sh';
      const command = o.command ?? [shell, '-l'];
      const env = mergeEnv(
        spec.process?.env ?? [],
        [
          `TERM=${o.term}`,
          `HOME=${home}`,
          `SHELL=${shell}`,
          ...(account ? [`USER=${account.name}`, `LOGNAME=${account.name}`] : []),
        ],
        o.env,
      );
      const cwd = o.cwd ?? (o.command ? (spec.process?.cwd ?? '/') : home);
      // The session's record but its pid and socket (known once it runs).
      const base = {
        id,
        containerId: row.id,
        container: row.name,
        leader: null,
        command,
        user: o.user ?? null,
        actor: o.actor,
        createdAt: new Date().toISOString(),
        detachedAt: null,
      };
      try {
        const started = await this.d.runtime.execTerminal(
          row.id,
          { args: command, env, cwd, uid, gid },
          { rows: o.rows, cols: o.cols },
          this.d.scrollbackBytes,
          // Its socket recorded before the session exists: a berthd killed before the record
          // below is complete would otherwise leave a session nobody can find.
          (socket) => this.save({ ...base, pid: 0, socket, starting: true }),
        );
        return { base, started };
      } catch (e) {
        rmSync(join(this.dir, `${id}.json`), { force: true });
        throw conflict(`shell in ${row.name} failed: ${(e as Error).message}`);
      }
    });
    const rec: ShellRecord = { ...base, pid: started.pid, socket: started.socket };
    this.save(rec);
    const shell = this.track(rec);
    let viewer: TerminalSession;
    try {
      // The first attach starts the command.
      viewer = await this.viewer(shell, { cols: o.cols, rows: o.rows }, o.actor, {
        scrollbackBytes: Number.MAX_SAFE_INTEGER,
        readOnly: false,
      });
    } catch (e) {
      this.signal(shell, 'SIGKILL');
      throw conflict(`shell in ${rec.container} failed: ${(e as Error).message}`);
    }
    rec.leader = await findLeader(rec.pid, () => shell.ended);
    if (rec.leader !== null) rec.leaderStart = statFields(rec.leader)?.[19];
    if (!shell.ended) this.save(rec);
    await this.event('container.shell-opened', o.actor, rec, {
      pid: rec.leader ?? rec.pid,
      command: rec.command,
      user: rec.user,
    });
    return Object.assign(viewer, {
      pid: rec.leader ?? undefined,
      abandon: () => {
        viewer.hangup();
        this.end(shell, { actor: o.actor, reason: 'killed' });
      },
    });
  }

  /** Another viewer of a running session of the container. */
  async attach(svc: ContainerService, o: z.output<typeof ShellAttach>): Promise<TerminalSession> {
    const row = await svc.get(o.name);
    const shell = this.find(row.id, row.name, o.session);
    const viewer = await this.viewer(shell, { cols: o.cols, rows: o.rows }, o.actor, o);
    await this.event('container.shell-attached', o.actor, shell.rec, {
      viewers: shell.viewers.size,
      readOnly: o.readOnly,
    });
    return viewer;
  }

  /** The container's sessions, oldest first. */
  async list(svc: ContainerService, name: string): Promise<ShellSessionInfo[]> {
    const row = await svc.get(name);
    const shells = [...this.live.values()].filter((s) => s.rec.containerId === row.id && !s.ended);
    const infos = await Promise.all(
      shells.map(async (s) => ({
        s,
        info: await this.d.runtime.sessionInfo(s.rec.socket).catch(() => undefined),
      })),
    );
    return infos
      .map(({ s, info }) => ({
        id: s.rec.id,
        container: row.name,
        command: s.rec.command,
        user: s.rec.user,
        actor: s.rec.actor,
        pid: s.rec.leader,
        createdAt: s.rec.createdAt,
        attached: s.viewers.size,
        lastActivityAt: new Date(Math.max(s.lastActivityMs, info?.lastIoMs ?? 0)).toISOString(),
        detachedAt: s.viewers.size > 0 ? null : s.rec.detachedAt,
      }))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Ends a session: SIGHUP to the shell's whole session, SIGKILL to what is left after a grace. */
  async kill(svc: ContainerService, name: string, id: string, actor: string): Promise<void> {
    const row = await svc.get(name);
    const shell = this.find(row.id, row.name, id);
    this.end(shell, { actor, reason: 'killed' });
  }

  /**
   * Adopts the sessions an earlier berthd left (their session processes outlive it); records
   * of sessions that ended meanwhile are dropped, with their closing event. Returns the ids.
   */
  async adopt(): Promise<{ adopted: string[]; ended: string[]; abandoned: string[] }> {
    const adopted: string[] = [];
    const ended: string[] = [];
    const abandoned: string[] = [];
    for (const name of existsSync(this.dir) ? readdirSync(this.dir) : []) {
      if (!name.endsWith('.json')) continue;
      const file = join(this.dir, name);
      let rec: ShellRecord;
      try {
        rec = JSON.parse(readFileSync(file, 'utf8')) as ShellRecord;
      } catch {
        rmSync(file, { force: true });
        continue;
      }
      if (rec.starting) {
        // Made (or about to be) by a berthd killed before it recorded it: its opener was never
        // told of it, and it waits for a first attach that would start its command. Ended:
        // its session process and reaper are what hold its socket.
        for (const pid of socketHolders(rec.socket))
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone meanwhile
          }
        rmSync(file, { force: true });
        releaseSessionSocket(rec.socket);
        abandoned.push(rec.id);
        continue;
      }
      // One that does not answer lives (in a frozen container): adopted all the same.
      const info = await this.d.runtime
        .sessionInfo(rec.socket)
        .catch(() => ({ lastIoMs: Date.now(), exited: false }));
      if (info && !info.exited) {
        const shell = this.track(rec, info.lastIoMs);
        // Nobody is attached after a restart: the idle clock runs from the last detach.
        rec.detachedAt ??= new Date().toISOString();
        this.save(rec);
        this.armIdle(shell);
        adopted.push(rec.id);
      } else {
        rmSync(file, { force: true });
        const exit = readSessionExit(rec.socket);
        releaseSessionSocket(rec.socket);
        await this.event('container.shell-closed', rec.actor, rec, {
          pid: rec.leader,
          exitCode: exit ? exitStatus(exit) : null,
          reason: 'ended while berthd was down',
        });
        ended.push(rec.id);
      }
    }
    return { adopted, ended, abandoned };
  }

  /** berthd stops: the sessions live on (the next berthd adopts them); timers go. */
  close(): void {
    this.closed = true;
    for (const s of this.live.values()) clearTimeout(s.idle);
  }

  // ---- internals -------------------------------------------------------------------

  private newId(): string {
    for (;;) {
      const id = randomBytes(4).toString('hex');
      if (!this.live.has(id) && !existsSync(join(this.dir, `${id}.json`))) return id;
    }
  }

  private find(containerId: string, container: string, id: string): LiveShell {
    const s = this.live.get(id);
    if (!s || s.ended || s.rec.containerId !== containerId)
      throw new AgentError(
        'NOT_FOUND',
        `no shell session ${id} in ${container}; \`berth shell ${container} --list\` shows its sessions`,
      );
    return s;
  }

  /** Registers a live session and watches for its end. */
  private track(rec: ShellRecord, lastIoMs = Date.now()): LiveShell {
    const shell: LiveShell = { rec, viewers: new Set(), lastActivityMs: lastIoMs, ended: false };
    this.live.set(rec.id, shell);
    void this.d.runtime
      .waitSession(rec.socket)
      .catch(() => undefined)
      .then((exit) => this.finish(shell, exit));
    return shell;
  }

  private async finish(shell: LiveShell, exit: { code: number; signal: number } | undefined): Promise<void> {
    if (shell.ended) return;
    shell.ended = true;
    clearTimeout(shell.idle);
    this.live.delete(shell.rec.id);
    const { id, container } = shell.rec;
    const code = exit ? exitStatus(exit) : undefined;
    // Killed, not by us: its container stopping is the likely cause (its record follows soon).
    let stopped = false;
    if (!shell.ending && (exit === undefined || exit.signal === 9))
      for (let i = 0; i < 10 && !stopped; i++) {
        const status = this.d.runtime.state(shell.rec.containerId)?.status;
        stopped = status !== 'running' && status !== 'paused';
        if (!stopped) await new Promise((r) => setTimeout(r, 100));
      }
    const end = stopped
      ? new AgentError('CONFLICT', `shell session ${id} ended: its container ${container} stopped`)
      : (code ??
        new AgentError(
          'INTERNAL',
          `shell session ${id} of ${container} ended without an exit status (its session process was killed)`,
        ));
    for (const v of shell.viewers) v.end(end);
    shell.viewers.clear();
    rmSync(join(this.dir, `${id}.json`), { force: true });
    releaseSessionSocket(shell.rec.socket);
    await this.event('container.shell-closed', shell.ending?.actor ?? shell.rec.actor, shell.rec, {
      pid: shell.rec.leader,
      exitCode: code ?? null,
      reason: shell.ending?.reason ?? (stopped ? 'container stopped' : 'exited'),
    });
  }

  private end(shell: LiveShell, why: { actor: string; reason: 'killed' | 'idle' }): void {
    shell.ending ??= why;
    this.signal(shell, 'SIGHUP');
    this.signal(shell, 'SIGCONT');
    // Even once the shell is gone: what ignored the hangup lives on in its session.
    const t = setTimeout(() => this.signal(shell, 'SIGKILL'), KILL_GRACE_MS);
    t.unref();
  }

  /** A signal to every process of the shell's session (the session process when it has none). */
  private signal(shell: LiveShell, sig: NodeJS.Signals): void {
    const members = shellSession(shell.rec);
    if (members.length === 0 && sig === 'SIGKILL' && !shell.ended) {
      // No shell (it never started, or is gone with its whole session): the session process.
      const start = statFields(shell.rec.pid);
      if (start)
        try {
          process.kill(shell.rec.pid, 'SIGKILL');
        } catch {
          // gone
        }
      return;
    }
    for (const m of members) {
      if (statFields(m.pid)?.[19] !== m.start) continue;
      try {
        process.kill(m.pid, sig);
      } catch {
        // exited meanwhile
      }
    }
  }

  private armIdle(shell: LiveShell): void {
    clearTimeout(shell.idle);
    shell.idle = undefined;
    if (this.closed || this.d.idleTimeoutSec === 0 || shell.viewers.size > 0 || shell.ended) return;
    const since = shell.rec.detachedAt ? Date.parse(shell.rec.detachedAt) : Date.now();
    const left = since + this.d.idleTimeoutSec * 1000 - Date.now();
    if (left <= 0) {
      this.end(shell, { actor: 'berthd', reason: 'idle' });
      return;
    }
    shell.idle = setTimeout(() => this.armIdle(shell), Math.min(left, MAX_TIMER_MS));
    shell.idle.unref();
  }

  private applySize(shell: LiveShell, size: TerminalSize, stream: TerminalStream): void {
    if (shell.applied?.cols === size.cols && shell.applied.rows === size.rows) return;
    shell.applied = size;
    stream.resize(size.rows, size.cols);
  }

  /** One client of the session: scrollback (its last `scrollbackBytes`), then live output. */
  private async viewer(
    shell: LiveShell,
    size: TerminalSize,
    actor: string,
    { scrollbackBytes, readOnly }: { scrollbackBytes: number; readOnly: boolean },
  ): Promise<TerminalSession> {
    let stream: Awaited<ReturnType<ContainerRuntime['attachSession']>>;
    try {
      stream = await this.d.runtime.attachSession(shell.rec.socket);
    } catch (e) {
      // Reported to the client (a frozen container's session does not answer), not as a fault.
      throw conflict(`shell session ${shell.rec.id} in ${shell.rec.container}: ${(e as Error).message}`);
    }
    let finish: (end: number | AgentError) => void = () => {};
    const done = new Promise<number | AgentError>((r) => {
      finish = r;
    });
    const v: Viewer = { stream, size, actor, end: (e) => finish(e) };
    shell.viewers.add(v);
    clearTimeout(shell.idle);
    shell.idle = undefined;
    if (shell.rec.detachedAt !== null) {
      shell.rec.detachedAt = null;
      this.save(shell.rec);
    }
    // Alone, a viewer's terminal sets the size at once; beside others, once it types (one
    // that only watches, never).
    if (shell.viewers.size === 1 && !readOnly) {
      shell.writer = v;
      this.applySize(shell, size, stream);
    }
    let detached = false;
    const detach = () => {
      if (detached) return;
      detached = true;
      stream.close();
      if (!shell.viewers.delete(v)) return;
      if (shell.writer === v) shell.writer = undefined;
      if (shell.ended) return;
      void this.event('container.shell-detached', actor, shell.rec, { viewers: shell.viewers.size });
      if (shell.viewers.size === 0) {
        shell.rec.detachedAt = new Date().toISOString();
        this.save(shell.rec);
        this.armIdle(shell);
      }
    };
    // The session closes its clients once their output is out, after it has ended (its end
    // itself comes by finish(), from another socket); otherwise only on a socket error.
    const closed = new Promise<void>((resolve) =>
      stream.socket.once('close', () => {
        resolve();
        if (!shell.ended)
          setTimeout(
            () =>
              finish(
                new AgentError(
                  'INTERNAL',
                  `lost the connection to shell session ${shell.rec.id}; it runs on: berth shell ${shell.rec.container} --attach ${shell.rec.id}`,
                ),
              ),
            2000,
          ).unref();
      }),
    );
    const scrollback = stream.scrollback.subarray(Math.max(0, stream.scrollback.length - scrollbackBytes));
    return {
      session: shell.rec.id,
      async run(onOutput) {
        if (scrollback.length > 0) onOutput(scrollback);
        stream.live((chunk) => {
          shell.lastActivityMs = Date.now();
          onOutput(chunk);
        });
        const end = await done;
        // The last output comes on the stream: wait for it (the session gives a client that
        // reads slowly a few seconds).
        await Promise.race([closed, new Promise((r) => setTimeout(r, 10_000).unref())]);
        detach();
        if (end instanceof AgentError) throw end;
        return end;
      },
      input: (data) => {
        if (readOnly) return;
        shell.lastActivityMs = Date.now();
        if (shell.writer !== v) {
          shell.writer = v;
          this.applySize(shell, v.size, stream);
        }
        stream.write(data);
      },
      resize: (s) => {
        v.size = s;
        if (readOnly) return;
        if (shell.writer === v || shell.viewers.size === 1) this.applySize(shell, s, stream);
      },
      pause: () => stream.socket.pause(),
      resume: () => stream.socket.resume(),
      hangup: detach,
    };
  }

  private async event(
    kind:
      | 'container.shell-opened'
      | 'container.shell-attached'
      | 'container.shell-detached'
      | 'container.shell-closed',
    actor: string,
    rec: ShellRecord,
    data: Record<string, unknown>,
  ): Promise<void> {
    await this.d.events
      .append(kind, { actor, subject: rec.container, data: { session: rec.id, ...data } })
      .catch((e: Error) => console.error(`berthd: event ${kind}: ${e.message}`));
  }
}

/** The shell: the child of the session's reaper (`reaper`, what the runtime reports) that
 * leads its own session (it does so before it waits for its first client). */
async function findLeader(reaper: number, ended: () => boolean): Promise<number | null> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const leader = childrenOf(reaper).find((p) => statFields(p)?.[3] === String(p));
    if (leader !== undefined) return leader;
    if (Date.now() > deadline || ended()) return null;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The processes of the shell's session. Its pid stays taken while any of them lives; once the
 * shell is gone, a process that has its pid (another start time) leads someone else's.
 */
function shellSession(rec: ShellRecord): Array<{ pid: number; start: string }> {
  if (rec.leader === null) return [];
  const now = statFields(rec.leader)?.[19];
  if (now !== undefined && rec.leaderStart !== undefined && now !== rec.leaderStart) return [];
  return sessionMembers(rec.leader);
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}
