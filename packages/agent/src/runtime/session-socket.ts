import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

// Kept apart from real.ts (which loads the runtime): the shell sessions reach it from types
// the panel's client compiles.

/** Removes a session's socket (and the private /tmp directory it was made in). */
export function releaseSessionSocket(path: string): void {
  rmSync(path, { force: true });
  const dir = dirname(path);
  if (dir.startsWith(join(tmpdir(), 'berth-exec-'))) rmSync(dir, { recursive: true, force: true });
}
