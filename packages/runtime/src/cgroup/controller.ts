import type { CgroupFs } from './fs.ts';
import type { Stats } from './manager.ts';
import type { LinuxResources } from './resources.ts';

// What one controller of one driver (v1/memory.ts, v2/memory.ts, ...) provides to the manager.
// Planning is separate from writing so that every value of a request is validated (and every
// write worked out) before the first byte reaches the kernel: an invalid value changes nothing.

/** Facts about the host that limits are validated against. */
export interface HostFacts {
  /** /sys/devices/system/cpu/online, e.g. "0-1". */
  onlineCpus: string;
  /** /sys/devices/system/node/online ("0" on a host without NUMA nodes in sysfs). */
  onlineMems: string;
  /** Huge page sizes the kernel offers, spelt as in cgroup file names: "2MB", "1GB". */
  hugePageSizes: string[];
}

export interface ControllerContext {
  readonly fs: CgroupFs;
  /** This controller's directory for the container's cgroup. */
  readonly dir: string;
  readonly host: HostFacts;
  /** True for a live update of a running container (apply() is the first configuration). */
  readonly live: boolean;
  /**
   * File contents that change only through this manager's apply/update (limits), so stats need
   * not re-read them every sample; the manager clears it whenever it writes.
   */
  readonly cache: Map<string, string>;
  /**
   * `${dir}/${name}`, the same string object every time: stats look files up by path in the
   * seam's open-file cache, and a string V8 has hashed once is cheap to look up again.
   */
  file(name: string): string;
}

/** Read a file that only Berth's own writes change (a limit), through the context's cache. */
export function readCached(ctx: ControllerContext, path: string): string {
  let v = ctx.cache.get(path);
  if (v === undefined) {
    v = ctx.fs.read(path);
    ctx.cache.set(path, v);
  }
  return v;
}

/** Set `o[k]` only when `v` is known: stats leave unknown fields absent. */
export function setKnown<T extends object, K extends keyof T>(o: T, k: K, v: T[K] | undefined): void {
  if (v !== undefined) o[k] = v;
}

export interface WriteStep {
  field: string;
  path: string;
  value: string;
  /** Writes that restore the previous state if a later step fails; default: write back what the file read before. */
  undo?: Array<{ path: string; value: string }>;
}
export interface ActionStep {
  field: string;
  run(): void;
  undo(): void;
  /** Called once the whole request is done (applied, or undone): release what run() held. */
  finish?(): void;
}
export type Step = WriteStep | ActionStep;

export interface Controller {
  /** The kernel's name for it: "memory", "cpu", "blkio", "io", ... */
  readonly name: string;
  /** The OCI fields present in `r` that this controller takes ("memory.limit", "cpu.shares", ...). */
  claims(r: LinuxResources): string[];
  /** Validate and translate; throws a CgroupError naming the field. Reads, never writes. */
  plan(r: LinuxResources, ctx: ControllerContext): Step[];
  /** Called after the controller's directory is created (v1 cpuset must be populated). */
  init?(ctx: ControllerContext, parentDir: string): void;
  /** Add what this controller knows to `stats`. */
  stats?(ctx: ControllerContext, stats: Stats): void;
}

/** The OCI fields a resources object asks for, at the granularity controllers claim them. */
export function requestedFields(r: LinuxResources): string[] {
  const out: string[] = [];
  const keys = (section: string, o: object | undefined) => {
    if (!o) return;
    for (const [k, v] of Object.entries(o)) if (v !== undefined) out.push(`${section}.${k}`);
  };
  keys('memory', r.memory);
  keys('cpu', r.cpu);
  keys('blockIO', r.blockIO);
  if (r.pids !== undefined) out.push('pids.limit');
  if (r.hugepageLimits !== undefined && r.hugepageLimits.length > 0) out.push('hugepageLimits');
  if (r.devices !== undefined) out.push('devices');
  for (const k of Object.keys(r.unified ?? {})) out.push(`unified.${k}`);
  return out;
}

/** The subset of `fields` that `r` sets, for a controller's claims(). */
export function present(r: LinuxResources, fields: readonly string[]): string[] {
  const want = new Set(requestedFields(r));
  return fields.filter((f) => want.has(f));
}
