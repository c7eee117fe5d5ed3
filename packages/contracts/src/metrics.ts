import { z } from 'zod';

// Live and historical resource use of the host, containers and groups, as berthd samples it
// every second (CPU %, memory, pids, network, block I/O, pressure). Rates are per second
// over the last interval; a value the host cannot know is null, never a made-up zero.

/** "host", a container id, or "group:<name>". */
export const MetricsTarget = z
  .string()
  .min(1)
  .max(200)
  .regex(
    /^(host|group:[A-Za-z0-9][A-Za-z0-9_.-]*|[A-Za-z0-9][A-Za-z0-9_.-]*)$/,
    'expected "host", a container id or "group:<name>"',
  );

export const MetricsSample = z.object({
  target: z.string(),
  /** What the target is called to a person (a container's name; "host"). */
  name: z.string(),
  /** Unix milliseconds. */
  t: z.number(),
  /** 100 = one CPU core busy. */
  cpuPercent: z.number(),
  memoryBytes: z.number(),
  memoryLimitBytes: z.number().nullable(),
  pids: z.number(),
  netRxBps: z.number(),
  netTxBps: z.number(),
  blockReadBps: z.number(),
  blockWriteBps: z.number(),
  /** Share of time some task waited (avg10, percent), or null where PSI is unavailable. */
  psi: z.object({ cpu: z.number().nullable(), memory: z.number().nullable(), io: z.number().nullable() }),
  /** A container on a bridge network: its interface's counters since it was attached, as the
   * container sees them (rx: received by the container). */
  net: z
    .object({ rxBytes: z.number(), txBytes: z.number(), rxPackets: z.number(), txPackets: z.number() })
    .optional(),
});
export type MetricsSample = z.infer<typeof MetricsSample>;

export const MetricsTick = z.object({ t: z.number(), samples: z.array(MetricsSample) });
export type MetricsTick = z.infer<typeof MetricsTick>;

export const MetricsWatchInput = z
  .object({
    /** Only these targets (ids, names, "host", "group:<name>"); all when absent. */
    targets: z.array(z.string().min(1).max(200)).max(1000).optional(),
  })
  .strict()
  .default({});

export const MetricsHistoryInput = z
  .object({
    target: MetricsTarget,
    /** Unix milliseconds; default: an hour ago. */
    from: z.number().int().min(0).optional(),
    /** Unix milliseconds; default: now. */
    to: z.number().int().min(0).optional(),
    /** Seconds per point: 1 s resolution for the last hour, whole minutes beyond it. */
    stepSec: z.number().int().min(1).max(86_400).default(60),
  })
  .strict()
  .refine((v) => v.from === undefined || v.to === undefined || v.from <= v.to, {
    message: 'must not be after "to"',
    path: ['from'],
  });
export type MetricsHistoryInput = z.input<typeof MetricsHistoryInput>;

/** One point of a history series: averages over the step, and the highest CPU and memory seen. */
export const MetricsPoint = MetricsSample.omit({
  target: true,
  name: true,
  memoryLimitBytes: true,
  net: true,
}).extend({
  cpuPercentMax: z.number(),
  memoryBytesMax: z.number(),
});
export type MetricsPoint = z.infer<typeof MetricsPoint>;

export const MetricsHistory = z.object({
  target: z.string(),
  stepSec: z.number(),
  /** Where the points came from: the in-memory 1 s buffer or the 1-minute rollups. */
  resolution: z.enum(['1s', '1m']),
  points: z.array(MetricsPoint),
});
export type MetricsHistory = z.infer<typeof MetricsHistory>;
