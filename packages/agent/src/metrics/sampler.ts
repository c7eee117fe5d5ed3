import { join } from 'node:path';
import type { MetricsSample } from '@berth/contracts';
import {
  type CgroupFs,
  type CgroupLayout,
  type CgroupManager,
  createCgroupManager,
  type Stats,
} from '@berth/runtime/cgroup';
import { type FastCounters, FULL_EVERY, fastReaderFor } from './cgroup-reader.ts';
import { F, newRow, type SampleRow } from './fields.ts';
import { emptyHostCounters, type HostCounters, HostReader } from './host.ts';
import { MetricsRing, TickClock } from './ring.ts';
import { RollupAccumulator, type RollupRow } from './rollup.ts';

// Samples every registered target once per tick: the host from /proc, containers (and
// groups with a cgroup of their own) through the cgroup library's stats(), groups without
// one as the sum of their members. Values go into each target's ring (the last hour at 1 s)
// and its minute accumulator; finished minutes are handed to `onRollup`.
//
// Per tick and target the work is the library's stats() (pread of the cgroup files it keeps
// open) and arithmetic into preallocated Float64Arrays: no process spawned, no object kept.

/** A cgroup (or a group of them) to sample. The container service registers its containers. */
export interface MetricsTargetSpec {
  /** A container id, or "group:<name>". */
  id: string;
  /** What a person calls it (the container's name). */
  name: string;
  /** The cgroup, relative to each hierarchy's root (e.g. /berth/<id>); absent: not sampled itself. */
  cgroupPath?: string;
  /** The group it belongs to: its values are added into "group:<group>" unless that has a cgroup. */
  group?: string;
  /** The host side of the container's veth pair (its rx is the container's tx). */
  netDevice?: string;
}

/** The registry the container service feeds (register on create/adopt, unregister on delete). */
export interface MetricsTargets {
  register(spec: MetricsTargetSpec): void;
  unregister(id: string): void;
}

export type TargetKind = 'host' | 'container' | 'group';

// Cumulative counters of a target (for rates and for Prometheus' *_total).
const C = { cpuUsec: 0, rx: 1, tx: 2, br: 3, bw: 4, rxPackets: 5, txPackets: 6 } as const;
const COUNTERS = 7;

export interface TargetState {
  readonly id: string;
  name: string;
  readonly kind: TargetKind;
  spec: MetricsTargetSpec;
  manager: CgroupManager | undefined;
  readonly ring: MetricsRing;
  readonly rollup: RollupAccumulator;
  /** This tick's values. */
  readonly row: SampleRow;
  /** Counters at the previous tick (NaN: none yet) and now. */
  readonly prev: Float64Array;
  readonly totals: Float64Array;
  memoryLimit: number;
  /** The per-second reader of the cgroup's moving counters, and where it puts them. */
  fast: ((fs: CgroupFs, out: FastCounters) => void) | undefined;
  readonly counters: FastCounters;
  /** Pressure as of the last full stats() (NaN: unknown), and which ticks take one. */
  readonly psi: Float64Array;
  phase: number;
  fullSeen: boolean;
  /** Containers: the id of their group's target ("group:<name>"); groups: members summed this tick. */
  groupKey: string | undefined;
  members: number;
  /** Whether the last sample could be read (a cgroup not created yet, or gone, is not). */
  ok: boolean;
}

export interface SamplerOptions {
  /** The cgroup library's file seam (shared: its open-file cache is what makes sampling cheap). */
  fs: CgroupFs;
  layout?: CgroupLayout;
  procRoot?: string;
  sysRoot?: string;
  /** Slots per ring (3600: an hour at 1 s). */
  capacity?: number;
  onRollup?: (rows: RollupRow[]) => void;
  /** Ticks between full stats() reads of a container (default FULL_EVERY; 1: every tick). */
  fullEvery?: number;
  /** Links of Berth's networks, left out of the host's network counters. */
  isBerthLink?: (name: string) => boolean;
  /** Tests: make the cgroup manager of a target. */
  managerFor?: (path: string) => CgroupManager;
}

export class MetricsSampler implements MetricsTargets {
  readonly clock: TickClock;
  private readonly targets = new Map<string, TargetState>();
  private readonly host: HostReader;
  private readonly hostNow: HostCounters = emptyHostCounters();
  private readonly hostPrev: HostCounters = emptyHostCounters();
  private hostSeen = false;
  private lastT = Number.NaN;
  private readonly finished: RollupRow[] = [];
  private readonly fullEvery: number;

