import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

// A shell session's files beside its socket. Kept apart from real.ts (which loads the runtime):
// the shell sessions reach them from types the panel's client compiles.

/** Where a session writes its process's exit status (for a berthd that was away then). */
export const sessionExitFile = (socket: string) => `${socket}.exit`;

/** The exit status a session wrote, if it ended and said so. */
export function readSessionExit(socket: string): { code: number; signal: number } | undefined {
  try {
    const e = JSON.parse(readFileSync(sessionExitFile(socket), 'utf8')) as {
      exitCode?: unknown;
      signal?: unknown;
    };
    return typeof e.exitCode === 'number' && typeof e.signal === 'number'
      ? { code: e.exitCode, signal: e.signal }
      : undefined;
  } catch {
    return undefined;
  }
}

/** Removes a session's socket and exit file (and the private /tmp directory they were made in). */
export function releaseSessionSocket(path: string): void {
  rmSync(path, { force: true });
  rmSync(sessionExitFile(path), { force: true });
  const dir = dirname(path);
  if (dir.startsWith(join(tmpdir(), 'berth-exec-'))) rmSync(dir, { recursive: true, force: true });
}
