import { F, type SampleRow } from './fields.ts';

// One-minute rollups of a target's per-second samples: averages of the rates and levels,
// maxima of CPU, memory and pids, and the bytes moved in the minute. Accumulated in place
// (a fixed Float64Array per target), emitted once the minute is over.

export interface RollupRow {
  target: string;
  /** Start of the minute, Unix milliseconds. */
  minute: number;
  samples: number;
  cpuPercentAvg: number;
  cpuPercentMax: number;
  memoryAvg: number;
  memoryMax: number;
  pidsMax: number;
  netRxBytes: number;
  netTxBytes: number;
  blockReadBytes: number;
  blockWriteBytes: number;
  psiCpuAvg: number | null;
  psiMemoryAvg: number | null;
  psiIoAvg: number | null;
}

const A = {
  minute: 0,
  n: 1,
  cpuSum: 2,
  cpuMax: 3,
  memSum: 4,
  memMax: 5,
  pidsMax: 6,
  rx: 7,
  tx: 8,
  br: 9,
  bw: 10,
  psiCpuSum: 11,
  psiCpuN: 12,
  psiMemSum: 13,
  psiMemN: 14,
  psiIoSum: 15,
  psiIoN: 16,
} as const;
const SIZE = 17;

export const MINUTE = 60_000;

export class RollupAccumulator {
  private readonly acc = new Float64Array(SIZE);

  constructor(readonly target: string) {
    this.acc[A.minute] = Number.NaN;
  }

  /**
   * Adds one sample taken at `t` covering `dtSec` seconds. When `t` falls in a later minute
   * than the samples so far, the finished minute is returned first (and accumulation restarts).
   */
  add(t: number, dtSec: number, row: SampleRow): RollupRow | undefined {
    const minute = t - (t % MINUTE);
    let finished: RollupRow | undefined;
    if (this.acc[A.minute] !== minute) {
      finished = this.flush();
      this.acc.fill(0);
      this.acc[A.minute] = minute;
    }
    const a = this.acc;
    const cpu = row[F.cpuPercent]!;
    const mem = row[F.memoryBytes]!;
    if (Number.isNaN(cpu) && Number.isNaN(mem)) return finished; // the target could not be read
    a[A.n]!++;
    if (!Number.isNaN(cpu)) {
      a[A.cpuSum]! += cpu;
      if (cpu > a[A.cpuMax]!) a[A.cpuMax] = cpu;
    }
    if (!Number.isNaN(mem)) {
      a[A.memSum]! += mem;
      if (mem > a[A.memMax]!) a[A.memMax] = mem;
    }
    const pids = row[F.pids]!;
    if (pids > a[A.pidsMax]!) a[A.pidsMax] = pids;
    addRate(a, A.rx, row[F.netRxBps]!, dtSec);
    addRate(a, A.tx, row[F.netTxBps]!, dtSec);
    addRate(a, A.br, row[F.blockReadBps]!, dtSec);
    addRate(a, A.bw, row[F.blockWriteBps]!, dtSec);
    addAvg(a, A.psiCpuSum, row[F.psiCpu]!);
    addAvg(a, A.psiMemSum, row[F.psiMemory]!);
    addAvg(a, A.psiIoSum, row[F.psiIo]!);
    return finished;
  }

  /** The minute accumulated so far as a row (undefined when empty), without resetting. */
  peek(): RollupRow | undefined {
    const a = this.acc;
    const n = a[A.n]!;
    if (Number.isNaN(a[A.minute]!) || n === 0) return undefined;
    return {
      target: this.target,
      minute: a[A.minute]!,
      samples: n,
      cpuPercentAvg: a[A.cpuSum]! / n,
      cpuPercentMax: a[A.cpuMax]!,
      memoryAvg: a[A.memSum]! / n,
      memoryMax: a[A.memMax]!,
      pidsMax: a[A.pidsMax]!,
      netRxBytes: a[A.rx]!,
      netTxBytes: a[A.tx]!,
      blockReadBytes: a[A.br]!,
      blockWriteBytes: a[A.bw]!,
      psiCpuAvg: avg(a, A.psiCpuSum),
      psiMemoryAvg: avg(a, A.psiMemSum),
      psiIoAvg: avg(a, A.psiIoSum),
    };
  }

  /** The minute so far, and starts over empty. */
  flush(): RollupRow | undefined {
    const row = this.peek();
    this.acc.fill(0);
    this.acc[A.minute] = Number.NaN;
    return row;
  }
}

function addRate(a: Float64Array, i: number, bps: number, dtSec: number) {
  if (!Number.isNaN(bps)) a[i]! += bps * dtSec;
}

function addAvg(a: Float64Array, sum: number, v: number) {
  if (Number.isNaN(v)) return;
  a[sum]! += v;
  a[sum + 1]!++;
}

function avg(a: Float64Array, sum: number): number | null {
  return a[sum + 1]! > 0 ? a[sum]! / a[sum + 1]! : null;
}
