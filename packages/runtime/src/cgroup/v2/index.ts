import type { Controller } from '../controller.ts';
import { v2Cpu } from './cpu.ts';
import { v2Cpuset } from './cpuset.ts';
import { v2Hugetlb } from './hugetlb.ts';
import { v2Io } from './io.ts';
import { v2Memory } from './memory.ts';
import { v2Pids } from './pids.ts';

export { compileDeviceProgram, v2DevicesController } from './devices.ts';
export { v2OomKillCount } from './memory.ts';

/** The v2 controllers by kernel name (what cgroup.controllers lists). */
export const V2_CONTROLLERS: Record<string, Controller> = {
  cpu: v2Cpu,
  cpuset: v2Cpuset,
  memory: v2Memory,
  pids: v2Pids,
  io: v2Io,
  hugetlb: v2Hugetlb,
};
