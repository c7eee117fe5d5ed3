// The per-second values berthd keeps for each metrics target, as column indexes into fixed
// typed arrays (no object per sample). NaN stands for "unknown" (e.g. PSI on an old kernel).

export const F = {
  cpuPercent: 0,
  memoryBytes: 1,
  pids: 2,
  netRxBps: 3,
  netTxBps: 4,
  blockReadBps: 5,
  blockWriteBps: 6,
  psiCpu: 7,
  psiMemory: 8,
  psiIo: 9,
} as const;
export const FIELDS = 10;

/** One second's values, written in place by the sampler and copied into the ring. */
export type SampleRow = Float64Array;
export const newRow = (): SampleRow => new Float64Array(FIELDS).fill(Number.NaN);
