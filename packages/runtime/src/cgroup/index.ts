import { join } from 'node:path';
import { type Bpf, hostBpf } from '../sys/bpf.ts';
import { watchCgroupEvent } from '../sys/eventfd.ts';
import type { Controller, HostFacts } from './controller.ts';
import { type CgroupLayout, detectHostCgroupLayout } from './detect.ts';
import { type BoundController, FsCgroupManager, type Hierarchy, type OomSource } from './driver.ts';
import { type CgroupFs, hostCgroupFs } from './fs.ts';
import { readHostFacts } from './host.ts';
import type { CgroupManager, CgroupPath } from './manager.ts';
import { normaliseCgroupPath } from './path.ts';
import { CgroupPool, type CgroupPoolOptions } from './pool.ts';
import { v1Blkio } from './v1/blkio.ts';
import { v1Cpu } from './v1/cpu.ts';
import { v1Cpuacct } from './v1/cpuacct.ts';
import { v1Cpuset } from './v1/cpuset.ts';
import { v1Devices } from './v1/devices.ts';
import { v1Core } from './v1/freezer.ts';
import { v1Hugetlb } from './v1/hugetlb.ts';
import { v1Memory, v1OomKillCount } from './v1/memory.ts';
import { pidsController } from './v1/pids.ts';
import { v2Core } from './v2/core.ts';
import { V2_CONTROLLERS, v2DevicesController, v2OomKillCount } from './v2/index.ts';

export type { HostFacts } from './controller.ts';
export { blkioWeightToIoWeight, sharesToWeight } from './convert.ts';
export * from './detect.ts';
export { CgroupError, type CgroupErrorCode } from './errors.ts';
export { type CgroupFs, hostCgroupFs, recordingCgroupFs } from './fs.ts';
export type * from './manager.ts';
export { DEFAULT_CGROUP_PARENT, defaultCgroupPath, resolveCgroupPath } from './path.ts';
export {
  CgroupPool,
  type CgroupPoolOptions,
  DEFAULT_POOL_PARENT,
  type PooledCgroup,
  shapeKey,
} from './pool.ts';
export type * from './resources.ts';

export interface CreateCgroupManagerOptions {
  /** From the root of every hierarchy: defaultCgroupPath(id) or resolveCgroupPath(spec...). */
  path: CgroupPath;
  /** The host's layout; detected from /proc/self/mountinfo when absent. */
  layout?: CgroupLayout;
  /** A directory standing for "/" (tests: a temporary tree laid out like cgroupfs and sysfs). */
  root?: string;
  /** The read/write seam; the real files by default (shared, so its open-file cache is too). */
  fs?: CgroupFs;
  /** Host facts for validation; read from <root>/sys when absent. */
  host?: HostFacts;
  timeouts?: { freezeMs?: number; killMs?: number; removeMs?: number };
  /** bpf(2) for the v2 device program; the real syscall (via koffi) when absent. */
  bpf?: Bpf;
  /** The v1 event notification (eventfd) for OOM; the real one when absent. */
  cgroupEvents?: typeof watchCgroupEvent;
}

/**
 * A pool of container cgroups made ahead of time on this host (see pool.ts), for
 * `new Runtime({ cgroupPool })`: containers without linux.cgroupsPath start in one of them and
 * their removal happens in the background. close() it when done.
 */
export function openCgroupPool(
  o: Partial<Omit<CgroupPoolOptions, 'manager'>> & { manager?: CgroupPoolOptions['manager'] } = {},
): Promise<CgroupPool> {
  const layout = o.layout ?? detectHostCgroupLayout();
  return CgroupPool.open({
    ...o,
    layout,
    fs: o.fs ?? defaultFs(),
    manager: o.manager ?? ((path) => createCgroupManager({ path, layout })),
  });
}

/** CgroupPool.removeStraySlots on this host: a flat pool's leftovers under `parent`. */
export function removeStrayCgroupSlots(
  parent: CgroupPath,
  keep: (name: string) => boolean,
  o: { layout?: CgroupLayout; fs?: CgroupFs } = {},
): Promise<string[]> {
  const layout = o.layout ?? detectHostCgroupLayout();
  return CgroupPool.removeStraySlots(
    { parent, layout, fs: o.fs ?? defaultFs(), manager: (path) => createCgroupManager({ path, layout }) },
    keep,
  );
}

const V1_CONTROLLERS: Record<string, Controller> = {
  cpu: v1Cpu,
  cpuacct: v1Cpuacct,
  cpuset: v1Cpuset,
  memory: v1Memory,
  pids: pidsController,
  blkio: v1Blkio,
  hugetlb: v1Hugetlb,
  devices: v1Devices,
};

/** Planning and writing order: cpuset before cpu (pinning before bandwidth), devices last. */
const ORDER = ['cpuset', 'cpu', 'cpuacct', 'memory', 'pids', 'blkio', 'io', 'hugetlb', 'devices'];

let sharedFs: CgroupFs | undefined;
function defaultFs(): CgroupFs {
  if (!sharedFs) sharedFs = hostCgroupFs();
  return sharedFs;
}

/**
 * The one place a driver is chosen. v1: a controller implementation per v1 hierarchy and the v1
 * freezer as core. v2: the v2 controllers the root offers, the v2 core, a BPF device program.
 * Hybrid (controllers on v1, cgroup2 mounted beside): the v1 controllers, plus the v2 core on the
 * unified mount for freeze/kill/PSI, plus any controller only v2 has and the host enabled.
 */
