import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CgroupLayout, detectHostCgroupLayout } from './detect.ts';
import { errnoCode } from './errors.ts';
import type { CgroupFs } from './fs.ts';
import type { CgroupManager, CgroupPath } from './manager.ts';
import { normaliseCgroupPath } from './path.ts';
import type { LinuxResources } from './resources.ts';

// A pool of container cgroups made ahead of time, so that starting a container does not pay
// for mkdir in every hierarchy and for writing its limits, and deleting it does not wait for
// the removal. Slots are made off the critical path (a timer after a take), `size` of them for
// each of the few sets of limits ("shapes") asked for most recently, with those limits already
// written: a take with the same limits writes nothing. A released slot is removed in the
// background.
//
// Layout: <parent>/<owner pid>-<owner start time>/<slot>, in every hierarchy (controllers,
// unified, and named ones such as name=systemd, which an init like systemd needs). The owner
// part lets the next pool under the same parent find what a crashed owner left: open() removes
// the empty cgroups of every pool whose owner is gone (a slot still holding a container's
// processes stays: containers outlive their creator).
//
// A slot can also hold a warm cell (`cells`: the native spawner's): a process that already
// sits in the slot's cgroups, so that the container's init is born inside them by clone,
// without a migration (a write to cgroup.procs waits for an RCU grace period on kernels whose
// cgroups are not mounted with favordynmods: about 2 ms here). See native/cell.c.
//
// A flat pool (`flat: true`, berthd's) names its slots like container ids, directly under the
// parent: <parent>/<12 hex digits>. The caller reserves a slot first and takes its name as the
// new container's id, so that the container's cgroup is <parent>/<id>, where operators, tests
// and the metrics expect it, and yet was made (limits, warm cell) ahead of time. Why not make
// slots under a pool directory and rename them at take time: cgroup v1 can rename a cgroup
// within its parent (cgroup1_rename), but cgroup v2 cannot rename at all, and a pure-v2 host
// would then make the container's cgroup at take time, losing both the limits written ahead and
// the birth in place (the warm cell). Naming the slot first works the same on v1, hybrid and v2.
// The cost: names are handed out before a container has them, so a crashed caller leaves empty
// slots that only it can tell from containers (removeStraySlots, with its list of ids).

export const DEFAULT_POOL_PARENT = '/berth/pool';

export interface CgroupPoolOptions {
  /** Parent of the pools, from each hierarchy's root (tests: "/berth-test-<random>/pool"). */
  parent?: CgroupPath;
  /**
   * Slots named like container ids directly under `parent` (<parent>/<12 hex digits>), handed
   * out by reserve() before the container exists; see the top of this file. A release waits
   * for nothing but its promise resolves once the cgroup is gone (the name may be made again).
   */
  flat?: boolean;
  /** Ready slots kept at hand for each recent shape (default 4). 0 makes every slot on demand (and still removes in the background). */
  size?: number;
  /** How many of the most recently asked-for shapes (sets of limits) to keep slots for (default 3). */
  shapes?: number;
  /** Makes the manager of a path (the runtime's factory: createCgroupManager with the host's layout). */
  manager: (path: CgroupPath) => CgroupManager;
  /** The host's layout, for the named v1 hierarchies; detected when absent. */
  layout?: CgroupLayout;
  /** The read/write seam for the named hierarchies' directories (mkdir, rmdir, listDirs). */
  fs: CgroupFs;
  /**
   * Quiet time after the last take before a refill starts (default 20 ms): making a slot is
   * synchronous work on the event loop (mkdir in every hierarchy, the limits' writes), which
   * must not land in the middle of the start it was taken for.
   */
  refillDelayMs?: number;
  /**
   * Warm cells (the runtime's Spawner): each ready slot gets a process waiting inside it, so
   * that a container started through that spawner is born in the slot's cgroups.
   */
  cells?: {
    prepareCell(procsFiles: string[]): Promise<string>;
    discardCell(id: string): void;
    /** False once the cell is gone (its spawner exited): the slot then serves without it. */
    hasCell?(id: string): boolean;
  };
}

/** A cgroup handed out by take(): it belongs to one container until release(). */
export interface PooledCgroup {
  readonly path: CgroupPath;
  readonly manager: CgroupManager;
  /** Every cgroup.procs file a process must be in: the manager's and the named hierarchies'. */
  readonly procsFiles: string[];
  /** The warm cell waiting inside, if any: run the container in it, or discard it (cells.discardCell). */
  readonly cell?: string;
}

