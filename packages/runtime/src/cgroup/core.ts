import type { FreezeState, Stats } from './manager.ts';

export type { FreezeState };

// The part of a cgroup that is not a resource controller: membership, freezing, killing and
// pressure. v2 has it in every cgroup (cgroup.procs, cgroup.freeze, cgroup.kill, *.pressure);
// v1 has membership everywhere and freezing in the freezer hierarchy.

export interface CgroupCore {
  /** The directory whose cgroup.procs lists the container's processes. */
  readonly dir: string;
  readonly kind: 'v1' | 'v2';
  /** Whether freeze/thaw are possible at all (v1 needs the freezer hierarchy). */
  readonly canFreeze: boolean;
  freezeState(): FreezeState;
  /** Freeze and wait until every task is frozen; throws after `timeoutMs`, leaving it thawed. */
  freeze(timeoutMs: number): Promise<void>;
  thaw(timeoutMs: number): Promise<void>;
  /** One pass of the strongest kill the hierarchy has; the manager sweeps afterwards. */
  kill(timeoutMs: number): Promise<void>;
  /** Pressure stall information, where the kernel offers it. */
  pressure?(stats: Stats): void;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Poll `done` with a growing interval (1 ms → 50 ms) until it holds or `timeoutMs` passes. */
export async function waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    if (done()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(delay, Math.max(1, deadline - Date.now())));
    delay = Math.min(delay * 2, 50);
  }
}

/** SIGKILL each pid; a pid that is already gone is fine. */
export function killPids(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // ESRCH: it exited on its own.
    }
  }
}
