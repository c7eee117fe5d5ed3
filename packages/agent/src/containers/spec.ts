import { readFileSync } from 'node:fs';
import type { ContainerConfig, Limits } from '@berth/contracts';
import type { ContainerRuntime } from '../runtime/types.ts';

// Berth config + image config → the OCI spec berthd hands the runtime. Starts from the
// runtime's secure defaults (capabilities no larger than Docker's, no_new_privs, masked /proc
// and /sys paths, default devices only, seccomp, pids limit) and only narrows or fills in.

export interface ImageConfigLike {
  user?: string;
  env: string[];
  entrypoint: string[] | null;
  cmd: string[] | null;
  workingDir?: string;
  stopSignal?: string;
}

export interface SpecInput {
  id: string;
  config: ContainerConfig;
  image: ImageConfigLike;
  rootfs: string;
  cgroupsPath: string;
  /** Host id range of the container's user namespace; undefined: privileged (no userns). */
  idBase?: number;
  uid: number;
  gid: number;
  /** Bind mounts (volumes and allowed host paths), already resolved and checked. */
  binds: Array<{ source: string; target: string; readOnly: boolean }>;
  /** `/proc/<pid>/ns/net` of the container whose network this one joins. */
  joinNetns?: string;
  seccomp?: unknown;
}

export const ID_RANGE = 65_536;

/** SIGRTMIN+3: what systemd takes as "halt" (SIGTERM only makes it re-execute). */
export const SYSTEMD_STOP_SIGNAL = 37;

export function commandOf(config: ContainerConfig, image: ImageConfigLike): string[] {
  if (config.command) return config.command;
  if (config.kind === 'system') return ['/sbin/init'];
  const args = [...(image.entrypoint ?? []), ...(image.cmd ?? [])];
  return args.length > 0 ? args : ['/bin/sh'];
}

/** Image env, then the container's (a later KEY= wins). */
export function mergeEnv(...lists: string[][]): string[] {
  const byKey = new Map<string, string>();
  for (const list of lists) for (const kv of list) byKey.set(kv.slice(0, kv.indexOf('=')), kv);
  return [...byKey.values()];
}

export function stopSignalOf(config: ContainerConfig, image: ImageConfigLike): string | number {
  if (config.kind === 'system') return SYSTEMD_STOP_SIGNAL;
  return image.stopSignal ?? 'SIGTERM';
}

/** Berth limits → OCI linux.resources. */
export function limitsToResources(l: Limits): Record<string, unknown> {
  const r: Record<string, unknown> = {};
  if (l.cpus !== undefined) r.cpu = { quota: Math.round(l.cpus * 100_000), period: 100_000 };
  if (l.memoryBytes !== undefined) r.memory = { limit: l.memoryBytes };
  if (l.pids !== undefined) r.pids = { limit: l.pids };
  if (l.ioWeight !== undefined) r.blockIO = { weight: l.ioWeight };
  return r;
}

/**
 * The runtime's default seccomp profile (fitted to its default capabilities), rendered once per
 * runtime: the same for every container, and 0.2-0.3 ms to render. Frozen, as every spec shares
 * it.
 */
const defaultSeccomp = new WeakMap<ContainerRuntime, unknown>();

