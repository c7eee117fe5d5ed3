import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { ConsoleOpen, ContainerConfig, ShellOpen, TerminalSize } from '@berth/contracts';
import type { z } from 'zod';
import { isDirectoryInRoot, readFileInRoot } from '../containers/files.ts';
import type { ContainerService } from '../containers/service.ts';
import { resolveUser } from '../containers/service.ts';
import { mergeEnv } from '../containers/spec.ts';
import { AgentError, conflict } from '../errors.ts';
import { exitStatus, type TerminalStream } from '../runtime/types.ts';
import type { TerminalSession } from './terminals.ts';

// Shells (a new process on a pty in the container, killed with its session when the client
// goes away) and consoles (the container init's terminal, held by its monitor: scrollback
// from its log, then live; the client detaching leaves it running).

/** How long a hung-up shell's session has between SIGHUP and SIGKILL. */
const HANGUP_GRACE_MS = 2000;

interface Account {
  name: string;
  home: string;
  shell: string;
}

function accountOf(root: string, uid: number): Account | undefined {
  const passwd = readFileInRoot(root, '/etc/passwd')?.toString('utf8') ?? '';
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f.length >= 7 && Number(f[2]) === uid) return { name: f[0]!, home: f[5]!, shell: f[6]! };
  }
  return undefined;
}

export async function openShell(
  svc: ContainerService,
  o: z.output<typeof ShellOpen>,
): Promise<TerminalSession> {
  const { row, started, command } = await svc.withContainer(o.name, 'exec', async (row) => {
    const spec = JSON.parse(row.spec) as { process?: { env?: string[]; cwd?: string } };
    const config = JSON.parse(row.config) as ContainerConfig;
    const root = await svc.rootPath(row);
    const { uid, gid } = resolveUser(root, o.user ?? config.user);
    const account = accountOf(root, uid);
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
    let started: Awaited<ReturnType<typeof svc.d.runtime.execTerminal>>;
    try {
      started = await svc.d.runtime.execTerminal(
        row.id,
        { args: command, env, cwd, uid, gid },
        { rows: o.rows, cols: o.cols },
      );
    } catch (e) {
      throw conflict(`shell in ${row.name} failed: ${(e as Error).message}`);
    }
    return { row, started, command };
  });
  await svc.d.events.append('container.shell-opened', {
    actor: o.actor,
    subject: row.name,
    data: { pid: started.pid, command, user: o.user ?? null },
  });
  const { pid, stream, exit } = started;
  let hungUp = false;
  const record = recordShell(svc.d.stateDir, pid);
  exit.catch(() => {}).finally(() => rmSync(record, { force: true }));
  function hangup(): void {
    if (hungUp) return;
    hungUp = true;
    // The client is gone: the shell's whole session goes, as on a terminal hangup. Its
    // members are found while the shell (the session leader) lives, so the id is its own.
    const timer = endSession(pid);
    exit
      .finally(() => {
        clearTimeout(timer);
        stream.close();
      })
      .catch(() => {});
  }
  return {
    pid,
    async run(onOutput) {
      stream.socket.on('data', onOutput);
      const closed = new Promise<void>((resolve) => stream.socket.once('close', () => resolve()));
      // The session sends everything its process wrote before it drops its clients and exits.
      // Dropped while the shell runs on (a client too slow for the session's bounded buffer):
      // nobody can see it any more, so it is ended as on a hangup.
      void closed.then(() => {
        const t = setTimeout(hangup, HANGUP_GRACE_MS);
        exit.finally(() => clearTimeout(t)).catch(() => {});
      });
      const code = await exit.catch(() => 127);
      await closed;
      await svc.d.events.append('container.shell-closed', {
        actor: o.actor,
        subject: row.name,
        data: { pid, exitCode: code, hungUp },
      });
      return code;
    },
    input: (data) => stream.write(data),
    resize: (s: TerminalSize) => stream.resize(s.rows, s.cols),
    pause: () => stream.socket.pause(),
    resume: () => stream.socket.resume(),
    hangup,
  };
}

/** SIGHUP (and SIGCONT) to the session led by `pid`, SIGKILL to what is left of it after a grace. */
function endSession(pid: number): NodeJS.Timeout {
  const members = sessionMembers(pid);
  signalAll(members, 'SIGHUP');
  signalAll(members, 'SIGCONT');
  return setTimeout(() => signalAll(sessionMembers(pid), 'SIGKILL'), HANGUP_GRACE_MS);
}

const shellsDir = (stateDir: string) => join(stateDir, 'terminals');

/** A running shell, noted so that a berthd killed meanwhile ends it at its next start. */
function recordShell(stateDir: string, pid: number): string {
  mkdirSync(shellsDir(stateDir), { recursive: true, mode: 0o700 });
  const file = join(shellsDir(stateDir), String(pid));
  writeFileSync(file, JSON.stringify({ pid, start: statFields(pid)?.[19] ?? '' }), { mode: 0o600 });
  return file;
}

