import { join } from 'node:path';
import {
  type Controller,
  type ControllerContext,
  present,
  readCached,
  type Step,
  setKnown,
} from '../controller.ts';
import { checkInt, checkLimit } from '../convert.ts';
import { invalid, unsupported } from '../errors.ts';
import type { Stats } from '../manager.ts';
import { flatKeyedValue, parseSingle } from '../parse.ts';
import type { LinuxResources } from '../resources.ts';

// v1 memory controller (Documentation/admin-guide/cgroup-v1/memory.rst). OCI's units are v1's.

const FIELDS = [
  'memory.limit',
  'memory.reservation',
  'memory.swap',
  'memory.kernel',
  'memory.kernelTCP',
  'memory.swappiness',
  'memory.disableOOMKiller',
  'memory.useHierarchy',
  'memory.checkBeforeUpdate',
] as const;

/** v1 reports "no limit" as PAGE_COUNTER_MAX pages; anything this large is unlimited. */
const UNLIMITED_FROM = 2 ** 62;
const limitOrUndefined = (v: number | undefined) => (v === undefined || v >= UNLIMITED_FROM ? undefined : v);

export const v1Memory: Controller = {
  name: 'memory',
  claims: (r) => present(r, FIELDS),
  plan(r: LinuxResources, ctx: ControllerContext): Step[] {
    const m = r.memory;
    if (!m) return [];
    const file = (f: string) => join(ctx.dir, f);
    const steps: Step[] = [];
    const limit = m.limit === undefined ? undefined : checkLimit('memory.limit', m.limit, 4096);
    const swap = m.swap === undefined ? undefined : checkLimit('memory.swap', m.swap, 4096);
    if (m.reservation !== undefined) {
      const v = checkLimit('memory.reservation', m.reservation);
      steps.push({
        field: 'memory.reservation',
        path: file('memory.soft_limit_in_bytes'),
        value: String(v ?? -1),
      });
    }
    if (m.useHierarchy === false)
      throw unsupported(
        'memory.useHierarchy',
        'false is not supported: Linux always accounts hierarchically',
      );
    if (m.swappiness !== undefined) {
      steps.push({
        field: 'memory.swappiness',
        path: file('memory.swappiness'),
        value: String(checkInt('memory.swappiness', m.swappiness, 0, 100)),
      });
    }
    if (m.disableOOMKiller !== undefined) {
      if (typeof m.disableOOMKiller !== 'boolean')
        throw invalid('memory.disableOOMKiller', 'must be true or false');
      steps.push({
        field: 'memory.disableOOMKiller',
        path: file('memory.oom_control'),
        value: m.disableOOMKiller ? '1' : '0',
      });
    }
    if (m.kernel !== undefined) {
      const v = checkLimit('memory.kernel', m.kernel);
      if (!ctx.fs.exists(file('memory.kmem.limit_in_bytes')))
        throw unsupported(
          'memory.kernel',
          'this kernel has no kernel-memory limit (memory.kmem.limit_in_bytes)',
        );
      steps.push({
        field: 'memory.kernel',
        path: file('memory.kmem.limit_in_bytes'),
        value: String(v ?? -1),
      });
    }
    if (m.kernelTCP !== undefined) {
      const v = checkLimit('memory.kernelTCP', m.kernelTCP);
      if (!ctx.fs.exists(file('memory.kmem.tcp.limit_in_bytes')))
        throw unsupported('memory.kernelTCP', 'this kernel has no memory.kmem.tcp.limit_in_bytes');
      steps.push({
        field: 'memory.kernelTCP',
        path: file('memory.kmem.tcp.limit_in_bytes'),
        value: String(v ?? -1),
      });
    }

    if (m.limit !== undefined || m.swap !== undefined) {
      const hasMemsw = ctx.fs.exists(file('memory.memsw.limit_in_bytes'));
      if (m.swap !== undefined && !hasMemsw)
        throw unsupported(
          'memory.swap',
          'swap accounting is off on this host (no memory.memsw.limit_in_bytes)',
        );
      const curLimit = parseSingle(ctx.fs.read(file('memory.limit_in_bytes'))) ?? Number.POSITIVE_INFINITY;
      const curSwap = hasMemsw
        ? (parseSingle(ctx.fs.read(file('memory.memsw.limit_in_bytes'))) ?? Number.POSITIVE_INFINITY)
        : Number.POSITIVE_INFINITY;
      const newLimit = m.limit === undefined ? curLimit : (limit ?? Number.POSITIVE_INFINITY);
      const newSwap = m.swap === undefined ? curSwap : (swap ?? Number.POSITIVE_INFINITY);
      if (newSwap < newLimit) {
        throw invalid(
          m.swap !== undefined ? 'memory.swap' : 'memory.limit',
          `memory+swap (${fmt(newSwap)}) must not be below the memory limit (${fmt(newLimit)})`,
        );
      }
      if (m.limit !== undefined && m.checkBeforeUpdate && ctx.live && limit !== undefined) {
        const usage = parseSingle(ctx.fs.read(file('memory.usage_in_bytes'))) ?? 0;
        if (limit < usage)
          throw invalid('memory.limit', `${limit} is below the current usage ${usage} (checkBeforeUpdate)`);
      }
      const limitStep: Step | undefined =
        m.limit === undefined
          ? undefined
          : { field: 'memory.limit', path: file('memory.limit_in_bytes'), value: String(limit ?? -1) };
      const swapStep: Step | undefined =
        m.swap === undefined
          ? undefined
          : { field: 'memory.swap', path: file('memory.memsw.limit_in_bytes'), value: String(swap ?? -1) };
      // The kernel keeps limit <= memsw at every moment: raise memsw first when the new limit
      // would pass the current memsw.
      const ordered = newLimit <= curSwap ? [limitStep, swapStep] : [swapStep, limitStep];
      for (const s of ordered) if (s) steps.push(s);
    }
    return steps;
  },
  stats(ctx, s: Stats) {
    const mem: NonNullable<Stats['memory']> = {};
    setKnown(mem, 'usage', parseSingle(ctx.fs.read(ctx.file('memory.usage_in_bytes'))));
    setKnown(mem, 'peak', parseSingle(ctx.fs.read(ctx.file('memory.max_usage_in_bytes'))));
    setKnown(mem, 'limit', limitOrUndefined(parseSingle(readCached(ctx, ctx.file('memory.limit_in_bytes')))));
    // Hierarchical totals: a container may have made sub-cgroups of its own.
    const stat = ctx.fs.read(ctx.file('memory.stat'));
    setKnown(mem, 'anon', flatKeyedValue(stat, 'total_rss'));
    setKnown(mem, 'file', flatKeyedValue(stat, 'total_cache'));
    setKnown(mem, 'oomKill', flatKeyedValue(ctx.fs.read(ctx.file('memory.oom_control')), 'oom_kill'));
    s.memory = mem;
  },
};

function fmt(n: number): string {
  return Number.isFinite(n) ? String(n) : 'unlimited';
}

/** The v1 OOM-kill counter (memory.oom_control "oom_kill"), for event polling. */
export function v1OomKillCount(ctx: ControllerContext): number | undefined {
  return flatKeyedValue(ctx.fs.read(ctx.file('memory.oom_control')), 'oom_kill');
}