  constructor(private readonly opts: SamplerOptions) {
    this.clock = new TickClock(opts.capacity ?? 3600);
    this.fullEvery = Math.max(1, opts.fullEvery ?? FULL_EVERY);
    this.host = new HostReader(opts.fs, opts.procRoot, opts.sysRoot, opts.isBerthLink);
    this.add({ id: 'host', name: 'host' }, 'host');
  }

  private add(spec: MetricsTargetSpec, kind: TargetKind): TargetState {
    const state: TargetState = {
      id: spec.id,
      name: spec.name,
      kind,
      spec,
      manager: undefined,
      ring: new MetricsRing(this.clock.capacity),
      rollup: new RollupAccumulator(spec.id),
      row: newRow(),
      prev: new Float64Array(COUNTERS).fill(Number.NaN),
      totals: new Float64Array(COUNTERS).fill(Number.NaN),
      memoryLimit: Number.NaN,
      fast: undefined,
      counters: {
        cpuUsec: Number.NaN,
        memory: Number.NaN,
        pids: Number.NaN,
        blockRead: Number.NaN,
        blockWrite: Number.NaN,
      },
      psi: new Float64Array(3).fill(Number.NaN),
      phase: this.targets.size % FULL_EVERY, // spreads the full reads over the ticks
      fullSeen: false,
      groupKey: spec.group ? `group:${spec.group}` : undefined,
      members: 0,
      ok: false,
    };
    this.targets.set(spec.id, state);
    return state;
  }

  register(spec: MetricsTargetSpec): void {
    if (spec.id === 'host') throw new Error('metrics: "host" is not a container id');
    const kind: TargetKind = spec.id.startsWith('group:') ? 'group' : 'container';
    const existing = this.targets.get(spec.id);
    const state = existing && existing.kind === kind ? existing : this.add(spec, kind);
    state.spec = spec;
    state.name = spec.name;
    state.groupKey = spec.group ? `group:${spec.group}` : undefined;
    state.manager = spec.cgroupPath ? this.managerFor(spec.cgroupPath) : undefined;
    state.fast = undefined; // found on the first sample (the cgroup may not exist yet)
    state.fullSeen = false;
    if (spec.group && !this.targets.has(`group:${spec.group}`))
      this.add({ id: `group:${spec.group}`, name: spec.group }, 'group');
  }

  unregister(id: string): void {
    const state = this.targets.get(id);
    if (!state || state.kind === 'host') return;
    const rest = state.rollup.flush();
    if (rest) this.finished.push(rest);
    this.targets.delete(id);
  }

  private managerFor(path: string): CgroupManager {
    if (this.opts.managerFor) return this.opts.managerFor(path);
    return createCgroupManager({
      path,
      fs: this.opts.fs,
      ...(this.opts.layout ? { layout: this.opts.layout } : {}),
    });
  }

  get size(): number {
    return this.targets.size;
  }

  all(): IterableIterator<TargetState> {
    return this.targets.values();
  }

  get(id: string): TargetState | undefined {
    return this.targets.get(id);
  }

  /** A target by id, "host", "group:<name>", or a container's name. */
  find(idOrName: string): TargetState | undefined {
    const byId = this.targets.get(idOrName);
    if (byId) return byId;
    for (const t of this.targets.values()) if (t.kind === 'container' && t.name === idOrName) return t;
    return undefined;
  }

  /** Takes one sample of everything; returns the tick. */
  async sample(now = Date.now()): Promise<number> {
    const tick = this.clock.advance(now);
    const dtSec = Number.isNaN(this.lastT) ? Number.NaN : Math.max(0.001, (now - this.lastT) / 1000);
    this.lastT = now;

    const groups: TargetState[] = [];
    for (const t of this.targets.values()) {
      if (t.kind === 'host') this.sampleHost(t, dtSec);
      else if (t.manager) await this.sampleCgroup(t, dtSec, tick);
      else if (t.kind === 'group') groups.push(t);
      else {
        t.row.fill(Number.NaN);
        t.ok = false;
      }
    }
    // Groups without a cgroup of their own: the sum of their members' values (one pass).
    for (const g of groups) {
      g.row.fill(0);
      g.row[F.psiCpu] = g.row[F.psiMemory] = g.row[F.psiIo] = Number.NaN;
      g.memoryLimit = Number.NaN;
      g.members = 0;
    }
    if (groups.length > 0)
      for (const t of this.targets.values()) {
        if (t.kind !== 'container' || !t.ok || t.groupKey === undefined) continue;
        const g = this.targets.get(t.groupKey);
        if (!g || g.manager) continue;
        g.members++;
        for (let f = 0; f < F.psiCpu; f++) if (!Number.isNaN(t.row[f]!)) g.row[f]! += t.row[f]!;
      }
    for (const g of groups) {
      g.ok = g.members > 0;
      if (!g.ok) g.row.fill(Number.NaN);
    }
    for (const t of this.targets.values()) {
      t.ring.write(tick, t.row);
      if (!Number.isNaN(dtSec)) {
        const done = t.rollup.add(now, dtSec, t.row);
        if (done) this.finished.push(done);
      }
    }
    if (this.finished.length > 0) {
      const rows = this.finished.splice(0);
      this.opts.onRollup?.(rows);
    }
    return tick;
  }

