import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CgroupFs, CgroupManager } from '@berth/runtime/cgroup';

// The per-second part of a container's sample: only the four counters that move every second
// (CPU time, memory in use, pids, block bytes), each one pread of a file the cgroup library's
// seam keeps open, parsed in place. Measured (bench/metrics.ts): the library's full stats()
// reads ~15 files per cgroup, which for 200 containers at 1 Hz costs ~2 % of a core on the
// test VM; this reads 4. The rest of the stats (pressure, limits) comes from stats() every
// FULL_EVERY ticks (PSI's avg10 is itself a 10 s average).

export const FULL_EVERY = 10;

export interface FastCounters {
  /** CPU time in µs, memory bytes, pids, block bytes read and written (NaN: unknown). */
  cpuUsec: number;
  memory: number;
  pids: number;
  blockRead: number;
  blockWrite: number;
}

type Reader = (fs: CgroupFs, out: FastCounters) => void;

/** Finds, once, which of the cgroup's hierarchy dirs holds each counter. */
export function fastReaderFor(manager: CgroupManager): Reader {
  const dirs = manager.procsFiles().map((f) => dirname(f));
  const find = (file: string) => dirs.map((d) => join(d, file)).find((p) => existsSync(p));
  const cpuacct = find('cpuacct.usage');
  const cpuStat = cpuacct ? undefined : find('cpu.stat');
  const memV2 = find('memory.current');
  const memV1 = memV2 ? undefined : find('memory.usage_in_bytes');
  const pids = find('pids.current');
  const ioStat = find('io.stat');
  const blkio = ioStat ? undefined : find('blkio.throttle.io_service_bytes_recursive');
  return (fs, out) => {
    out.cpuUsec = cpuacct
      ? num(fs.read(cpuacct)) / 1000
      : cpuStat
        ? field(fs.read(cpuStat), 'usage_usec ')
        : Number.NaN;
    const mem = memV2 ?? memV1;
    out.memory = mem ? num(fs.read(mem)) : Number.NaN;
    out.pids = pids ? num(fs.read(pids)) : Number.NaN;
    if (ioStat) {
      const s = fs.read(ioStat);
      out.blockRead = sumField(s, 'rbytes=');
      out.blockWrite = sumField(s, 'wbytes=');
    } else if (blkio) {
      const s = fs.read(blkio);
      out.blockRead = sumField(s, ' Read ');
      out.blockWrite = sumField(s, ' Write ');
    } else {
      out.blockRead = out.blockWrite = Number.NaN;
    }
  };
}

const num = (s: string) => (s.length === 0 ? Number.NaN : Number(s));

/** The number after `key` (to the end of its line or the next space). */
function field(s: string, key: string): number {
  const i = s.indexOf(key);
  return i < 0 ? Number.NaN : Number.parseInt(s.slice(i + key.length, i + key.length + 24), 10);
}

/** The sum of the numbers after every `key` (one per device). */
function sumField(s: string, key: string): number {
  let sum = 0;
  for (let i = s.indexOf(key); i >= 0; i = s.indexOf(key, i + key.length))
    sum += Number.parseInt(s.slice(i + key.length, i + key.length + 24), 10);
  return sum;
}
