import { readdir, readFile } from 'node:fs/promises';
import { machine } from 'node:os';
import { join } from 'node:path';
import { type HostFacts, NamespaceKind } from '@berth/contracts';
import { detectHostCgroupLayout } from '@berth/runtime/cgroup';
import type { HostService } from '../context.ts';
import { AGENT_VERSION } from '../version.ts';

// Host facts read from the kernel's own files, never assumed: /proc is the source of truth
// (the root integration test checks the answer against it).

export interface HostFactsOptions {
  /** Where procfs is mounted; tests may point it elsewhere. */
  procRoot?: string;
  /** When this agent started (ms since the epoch), for its uptime. */
  startedAt: number;
  now?: () => number;
}

export function hostService(opts: HostFactsOptions): HostService {
  return { facts: () => readHostFacts(opts) };
}

export async function readHostFacts(opts: HostFactsOptions): Promise<HostFacts> {
  const proc = opts.procRoot ?? '/proc';
  const read = (p: string) => readFile(join(proc, p), 'utf8');
  const [hostname, kernelRelease, meminfo, stat, nsEntries, maxUserNs] = await Promise.all([
    read('sys/kernel/hostname'),
    read('sys/kernel/osrelease'),
    read('meminfo'),
    read('stat'),
    readdir(join(proc, 'self/ns')),
    read('sys/user/max_user_namespaces').catch(() => '0'),
  ]);
  const maxUserNamespaces = Number.parseInt(maxUserNs, 10) || 0;
  return {
    hostname: hostname.trim(),
    kernelRelease: kernelRelease.trim(),
    architecture: machine(),
    cgroup: detectHostCgroupLayout(proc),
    namespaces: namespacesOffered(nsEntries, maxUserNamespaces),
    maxUserNamespaces,
    cpus: countOnlineCpus(stat),
    memory: parseMeminfo(meminfo),
    agent: {
      version: AGENT_VERSION,
      uptimeSeconds: Math.max(0, ((opts.now ?? Date.now)() - opts.startedAt) / 1000),
    },
  };
}

/**
 * The namespace kinds offered, from the entries of /proc/self/ns (a kernel built without a
 * kind has no entry for it). `pid_for_children` and `time_for_children` are views of `pid`
 * and `time`. A user namespace is offered only when user.max_user_namespaces allows one.
 */
export function namespacesOffered(nsEntries: string[], maxUserNamespaces: number): NamespaceKind[] {
  const kinds = new Set<NamespaceKind>();
  for (const entry of nsEntries) {
    const kind = NamespaceKind.safeParse(entry.replace(/_for_children$/, ''));
    if (kind.success) kinds.add(kind.data);
  }
  if (maxUserNamespaces <= 0) kinds.delete('user');
  return NamespaceKind.options.filter((k) => kinds.has(k));
}

/** Online CPUs: the `cpuN` lines of /proc/stat (offline CPUs have none). */
export function countOnlineCpus(procStat: string): number {
  const n = procStat.split('\n').filter((l) => /^cpu\d+\s/.test(l)).length;
  if (n === 0) throw new Error('/proc/stat lists no CPU');
  return n;
}

/** MemTotal and MemAvailable from /proc/meminfo, in bytes (the file says kB, meaning KiB). */
export function parseMeminfo(text: string): HostFacts['memory'] {
  const kib = (field: string): number | undefined => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const totalBytes = kib('MemTotal');
  if (totalBytes === undefined) throw new Error('/proc/meminfo has no MemTotal line');
  // MemAvailable exists since Linux 3.14; before it, MemFree is the closest honest figure.
  return { totalBytes, availableBytes: kib('MemAvailable') ?? kib('MemFree') ?? 0 };
}