  private sampleHost(t: TargetState, dtSec: number) {
    const now = this.hostNow;
    const prev = this.hostPrev;
    try {
      this.host.read(now, this.lastT);
    } catch {
      t.row.fill(Number.NaN);
      t.ok = false;
      return;
    }
    const row = t.row;
    if (this.hostSeen && now.cpuTotal > prev.cpuTotal) {
      row[F.cpuPercent] = ((now.cpuBusy - prev.cpuBusy) / (now.cpuTotal - prev.cpuTotal)) * 100 * now.cpus;
    } else row[F.cpuPercent] = Number.NaN;
    row[F.memoryBytes] = now.memoryUsed;
    row[F.pids] = now.tasks;
    const known = this.hostSeen;
    row[F.netRxBps] = rate(now.netRx, prev.netRx, dtSec, known);
    row[F.netTxBps] = rate(now.netTx, prev.netTx, dtSec, known);
    row[F.blockReadBps] = rate(now.blockRead, prev.blockRead, dtSec, known);
    row[F.blockWriteBps] = rate(now.blockWrite, prev.blockWrite, dtSec, known);
    row[F.psiCpu] = now.psiCpu;
    row[F.psiMemory] = now.psiMemory;
    row[F.psiIo] = now.psiIo;
    t.memoryLimit = now.memoryTotal;
    t.totals[C.cpuUsec] = (now.cpuBusy / 100) * 1e6; // USER_HZ is 100 on Linux
    t.totals[C.rx] = now.netRx;
    t.totals[C.tx] = now.netTx;
    t.totals[C.br] = now.blockRead;
    t.totals[C.bw] = now.blockWrite;
    Object.assign(prev, now);
    this.hostSeen = true;
    t.ok = true;
  }

  private async sampleCgroup(t: TargetState, dtSec: number, tick: number) {
    const c = t.counters;
    try {
      if (!t.fullSeen || (tick + t.phase) % this.fullEvery === 0) {
        // Everything, through the library: pressure and the memory limit change slowly.
        const s = await t.manager!.stats();
        countersFromStats(s, c);
        t.psi[0] = s.pressure?.cpu?.some.avg10 ?? Number.NaN;
        t.psi[1] = s.pressure?.memory?.some.avg10 ?? Number.NaN;
        t.psi[2] = s.pressure?.io?.some.avg10 ?? Number.NaN;
        t.memoryLimit = s.memory?.limit ?? Number.NaN;
        t.fullSeen = true;
        t.fast ??= fastReaderFor(t.manager!);
      } else {
        t.fast!(this.opts.fs, c);
      }
    } catch {
      t.row.fill(Number.NaN);
      t.prev.fill(Number.NaN);
      t.fast = undefined;
      t.fullSeen = false;
      t.ok = false;
      return;
    }
    const row = t.row;
    const totals = t.totals;
    totals[C.cpuUsec] = c.cpuUsec;
    totals[C.br] = c.blockRead;
    totals[C.bw] = c.blockWrite;
    this.readNet(t);
    const prev = t.prev;
    const known = !Number.isNaN(dtSec);
    row[F.cpuPercent] = known ? ((totals[C.cpuUsec]! - prev[C.cpuUsec]!) / (dtSec * 1e6)) * 100 : Number.NaN;
    row[F.memoryBytes] = c.memory;
    row[F.pids] = c.pids;
    row[F.netRxBps] = rate(totals[C.rx]!, prev[C.rx]!, dtSec, known);
    row[F.netTxBps] = rate(totals[C.tx]!, prev[C.tx]!, dtSec, known);
    row[F.blockReadBps] = rate(c.blockRead, prev[C.br]!, dtSec, known);
    row[F.blockWriteBps] = rate(c.blockWrite, prev[C.bw]!, dtSec, known);
    row[F.psiCpu] = t.psi[0]!;
    row[F.psiMemory] = t.psi[1]!;
    row[F.psiIo] = t.psi[2]!;
    prev.set(totals);
    t.ok = true;
  }