interface Slot {
  path: CgroupPath;
  manager: CgroupManager;
  /** Its cgroup.procs files, worked out when it is made (not at take time). */
  procs: string[];
  /** Key of the limits written into it (undefined: none yet). */
  shape?: string;
  cell?: string;
}

/** The same limits give the same key, whatever the order of their fields. */
export function shapeKey(r: LinuxResources): string {
  const canon = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canon)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.entries(v as Record<string, unknown>)
              .filter(([, x]) => x !== undefined)
              .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
              .map(([k, x]) => [k, canon(x)]),
          )
        : v;
  return JSON.stringify(canon(r));
}

/** A cell's resident and init are two processes in the cgroup for a moment: a pids limit of 1 has no room. */
function cellFits(r: LinuxResources): boolean {
  return !(r.pids?.limit !== undefined && r.pids.limit > 0 && r.pids.limit < 2);
}

/** Start time of a process (clock ticks since boot, field 22 of /proc/<pid>/stat), or undefined. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether `name` is a pool's directory (<owner pid>-<owner start time>) whose owner is gone. */
function ownerGone(name: string): boolean {
  const owner = /^(\d+)-(\d+)$/.exec(name);
  return owner !== null && startTime(Number(owner[1])) !== owner[2];
}

export class CgroupPool {
  /** This pool's directory: <parent>/<pid>-<start>. */
  readonly dir: CgroupPath;
  private readonly parent: CgroupPath;
  private readonly size: number;
  private readonly named: string[];
  private readonly ready: Slot[] = [];
  /** Cells of slots handed out, by path, until released (unused ones are let go then). */
  private readonly handed = new Map<CgroupPath, string>();
  /** Slots reserved (flat pools) and not yet taken, by path. */
  private readonly reserved = new Map<CgroupPath, Slot>();
  private readonly removing = new Set<Promise<void>>();
  /** Removals under way, by path: a path made again waits for its removal first. */
  private readonly removals = new Map<CgroupPath, Promise<void>>();
  /** The parent's directories a flat pool made (in some hierarchies): close() removes them again when empty. */
  private madeParent: string[] = [];
  readonly flat: boolean;
  /** Recent shapes, least recently taken first. */
  private readonly shapes = new Map<string, LinuxResources>();
  private seq = 0;
  private refilling?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private closed = false;
  private readonly tag = randomBytes(3).toString('hex');

  private constructor(private readonly o: CgroupPoolOptions) {
    this.parent = normaliseCgroupPath(o.parent ?? DEFAULT_POOL_PARENT, 'parent');
    this.flat = o.flat === true;
    this.dir = this.flat ? this.parent : `${this.parent}/${process.pid}-${startTime(process.pid) ?? '0'}`;
    this.size = o.size ?? 4;
    const layout = o.layout ?? detectHostCgroupLayout();
    this.named = Object.values(layout.v1Named ?? {});
  }

  /**
   * Cleans what pools of dead owners left under `parent` (empty cgroups only), makes this
   * pool's directory and starts filling it.
   */
  static async open(o: CgroupPoolOptions): Promise<CgroupPool> {
    const pool = new CgroupPool(o);
    if (pool.flat)
      pool.madeParent = pool
        .mounts()
        .map((m) => join(m, pool.dir))
        .filter((d) => !pool.o.fs.exists(d));
    else await pool.removeStale();
    await pool.o.manager(pool.dir).create();
    for (const m of pool.named) pool.mkdirs(m, pool.dir);
    pool.scheduleRefill();
    return pool;
  }

  /** How many slots are ready now (for tests and the benchmark). */
  get readyCount(): number {
    return this.ready.length;
  }

  /** Takes so far: all, those whose limits were written ahead of time, those with a warm cell. */
  readonly counts = { takes: 0, preWritten: 0, withCell: 0 };

  /** Ready slots with these limits (any limits), and how many of those hold a warm cell. */
  readyFor(resources?: LinuxResources): { shape: number; withCell: number } {
    const key = resources && shapeKey(resources);
    const same = this.ready.filter((s) => s.shape !== undefined && (key === undefined || s.shape === key));
    return { shape: same.length, withCell: same.filter((s) => s.cell).length };
  }

