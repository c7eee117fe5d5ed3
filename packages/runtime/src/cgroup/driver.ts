import { join } from 'node:path';
import {
  type ActionStep,
  type Controller,
  type ControllerContext,
  type HostFacts,
  requestedFields,
  type Step,
  type WriteStep,
} from './controller.ts';
import { type CgroupCore, killPids, sleep, waitFor } from './core.ts';
import { CgroupError, errnoCode, unsupported } from './errors.ts';
import type { CgroupFs } from './fs.ts';
import type {
  CgroupManager,
  CgroupMode,
  CgroupPath,
  FreezeState,
  OomEvent,
  Stats,
  StatsOptions,
} from './manager.ts';
import { parsePids } from './parse.ts';
import type { LinuxResources } from './resources.ts';

// The one implementation of CgroupManager over cgroupfs. What differs between v1, v2 and a
// hybrid host is only which controller implementations are bound to which hierarchy and which
// core (v1 freezer or v2 core files) is used; index.ts decides that in one place.

/** Which section of Stats each controller's stats() fills. */
const STATS_SECTION: Record<string, keyof Stats> = {
  cpu: 'cpu',
  cpuacct: 'cpu',
  memory: 'memory',
  pids: 'pids',
  blkio: 'io',
  io: 'io',
};

export interface Hierarchy {
  kind: 'v1' | 'v2';
  /** Mount point of the hierarchy (already under any injected root). */
  mount: string;
  /** v2 only: controllers to enable in each ancestor's cgroup.subtree_control. */
  enable?: string[];
  /** v2 only: leave the hierarchy root's subtree_control alone (a hybrid host's root is the host's). */
  skipRootSubtreeControl?: boolean;
}

export interface BoundController {
  controller: Controller;
  hierarchy: Hierarchy;
}

export interface OomSource {
  controller: BoundController;
  /** Current OOM-kill count. */
  count(ctx: ControllerContext): number | undefined;
  /**
   * 'watch' → inotify on this file (v2 memory.events); 'eventfd' → the v1 notification API on
   * this file (memory.oom_control), falling back to polling every `fallbackMs` where it cannot
   * be registered; 'poll' → read every `ms`.
   */
  trigger:
    | { kind: 'watch'; file: string }
    | { kind: 'eventfd'; file: string; fallbackMs: number }
    | { kind: 'poll'; ms: number };
}

export interface DriverOptions {
  mode: CgroupMode;
  path: CgroupPath;
  fs: CgroupFs;
  hierarchies: Hierarchy[];
  controllers: BoundController[];
  /** Builds the core for the container's directories (the manager knows the path). */
  core: (dirOf: (h: Hierarchy) => string) => CgroupCore;
  host: () => HostFacts;
  /** The hierarchy whose directory takes OCI `unified` keys (the v2 one), if any. */
  unified?: Hierarchy;
  oom?: OomSource;
  timeouts?: { freezeMs?: number; killMs?: number; removeMs?: number };
  /** Why a field no controller takes is refused, e.g. "memory.kernel" → "not on cgroup v2". */
  unsupportedReason?: (field: string) => string;
  /** The v1 cgroup.event_control mechanism (sys/eventfd.ts), for OOM notification. */
  cgroupEvents?: (
    targetFile: string,
    register: (line: string) => void,
    onEvent: () => void,
  ) => { close(): void };
}

export class FsCgroupManager implements CgroupManager {
  readonly mode: CgroupMode;
  readonly path: CgroupPath;
  private readonly fs: CgroupFs;
  private readonly core: CgroupCore;
  private readonly freezeMs: number;
  private readonly killMs: number;
  private readonly removeMs: number;

  constructor(private readonly o: DriverOptions) {
    this.mode = o.mode;
    this.path = o.path;
    this.fs = o.fs;
    this.core = o.core((h) => this.dirOf(h));
    this.freezeMs = o.timeouts?.freezeMs ?? 5000;
    this.killMs = o.timeouts?.killMs ?? 5000;
    this.removeMs = o.timeouts?.removeMs ?? 5000;
  }

  dirOf(h: Hierarchy): string {
    return join(h.mount, this.path);
  }

  /** Per bound controller: its limits cache, and the context stats() re-uses every sample. */
  private readonly caches = new Map<BoundController, Map<string, string>>();
  private readonly statsCtx = new Map<BoundController, ControllerContext>();