  private readNet(t: TargetState) {
    const dev = t.spec.netDevice;
    const c = t.totals;
    if (!dev) {
      c[C.rx] = c[C.tx] = c[C.rxPackets] = c[C.txPackets] = Number.NaN;
      return;
    }
    try {
      const dir = join(this.opts.sysRoot ?? '/sys', 'class', 'net', dev, 'statistics');
      const read = (f: string) => Number(this.opts.fs.read(join(dir, f)));
      // The host end's received bytes are what the container sent, and the other way round.
      c[C.tx] = read('rx_bytes');
      c[C.rx] = read('tx_bytes');
      c[C.txPackets] = read('rx_packets');
      c[C.rxPackets] = read('tx_packets');
    } catch {
      c[C.rx] = c[C.tx] = c[C.rxPackets] = c[C.txPackets] = Number.NaN;
    }
  }

  /** Drains the minutes accumulated so far (at shutdown, so the last partial minute is kept). */
  flushRollups(): RollupRow[] {
    const rows = this.finished.splice(0);
    for (const t of this.targets.values()) {
      const r = t.rollup.flush();
      if (r) rows.push(r);
    }
    return rows;
  }

  /** A target's latest values as the API's sample. */
  sampleOf(t: TargetState, at = this.clock.timeOf(this.clock.tick)): MetricsSample {
    const r = t.row;
    return {
      target: t.id,
      name: t.name,
      t: at,
      cpuPercent: num(r[F.cpuPercent]!),
      memoryBytes: num(r[F.memoryBytes]!),
      memoryLimitBytes: nullable(t.memoryLimit),
      pids: num(r[F.pids]!),
      netRxBps: num(r[F.netRxBps]!),
      netTxBps: num(r[F.netTxBps]!),
      blockReadBps: num(r[F.blockReadBps]!),
      blockWriteBps: num(r[F.blockWriteBps]!),
      psi: { cpu: nullable(r[F.psiCpu]!), memory: nullable(r[F.psiMemory]!), io: nullable(r[F.psiIo]!) },
      ...(t.kind === 'container' && Number.isFinite(t.totals[C.rxPackets]!)
        ? {
            net: {
              rxBytes: t.totals[C.rx]!,
              txBytes: t.totals[C.tx]!,
              rxPackets: t.totals[C.rxPackets]!,
              txPackets: t.totals[C.txPackets]!,
            },
          }
        : {}),
    };
  }

  /** Cumulative counters of a target (NaN: unknown): CPU µs, net rx/tx bytes and packets,
   * block read/write bytes. */
  totalsOf(t: TargetState): {
    cpuUsec: number;
    rx: number;
    tx: number;
    rxPackets: number;
    txPackets: number;
    br: number;
    bw: number;
  } {
    const c = t.totals;
    return {
      cpuUsec: c[C.cpuUsec]!,
      rx: c[C.rx]!,
      tx: c[C.tx]!,
      rxPackets: c[C.rxPackets]!,
      txPackets: c[C.txPackets]!,
      br: c[C.br]!,
      bw: c[C.bw]!,
    };
  }
}

function countersFromStats(s: Stats, out: FastCounters) {
  out.cpuUsec = s.cpu?.usageUsec ?? Number.NaN;
  out.memory = s.memory?.usage ?? Number.NaN;
  out.pids = s.pids?.current ?? Number.NaN;
  if (s.io) {
    out.blockRead = 0;
    out.blockWrite = 0;
    for (const d of s.io.devices) {
      out.blockRead += d.rbytes ?? 0;
      out.blockWrite += d.wbytes ?? 0;
    }
  } else out.blockRead = out.blockWrite = Number.NaN;
}

function rate(now: number, prev: number, dtSec: number, known: boolean): number {
  if (!known || Number.isNaN(now) || Number.isNaN(prev) || Number.isNaN(dtSec)) return Number.NaN;
  // A counter that went backwards was reset (interface re-created): no rate for this interval.
  return now >= prev ? (now - prev) / dtSec : Number.NaN;
}

const num = (v: number) => (Number.isNaN(v) ? 0 : v);
const nullable = (v: number) => (Number.isNaN(v) ? null : v);
