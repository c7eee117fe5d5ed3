import type { MetricsTick } from '@berth/contracts';
import { type CgroupFs, type CgroupLayout, hostCgroupFs } from '@berth/runtime/cgroup';
import type { MetricsApi } from '../context.ts';
import type { AgentDb } from '../db/index.ts';
import { AgentError } from '../errors.ts';
import { pointsFromRing, pointsFromRollups } from './history.ts';
import { prometheusText } from './prometheus.ts';
import { MINUTE, type RollupRow } from './rollup.ts';
import { MetricsSampler, type MetricsTargets } from './sampler.ts';

// berthd's metrics: a sampler ticking every second, the live stream of its ticks, history
// for charts, the minute rollups written to the agent DB and kept for 7 days, and the
// Prometheus text of the latest values.

export const ROLLUP_RETENTION_MS = 7 * 24 * 3600_000;

export interface MetricsServiceOptions {
  db: AgentDb;
  intervalMs?: number;
  fs?: CgroupFs;
  layout?: CgroupLayout;
  procRoot?: string;
  sysRoot?: string;
  /** Links of Berth's networks, left out of the host's network counters. */
  isBerthLink?: (name: string) => boolean;
}

export interface MetricsService extends MetricsApi {
  /** Where the container service registers its containers (and groups). */
  readonly targets: MetricsTargets;
  readonly sampler: MetricsSampler;
  start(): void;
  prometheus(): string;
  /** Writes pending rollups and deletes those older than the retention. */
  persist(rows: RollupRow[]): Promise<void>;
  prune(now?: number): Promise<number>;
  close(): Promise<void>;
}

export function metricsService(opts: MetricsServiceOptions): MetricsService {
  const interval = opts.intervalMs ?? 1000;
  let writes: Promise<void> = Promise.resolve();
  const sampler = new MetricsSampler({
    fs: opts.fs ?? hostCgroupFs(),
    ...(opts.layout ? { layout: opts.layout } : {}),
    ...(opts.procRoot ? { procRoot: opts.procRoot } : {}),
    ...(opts.sysRoot ? { sysRoot: opts.sysRoot } : {}),
    ...(opts.isBerthLink ? { isBerthLink: opts.isBerthLink } : {}),
    onRollup: (rows) => {
      void service.persist(rows);
    },
  });
  const listeners = new Set<() => void>();
  let timer: NodeJS.Timeout | undefined;
  let pruneTimer: NodeJS.Timeout | undefined;
  let sampling = false;

  const tickOf = (targets: string[] | undefined): MetricsTick => {
    const t = sampler.clock.timeOf(sampler.clock.tick);
    const wanted = targets ? new Set(targets.map((x) => sampler.find(x)?.id ?? x)) : undefined;
    const samples = [];
    for (const s of sampler.all()) if (!wanted || wanted.has(s.id)) samples.push(sampler.sampleOf(s, t));
    return { t: Number.isNaN(t) ? Date.now() : t, samples };
  };

  const service: MetricsService = {
    targets: sampler,
    sampler,
    start() {
      if (timer) return;
      const run = async () => {
        if (sampling) return; // a slow tick is skipped, never stacked
        sampling = true;
        try {
          await sampler.sample();
        } catch (err) {
          console.error(`berthd: metrics: ${(err as Error).message}`);
        } finally {
          sampling = false;
        }
        for (const l of listeners) l();
      };
      void run();
      timer = setInterval(run, interval);
      timer.unref();
      void service.prune().catch(() => {});
      pruneTimer = setInterval(() => void service.prune().catch(() => {}), 3600_000);
      pruneTimer.unref();
    },
    current: tickOf,
    async *watch(targets, signal) {
      let wake: (() => void) | undefined;
      let pending = false;
      const listener = () => {
        pending = true;
        wake?.();
      };
      listeners.add(listener);
      const onAbort = () => wake?.();
      signal?.addEventListener('abort', onAbort);
      try {
        if (sampler.clock.tick >= 0) yield tickOf(targets);
        while (!signal?.aborted) {
          if (!pending)
            await new Promise<void>((r) => {
              wake = r;
            });
          wake = undefined;
          if (signal?.aborted) break;
          pending = false;
          yield tickOf(targets);
        }
      } finally {
        listeners.delete(listener);
        signal?.removeEventListener('abort', onAbort);
      }
    },
    async history(input) {
      const target = sampler.find(input.target);
      const id = target?.id ?? input.target;
      const now = Date.now();
      const to = input.to ?? now;
      const from = input.from ?? to - 3600_000;
      // Within the ring's window (the last hour): 1 s data; before berthd started there is none.
      if (target && from >= now - sampler.clock.capacity * 1000 - 1000) {
        return {
          target: id,
          stepSec: input.stepSec,
          resolution: '1s',
          points: pointsFromRing(target.ring, sampler.clock, from, to, input.stepSec * 1000),
        };
      }
      if (
        !target &&
        !(await opts.db.metricRollup.findFirst({ where: { target: id }, select: { minute: true } }))
      )
        throw new AgentError('NOT_FOUND', `metrics target ${input.target} not found`);
      const stepSec = Math.max(60, Math.ceil(input.stepSec / 60) * 60);
      const rows = (
        await opts.db.metricRollup.findMany({
          where: { target: id, minute: { gte: BigInt(from - (from % MINUTE)), lte: BigInt(to) } },
          orderBy: { minute: 'asc' },
        })
      ).map((r) => ({ ...r, minute: Number(r.minute) }));
      // The minute in progress is not written yet; count it too.
      const partial = target?.rollup.peek();
      if (partial && partial.minute <= to && !rows.some((r) => r.minute === partial.minute))
        rows.push(partial);
      return { target: id, stepSec, resolution: '1m', points: pointsFromRollups(rows, from, stepSec * 1000) };
    },
    prometheus() {
      return prometheusText(sampler);
    },
    persist(rows) {
      writes = writes.then(async () => {
        try {
          const byMinute = new Map<number, RollupRow[]>();
          for (const r of rows) byMinute.set(r.minute, [...(byMinute.get(r.minute) ?? []), r]);
          for (const [minute, list] of byMinute) {
            // A minute written before a restart is replaced, not duplicated.
            await opts.db.$transaction([
              opts.db.metricRollup.deleteMany({
                where: { minute: BigInt(minute), target: { in: list.map((r) => r.target) } },
              }),
              opts.db.metricRollup.createMany({
                data: list.map((r) => ({ ...r, minute: BigInt(r.minute) })),
              }),
            ]);
          }
        } catch (err) {
          console.error(`berthd: metrics rollups: ${(err as Error).message}`);
        }
      });
      return writes;
    },
    async prune(now = Date.now()) {
      const r = await opts.db.metricRollup.deleteMany({
        where: { minute: { lt: BigInt(now - ROLLUP_RETENTION_MS) } },
      });
      return r.count;
    },
    async close() {
      clearInterval(timer);
      clearInterval(pruneTimer);
      timer = undefined;
      for (const l of listeners) l();
      await service.persist(sampler.flushRollups());
    },
  };
  return service;
}
