import type { MetricsPoint } from '@berth/contracts';
import { F } from './fields.ts';
import type { MetricsRing, TickClock } from './ring.ts';
import type { RollupRow } from './rollup.ts';

// History series for charts: from a target's ring (1 s resolution, the last hour) or from
// its minute rollups, averaged into buckets of `stepMs` that start at `from`.

const nullable = (sum: number, n: number) => (n > 0 ? sum / n : null);

export function pointsFromRing(
  ring: MetricsRing,
  clock: TickClock,
  from: number,
  to: number,
  stepMs: number,
): MetricsPoint[] {
  const points: MetricsPoint[] = [];
  const sums = new Float64Array(10);
  const counts = new Float64Array(10);
  let cpuMax = 0;
  let memMax = 0;
  let bucket = -1;
  const emit = () => {
    if (bucket < 0 || counts[F.cpuPercent]! + counts[F.memoryBytes]! === 0) return;
    const avg = (f: number) => (counts[f]! > 0 ? sums[f]! / counts[f]! : 0);
    points.push({
      t: from + bucket * stepMs,
      cpuPercent: avg(F.cpuPercent),
      cpuPercentMax: cpuMax,
      memoryBytes: avg(F.memoryBytes),
      memoryBytesMax: memMax,
      pids: avg(F.pids),
      netRxBps: avg(F.netRxBps),
      netTxBps: avg(F.netTxBps),
      blockReadBps: avg(F.blockReadBps),
      blockWriteBps: avg(F.blockWriteBps),
      psi: {
        cpu: nullable(sums[F.psiCpu]!, counts[F.psiCpu]!),
        memory: nullable(sums[F.psiMemory]!, counts[F.psiMemory]!),
        io: nullable(sums[F.psiIo]!, counts[F.psiIo]!),
      },
    });
  };
  for (let tick = clock.firstAtOrAfter(from); tick <= clock.tick; tick++) {
    const t = clock.timeOf(tick);
    if (Number.isNaN(t) || t > to) break;
    if (!ring.has(tick)) continue;
    const b = Math.floor((t - from) / stepMs);
    if (b !== bucket) {
      emit();
      bucket = b;
      sums.fill(0);
      counts.fill(0);
      cpuMax = 0;
      memMax = 0;
    }
    for (let f = 0; f < 10; f++) {
      const v = ring.get(tick, f);
      if (Number.isNaN(v)) continue;
      sums[f]! += v;
      counts[f]!++;
    }
    const cpu = ring.get(tick, F.cpuPercent);
    const mem = ring.get(tick, F.memoryBytes);
    if (cpu > cpuMax) cpuMax = cpu;
    if (mem > memMax) memMax = mem;
  }
  emit();
  return points;
}

export function pointsFromRollups(rows: RollupRow[], from: number, stepMs: number): MetricsPoint[] {
  const buckets = new Map<number, RollupRow[]>();
  for (const r of rows) {
    const b = Math.floor((r.minute - from) / stepMs);
    const list = buckets.get(b);
    if (list) list.push(r);
    else buckets.set(b, [r]);
  }
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([b, list]) => {
      const n = list.reduce((s, r) => s + r.samples, 0);
      const weighted = (get: (r: RollupRow) => number) =>
        list.reduce((s, r) => s + get(r) * r.samples, 0) / n;
      const psi = (get: (r: RollupRow) => number | null) => {
        const known = list.filter((r) => get(r) !== null);
        return known.length > 0 ? known.reduce((s, r) => s + get(r)!, 0) / known.length : null;
      };
      // Bytes moved over the seconds sampled (a sample is about a second).
      const bps = (get: (r: RollupRow) => number) => list.reduce((s, r) => s + get(r), 0) / Math.max(1, n);
      return {
        t: from + b * stepMs,
        cpuPercent: weighted((r) => r.cpuPercentAvg),
        cpuPercentMax: Math.max(...list.map((r) => r.cpuPercentMax)),
        memoryBytes: weighted((r) => r.memoryAvg),
        memoryBytesMax: Math.max(...list.map((r) => r.memoryMax)),
        pids: Math.max(...list.map((r) => r.pidsMax)),
        netRxBps: bps((r) => r.netRxBytes),
        netTxBps: bps((r) => r.netTxBytes),
        blockReadBps: bps((r) => r.blockReadBytes),
        blockWriteBps: bps((r) => r.blockWriteBytes),
        psi: { cpu: psi((r) => r.psiCpuAvg), memory: psi((r) => r.psiMemoryAvg), io: psi((r) => r.psiIoAvg) },
      };
    });
}
