import { join } from 'node:path';
import {
  type Controller,
  type ControllerContext,
  present,
  readCached,
  type Step,
  setKnown,
} from '../controller.ts';
import { checkLimit } from '../convert.ts';
import { invalid, unsupported } from '../errors.ts';
import type { Stats } from '../manager.ts';
import { flatKeyedValue, parseSingle } from '../parse.ts';

// v2 memory (cgroup-v2.rst "Memory"). OCI swap is memory+swap (v1 memsw); v2's memory.swap.max
// is swap alone, so swap.max = swap - limit.

const FIELDS = [
  'memory.limit',
  'memory.reservation',
  'memory.swap',
  'memory.useHierarchy',
  'memory.checkBeforeUpdate',
] as const;

export const v2Memory: Controller = {
  name: 'memory',
  claims: (r) => present(r, FIELDS),
  plan(r, ctx: ControllerContext): Step[] {
    const m = r.memory;
    if (!m) return [];
    const file = (f: string) => join(ctx.dir, f);
    const steps: Step[] = [];
    if (m.useHierarchy === false)
      throw unsupported('memory.useHierarchy', 'false is not supported: cgroup v2 is always hierarchical');
    const limit = m.limit === undefined ? undefined : checkLimit('memory.limit', m.limit, 4096);
    if (m.limit !== undefined) {
      if (m.checkBeforeUpdate && ctx.live && limit !== undefined) {
        const usage = parseSingle(ctx.fs.read(file('memory.current'))) ?? 0;
        if (limit < usage)
          throw invalid('memory.limit', `${limit} is below the current usage ${usage} (checkBeforeUpdate)`);
      }
      steps.push({
        field: 'memory.limit',
        path: file('memory.max'),
        value: limit === undefined ? 'max' : String(limit),
      });
    }
    if (m.reservation !== undefined) {
      const v = checkLimit('memory.reservation', m.reservation);
      steps.push({
        field: 'memory.reservation',
        path: file('memory.low'),
        value: v === undefined ? '0' : String(v),
      });
    }
    if (m.swap !== undefined) {
      const swap = checkLimit('memory.swap', m.swap, 0);
      if (!ctx.fs.exists(file('memory.swap.max')))
        throw unsupported('memory.swap', 'swap accounting is off on this host (no memory.swap.max)');
      let value = 'max';
      if (swap !== undefined) {
        const effLimit = m.limit !== undefined ? limit : parseSingle(ctx.fs.read(file('memory.max')));
        if (effLimit === undefined)
          throw invalid('memory.swap', 'memory+swap needs a memory limit (memory.limit) on cgroup v2');
        if (swap < effLimit)
          throw invalid(
            'memory.swap',
            `memory+swap (${swap}) must not be below the memory limit (${effLimit})`,
          );
        value = String(swap - effLimit);
      }
      steps.push({ field: 'memory.swap', path: file('memory.swap.max'), value });
    }
    return steps;
  },
  stats(ctx, s: Stats) {
    const mem: NonNullable<Stats['memory']> = {};
    setKnown(mem, 'usage', parseSingle(ctx.fs.read(ctx.file('memory.current'))));
    try {
      setKnown(mem, 'peak', parseSingle(ctx.fs.read(ctx.file('memory.peak')))); // Linux 5.19+
    } catch {
      // older kernel: peak unknown
    }
    setKnown(mem, 'limit', parseSingle(readCached(ctx, ctx.file('memory.max'))));
    const stat = ctx.fs.read(ctx.file('memory.stat'));
    setKnown(mem, 'anon', flatKeyedValue(stat, 'anon'));
    setKnown(mem, 'file', flatKeyedValue(stat, 'file'));
    const events = ctx.fs.read(ctx.file('memory.events'));
    setKnown(mem, 'oom', flatKeyedValue(events, 'oom'));
    setKnown(mem, 'oomKill', flatKeyedValue(events, 'oom_kill'));
    s.memory = mem;
  },
};

/** memory.events "oom_kill" (hierarchical), for the OOM event watch. */
export function v2OomKillCount(ctx: ControllerContext): number | undefined {
  return flatKeyedValue(ctx.fs.read(ctx.file('memory.events')), 'oom_kill');
}