  private ctx(b: BoundController, live: boolean): ControllerContext {
    const fs = this.fs;
    const host = this.o.host;
    let cache = this.caches.get(b);
    if (!cache) {
      cache = new Map();
      this.caches.set(b, cache);
    }
    const dir = this.dirOf(b.hierarchy);
    const files = new Map<string, string>();
    return {
      fs,
      dir,
      live,
      cache,
      get host() {
        return host();
      },
      file(name) {
        let path = files.get(name);
        if (path === undefined) {
          path = `${dir}/${name}`;
          files.set(name, path);
        }
        return path;
      },
    };
  }

  private forgetCachedLimits() {
    for (const c of this.caches.values()) c.clear();
  }

  async create(): Promise<void> {
    const created: string[] = [];
    try {
      for (const h of this.o.hierarchies) {
        const parts = this.path.split('/').filter(Boolean);
        let dir = h.mount;
        for (const part of parts) {
          const parent = dir;
          dir = join(dir, part);
          if (h.kind === 'v2' && h.enable?.length && !(parent === h.mount && h.skipRootSubtreeControl)) {
            this.enableControllers(parent, h.enable);
          }
          if (this.fs.exists(dir)) continue;
          this.fs.mkdir(dir);
          created.push(dir);
          for (const b of this.o.controllers) {
            if (b.hierarchy === h) b.controller.init?.({ ...this.ctx(b, false), dir }, parent);
          }
        }
      }
    } catch (err) {
      for (const dir of created.reverse()) {
        try {
          this.fs.rmdir(dir);
        } catch {
          // Best effort: the error below says what failed.
        }
      }
      throw new CgroupError('CGROUP_KERNEL_REJECTED', `create ${this.path}: ${describe(err)}`, undefined, {
        cause: err,
      });
    }
  }

  /** "+ctrl" for each wanted controller missing from `dir`'s subtree_control (never removes any). */
  private enableControllers(dir: string, wanted: string[]) {
    const file = join(dir, 'cgroup.subtree_control');
    const enabled = new Set(this.fs.read(file).split(/\s+/).filter(Boolean));
    const missing = wanted.filter((c) => !enabled.has(c));
    if (missing.length > 0) this.fs.write(file, missing.map((c) => `+${c}`).join(' '));
  }

  apply(resources: LinuxResources): Promise<void> {
    return this.configure(resources, false);
  }

  update(resources: LinuxResources): Promise<void> {
    return this.configure(resources, true);
  }

  /** Plan everything (validating every field), then write in order, undoing on a kernel refusal. */
  private async configure(r: LinuxResources, live: boolean): Promise<void> {
    if (typeof r !== 'object' || r === null)
      throw new CgroupError('CGROUP_INVALID_RESOURCES', 'resources: must be an object', 'resources');
    const claimed = new Set<string>();
    for (const b of this.o.controllers) for (const f of b.controller.claims(r)) claimed.add(f);
    const unifiedSteps = this.planUnified(r);
    for (const f of requestedFields(r)) {
      if (claimed.has(f) || (f.startsWith('unified.') && this.o.unified)) continue;
      const why =
        this.o.unsupportedReason?.(f) ??
        `no controller for it is available to Berth on this ${this.mode} host`;
      throw unsupported(f, why);
    }
    const steps: Step[] = [];
    for (const b of this.o.controllers) steps.push(...b.controller.plan(r, this.ctx(b, live)));
    steps.push(...unifiedSteps);

    const done: Array<() => void> = [];
    try {
      this.execute(steps, done);
    } finally {
      for (const step of steps) if ('run' in step) step.finish?.();
      this.forgetCachedLimits();
    }
  }

  private execute(steps: Step[], done: Array<() => void>): void {
    for (const step of steps) {
      try {
        if ('run' in step) {
          step.run();
          done.push(() => (step as ActionStep).undo());
        } else {
          const undo = step.undo ?? this.readBack(step);
          this.fs.write(step.path, step.value);
          done.push(() => {
            for (const u of undo) this.fs.write(u.path, u.value);
          });
        }
      } catch (err) {
        const failedUndo: string[] = [];
        for (const undo of done.reverse()) {
          try {
            undo();
          } catch (e) {
            failedUndo.push(describe(e));
          }
        }
        const what =
          'run' in step ? '' : ` ${JSON.stringify((step as WriteStep).value)} to ${(step as WriteStep).path}`;
        const rolled = failedUndo.length
          ? `; undoing earlier writes also failed: ${failedUndo.join('; ')}`
          : '; earlier writes were undone';
        throw new CgroupError(
          'CGROUP_KERNEL_REJECTED',
          `${step.field}: the kernel refused${what}: ${describe(err)}${rolled}`,
          step.field,
          { cause: err },
        );
      }
    }
  }