export function createCgroupManager(opts: CreateCgroupManagerOptions): CgroupManager {
  const path = normaliseCgroupPath(opts.path, 'path');
  const root = opts.root ?? '/';
  const fs = opts.fs ?? defaultFs();
  const layout = opts.layout ?? detectHostCgroupLayout(join(root, 'proc'));
  let facts = opts.host;
  const host = () => {
    facts ??= readHostFacts(fs, join(root, 'sys'));
    return facts;
  };
  const under = (p: string) => join(root, p);

  const hierarchies: Hierarchy[] = [];
  const controllers: BoundController[] = [];
  let oom: OomSource | undefined;

  // v1 hierarchies (v1 and hybrid).
  const v1Mounts = new Map<string, Hierarchy>();
  let freezer: Hierarchy | undefined;
  for (const [name, mount] of Object.entries(layout.mode === 'v2' ? {} : layout.v1)) {
    let h = v1Mounts.get(mount);
    if (!h) {
      h = { kind: 'v1', mount: under(mount) };
      v1Mounts.set(mount, h);
      hierarchies.push(h);
    }
    if (name === 'freezer') freezer = h;
    const c = V1_CONTROLLERS[name];
    if (!c) continue;
    const bound = { controller: c, hierarchy: h };
    controllers.push(bound);
    if (name === 'memory') {
      const trigger = { kind: 'eventfd', file: 'memory.oom_control', fallbackMs: 100 } as const;
      oom = { controller: bound, count: v1OomKillCount, trigger };
    }
  }

  // The v2 hierarchy (v2 and hybrid).
  let v2: Hierarchy | undefined;
  if (layout.v2 && layout.mode !== 'v1') {
    const mount = under(layout.v2.mountPoint);
    let offered = layout.v2.controllers;
    if (layout.mode === 'hybrid') {
      // Controllers the host itself enabled below the unified root; Berth does not change the root.
      let enabled: string[] = [];
      try {
        enabled = fs.read(join(mount, 'cgroup.subtree_control')).split(/\s+/);
      } catch {
        // unreadable: none
      }
      offered = offered.filter((c) => enabled.includes(c) && !(c in layout.v1));
    }
    const names = offered.filter((c) => c in V2_CONTROLLERS);
    v2 = { kind: 'v2', mount, enable: names, skipRootSubtreeControl: layout.mode === 'hybrid' };
    hierarchies.push(v2);
    for (const name of names) {
      const bound = { controller: V2_CONTROLLERS[name]!, hierarchy: v2 };
      controllers.push(bound);
      if (name === 'memory')
        oom = { controller: bound, count: v2OomKillCount, trigger: { kind: 'watch', file: 'memory.events' } };
    }
    // Devices: a BPF program on the v2 cgroup when there is no v1 devices controller.
    if (!('devices' in layout.v1)) {
      let b = opts.bpf;
      const bpf = () => {
        b ??= hostBpf();
        return b;
      };
      controllers.push({ controller: v2DevicesController(bpf), hierarchy: v2 });
    }
  }

  const v2h = v2;
  const core =
    v2h !== undefined
      ? (dirOf: (h: Hierarchy) => string) => v2Core(fs, dirOf(v2h))
      : (dirOf: (h: Hierarchy) => string) =>
          v1Core(fs, dirOf(freezer ?? hierarchies[0]!), freezer ? dirOf(freezer) : undefined);
  if (hierarchies.length === 0) throw new Error('createCgroupManager: the layout has no usable hierarchy');
  // One order on every host, whatever order the kernel lists controllers in.
  const rank = (name: string) => ORDER.indexOf(name);
  controllers.sort((a, b) => rank(a.controller.name) - rank(b.controller.name));
  v2?.enable?.sort((a, b) => rank(a) - rank(b));

  return new FsCgroupManager({
    mode: layout.mode,
    path,
    fs,
    hierarchies,
    controllers,
    core,
    host,
    ...(v2 ? { unified: v2 } : {}),
    ...(oom ? { oom } : {}),
    ...(opts.timeouts ? { timeouts: opts.timeouts } : {}),
    unsupportedReason: (field) => unsupportedReason(field, layout, v2 !== undefined),
    cgroupEvents: opts.cgroupEvents ?? watchCgroupEvent,
  });
}

const V1_ONLY: Record<string, string> = {
  'memory.kernel': 'kernel memory limits exist only in cgroup v1 (deprecated there)',
  'memory.kernelTCP': 'kernel TCP memory limits exist only in cgroup v1',
  'memory.swappiness': 'cgroup v2 has no per-cgroup swappiness',
  'memory.disableOOMKiller': 'cgroup v2 cannot disable the OOM killer per cgroup',
  'cpu.realtimeRuntime': 'cgroup v2 has no real-time group scheduling',
  'cpu.realtimePeriod': 'cgroup v2 has no real-time group scheduling',
  'blockIO.leafWeight': 'leaf weights went with the CFQ scheduler',
};

function unsupportedReason(field: string, layout: CgroupLayout, hasV2: boolean): string {
  // Only reached when no controller claimed the field: a v1-only setting on a v2 controller.
  if (V1_ONLY[field]) return V1_ONLY[field]!;
  if (field.startsWith('unified.'))
    return hasV2 ? 'unknown v2 key' : 'this host has no cgroup v2 hierarchy for unified keys';
  const controller = field.startsWith('memory.')
    ? 'memory'
    : field === 'cpu.cpus' || field === 'cpu.mems'
      ? 'cpuset'
      : field.startsWith('cpu.')
        ? 'cpu'
        : field.startsWith('blockIO.')
          ? 'io/blkio'
          : field.startsWith('pids.')
            ? 'pids'
            : field === 'hugepageLimits'
              ? 'hugetlb'
              : field;
  return `the ${controller} controller is not available to Berth's cgroups on this ${layout.mode} host`;
}
