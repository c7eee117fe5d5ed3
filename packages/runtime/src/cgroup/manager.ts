import type { LinuxResources } from './resources.ts';

// The seam between the runtime (and the agent's metrics) and the kernel's cgroups.
// One interface, a driver per hierarchy kind (v2 unified, v1 per-controller), chosen in one
// place from the host's mounts. The runtime core only ever talks to this interface.

export type CgroupMode = 'v2' | 'v1' | 'hybrid';

/** Where a container's cgroup lives, relative to the root of each hierarchy, e.g. "/berth/<id>". */
export type CgroupPath = string;

export interface Stats {
  cpu?: {
    usageUsec?: number;
    userUsec?: number;
    systemUsec?: number;
    nrPeriods?: number;
    nrThrottled?: number;
    throttledUsec?: number;
  };
  memory?: {
    usage?: number;
    peak?: number;
    limit?: number;
    anon?: number;
    file?: number;
    oom?: number;
    oomKill?: number;
  };
  pids?: { current?: number; limit?: number };
  io?: {
    devices: Array<{
      major: number;
      minor: number;
      rbytes?: number;
      wbytes?: number;
      rios?: number;
      wios?: number;
    }>;
  };
  pressure?: Partial<Record<'cpu' | 'memory' | 'io', PressureStats>>;
}

export interface PressureLine {
  avg10: number;
  avg60: number;
  avg300: number;
  total: number;
}
export interface PressureStats {
  some: PressureLine;
  full?: PressureLine;
}

export interface CgroupManager {
  readonly mode: CgroupMode;
  readonly path: CgroupPath;
  /** Create the cgroup (and missing parents Berth owns). Idempotent. */
  create(): Promise<void>;
  /** Validate all of `resources` first, then write; an invalid value changes nothing. */
  apply(resources: LinuxResources): Promise<void>;
  /** The `cgroup.procs` files a process must be written to, in order, to be fully inside. */
  procsFiles(): string[];
  /** Move a process (and its threads) in. */
  addProcess(pid: number): Promise<void>;
  pids(): Promise<number[]>;
  stats(): Promise<Stats>;
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  /** Kill every process in the cgroup, including ones that left init's tree. */
  killAll(): Promise<void>;
  /** killAll, then remove the cgroup with a bounded wait; throws naming what stayed. */
  destroy(): Promise<void>;
}