  private readBack(step: WriteStep): Array<{ path: string; value: string }> {
    try {
      return [{ path: step.path, value: this.fs.read(step.path).trim() }];
    } catch {
      return [];
    }
  }

  private planUnified(r: LinuxResources): Step[] {
    const u = r.unified;
    if (!u || Object.keys(u).length === 0) return [];
    if (!this.o.unified) return []; // refused as unclaimed by configure()
    const dir = this.dirOf(this.o.unified);
    return Object.entries(u).map(([key, value]) => {
      const field = `unified.${key}`;
      if (!/^[a-z][a-z0-9_]*\.[a-z0-9_.]+$/.test(key) || key.startsWith('cgroup.')) {
        throw new CgroupError(
          'CGROUP_INVALID_RESOURCES',
          `${field}: not a controller interface file name`,
          field,
        );
      }
      if (typeof value !== 'string')
        throw new CgroupError('CGROUP_INVALID_RESOURCES', `${field}: must be a string`, field);
      if (!this.fs.exists(join(dir, key)))
        throw unsupported(field, `${key} does not exist in ${dir} (controller not enabled?)`);
      return { field, path: join(dir, key), value };
    });
  }

  procsFiles(): string[] {
    const dirs = new Set(this.o.hierarchies.map((h) => this.dirOf(h)));
    return [...dirs].map((d) => join(d, 'cgroup.procs'));
  }

  async addProcess(pid: number): Promise<void> {
    if (!Number.isInteger(pid) || pid <= 0)
      throw new CgroupError('CGROUP_INVALID_RESOURCES', `pid: ${pid} is not a process id`, 'pid');
    for (const f of this.procsFiles()) this.fs.write(f, String(pid));
  }

  async pids(): Promise<number[]> {
    return this.treePids(this.core.dir);
  }

  /** Every pid in `dir` and its child cgroups (a container may make its own sub-cgroups). */
  private treePids(dir: string): number[] {
    let out: number[];
    try {
      out = parsePids(this.fs.read(join(dir, 'cgroup.procs')));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENODEV') return [];
      throw err;
    }
    for (const child of this.safeListDirs(dir)) out.push(...this.treePids(join(dir, child)));
    return out;
  }

  private safeListDirs(dir: string): string[] {
    try {
      return this.fs.listDirs(dir);
    } catch {
      return [];
    }
  }

