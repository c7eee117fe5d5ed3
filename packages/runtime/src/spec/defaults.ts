import { seccompProfileFor } from '../seccomp/index.ts';
import type { OciConfig } from './config.ts';
import { DOCKER_DEFAULT_CAPABILITIES } from './linux.ts';

// Berth's secure defaults: what `berth-runtime spec` prints and what berthd gives a container.
// Capabilities are Docker's default set (never more), no_new_privs is on, /proc and /sys
// paths are masked or read-only as in runc/Docker, only the spec's default devices exist,
// and the container gets its own cgroup with a pids limit.

export const DEFAULT_MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export const DEFAULT_READONLY_PATHS = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

export const DEFAULT_PIDS_LIMIT = 4096;

export interface DefaultConfigOptions {
  args?: string[];
  terminal?: boolean;
  rootfs?: string;
  /** A user namespace mapping container ids 0..size-1 to hostId.. (unprivileged container). */
  userns?: { hostId: number; size: number };
  /** false leaves seccomp out (tests of other behaviour); default Berth's profile. */
  seccomp?: false;
}

export function defaultConfig(opts: DefaultConfigOptions = {}): OciConfig {
  const caps = [...DOCKER_DEFAULT_CAPABILITIES];
  const namespaces: NonNullable<NonNullable<OciConfig['linux']>['namespaces']> = [
    { type: 'pid' },
    { type: 'network' },
    { type: 'ipc' },
    { type: 'uts' },
    { type: 'mount' },
    { type: 'cgroup' },
  ];
  if (opts.userns) namespaces.push({ type: 'user' });
  const config: OciConfig = {
    // 1.0.2: what runc 1.1 and crun 1.8 (Debian 12) accept, so bundles made by `spec` run anywhere.
    ociVersion: '1.0.2',
    process: {
      terminal: opts.terminal ?? false,
      user: { uid: 0, gid: 0 },
      args: opts.args ?? ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: {
        bounding: [...caps],
        effective: [...caps],
        permitted: [...caps],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: opts.rootfs ?? 'rootfs', readonly: true },
    hostname: 'berth',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: [
          'nosuid',
          'noexec',
          'newinstance',
          'ptmxmode=0666',
          'mode=0620',
          ...(opts.userns ? [] : ['gid=5']),
        ],
      },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
      },
      {
        destination: '/dev/mqueue',
        type: 'mqueue',
        source: 'mqueue',
        options: ['nosuid', 'noexec', 'nodev'],
      },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      {
        destination: '/sys/fs/cgroup',
        type: 'cgroup',
        source: 'cgroup',
        options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
      },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] },
    ],
    linux: {
      ...(opts.userns
        ? {
            uidMappings: [{ containerID: 0, hostID: opts.userns.hostId, size: opts.userns.size }],
            gidMappings: [{ containerID: 0, hostID: opts.userns.hostId, size: opts.userns.size }],
          }
        : {}),
      resources: { devices: [{ allow: false, access: 'rwm' }], pids: { limit: DEFAULT_PIDS_LIMIT } },
      namespaces,
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
      // Docker's default fitted to these capabilities: unshare, mount, keyctl, bpf... refused.
      ...(opts.seccomp === false ? {} : { seccomp: seccompProfileFor({ capabilities: caps }) }),
    },
  };
  return config;
}

/**
 * A rootless container (runc's `spec --rootless`): its root is the caller's own uid and gid
 * (the only ids an unprivileged user may map without newuidmap), mount options naming other
 * ids are dropped, and there are no cgroup limits (an unprivileged caller has no cgroup to
 * put them in). The rest of Berth's defaults stay, its own network namespace included.
 */
export function rootlessConfig(config: OciConfig, uid: number, gid: number): OciConfig {
  const linux = config.linux ?? {};
  const { resources: _limits, ...rest } = linux;
  return {
    ...config,
    mounts: config.mounts?.map((m) => ({
      ...m,
      ...(m.options ? { options: m.options.filter((o) => !/^(uid|gid)=/.test(o)) } : {}),
    })),
    linux: {
      ...rest,
      namespaces: [...(linux.namespaces ?? []).filter((n) => n.type !== 'user'), { type: 'user' }],
      uidMappings: [{ containerID: 0, hostID: uid, size: 1 }],
      gidMappings: [{ containerID: 0, hostID: gid, size: 1 }],
    },
  };
}