/**
 * Shells whose client went away with a berthd that died (kill -9, a crash): nobody can reach
 * them again, so they are ended as a disconnect ends them. Run at berthd's start; returns the
 * pids it hung up.
 */
export function endOrphanShells(stateDir: string): number[] {
  const dir = shellsDir(stateDir);
  const ended: number[] = [];
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    const file = join(dir, name);
    try {
      const rec = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; start: string };
      // The same process still (not a later one with its pid).
      if (rec.start && statFields(rec.pid)?.[19] === rec.start) {
        endSession(rec.pid).unref();
        ended.push(rec.pid);
      }
    } catch {
      // unreadable: nothing to end
    }
    rmSync(file, { force: true });
  }
  return ended;
}

/** Processes of session `sid` (host pids, read from /proc), each with its start time. */
export function sessionMembers(sid: number): Array<{ pid: number; start: string }> {
  const out: Array<{ pid: number; start: string }> = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (f && Number(f[3]) === sid) out.push({ pid: Number(name), start: f[19]! });
  }
  return out;
}

/** /proc/<pid>/stat's fields after the command name (state first), or undefined if gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function signalAll(members: Array<{ pid: number; start: string }>, signal: NodeJS.Signals): void {
  for (const m of members) {
    // The same process still (a recycled pid has another start time).
    if (statFields(m.pid)?.[19] !== m.start) continue;
    try {
      process.kill(m.pid, signal);
    } catch {
      // exited meanwhile
    }
  }
}

export async function openConsole(
  svc: ContainerService,
  o: z.output<typeof ConsoleOpen>,
): Promise<TerminalSession> {
  const row = await svc.get(o.name);
  if (row.state !== 'running' && row.state !== 'paused')
    throw conflict(`cannot attach to the console of ${row.name}: it is ${row.state}; start it first`);
  const rt = svc.d.runtime;
  const logs = rt.consoleLogs(row.id);
  const before = logs.reduce((n, f) => n + sizeOf(f), 0);
  let stream: TerminalStream;
  try {
    stream = await rt.attachConsole(row.id);
  } catch (e) {
    throw new AgentError(
      'CONFLICT',
      `${row.name} has no console: ${(e as Error).message}; containers get one with --terminal (system containers always)`,
    );
  }
  // Read after attaching, so nothing falls between the log and the live output; what both
  // hold (written in between) is dropped from the live side below.
  const scrollback = tailOf(logs, o.scrollbackBytes);
  const overlap = Math.max(0, logs.reduce((n, f) => n + sizeOf(f), 0) - before);
  stream.resize(o.rows, o.cols);
  const exited = rt.wait(row.id).then(exitStatus, () => undefined);
  await svc.d.events.append('container.console-attached', { actor: o.actor, subject: row.name, data: {} });
  return {
    async run(onOutput) {
      if (scrollback.length > 0) onOutput(scrollback);
      let first = true;
      stream.socket.on('data', (chunk: Buffer) => {
        if (first) {
          first = false;
          chunk = chunk.subarray(duplicatePrefix(scrollback, chunk, overlap));
        }
        if (chunk.length > 0) onOutput(chunk);
      });
      await new Promise<void>((resolve) => stream.socket.once('close', () => resolve()));
      // The monitor ends its clients when init exits; otherwise it dropped this one.
      return Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000))]);
    },
    input: (data) => stream.write(data),
    resize: (s) => stream.resize(s.rows, s.cols),
    pause: () => stream.socket.pause(),
    resume: () => stream.socket.resume(),
    hangup: () => stream.close(),
  };
}

/**
 * How many leading bytes of the first live chunk the scrollback already ends with: the
 * longest k ≤ `window` with scrollback's last k bytes equal to the chunk's first k.
 */
export function duplicatePrefix(scrollback: Buffer, chunk: Buffer, window: number): number {
  for (let k = Math.min(window, scrollback.length, chunk.length); k > 0; k--)
    if (scrollback.subarray(scrollback.length - k).equals(chunk.subarray(0, k))) return k;
  return 0;
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** The last `max` bytes across `files` (oldest first). */
export function tailOf(files: string[], max: number): Buffer {
  const parts: Buffer[] = [];
  let need = max;
  for (const f of [...files].reverse()) {
    if (need <= 0) break;
    let fd: number;
    try {
      fd = openSync(f, 'r');
    } catch {
      continue;
    }
    try {
      const size = statSync(f).size;
      const n = Math.min(size, need);
      const b = Buffer.alloc(n);
      const got = readSync(fd, b, 0, n, size - n);
      parts.unshift(b.subarray(0, got));
      need -= got;
    } finally {
      closeSync(fd);
    }
  }
  return Buffer.concat(parts);
}