  /**
   * A cgroup with `resources` applied. A ready slot with the same limits is handed out as it
   * is; otherwise a slot (ready, or made now) gets them written, all validated first as apply()
   * does. The pool refills itself afterwards, with these limits. `cell: false`: the caller
   * cannot start the container through the spawner (a warm cell waiting there is let go).
   */
  async take(
    resources: LinuxResources,
    opts: {
      cell?: boolean;
      /** A slot reserve() handed out (flat pools). */
      reserved?: CgroupPath;
    } = {},
  ): Promise<PooledCgroup> {
    if (this.closed) throw new Error('cgroup pool: closed');
    const key = shapeKey(resources);
    this.shapes.delete(key);
    this.shapes.set(key, resources);
    for (const old of this.shapes.keys()) {
      if (this.shapes.size <= (this.o.shapes ?? 3)) break;
      this.shapes.delete(old);
    }
    let slot: Slot | undefined;
    if (opts.reserved !== undefined) {
      slot = this.reserved.get(opts.reserved);
      if (!slot) throw new Error(`cgroup pool: ${opts.reserved} is not a reserved slot`);
      this.reserved.delete(opts.reserved);
    } else {
      let i = this.ready.findIndex((s) => s.shape === key);
      if (i < 0) i = this.ready.findIndex((s) => s.shape === undefined);
      slot = i >= 0 ? this.ready.splice(i, 1)[0]! : undefined;
      if (!slot) slot = await this.make(undefined, false);
    }
    if (slot.cell && this.o.cells?.hasCell?.(slot.cell) === false) slot.cell = undefined;
    if (slot.cell && (opts.cell === false || !cellFits(resources))) {
      this.o.cells?.discardCell(slot.cell);
      slot.cell = undefined;
    }
    if (slot.shape === key) this.counts.preWritten++;
    else {
      try {
        await slot.manager.apply(resources);
      } catch (e) {
        this.discard(slot);
        throw e;
      }
      slot.shape = key;
    }
    this.scheduleRefill();
    this.counts.takes++;
    if (slot.cell) {
      this.counts.withCell++;
      this.handed.set(slot.path, slot.cell);
    }
    return {
      path: slot.path,
      manager: slot.manager,
      procsFiles: slot.procs,
      ...(slot.cell ? { cell: slot.cell } : {}),
    };
  }

  /**
   * A slot for a container yet to be made (flat pools): its path is <parent>/<name>, and the
   * name is the container's id to be. A ready one of the most recent shape when there is one.
   * take({ reserved }) hands it over (writing the limits asked for if they differ),
   * unreserve() gives it up.
   */
  async reserve(): Promise<CgroupPath> {
    if (this.closed) throw new Error('cgroup pool: closed');
    if (!this.flat) throw new Error('cgroup pool: only a flat pool reserves names');
    const recent = [...this.shapes.keys()].at(-1);
    let i = this.ready.findIndex((s) => s.shape === recent);
    if (i < 0) i = this.ready.length - 1;
    const slot = i >= 0 ? this.ready.splice(i, 1)[0]! : await this.make(undefined, false);
    this.reserved.set(slot.path, slot);
    this.scheduleRefill();
    return slot.path;
  }

  /** Whether `path` is a slot reserve() handed out and nothing took yet. */
  isReserved(path: CgroupPath): boolean {
    return this.reserved.has(path);
  }

  /** A reserved slot the container will not be made in: removed in the background. */
  unreserve(path: CgroupPath): void {
    const slot = this.reserved.get(path);
    if (!slot) return;
    this.reserved.delete(path);
    this.discard(slot);
  }

  /** Resolves once a removal of `path` under way (if any) is done. */
  async removed(path: CgroupPath): Promise<void> {
    await this.removals.get(path);
  }

  /**
   * The container of `target` is gone (or never started: pass what take() returned, so that an
   * unused warm cell is let go): remove its cgroup in the background (anything still in it is
   * killed first). Any path works, also one of another pool (a container of an earlier owner);
   * close() waits for these removals.
   */
  release(target: CgroupPath | PooledCgroup): Promise<void> {
    const path = typeof target === 'string' ? target : target.path;
    // A cell the container never used (its create failed before the launch) goes too.
    const cell = this.handed.get(path) ?? (typeof target === 'string' ? undefined : target.cell);
    this.handed.delete(path);
    if (cell) this.o.cells?.discardCell(cell);
    // A path's manager is made once the removal runs (after the caller's turn), not here.
    return this.removeLater(path, typeof target === 'string' ? undefined : target.manager);
  }

