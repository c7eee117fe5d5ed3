import { join } from 'node:path';
import type { HostFacts } from './controller.ts';
import { hugepageDirToPageSize } from './convert.ts';
import { errnoCode } from './errors.ts';
import type { CgroupFs } from './fs.ts';

/** Read the host facts limits are checked against, through the seam, from a sysfs root. */
export function readHostFacts(fs: CgroupFs, sysRoot = '/sys'): HostFacts {
  const read = (p: string, fallback: string) => {
    try {
      return fs.read(join(sysRoot, p)).trim();
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return fallback;
      throw err;
    }
  };
  let sizes: string[] = [];
  try {
    sizes = fs
      .listDirs(join(sysRoot, 'kernel/mm/hugepages'))
      .map(hugepageDirToPageSize)
      .filter((s): s is string => s !== undefined);
  } catch {
    // No hugetlbfs support: no sizes.
  }
  return {
    onlineCpus: read('devices/system/cpu/online', '0'),
    // Kernels without NUMA have no node directory: node 0 is the only one.
    onlineMems: read('devices/system/node/online', '0'),
    hugePageSizes: sizes,
  };
}
