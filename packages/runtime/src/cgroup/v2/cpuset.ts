import { type Controller, present } from '../controller.ts';
import { planCpuset } from '../v1/cpuset.ts';

// v2 cpuset: same files and list format as v1; an empty list inherits the parent's, so no init.
export const v2Cpuset: Controller = {
  name: 'cpuset',
  claims: (r) => present(r, ['cpu.cpus', 'cpu.mems']),
  plan: (r, ctx) => planCpuset(r, ctx, { cpus: 'cpuset.cpus', mems: 'cpuset.mems' }),
};
