import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupFs } from '@berth/runtime/cgroup';

// The host's own counters from /proc (and /sys for which block devices are disks), read
// through the cgroup library's pread seam: each file stays open and is re-read from offset
// 0, one syscall per file per second, no process spawned.

export interface HostCounters {
  /** CPU time busy and total across all CPUs, in USER_HZ ticks. */
  cpuBusy: number;
  cpuTotal: number;
  cpus: number;
  memoryUsed: number;
  memoryTotal: number;
  tasks: number;
  netRx: number;
  netTx: number;
  blockRead: number;
  blockWrite: number;
  psiCpu: number;
  psiMemory: number;
  psiIo: number;
}

export const emptyHostCounters = (): HostCounters => ({
  cpuBusy: 0,
  cpuTotal: 0,
  cpus: 1,
  memoryUsed: 0,
  memoryTotal: 0,
  tasks: 0,
  netRx: 0,
  netTx: 0,
  blockRead: 0,
  blockWrite: 0,
  psiCpu: Number.NaN,
  psiMemory: Number.NaN,
  psiIo: Number.NaN,
});

export class HostReader {
  private disks: Set<string> | undefined;
  private disksAt = 0;

  constructor(
    private readonly fs: CgroupFs,
    private readonly procRoot = '/proc',
    private readonly sysRoot = '/sys',
    /** Links of Berth's own networks (container veths, bridges): not the host's traffic. */
    private readonly isBerthLink: (name: string) => boolean = () => false,
  ) {}

  /** Fills `out` in place. */
  read(out: HostCounters, now: number): void {
    this.cpu(out);
    this.memory(out);
    out.tasks = this.tasks();
    this.net(out);
    this.block(out, now);
    out.psiCpu = this.psi('cpu');
    out.psiMemory = this.psi('memory');
    out.psiIo = this.psi('io');
  }

  private cpu(out: HostCounters) {
    const s = this.fs.read(join(this.procRoot, 'stat'));
    const end = s.indexOf('\n');
    const f = s.slice(0, end).split(/\s+/);
    // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest is in user)
    let total = 0;
    for (let i = 1; i <= 8 && i < f.length; i++) total += Number(f[i]);
    out.cpuTotal = total;
    out.cpuBusy = total - Number(f[4]) - Number(f[5] ?? 0);
    let cpus = 0;
    for (let i = s.indexOf('\ncpu'); i >= 0; i = s.indexOf('\ncpu', i + 1)) cpus++;
    out.cpus = Math.max(1, cpus);
  }

  private memory(out: HostCounters) {
    const s = this.fs.read(join(this.procRoot, 'meminfo'));
    const total = kib(s, 'MemTotal:');
    out.memoryTotal = total;
    out.memoryUsed = total - kib(s, 'MemAvailable:');
  }

  private tasks(): number {
    // "0.10 0.20 0.30 2/345 6789": runnable/total scheduling entities.
    const s = this.fs.read(join(this.procRoot, 'loadavg'));
    const slash = s.indexOf('/');
    return Number(s.slice(slash + 1, s.indexOf(' ', slash)));
  }

  private net(out: HostCounters) {
    const s = this.fs.read(join(this.procRoot, 'net', 'dev'));
    let rx = 0;
    let tx = 0;
    for (const line of s.split('\n').slice(2)) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim();
      // Traffic leaving or entering the host, not the host talking to itself or to containers.
      // (Container traffic to the outside is counted once, on the uplink.)
      if (name === 'lo' || name.startsWith('veth') || name.startsWith('berth') || this.isBerthLink(name))
        continue;
      const f = line
        .slice(colon + 1)
        .trim()
        .split(/\s+/);
      rx += Number(f[0]);
      tx += Number(f[8]);
    }
    out.netRx = rx;
    out.netTx = tx;
  }

  private block(out: HostCounters, now: number) {
    // Whole physical disks only (partitions and device-mapper would count bytes twice).
    if (!this.disks || now - this.disksAt > 60_000) {
      this.disksAt = now;
      this.disks = new Set();
      try {
        for (const d of readdirSync(join(this.sysRoot, 'block')))
          if (!/^(loop|ram|dm-|zram|md)/.test(d)) this.disks.add(d);
      } catch {
        // no /sys/block: no disk counters
      }
    }
    const s = this.fs.read(join(this.procRoot, 'diskstats'));
    let r = 0;
    let w = 0;
    for (const line of s.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || !this.disks.has(f[2]!)) continue;
      r += Number(f[5]) * 512;
      w += Number(f[9]) * 512;
    }
    out.blockRead = r;
    out.blockWrite = w;
  }

  private psi(resource: string): number {
    try {
      const s = this.fs.read(join(this.procRoot, 'pressure', resource));
      const i = s.indexOf('avg10=');
      return i < 0 ? Number.NaN : Number.parseFloat(s.slice(i + 6, s.indexOf(' ', i)));
    } catch {
      return Number.NaN; // kernel without PSI
    }
  }
}

function kib(s: string, key: string): number {
  const i = s.indexOf(key);
  if (i < 0) return 0;
  return Number.parseInt(s.slice(i + key.length).trimStart(), 10) * 1024;
}
