import { FIELDS, type SampleRow } from './fields.ts';

// The last hour at 1 s for one target: a fixed block of Float32 columns indexed by the
// sampler's tick (tick % capacity), allocated once. All targets are sampled on the same
// ticks, so the time of a slot is the sampler's (see TickClock); a slot belongs to this
// target only if it was written after the target appeared and within the last `capacity`
// ticks. 3600 slots × 10 fields × 4 bytes = 144 KiB per target.

export class MetricsRing {
  private readonly values: Float32Array;
  /** The tick each slot was last written at (-1: never). */
  private readonly ticks: Float64Array;
  private lastTick = -1;

  constructor(readonly capacity = 3600) {
    this.values = new Float32Array(capacity * FIELDS).fill(Number.NaN);
    this.ticks = new Float64Array(capacity).fill(-1);
  }

  write(tick: number, row: SampleRow): void {
    const slot = tick % this.capacity;
    const base = slot * FIELDS;
    for (let f = 0; f < FIELDS; f++) this.values[base + f] = row[f]!;
    this.ticks[slot] = tick;
    this.lastTick = tick;
  }

  /** Whether `tick` is still held (written, and not yet overwritten). */
  has(tick: number): boolean {
    return tick >= 0 && this.ticks[tick % this.capacity] === tick;
  }

  /** A field at a tick held by the ring (NaN when unknown or not held). */
  get(tick: number, field: number): number {
    if (!this.has(tick)) return Number.NaN;
    return this.values[(tick % this.capacity) * FIELDS + field]!;
  }

  /** The newest tick written, or -1. */
  get newest(): number {
    return this.lastTick;
  }
}

/** The wall-clock time of each sampler tick, for the same window as the rings. */
export class TickClock {
  private readonly times: Float64Array;
  tick = -1;

  constructor(readonly capacity = 3600) {
    this.times = new Float64Array(capacity).fill(Number.NaN);
  }

  advance(now: number): number {
    this.tick++;
    this.times[this.tick % this.capacity] = now;
    return this.tick;
  }

  timeOf(tick: number): number {
    if (tick < 0 || tick > this.tick || tick <= this.tick - this.capacity) return Number.NaN;
    return this.times[tick % this.capacity]!;
  }

  /** The oldest tick still held whose time is ≥ `t` (or the next tick when none is). */
  firstAtOrAfter(t: number): number {
    let lo = Math.max(0, this.tick - this.capacity + 1);
    let hi = this.tick + 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.timeOf(mid) < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The time of the oldest tick held (NaN before the first). */
  get oldestTime(): number {
    return this.timeOf(Math.max(0, this.tick - this.capacity + 1));
  }
}
