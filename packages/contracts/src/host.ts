import { z } from 'zod';

// What berthd reports about the host it runs on (`host.facts`), for the panel and `berth info`.

export const CgroupMode = z.enum(['v1', 'v2', 'hybrid']);
export type CgroupMode = z.infer<typeof CgroupMode>;

/** The host's cgroup hierarchies as detected from /proc/self/mountinfo (runtime's detectCgroupLayout). */
export const CgroupLayout = z.object({
  /** v2: only cgroup2 is mounted with controllers; v1: no cgroup2; hybrid: both. */
  mode: CgroupMode,
  /** The cgroup2 mount and the controllers its root offers (its `cgroup.controllers`). */
  v2: z.object({ mountPoint: z.string(), controllers: z.array(z.string()) }).optional(),
  /** Each v1 controller → the mount point of its hierarchy (comounted controllers share one). */
  v1: z.record(z.string(), z.string()),
  /** Named v1 hierarchies without controllers (e.g. "systemd") → mount point. */
  v1Named: z.record(z.string(), z.string()).optional(),
});
export type CgroupLayout = z.infer<typeof CgroupLayout>;

/** Namespace kinds by their /proc/<pid>/ns names (`mnt` is the mount namespace). */
export const NamespaceKind = z.enum(['cgroup', 'ipc', 'mnt', 'net', 'pid', 'time', 'user', 'uts']);
export type NamespaceKind = z.infer<typeof NamespaceKind>;

export const HostFacts = z.object({
  hostname: z.string(),
  /** `uname -r`. */
  kernelRelease: z.string(),
  /** `uname -m`, e.g. "x86_64". */
  architecture: z.string(),
  cgroup: CgroupLayout,
  /** The namespace kinds this kernel offers (a user namespace only when it may be created). */
  namespaces: z.array(NamespaceKind),
  /** /proc/sys/user/max_user_namespaces; 0 means user namespaces are switched off. */
  maxUserNamespaces: z.number().int().nonnegative(),
  /** Online CPUs. */
  cpus: z.number().int().positive(),
  /** From /proc/meminfo: MemTotal and MemAvailable, in bytes. */
  memory: z.object({
    totalBytes: z.number().int().nonnegative(),
    availableBytes: z.number().int().nonnegative(),
  }),
  agent: z.object({
    version: z.string(),
    /** Seconds since this berthd process started. */
    uptimeSeconds: z.number().nonnegative(),
  }),
});
export type HostFacts = z.infer<typeof HostFacts>;