  /** Stops refilling, removes the ready slots and waits for every removal; the pool's directory goes when empty. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.refilling;
    for (const s of this.ready.splice(0)) this.discard(s);
    for (const s of this.reserved.values()) this.discard(s);
    this.reserved.clear();
    while (this.removing.size > 0) await Promise.allSettled([...this.removing]);
    if (!this.flat) await this.removeIfEmpty(this.dir);
    for (const d of this.madeParent.reverse()) {
      try {
        this.o.fs.rmdir(d);
      } catch {
        // a container's cgroup is still in it (or another's made it since): it stays
      }
    }
  }

  private async make(resources: LinuxResources | undefined, withCell: boolean): Promise<Slot> {
    const path = this.flat
      ? `${this.dir}/${randomBytes(6).toString('hex')}`
      : `${this.dir}/${this.tag}${++this.seq}`;
    const manager = this.o.manager(path);
    const procs = [...manager.procsFiles(), ...this.named.map((m) => join(m, path, 'cgroup.procs'))];
    const slot: Slot = { path, manager, procs };
    try {
      await manager.create();
      for (const m of this.named) this.o.fs.mkdir(join(m, path));
      if (resources) {
        await manager.apply(resources);
        slot.shape = shapeKey(resources);
      }
      if (withCell && this.o.cells && (!resources || cellFits(resources))) {
        // Without a cell the slot still serves (init is then moved in).
        slot.cell = await this.o.cells.prepareCell(slot.procs).catch(() => undefined);
      }
    } catch (e) {
      this.discard(slot);
      throw e;
    }
    return slot;
  }

  private discard(slot: Slot): void {
    if (slot.cell) this.o.cells?.discardCell(slot.cell);
    void this.removeLater(slot.path, slot.manager);
  }

  /** `manager`: the slot's own; made from the path once the removal runs when not given. */
  private removeLater(path: CgroupPath, manager?: CgroupManager): Promise<void> {
    const p = (async () => {
      await this.removals.get(path);
      await new Promise((r) => setImmediate(r));
      await this.removeSlot(manager ?? this.o.manager(path), path);
      // The last container of an earlier owner's pool (one that outlived a restart): its
      // pool directory goes with it.
      const owner = path.slice(0, path.lastIndexOf('/'));
      if (
        owner !== this.dir &&
        owner.startsWith(`${this.parent}/`) &&
        ownerGone(owner.slice(owner.lastIndexOf('/') + 1))
      )
        await this.removeIfEmpty(owner).catch(() => false);
    })();
    this.removing.add(p);
    this.removals.set(path, p);
    return p.finally(() => {
      this.removing.delete(p);
      if (this.removals.get(path) === p) this.removals.delete(path);
    });
  }

  /** Resolves once no refill is due or running and every removal is done (tests, benchmarks). */
  async settled(): Promise<void> {
    for (;;) {
      if (this.timer) await new Promise((r) => setTimeout(r, this.o.refillDelayMs ?? 20));
      else if (this.refilling) await this.refilling;
      else if (this.removing.size > 0) await Promise.allSettled([...this.removing]);
      else return;
    }
  }