  async stats(options?: StatsOptions): Promise<Stats> {
    const only = options?.only;
    const s: Stats = {};
    for (const b of this.o.controllers) {
      if (!b.controller.stats) continue;
      if (only && !only.includes(STATS_SECTION[b.controller.name] ?? 'cpu')) continue;
      let ctx = this.statsCtx.get(b);
      if (!ctx) {
        ctx = this.ctx(b, false);
        this.statsCtx.set(b, ctx);
      }
      try {
        b.controller.stats(ctx, s);
      } catch (err) {
        // A file this kernel lacks leaves its fields absent; anything else is a real failure.
        if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'EOPNOTSUPP') throw err;
      }
    }
    if (!only || only.includes('pressure')) this.core.pressure?.(s);
    return s;
  }

  async freeze(): Promise<void> {
    await this.core.freeze(this.freezeMs);
  }

  async thaw(): Promise<void> {
    await this.core.thaw(this.freezeMs);
  }

  async freezeState(): Promise<FreezeState> {
    return this.core.freezeState();
  }

  async killAll(): Promise<void> {
    if (!this.fs.exists(this.core.dir)) return;
    // Sweep every hierarchy: on a hybrid host a process could sit in a v1 cgroup only.
    const dirs = [...new Set(this.o.hierarchies.map((h) => this.dirOf(h)))];
    const all = () => dirs.flatMap((d) => this.treePids(d));
    // Nothing inside (the usual case once a container's init has exited): nothing can fork in
    // either, and the kill is skipped - a write to cgroup.kill (or a freeze) takes the cgroup
    // write lock, which waits for an RCU grace period (measured: 2.5 ms here).
    if (all().length === 0) return;
    await this.core.kill(this.killMs);
    const empty = await waitFor(() => {
      const left = all();
      killPids(left);
      return left.length === 0;
    }, this.killMs);
    if (!empty) {
      throw new CgroupError(
        'CGROUP_TIMEOUT',
        `kill ${this.path}: processes ${all().join(', ')} still running after ${this.killMs} ms`,
      );
    }
  }

  async destroy(): Promise<void> {
    let killError: unknown;
    try {
      await this.killAll();
    } catch (err) {
      killError = err;
    }
    const dirs = [...new Set(this.o.hierarchies.map((h) => this.dirOf(h)))];
    const deadline = Date.now() + this.removeMs;
    let left: string[] = [];
    let delay = 1;
    for (;;) {
      left = dirs.flatMap((d) => this.removeTree(d));
      if (left.length === 0 || Date.now() >= deadline) break;
      await sleep(delay);
      delay = Math.min(delay * 2, 100);
    }
    if (left.length > 0) {
      const why = killError ? ` (${describe(killError)})` : '';
      throw new CgroupError(
        'CGROUP_NOT_REMOVED',
        `destroy ${this.path}: could not remove ${left.join(', ')} within ${this.removeMs} ms${why}`,
      );
    }
    this.stopAllWatches();
  }

  /** rmdir children first; returns what could not be removed ("dir: EBUSY"). */
  private removeTree(dir: string): string[] {
    if (!this.fs.exists(dir)) return [];
    const failed: string[] = [];
    for (const child of this.safeListDirs(dir)) failed.push(...this.removeTree(join(dir, child)));
    try {
      this.fs.rmdir(dir);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') failed.push(`${dir}: ${errnoCode(err) ?? describe(err)}`);
    }
    return failed;
  }

  private readonly stops = new Set<() => void>();

  onOom(listener: (event: OomEvent) => void): () => void {
    const src = this.o.oom;
    if (!src)
      throw new CgroupError(
        'CGROUP_UNSUPPORTED',
        'OOM events: no memory controller is available to Berth on this host',
      );
    const ctx = this.ctx(src.controller, false);
    let last: number | undefined;
    const check = () => {
      let count: number | undefined;
      try {
        count = src.count(ctx);
      } catch {
        return; // the cgroup is going away
      }
      if (count === undefined) return;
      if (last !== undefined && count > last)
        listener({ kind: 'oom-kill', count, delta: count - last, at: new Date() });
      last = count;
    };
    check();
    let stopTrigger: () => void;
    const poll = (ms: number) => {
      const timer = setInterval(check, ms);
      timer.unref();
      return () => clearInterval(timer);
    };
    const t = src.trigger;
    if (t.kind === 'watch') {
      stopTrigger = this.fs.watch(join(ctx.dir, t.file), check);
    } else if (t.kind === 'eventfd' && this.o.cgroupEvents) {
      // The notification comes when the cgroup runs out of memory, just before the kill is
      // counted: look again shortly after.
      const timers = new Set<NodeJS.Timeout>();
      const onEvent = () => {
        check();
        for (const ms of [20, 100, 500]) {
          const timer = setTimeout(() => {
            timers.delete(timer);
            check();
          }, ms);
          timer.unref();
          timers.add(timer);
        }
      };
      try {
        const w = this.o.cgroupEvents(
          join(ctx.dir, t.file),
          (line) => this.fs.write(join(ctx.dir, 'cgroup.event_control'), line),
          onEvent,
        );
        stopTrigger = () => {
          w.close();
          for (const timer of timers) clearTimeout(timer);
        };
      } catch {
        stopTrigger = poll(t.fallbackMs);
      }
    } else {
      stopTrigger = poll(t.kind === 'poll' ? t.ms : t.fallbackMs);
    }
    const stop = () => {
      stopTrigger();
      this.stops.delete(stop);
    };
    this.stops.add(stop);
    return stop;
  }

  private stopAllWatches() {
    for (const stop of [...this.stops]) stop();
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return errnoCode(err) ? `${errnoCode(err)} (${err.message})` : err.message;
  return String(err);
}
