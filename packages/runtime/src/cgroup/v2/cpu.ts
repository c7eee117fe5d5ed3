import { join } from 'node:path';
import { type Controller, present, type Step, setKnown } from '../controller.ts';
import { checkInt, sharesToWeight } from '../convert.ts';
import { invalid } from '../errors.ts';
import type { Stats } from '../manager.ts';
import { flatKeyedValue } from '../parse.ts';
import { checkBandwidth } from '../v1/cpu.ts';

// v2 cpu (cgroup-v2.rst "CPU"): cpu.weight from OCI shares, cpu.max "$QUOTA $PERIOD",
// cpu.max.burst, cpu.idle.

const FIELDS = ['cpu.shares', 'cpu.quota', 'cpu.period', 'cpu.burst', 'cpu.idle'] as const;

export const v2Cpu: Controller = {
  name: 'cpu',
  claims: (r) => present(r, FIELDS),
  plan(r, ctx): Step[] {
    const c = r.cpu;
    if (!c) return [];
    const file = (f: string) => join(ctx.dir, f);
    const steps: Step[] = [];
    if (c.shares !== undefined) {
      steps.push({
        field: 'cpu.shares',
        path: file('cpu.weight'),
        value: String(sharesToWeight(checkInt('cpu.shares', c.shares, 2, 262144))),
      });
    }
    if (c.idle !== undefined)
      steps.push({
        field: 'cpu.idle',
        path: file('cpu.idle'),
        value: String(checkInt('cpu.idle', c.idle, 0, 1)),
      });
    const { quota, period, burst } = checkBandwidth(c);
    if (quota !== undefined || period !== undefined) {
      // cpu.max holds both; keep the half the request leaves out.
      const [curQuota = 'max', curPeriod = '100000'] = ctx.fs.read(file('cpu.max')).trim().split(/\s+/);
      const q = quota === undefined ? curQuota : quota === -1 ? 'max' : String(quota);
      const p = period === undefined ? curPeriod : String(period);
      steps.push({
        field: quota !== undefined ? 'cpu.quota' : 'cpu.period',
        path: file('cpu.max'),
        value: `${q} ${p}`,
      });
      if (burst !== undefined && q !== 'max' && burst > Number(q))
        throw invalid('cpu.burst', `burst (${burst}) must not exceed quota (${q})`);
    }
    if (burst !== undefined) {
      if (!ctx.fs.exists(file('cpu.max.burst')))
        throw invalid('cpu.burst', 'this kernel has no cpu.max.burst');
      // The kernel checks burst against the quota; write it after cpu.max when the quota grows, before when it shrinks.
      const step = { field: 'cpu.burst', path: file('cpu.max.burst'), value: String(burst) };
      if (quota !== undefined && quota !== -1 && quota < burstNow(ctx.fs.read(file('cpu.max.burst'))))
        steps.unshift(step);
      else steps.push(step);
    }
    return steps;
  },
  stats(ctx, s: Stats) {
    const st = ctx.fs.read(ctx.file('cpu.stat'));
    s.cpu ??= {};
    setKnown(s.cpu, 'usageUsec', flatKeyedValue(st, 'usage_usec'));
    setKnown(s.cpu, 'userUsec', flatKeyedValue(st, 'user_usec'));
    setKnown(s.cpu, 'systemUsec', flatKeyedValue(st, 'system_usec'));
    setKnown(s.cpu, 'nrPeriods', flatKeyedValue(st, 'nr_periods'));
    setKnown(s.cpu, 'nrThrottled', flatKeyedValue(st, 'nr_throttled'));
    setKnown(s.cpu, 'throttledUsec', flatKeyedValue(st, 'throttled_usec'));
  },
};

function burstNow(text: string): number {
  const n = Number(text.trim());
  return Number.isNaN(n) ? 0 : n;
}
