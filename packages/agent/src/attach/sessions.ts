import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import type { ConsoleOpen } from '@berth/contracts';
import type { z } from 'zod';
import type { ContainerService } from '../containers/service.ts';
import { AgentError, conflict } from '../errors.ts';
import { exitStatus, type TerminalStream } from '../runtime/types.ts';
import type { TerminalSession } from './terminals.ts';

// Consoles (the container init's terminal, held by its monitor: scrollback from its log, then
// live; the client detaching leaves it running), and what shells (shells.ts) share: the
// processes of a terminal session, found and signalled by their session id.

/** How long a hung-up shell's session has between SIGHUP and SIGKILL. */
const HANGUP_GRACE_MS = 2000;

/** SIGHUP (and SIGCONT) to the session led by `pid`, SIGKILL to what is left of it after a grace. */
export function endSession(pid: number): NodeJS.Timeout {
  const members = sessionMembers(pid);
  signalAll(members, 'SIGHUP');
  signalAll(members, 'SIGCONT');
  return setTimeout(() => signalAll(sessionMembers(pid), 'SIGKILL'), HANGUP_GRACE_MS);
}

const shellsDir = (stateDir: string) => join(stateDir, 'terminals');

/**
 * Shells of a berthd from before resumable sessions (records named by pid): nobody can reach
 * them again, so they are ended as a disconnect ended them then. Run at berthd's start;
 * returns the pids it hung up. (Today's sessions are adopted instead: shells.ts.)
 */
export function endOrphanShells(stateDir: string): number[] {
  const dir = shellsDir(stateDir);
  const ended: number[] = [];
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    if (!/^\d+$/.test(name)) continue;
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
export function statFields(pid: number): string[] | undefined {
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

/**
 * The processes holding the unix socket bound at `path` in berthd's network namespace (where
 * a session binds its socket, before it joins its container's), found by the socket's inode.
 */
export function socketHolders(path: string): number[] {
  let table: string;
  try {
    table = readFileSync('/proc/net/unix', 'utf8');
  } catch {
    return [];
  }
  // Num RefCount Protocol Flags Type St Inode Path
  const links = new Set(
    table
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 8 && f.slice(7).join(' ') === path)
      .map((f) => `socket:[${f[6]}]`),
  );
  const holders: number[] = [];
  if (links.size === 0) return holders;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (links.has(readlinkSync(`/proc/${pid}/fd/${fd}`))) {
          holders.push(Number(pid));
          break;
        }
      } catch {
        // closed meanwhile
      }
    }
  }
  return holders;
}
