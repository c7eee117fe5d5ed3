import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { ContainerConfig, ExecOutput } from '@berth/contracts';
import { AgentError } from '../errors.ts';
import type { ContainerService } from './service.ts';
import { resolveUser } from './service.ts';
import { mergeEnv } from './spec.ts';

// Logs (the monitor's console log, with tail and follow) and non-interactive exec (stdin in,
// stdout/stderr streamed out, the exit code last).

const POLL_MS = 100;
const CHUNK = 64 * 1024;

/**
 * The container's output: earlier runs' (kept in its log file), then the current instance's
 * console log when init has a terminal (the monitor's bounded console.log.1 + console.log),
 * else what init writes to the log file.
 */
export async function* logs(
  svc: ContainerService,
  name: string,
  o: { follow: boolean; tail?: number; signal?: AbortSignal },
): AsyncGenerator<{ dataBase64: string }> {
  const row = await svc.get(name);
  const own = svc.logFile(row.id);
  const consoleLogs = svc.d.runtime.consoleLogs(row.id);
  const files = [own, ...consoleLogs].filter((f) => existsSync(f));
  const chunks = files.map((f) => readFrom(f, 0).data);
  let all: Buffer = Buffer.concat(chunks);
  if (o.tail !== undefined) all = tailLines(all, o.tail);
  if (all.length > 0) yield { dataBase64: all.toString('base64') };
  if (!o.follow) return;
  // What grows now: the monitor's console.log (it rotates to console.log.1 when full), or ours.
  let current = consoleLogs.length > 0 ? consoleLogs[consoleLogs.length - 1]! : own;
  let pos = existsSync(current) ? statSync(current).size : 0;
  const startOf = async () =>
    (await svc.d.db.container.findUnique({ where: { id: row.id }, select: { startedAt: true } }))?.startedAt;
  // The start `current` belongs to: a terminal container's console log is the instance's own.
  let startedAt = (await startOf())?.getTime() ?? 0;
  while (!o.signal?.aborted) {
    await sleep(POLL_MS, o.signal);
    const now = await startOf();
    if (now === undefined) return;
    const started = now?.getTime() ?? 0;
    if (started !== startedAt) {
      startedAt = started;
      // A restart retired the instance (its console went into our file) and made a new one, at
      // the same path: read it from its start, whatever its size (the old one's may match).
      const fresh = svc.d.runtime.consoleLogs(row.id);
      if (fresh.length > 0) {
        current = fresh[fresh.length - 1]!;
        pos = 0;
      }
    }
    const size = existsSync(current) ? statSync(current).size : 0;
    if (size < pos) pos = 0; // rotated: the monitor started a fresh file
    if (size > pos) {
      const r = readFrom(current, pos);
      pos = r.end;
      if (r.data.length > 0) yield { dataBase64: r.data.toString('base64') };
    }
  }
}

/** An instance's console log, kept in the container's own log file before the instance goes. */
export function keepConsoleLog(consoleLogs: string[], logFile: string): void {
  for (const f of consoleLogs) {
    try {
      appendFileSync(logFile, readFileSync(f), { mode: 0o600 });
    } catch {
      // gone meanwhile: nothing to keep
    }
  }
}

export function tailLines(buf: Buffer, n: number): Buffer {
  if (n === 0) return Buffer.alloc(0);
  let end = buf.length;
  if (end > 0 && buf[end - 1] === 0x0a) end--;
  let count = 0;
  for (let i = end - 1; i >= 0; i--) {
    if (buf[i] === 0x0a && ++count === n) return buf.subarray(i + 1);
  }
  return buf;
}

function readFrom(file: string, pos: number): { data: Buffer; end: number } {
  const fd = openSync(file, 'r');
  try {
    const parts: Buffer[] = [];
    for (;;) {
      const b = Buffer.alloc(CHUNK);
      const n = readSync(fd, b, 0, CHUNK, pos);
      if (n <= 0) break;
      parts.push(b.subarray(0, n));
      pos += n;
    }
    return { data: Buffer.concat(parts), end: pos };
  } finally {
    closeSync(fd);
  }
}

export interface ExecInput {
  name: string;
  command: string[];
  env: string[];
  cwd?: string;
  user?: string;
  stdinBase64?: string;
  actor: string;
}

/** Runs a command in a running container; yields its output as it comes, then its exit code. */
export async function* exec(
  svc: ContainerService,
  req: ExecInput,
  signal?: AbortSignal,
): AsyncGenerator<ExecOutput> {
  const dir = join(svc.d.stateDir, 'exec', randomBytes(8).toString('hex'));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    const started = await svc.withContainer(req.name, 'exec', async (row) => {
      const spec = JSON.parse(row.spec) as { process?: { env?: string[]; cwd?: string } };
      const config = JSON.parse(row.config) as ContainerConfig;
      const root = await svc.rootPath(row);
      const { uid, gid } = resolveUser(root, req.user ?? config.user);
      writeFileSync(join(dir, 'in'), req.stdinBase64 ? Buffer.from(req.stdinBase64, 'base64') : '');
      const fds: [number, number, number] = [
        openSync(join(dir, 'in'), 'r'),
        openSync(join(dir, 'out'), 'w'),
        openSync(join(dir, 'err'), 'w'),
      ];
      try {
        const r = await svc.d.runtime.exec(
          row.id,
          {
            args: req.command,
            env: mergeEnv(spec.process?.env ?? [], req.env),
            cwd: req.cwd ?? spec.process?.cwd ?? '/',
            uid,
            gid,
          },
          { fds },
        );
        await svc.d.events.append('container.exec', {
          actor: req.actor,
          subject: row.name,
          data: { command: req.command },
        });
        return r;
      } catch (e) {
        throw new AgentError('CONFLICT', `exec in ${row.name} failed: ${(e as Error).message}`);
      } finally {
        for (const fd of fds) closeSync(fd);
      }
    });
    let done: number | undefined;
    const exited = started.exit.then(
      (code) => {
        done = code;
      },
      () => {
        done = 127;
      },
    );
    const pos = { stdout: 0, stderr: 0 };
    const drain = function* (): Generator<ExecOutput> {
      for (const stream of ['stdout', 'stderr'] as const) {
        const file = join(dir, stream === 'stdout' ? 'out' : 'err');
        const r = readFrom(file, pos[stream]);
        pos[stream] = r.end;
        if (r.data.length > 0) yield { stream, dataBase64: r.data.toString('base64') };
      }
    };
    while (done === undefined && !signal?.aborted) {
      await Promise.race([exited, sleep(POLL_MS, signal)]);
      yield* drain();
    }
    yield* drain();
    if (done !== undefined) yield { exitCode: done };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