function seccompOf(rt: ContainerRuntime): unknown {
  let profile = defaultSeccomp.get(rt);
  if (profile === undefined) {
    const spec = rt.defaultSpec({ args: ['true'], rootfs: '/' }) as unknown as OciSpec;
    profile = deepFreeze(spec.linux.seccomp);
    defaultSeccomp.set(rt, profile);
  }
  return profile;
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

export function buildSpec(rt: ContainerRuntime, s: SpecInput): Record<string, unknown> {
  const { config } = s;
  const spec = rt.defaultSpec({
    args: commandOf(config, s.image),
    rootfs: s.rootfs,
    ...(s.idBase !== undefined ? { userns: { hostId: s.idBase, size: ID_RANGE } } : {}),
    // With seccomp (berthd's runtime): the default profile, rendered once (seccompOf).
    ...(s.seccomp !== undefined ? { seccomp: false } : {}),
  }) as unknown as OciSpec;
  if (s.seccomp !== undefined) {
    const profile = seccompOf(rt);
    if (profile !== undefined) spec.linux.seccomp = profile;
  }
  const proc = spec.process;
  // With a terminal, init runs on the console pty its monitor holds (berth console; logs read
  // the monitor's bounded console log); without, its output goes to the log file (logFile()).
  proc.terminal = config.terminal ?? config.kind === 'system';
  proc.env = mergeEnv(
    ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
    s.image.env,
    config.kind === 'system' ? ['container=berth'] : [],
    config.env,
  );
  proc.cwd = config.cwd ?? (s.image.workingDir || '/');
  proc.user = { uid: s.uid, gid: s.gid };
  spec.root = { path: s.rootfs, readonly: false };
  spec.hostname = config.hostname ?? hostnameOf(config.name);
  spec.annotations = { 'org.berth.name': config.name, 'org.berth.kind': config.kind };
  const linux = spec.linux;
  linux.cgroupsPath = s.cgroupsPath;
  linux.resources = { ...(linux.resources ?? {}), ...limitsToResources(config.limits) };
  // Network: none keeps the default private namespace (loopback only).
  if (config.network === 'host') linux.namespaces = linux.namespaces.filter((n) => n.type !== 'network');
  else if (s.joinNetns)
    linux.namespaces = linux.namespaces.map((n) =>
      n.type === 'network' ? { type: 'network', path: s.joinNetns } : n,
    );
  for (const b of s.binds)
    spec.mounts.push({
      destination: b.target,
      type: 'bind',
      source: b.source,
      options: ['rbind', 'nosuid', 'nodev', b.readOnly ? 'ro' : 'rw'],
    });
  if (config.kind === 'system') systemContainer(spec);
  return spec as unknown as Record<string, unknown>;
}

/**
 * systemd as PID 1 wants a writable cgroup subtree of its own and /run, /run/lock as tmpfs
 * (LXC's "mixed" cgroup mount: read-only except the container's own cgroup, which the
 * cgroup namespace makes its root), and room to raise its services' open-file limits:
 * systemd's own defaults, soft 1024 (select() still works) and hard 524288.
 */
function systemContainer(spec: OciSpec): void {
  const hard = systemNofileHard();
  spec.process.rlimits = [
    ...(spec.process.rlimits ?? []).filter((r) => r.type !== 'RLIMIT_NOFILE'),
    { type: 'RLIMIT_NOFILE', soft: Math.min(1024, hard), hard },
  ];
  spec.mounts = spec.mounts.map((m) =>
    m.destination === '/sys/fs/cgroup'
      ? { ...m, options: (m.options ?? []).filter((o) => o !== 'ro').concat('rw') }
      : m,
  );
  for (const dest of ['/run', '/run/lock'])
    spec.mounts.push({
      destination: dest,
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'nodev', 'mode=755', 'size=65536k'],
    });
}

/**
 * 524288, or less where berthd may not give that much: raising a hard limit above berthd's own
 * needs CAP_SYS_RESOURCE, which some hosts' root lacks (the CI VMs' does).
 */
export function systemNofileHard(
  status = readFileSync('/proc/self/status', 'utf8'),
  limits = readFileSync('/proc/self/limits', 'utf8'),
): number {
  const want = 524288;
  const capEff = /^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1];
  if (capEff && (BigInt(`0x${capEff}`) >> 24n) & 1n) return want; // CAP_SYS_RESOURCE
  const own = /^Max open files\s+\S+\s+(\S+)/m.exec(limits)?.[1];
  const hard = own === 'unlimited' ? want : Number(own);
  return Number.isFinite(hard) && hard > 0 ? Math.min(want, hard) : want;
}

export function hostnameOf(name: string): string {
  const h = name
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '');
  return h.slice(0, 63) || 'berth';
}

interface OciSpec {
  process: {
    terminal?: boolean;
    env?: string[];
    cwd: string;
    user: { uid: number; gid: number };
    args?: string[];
    rlimits?: Array<{ type: string; soft: number; hard: number }>;
  };
  root: { path: string; readonly?: boolean };
  hostname?: string;
  annotations?: Record<string, string>;
  mounts: Array<{ destination: string; type?: string; source?: string; options?: string[] }>;
  linux: {
    cgroupsPath?: string;
    resources?: Record<string, unknown>;
    namespaces: Array<{ type: string; path?: string }>;
    seccomp?: unknown;
  };
}
