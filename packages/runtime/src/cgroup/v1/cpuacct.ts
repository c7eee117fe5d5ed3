import { join } from 'node:path';
import type { Controller } from '../controller.ts';
import type { Stats } from '../manager.ts';
import { parseSingle } from '../parse.ts';

// v1 cpuacct: accounting only. usage_user + usage_sys (ns) are exact; cpuacct.stat is in ticks.
export const v1Cpuacct: Controller = {
  name: 'cpuacct',
  claims: () => [],
  plan: () => [],
  stats(ctx, s: Stats) {
    const user = parseSingle(ctx.fs.read(join(ctx.dir, 'cpuacct.usage_user')));
    const sys = parseSingle(ctx.fs.read(join(ctx.dir, 'cpuacct.usage_sys')));
    s.cpu ??= {};
    const cpu = s.cpu;
    if (user !== undefined) cpu.userUsec = Math.floor(user / 1000);
    if (sys !== undefined) cpu.systemUsec = Math.floor(sys / 1000);
    if (user !== undefined && sys !== undefined) cpu.usageUsec = Math.floor((user + sys) / 1000);
  },
};
