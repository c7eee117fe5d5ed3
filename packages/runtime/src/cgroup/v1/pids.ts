import { join } from 'node:path';
import { type Controller, present, readCached, setKnown } from '../controller.ts';
import { checkInt } from '../convert.ts';
import type { Stats } from '../manager.ts';
import { parseSingle } from '../parse.ts';

// pids: the same files on v1 and v2 (pids.max, pids.current), so both drivers use this one.

/** OCI pids.limit: > 0 is the limit; 0 and -1 mean no limit (as runc and crun read it). */
export function pidsMaxValue(limit: unknown): string {
  if (limit === -1 || limit === 0) return 'max';
  return String(checkInt('pids.limit', limit, 1, 4194304));
}

export const pidsController: Controller = {
  name: 'pids',
  claims: (r) => present(r, ['pids.limit']),
  plan: (r, ctx) =>
    r.pids
      ? [{ field: 'pids.limit', path: join(ctx.dir, 'pids.max'), value: pidsMaxValue(r.pids.limit) }]
      : [],
  stats(ctx, s: Stats) {
    const pids: NonNullable<Stats['pids']> = {};
    setKnown(pids, 'current', parseSingle(ctx.fs.read(ctx.file('pids.current'))));
    setKnown(pids, 'limit', parseSingle(readCached(ctx, ctx.file('pids.max'))));
    s.pids = pids;
  },
};
