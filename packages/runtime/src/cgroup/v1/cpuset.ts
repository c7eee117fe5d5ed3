import { join } from 'node:path';
import { type Controller, type ControllerContext, present, type Step } from '../controller.ts';
import { checkCpuList } from '../convert.ts';

// v1 cpuset. A new v1 cpuset cgroup starts with empty cpus/mems (unless clone_children), and a
// task cannot join it until they are set: init() copies the parent's.

export function planCpuset(
  r: { cpu?: { cpus?: string; mems?: string } },
  ctx: ControllerContext,
  names: { cpus: string; mems: string },
): Step[] {
  const steps: Step[] = [];
  const c = r.cpu;
  if (c?.cpus !== undefined) {
    steps.push({
      field: 'cpu.cpus',
      path: join(ctx.dir, names.cpus),
      value: checkCpuList('cpu.cpus', c.cpus, ctx.host.onlineCpus, 'CPUs'),
    });
  }
  if (c?.mems !== undefined) {
    steps.push({
      field: 'cpu.mems',
      path: join(ctx.dir, names.mems),
      value: checkCpuList('cpu.mems', c.mems, ctx.host.onlineMems, 'memory nodes'),
    });
  }
  return steps;
}

export const v1Cpuset: Controller = {
  name: 'cpuset',
  claims: (r) => present(r, ['cpu.cpus', 'cpu.mems']),
  plan: (r, ctx) => planCpuset(r, ctx, { cpus: 'cpuset.cpus', mems: 'cpuset.mems' }),
  init(ctx, parentDir) {
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      if (ctx.fs.read(join(ctx.dir, f)).trim() === '')
        ctx.fs.write(join(ctx.dir, f), ctx.fs.read(join(parentDir, f)).trim());
    }
  },
};
