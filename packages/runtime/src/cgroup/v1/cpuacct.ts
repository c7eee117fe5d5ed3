import type { Controller } from '../controller.ts';
import type { Stats } from '../manager.ts';
import { parseSingle } from '../parse.ts';

// v1 cpuacct: accounting only. cpuacct.usage is the exact total (ns); cpuacct.usage_all has
// user and system per CPU (ns); cpuacct.stat would only give ticks.
export const v1Cpuacct: Controller = {
  name: 'cpuacct',
  claims: () => [],
  plan: () => [],
  stats(ctx, s: Stats) {
    const total = parseSingle(ctx.fs.read(ctx.file('cpuacct.usage')));
    const all = ctx.fs.read(ctx.file('cpuacct.usage_all'));
    s.cpu ??= {};
    if (total !== undefined) s.cpu.usageUsec = Math.floor(total / 1000);
    // "cpu user system" then one line per CPU.
    let user = 0;
    let system = 0;
    let lines = 0;
    for (let at = all.indexOf('\n') + 1; at > 0 && at < all.length; ) {
      let end = all.indexOf('\n', at);
      if (end < 0) end = all.length;
      const a = all.indexOf(' ', at);
      const b = all.indexOf(' ', a + 1);
      if (a > 0 && b > a && b < end) {
        user += Number(all.slice(a + 1, b));
        system += Number(all.slice(b + 1, end));
        lines++;
      }
      at = end + 1;
    }
    if (lines > 0 && !Number.isNaN(user + system)) {
      s.cpu.userUsec = Math.floor(user / 1000);
      s.cpu.systemUsec = Math.floor(system / 1000);
    }
  },
};
