import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import { existsSync, fstatSync, readdirSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { RuntimeError, type RuntimeErrorCode } from './errors.ts';

// Running the native helper (native/main.c) and reading its report lines (the error
// convention of native/berth.h: "ok <pid>", "started", "exit <code> <signal>", "err <errno> <msg>").

export function helperPath(): string {
  const env = process.env.BERTH_HELPER;
  if (env) return env;
  const here = dirname(fileURLToPath(import.meta.url));
  // Bundled next to dist/berth-runtime.js, or this source file's package's dist/.
  for (const candidate of [join(here, 'berth-helper'), join(here, '../../dist/berth-helper')])
    if (existsSync(candidate)) return candidate;
  throw new RuntimeError(
    'CREATE_FAILED',
    'berth-helper is not built: run `pnpm --filter @berth/runtime build`',
  );
}

/**
 * Node's own descriptors fill the lowest free numbers at start-up, so an fd the caller did not
 * pass may be one of them: its epoll and event fds, and the self-pipes whose both ends it holds.
 */
function isNodesOwn(fd: number): boolean {
  let link: string;
  try {
    link = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return false;
  }
  if (link.startsWith('anon_inode:')) return true;
  if (!link.startsWith('pipe:')) return false;
  return readdirSync('/proc/self/fd').some((f) => {
    if (Number(f) === fd) return false;
    try {
      return readlinkSync(`/proc/self/fd/${f}`) === link;
    } catch {
      return false;
    }
  });
}

/** Our fds 3..3+n-1 for --preserve-fds, each checked to be one the caller passed us. */
export function callerFds(n: number | undefined): number[] {
  if (n === undefined || n === 0) return [];
  if (!Number.isInteger(n) || n < 0 || n > 4096)
    throw new RuntimeError('INVALID_CONFIG', `preserve-fds: "${n}" is not a count from 0 to 4096`);
  const fds = Array.from({ length: n }, (_, i) => 3 + i);
  for (const fd of fds) {
    let open = true;
    try {
      fstatSync(fd);
    } catch {
      open = false;
    }
    if (!open || isNodesOwn(fd))
      throw new RuntimeError('INVALID_CONFIG', `preserve-fds: fd ${fd} is not open in the caller`);
  }
  return fds;
}

/** A created container's init (and, from a monitor, its start time and the monitor's). */
export interface CreatedReport {
  pid: number;
  pidStart?: string;
  monitorPid?: number;
  monitorStart?: string;
}

export type ReportLine =
  | ({ kind: 'ok' } & CreatedReport)
  | { kind: 'exit'; code: number; signal: number }
  | { kind: 'started' }
  | { kind: 'err'; errno: number; message: string };

export function parseReport(line: string): ReportLine {
  const [word, a, ...rest] = line.split(' ');
  if (word === 'ok') {
    // "ok <pid>" or, from a monitor, "ok <pid> <start> <monitor pid> <start>" ("-": unknown)
    const [pidStart, monitorPid, monitorStart] = rest;
    const known = (s: string | undefined) => (s && s !== '-' ? s : undefined);
    return {
      kind: 'ok',
      pid: Number(a),
      ...(known(pidStart) ? { pidStart: pidStart! } : {}),
      ...(monitorPid ? { monitorPid: Number(monitorPid) } : {}),
      ...(known(monitorStart) ? { monitorStart: monitorStart! } : {}),
    };
  }
  if (word === 'started') return { kind: 'started' };
  if (word === 'exit') return { kind: 'exit', code: Number(a), signal: Number(rest[0] ?? 0) };
  if (word === 'err') return { kind: 'err', errno: Number(a), message: rest.join(' ') };
  return { kind: 'err', errno: 0, message: `unexpected helper output: ${line}` };
}

/** Reads report lines from a stream, one callback per line. */
export function onLines(stream: Readable, cb: (line: string) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let i = buf.indexOf('\n');
    while (i >= 0) {
      cb(buf.slice(0, i));
      buf = buf.slice(i + 1);
      i = buf.indexOf('\n');
    }
  });
  stream.on('end', () => {
    if (buf) cb(buf);
    buf = '';
  });
}

export interface HelperRun {
  child: ChildProcess;
  /** Resolves with each report line in order; the array is complete when `done` resolves. */
  lines: ReportLine[];
  next(): Promise<ReportLine | undefined>;
  done: Promise<number>;
}

/**
 * Runs the helper with the plan on fd 3 and the report on fd 4; `passFds` (our fds for
 * --preserve-fds) follow at 5.. (native/fds.c).
 */
export function runHelper(
  mode: 'create' | 'exec',
  plan: Buffer,
  stdio: StdioOptions = 'inherit',
  passFds: number[] = [],
): HelperRun {
  const base = Array.isArray(stdio) ? stdio.slice(0, 3) : [stdio, stdio, stdio];
  const child = spawn(helperPath(), [mode], { stdio: [...base, 'pipe', 'pipe', ...passFds] as StdioOptions });
  const planPipe = child.stdio[3] as Writable;
  planPipe.on('error', () => {});
  planPipe.end(plan);
  const lines: ReportLine[] = [];
  const waiters: Array<(l: ReportLine | undefined) => void> = [];
  let ended = false;
  let consumed = 0;
  const report = child.stdio[4] as Readable;
  onLines(report, (l) => {
    lines.push(parseReport(l));
    waiters.shift()?.(lines[consumed++]);
  });
  report.on('end', () => {
    ended = true;
    for (const w of waiters.splice(0)) w(undefined);
  });
  const done = new Promise<number>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? 9 : 0))),
  );
  return {
    child,
    lines,
    done,
    next() {
      if (consumed < lines.length) return Promise.resolve(lines[consumed++]);
      if (ended) return Promise.resolve(undefined);
      return new Promise((resolve) => waiters.push(resolve));
    },
  };
}

export function helperError(
  code: RuntimeErrorCode,
  line: ReportLine | undefined,
  what: string,
): RuntimeError {
  if (line?.kind === 'err') return new RuntimeError(code, `${what}: ${line.message}`);
  return new RuntimeError(code, `${what}: the helper exited without a report`);
}
