import type { LinuxResources } from './resources.ts';

// The seam between the runtime (and the agent's metrics) and the kernel's cgroups.
// One interface, a driver per hierarchy kind (v2 unified, v1 per-controller), chosen in one
// place from the host's mounts. The runtime core only ever talks to this interface.

export type CgroupMode = 'v2' | 'v1' | 'hybrid';

/** Where a container's cgroup lives, relative to the root of each hierarchy, e.g. "/berth/<id>". */
export type CgroupPath = string;

/**
 * One sample of a cgroup's accounting, the same shape on every driver. A field the driver cannot
 * know is absent (never a made-up zero); so is a limit that is not set ("max").
 * CPU times are microseconds, memory and I/O are bytes.
 */
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

export interface StatsOptions {
  only?: Array<keyof Stats>;
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

export type FreezeState = 'thawed' | 'freezing' | 'frozen';

/** An OOM kill inside the cgroup, noticed by `onOom`. */
export interface OomEvent {
  kind: 'oom-kill';
  /** The cgroup's OOM-kill counter after the event(s). */
  count: number;
  /** How many kills since the previous event (several may be noticed at once). */
  delta: number;
  at: Date;
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
  /**
   * One sample of the cgroup's accounting. `only` limits it to some sections (each costs file
   * reads: cpu 2-3, memory 4, pids 1, io 1-2, pressure 3), for samplers that read the cheap
   * numbers often and the rest less often.
   */
  stats(options?: StatsOptions): Promise<Stats>;
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  /** Kill every process in the cgroup, including ones that left init's tree. */
  killAll(): Promise<void>;
  /** killAll, then remove the cgroup with a bounded wait; throws naming what stayed. */
  destroy(): Promise<void>;
  /**
   * Live update of a running container: like apply (all validated first, nothing half
   * applied), but honours memory.checkBeforeUpdate and moves an allowlist to its new state
   * without passing through "deny all". Added beside apply() because the two differ there.
   */
  update(resources: LinuxResources): Promise<void>;
  /** Where freezing stands now (thawed, freezing, frozen). */
  freezeState(): Promise<FreezeState>;
  /**
   * Call `listener` on every OOM kill in the cgroup until the returned function is called.
   * v2: inotify on memory.events; v1: an eventfd on memory.oom_control via cgroup.event_control
   * (polled every 100 ms where that cannot be registered).
   */
  onOom(listener: (event: OomEvent) => void): () => void;
}
