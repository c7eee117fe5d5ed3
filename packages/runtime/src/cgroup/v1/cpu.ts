import { join } from 'node:path';
import { type Controller, type ControllerContext, present, type Step, setKnown } from '../controller.ts';
import { checkInt } from '../convert.ts';
import { invalid } from '../errors.ts';
import type { Stats } from '../manager.ts';
import { flatKeyedValue, parseSingle } from '../parse.ts';

// v1 cpu controller (CFS bandwidth: Documentation/scheduler/sched-bwc.rst; shares; RT groups).

const FIELDS = [
  'cpu.shares',
  'cpu.quota',
  'cpu.period',
  'cpu.burst',
  'cpu.realtimeRuntime',
  'cpu.realtimePeriod',
  'cpu.idle',
] as const;

/** Shared by both drivers: OCI quota/period/burst in microseconds, checked as the kernel will. */
export function checkBandwidth(cpu: { quota?: number; period?: number; burst?: number }) {
  const quota =
    cpu.quota === undefined ? undefined : cpu.quota === -1 ? -1 : checkInt('cpu.quota', cpu.quota, 1000);
  const period = cpu.period === undefined ? undefined : checkInt('cpu.period', cpu.period, 1000, 1_000_000);
  const burst = cpu.burst === undefined ? undefined : checkInt('cpu.burst', cpu.burst, 0);
  return { quota, period, burst };
}

export const v1Cpu: Controller = {
  name: 'cpu',
  claims: (r) => present(r, FIELDS),
  plan(r, ctx: ControllerContext): Step[] {
    const c = r.cpu;
    if (!c) return [];
    const file = (f: string) => join(ctx.dir, f);
    const steps: Step[] = [];
    if (c.shares !== undefined)
      steps.push({
        field: 'cpu.shares',
        path: file('cpu.shares'),
        value: String(checkInt('cpu.shares', c.shares, 2, 262144)),
      });
    if (c.idle !== undefined)
      steps.push({
        field: 'cpu.idle',
        path: file('cpu.idle'),
        value: String(checkInt('cpu.idle', c.idle, 0, 1)),
      });
    const { quota, period, burst } = checkBandwidth(c);
    if (period !== undefined)
      steps.push({ field: 'cpu.period', path: file('cpu.cfs_period_us'), value: String(period) });
    if (quota !== undefined || burst !== undefined) {
      const hasBurst = ctx.fs.exists(file('cpu.cfs_burst_us'));
      if (burst !== undefined && !hasBurst) throw invalid('cpu.burst', 'this kernel has no cpu.cfs_burst_us');
      const curQuota = parseSingle(ctx.fs.read(file('cpu.cfs_quota_us'))) ?? -1;
      const curBurst = hasBurst ? (parseSingle(ctx.fs.read(file('cpu.cfs_burst_us'))) ?? 0) : 0;
      const newQuota = quota ?? curQuota;
      const newBurst = burst ?? curBurst;
      if (newQuota !== -1 && newBurst > newQuota) {
        throw invalid(
          burst !== undefined ? 'cpu.burst' : 'cpu.quota',
          `burst (${newBurst}) must not exceed quota (${newQuota})`,
        );
      }
      const q: Step | undefined =
        quota === undefined
          ? undefined
          : { field: 'cpu.quota', path: file('cpu.cfs_quota_us'), value: String(quota) };
      const b: Step | undefined =
        burst === undefined
          ? undefined
          : { field: 'cpu.burst', path: file('cpu.cfs_burst_us'), value: String(burst) };
      // burst <= quota holds at every moment: lower the burst first when the quota shrinks under it.
      const ordered = curQuota !== -1 && newBurst > curQuota ? [q, b] : [b, q];
      for (const s of ordered) if (s) steps.push(s);
    }
    if (c.realtimeRuntime !== undefined || c.realtimePeriod !== undefined) {
      if (!ctx.fs.exists(file('cpu.rt_runtime_us')))
        throw invalid('cpu.realtimeRuntime', 'this kernel has no real-time group scheduling');
      const rtp =
        c.realtimePeriod === undefined ? undefined : checkInt('cpu.realtimePeriod', c.realtimePeriod, 1);
      const rtr =
        c.realtimeRuntime === undefined
          ? undefined
          : c.realtimeRuntime === -1
            ? -1
            : checkInt('cpu.realtimeRuntime', c.realtimeRuntime, 0);
      if (rtp !== undefined && rtr !== undefined && rtr > rtp)
        throw invalid('cpu.realtimeRuntime', `${rtr} exceeds the period ${rtp}`);
      if (rtp !== undefined)
        steps.push({ field: 'cpu.realtimePeriod', path: file('cpu.rt_period_us'), value: String(rtp) });
      if (rtr !== undefined)
        steps.push({ field: 'cpu.realtimeRuntime', path: file('cpu.rt_runtime_us'), value: String(rtr) });
    }
    return steps;
  },
  stats(ctx, s: Stats) {
    const st = ctx.fs.read(ctx.file('cpu.stat'));
    s.cpu ??= {};
    setKnown(s.cpu, 'nrPeriods', flatKeyedValue(st, 'nr_periods'));
    setKnown(s.cpu, 'nrThrottled', flatKeyedValue(st, 'nr_throttled'));
    const ns = flatKeyedValue(st, 'throttled_time');
    if (ns !== undefined) s.cpu.throttledUsec = Math.floor(ns / 1000);
  },
};