  private scheduleRefill(): void {
    if (this.closed || this.refilling) return;
    // Restarted by every take: a burst of starts is served first, the refill comes after it.
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refilling = this.refill().finally(() => {
        this.refilling = undefined;
      });
    }, this.o.refillDelayMs ?? 20);
    this.timer.unref();
  }

  /**
   * One slot per turn of the event loop, so that a refill never holds the loop for long: first
   * the slots of shapes no longer recent go, then each recent shape (the latest first) is
   * brought up to `size`.
   */
  private async refill(): Promise<void> {
    while (!this.closed) {
      const stale = this.ready.findIndex((s) => s.shape !== undefined && !this.shapes.has(s.shape));
      if (stale >= 0) {
        this.discard(this.ready.splice(stale, 1)[0]!);
        continue;
      }
      const count = (key: string | undefined) => this.ready.filter((s) => s.shape === key).length;
      const wanted = [...this.shapes].reverse().find(([key]) => count(key) < this.size);
      // Before the first take: slots without limits, written at take time.
      if (!wanted && (this.shapes.size > 0 || count(undefined) >= this.size)) return;
      try {
        const slot = await this.make(wanted?.[1], true);
        if (this.closed) this.discard(slot);
        else this.ready.push(slot);
      } catch {
        // The kernel refused these limits ahead of time: stop pre-writing them (take() writes
        // and reports them itself).
        if (wanted) this.shapes.delete(wanted[0]);
        else return;
      }
      await new Promise((r) => setImmediate(r));
    }
  }

  // --- directories ---------------------------------------------------------------------

  /** Removes the cgroup at `path` in every hierarchy: the manager's (anything in it killed first), then the named ones. */
  private async removeSlot(manager: CgroupManager, path: CgroupPath): Promise<void> {
    await manager.destroy().catch(() => {});
    for (const m of this.named) await this.rmTree(join(m, path));
  }

  /** Removes the cgroup at `path` unless processes are still in it (a container's); true when removed. */
  private async removeIfIdle(path: CgroupPath): Promise<boolean> {
    const manager = this.o.manager(path);
    if ((await manager.pids()).length > 0) return false;
    await this.removeSlot(manager, path);
    return true;
  }

  private mkdirs(mount: string, path: CgroupPath): void {
    let dir = mount;
    for (const part of path.split('/').filter(Boolean)) {
      dir = join(dir, part);
      this.o.fs.mkdir(dir);
    }
  }

  /** rmdir `dir` and its children, retried briefly while an exiting process still holds one. */
  private async rmTree(dir: string): Promise<void> {
    const rm = (d: string) => {
      if (!this.o.fs.exists(d)) return;
      for (const c of this.o.fs.listDirs(d)) rm(join(d, c));
      this.o.fs.rmdir(d);
    };
    for (let i = 0; ; i++) {
      try {
        rm(dir);
        return;
      } catch (e) {
        if (errnoCode(e) === 'ENOENT') return;
        if (i >= 50) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  /** Removes a pool directory once nothing is left in it (a container's slot keeps it). */
  private async removeIfEmpty(dir: CgroupPath): Promise<boolean> {
    const m = this.o.manager(dir);
    if ((await m.pids()).length > 0) return false;
    const mounts = [
      ...new Set(m.procsFiles().map((f) => f.slice(0, -(dir.length + '/cgroup.procs'.length)))),
    ];
    const all = [...mounts, ...this.named];
    if (all.some((mount) => this.listDirs(join(mount, dir)).length > 0)) return false;
    try {
      await m.destroy();
    } catch {
      return false;
    }
    for (const n of this.named) await this.rmTree(join(n, dir));
    return true;
  }

  private listDirs(dir: string): string[] {
    try {
      return this.o.fs.listDirs(dir);
    } catch {
      return [];
    }
  }

  /**
   * What a crashed owner of a flat pool under `o.parent` left: every empty cgroup there named
   * like a slot (12 hex digits) that `keep` does not claim (a container's: the caller's records
   * say which). One that still holds processes stays. Returns the names removed.
   */
  static async removeStraySlots(o: CgroupPoolOptions, keep: (name: string) => boolean): Promise<string[]> {
    const pool = new CgroupPool({ ...o, flat: true });
    const removed: string[] = [];
    for (const name of new Set(pool.mounts().flatMap((mount) => pool.listDirs(join(mount, pool.dir))))) {
      if (!/^[0-9a-f]{12}$/.test(name) || keep(name)) continue;
      if (await pool.removeIfIdle(`${pool.dir}/${name}`)) removed.push(name);
    }
    return removed;
  }

  /** Every hierarchy's mount point: the manager's and the named ones. */
  private mounts(): string[] {
    const files = this.o.manager(this.parent).procsFiles();
    return [
      ...new Set(files.map((f) => f.slice(0, -(this.parent.length + '/cgroup.procs'.length)))),
      ...this.named,
    ];
  }

  /** The pools of owners that are gone: their empty slots removed, then the pool if empty. */
  private async removeStale(): Promise<void> {
    const mounts = this.mounts();
    const pools = new Set(mounts.flatMap((mount) => this.listDirs(join(mount, this.parent))));
    for (const name of pools) {
      // Not a pool's directory (not ours to touch), or its owner lives.
      if (!ownerGone(name)) continue;
      const dir = `${this.parent}/${name}`;
      const slots = new Set(mounts.flatMap((mount) => this.listDirs(join(mount, dir))));
      // A slot a container still runs in stays.
      for (const slot of slots) await this.removeIfIdle(`${dir}/${slot}`);
      await this.removeIfEmpty(dir);
    }
  }
}
