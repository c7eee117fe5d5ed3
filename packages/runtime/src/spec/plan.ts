import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { CgroupMode } from '../cgroup/manager.ts';
import type { LinuxDeviceCgroup, LinuxResources } from '../cgroup/resources.ts';
import {
  compileSeccomp,
  hostSeccompArch,
  parseLinuxSeccomp,
  SECCOMP_FILTER_FLAG_NEW_LISTENER,
  type SeccompHostArch,
  seccompFilterFlags,
} from '../seccomp/index.ts';
import { type Device, type Hook, type OciConfig, type ProcessSpec, SpecError } from './config.ts';
import { CAPABILITIES, CLONE, MS, RLIMITS } from './linux.ts';
import { PROPAGATION, parseMountOptions } from './mounts.ts';

// The plan compiler: OCI config → the exact steps the C helper performs. Pure apart from
// checking that the rootfs and bind sources exist, so it is tested without root.

export interface PlanMount {
  source: string;
  destination: string;
  type: string;
  flags: number;
  propagation: number;
  /** 0 a new filesystem, 1 a bind mount, 2 a remount of destination with flags */
  kind: 0 | 1 | 2;
  data: string;
}

export interface PlanDevice {
  path: string;
  mode: number;
  major: number;
  minor: number;
  uid: number;
  gid: number;
}

export interface PlanCaps {
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  ambient: bigint;
}

export interface PlanProcess {
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  umask?: number;
  additionalGids: number[];
  rlimits: Array<{ resource: number; soft: bigint; hard: bigint }>;
  caps?: PlanCaps;
  noNewPrivileges: boolean;
  oomScoreAdj?: number;
  /** struct sock_filter[] and the seccomp(2) flags word */
  seccomp?: { filter: Buffer; flags: number };
  /**
   * SCMP_ACT_NOTIFY: where the helper sends the listener fd (linux.seccomp.listenerPath), and
   * the runtime-spec's containerProcessState sent with it ("pid":-1 filled in by the helper);
   * the runtime fills `state` in (seccompListenerState), the compiler leaves it empty.
   */
  seccompListener?: { path: string; metadata?: string; state: string };
  terminal?: { rows: number; cols: number };
}

export interface Plan extends PlanProcess {
  namespaces: number;
  joins: Array<{ type: number; path: string }>;
  uidMap?: string;
  gidMap?: string;
  timeOffsets?: string;
  cgroupProcs: string[];
  rootfs?: string;
  rootReadonly: boolean;
  rootPropagation?: number;
  mounts: PlanMount[];
  devices: PlanDevice[];
  symlinks: Array<{ target: string; path: string }>;
  masked: string[];
  readonly: string[];
  hostname?: string;
  domainname?: string;
  sysctl: Array<[string, string]>;
  startHooks: Hook[];
  /** createContainer hooks: run by the helper in the container's namespaces before pivot_root. */
  createHooks: Hook[];
  /** prestart and createRuntime hooks: run by the monitor, in the runtime's namespaces, once
   * the container's mounts are made and before its createContainer hooks (the spec's order). */
  prestartHooks: Hook[];
  createRuntimeHooks: Hook[];
  /** The state JSON those two get, with "pid":-1 for the monitor to fill in. */
  runtimeStateJson?: string;
  stateJson?: string;
  // Where and how the helper runs it.
  stateDir?: string;
  consoleSocket?: string;
  attachSocket?: string;
  /** exec: a file (made before the process joins the container) that gets its exit status. */
  exitFile?: string;
  logMax?: number;
  autostart?: boolean;
  /** With autostart: the monitor also reports "started" once init has exec'd (or why not). */
  reportStart?: boolean;
  /** Cgroup directories the monitor gives to the container's root before init starts. */
  cgroupDelegate?: { uid: number; gid: number; dirs: string[] };
  stdio?: [string, string, string];
  requestId?: string;
  targetPid?: number;
  /** Rootless: "deny" goes to /proc/<pid>/setgroups before gid_map (an unprivileged writer must). */
  setgroupsDeny?: boolean;
  /** Rootless with subordinate ids: newuidmap and newgidmap write the maps. */
  idMapHelper?: boolean;
  /** The caller's fds 3..3+n-1 become the process's 3..3+n-1 (OCI --preserve-fds). */
  preserveFds?: number;
  /**
   * Warm cells (native/cell.c, zygote only): run in this cell, whose resident process already
   * sits in cgroupProcs (then no cgroup.procs is written); or make a cell in cgroupProcs; or
   * let a cell go.
   */
  cell?: string;
  cellPrepare?: boolean;
  cellDiscard?: string;
}

export type SeccompCompiler = (seccomp: unknown, arch: 'x86_64' | 'aarch64') => Buffer;

export interface CompileOptions {
  /** Absolute bundle directory: root.path and relative bind sources resolve against it. */
  bundle: string;
  /** cgroup.procs files the init joins before exec (CgroupManager.procsFiles()). */
  cgroupProcs?: string[];
  cgroupMode?: CgroupMode;
  /** The seccomp compiler (src/seccomp) unless a test injects another. */
  compileSeccomp?: SeccompCompiler;
  arch?: 'x86_64' | 'aarch64';
  /**
   * Run by an unprivileged user: its ids (mapped by the monitor itself, setgroups denied), and
   * what /etc/subuid and /etc/subgid give it, usable when newuidmap and newgidmap are there.
   */
  rootless?: {
    uid: number;
    gid: number;
    subuids?: SubordinateRange[];
    subgids?: SubordinateRange[];
    idMapTools?: boolean;
  };
}

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

export const DEFAULT_DEVICES: Device[] = [
  { type: 'c', path: '/dev/null', major: 1, minor: 3, fileMode: 0o666 },
  { type: 'c', path: '/dev/zero', major: 1, minor: 5, fileMode: 0o666 },
  { type: 'c', path: '/dev/full', major: 1, minor: 7, fileMode: 0o666 },
  { type: 'c', path: '/dev/random', major: 1, minor: 8, fileMode: 0o666 },
  { type: 'c', path: '/dev/urandom', major: 1, minor: 9, fileMode: 0o666 },
  { type: 'c', path: '/dev/tty', major: 5, minor: 0, fileMode: 0o666 },
];

const DEV_SYMLINKS = [
  { target: '/proc/self/fd', path: '/dev/fd' },
  { target: '/proc/self/fd/0', path: '/dev/stdin' },
  { target: '/proc/self/fd/1', path: '/dev/stdout' },
  { target: '/proc/self/fd/2', path: '/dev/stderr' },
  { target: 'pts/ptmx', path: '/dev/ptmx' },
];

function fail(field: string, message: string): never {
  throw new SpecError(`${field}: ${message}`, field);
}

export function capabilityMask(names: string[] | undefined, field: string): bigint {
  let mask = 0n;
  for (const [i, name] of (names ?? []).entries()) {
    const bit = CAPABILITIES.indexOf(name as (typeof CAPABILITIES)[number]);
    if (bit < 0) fail(`${field}[${i}]`, `unknown capability "${name}"`);
    mask |= 1n << BigInt(bit);
  }
  return mask;
}

function idMap(maps: Array<{ containerID: number; hostID: number; size: number }> | undefined) {
  return maps?.length ? maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('') : undefined;
}

/**
 * What an unprivileged caller may map (user_namespaces(7)): its own uid and gid, one id each,
 * written by the monitor itself with setgroups denied; or, through the setuid newuidmap and
 * newgidmap (as rootless Podman and runc's callers use them), its own ids plus ranges that
 * /etc/subuid and /etc/subgid give it. Returns how the maps get written.
 */
function checkRootless(
  config: OciConfig,
  userns: boolean,
  ids: NonNullable<CompileOptions['rootless']>,
): 'self' | 'helper' {
  const linux = config.linux ?? {};
  if (!userns) fail('linux.namespaces', 'a rootless container needs a new user namespace');
  type Maps = typeof linux.uidMappings;
  const own = (maps: Maps, id: number) => maps?.length === 1 && maps[0]!.hostID === id && maps[0]!.size === 1;
  if (own(linux.uidMappings, ids.uid) && own(linux.gidMappings, ids.gid)) {
    if (config.process?.user.additionalGids?.length)
      fail('process.user.additionalGids', 'a rootless container cannot have them (setgroups is denied)');
    return 'self';
  }
  const allowed = (maps: Maps, id: number, sub: SubordinateRange[] | undefined) =>
    !!maps?.length &&
    maps.every(
      (m) =>
        (m.hostID === id && m.size === 1) ||
        (sub ?? []).some((r) => m.hostID >= r.start && m.hostID + m.size <= r.start + r.count),
    );
  const both = [
    ['linux.uidMappings', linux.uidMappings, ids.uid, ids.subuids, '/etc/subuid', 'newuidmap'],
    ['linux.gidMappings', linux.gidMappings, ids.gid, ids.subgids, '/etc/subgid', 'newgidmap'],
  ] as const;
  for (const [field, maps, id, sub, file] of both)
    if (!allowed(maps, id, sub))
      fail(
        field,
        `a rootless container can map only its own id ${id} (size 1) and ranges ${file} gives it${sub?.length ? '' : ' (none)'}`,
      );
  const [field, , , , , tool] = both.find(([, maps, id]) => !own(maps, id))!;
  if (!ids.idMapTools) fail(field, `ranges beyond the caller's own id need ${tool} (package uidmap)`);
  return 'helper';
}

export interface SubordinateRange {
  start: number;
  count: number;
}

/** The ranges /etc/subuid or /etc/subgid (text given) grants a user, by name or by id. */
export function subordinateIds(text: string, user: string, id: number): SubordinateRange[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(':'))
    .filter((f) => f.length === 3 && (f[0] === user || f[0] === String(id)))
    .map((f) => ({ start: Number(f[1]), count: Number(f[2]) }))
    .filter((r) => Number.isInteger(r.start) && Number.isInteger(r.count) && r.count > 0);
}

/**
 * A joined user namespace keeps the maps it has; none are written. Maps given with it must be
 * that namespace's own (as runc checks), when they can be read (a /proc/<pid>/ns/user path).
 */
function checkJoinedMaps(
  path: string,
  uid: Array<{ containerID: number; hostID: number; size: number }> | undefined,
  gid: Array<{ containerID: number; hostID: number; size: number }> | undefined,
): void {
  const m = /^\/proc\/(\d+|self)\/ns\/user$/.exec(path);
  if (!m) return;
  const norm = (text: string) =>
    text
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/).join(' '))
      .filter(Boolean)
      .sort()
      .join('\n');
  for (const [field, maps, file] of [
    ['linux.uidMappings', uid, 'uid_map'],
    ['linux.gidMappings', gid, 'gid_map'],
  ] as const) {
    if (!maps?.length) continue;
    let actual: string;
    try {
      actual = readFileSync(`/proc/${m[1]}/${file}`, 'utf8');
    } catch {
      continue;
    }
    if (norm(idMap(maps)!) !== norm(actual))
      fail(field, `does not match the ${file} of the joined user namespace ${path}`);
  }
}

type CompiledSeccomp = { filter: Buffer; flags: number };
/** Compiled profiles by their JSON (and arch): the last 32. */
const seccompCache = new Map<string, CompiledSeccomp>();
/**
 * Compiled frozen profiles by identity (and arch): berthd hands every create one shared, deeply
 * frozen profile, whose ~6 KB JSON key would cost more than the look-up saves. Only a frozen
 * object: one that can still change must not get the filter of what it was.
 */
const seccompByProfile = new WeakMap<object, Map<string, CompiledSeccomp>>();

function cachedSeccomp(seccomp: unknown, arch: SeccompHostArch): CompiledSeccomp {
  const frozen = seccomp !== null && typeof seccomp === 'object' && Object.isFrozen(seccomp);
  const byArch = frozen ? seccompByProfile.get(seccomp) : undefined;
  let bpf = byArch?.get(arch);
  if (bpf) return bpf;
  const key = `${arch}:${JSON.stringify(seccomp)}`;
  bpf = seccompCache.get(key);
  if (!bpf) {
    const filter = compileSeccomp(seccomp, arch);
    bpf = { filter, flags: seccompFilterFlags(parseLinuxSeccomp(seccomp)) };
    if (seccompCache.size >= 32) seccompCache.delete(seccompCache.keys().next().value!);
    seccompCache.set(key, bpf);
  }
  if (frozen) {
    if (byArch) byArch.set(arch, bpf);
    else seccompByProfile.set(seccomp, new Map([[arch, bpf]]));
  }
  return bpf;
}

/** The process part, shared by create and exec. */
export function compileProcess(
  proc: ProcessSpec,
  field: string,
  seccomp: unknown,
  opts: Pick<CompileOptions, 'compileSeccomp' | 'arch'>,
): PlanProcess {
  if (!proc.args?.length) fail(`${field}.args`, 'must name the program to run');
  for (const [i, e] of (proc.env ?? []).entries())
    if (!e.includes('=')) fail(`${field}.env[${i}]`, 'must be KEY=VALUE');
  const rlimits = (proc.rlimits ?? []).map((r, i) => {
    const resource = RLIMITS[r.type];
    if (resource === undefined) fail(`${field}.rlimits[${i}].type`, `unknown rlimit "${r.type}"`);
    if (r.soft > r.hard) fail(`${field}.rlimits[${i}]`, 'soft limit is above the hard limit');
    return { resource, soft: BigInt(r.soft), hard: BigInt(r.hard) };
  });
  const c = proc.capabilities;
  const caps: PlanCaps | undefined = c
    ? {
        bounding: capabilityMask(c.bounding, `${field}.capabilities.bounding`),
        effective: capabilityMask(c.effective, `${field}.capabilities.effective`),
        permitted: capabilityMask(c.permitted, `${field}.capabilities.permitted`),
        inheritable: capabilityMask(c.inheritable, `${field}.capabilities.inheritable`),
        ambient: capabilityMask(c.ambient, `${field}.capabilities.ambient`),
      }
    : undefined;
  let bpf: PlanProcess['seccomp'];
  if (seccomp !== undefined) {
    const arch = opts.arch ?? hostSeccompArch();
    if (!arch) fail('linux.seccomp', `no seccomp tables for this architecture (${process.arch})`);
    if (opts.compileSeccomp) {
      bpf = { filter: opts.compileSeccomp(seccomp, arch), flags: 0 };
    } else {
      // Compiling a profile costs tens of ms and berthd gives most containers the same one.
      bpf = cachedSeccomp(seccomp, arch);
    }
  }
  let seccompListener: PlanProcess['seccompListener'];
  if (bpf && bpf.flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) {
    const s = seccomp as { listenerPath?: string; listenerMetadata?: string };
    const path = s.listenerPath ?? '';
    if (!isAbsolute(path)) fail('linux.seccomp.listenerPath', 'must be an absolute path');
    if (Buffer.byteLength(path) > 107)
      fail('linux.seccomp.listenerPath', 'is longer than a Unix socket path may be (107 bytes)');
    seccompListener = { path, metadata: s.listenerMetadata, state: '' };
  }
  return {
    args: proc.args,
    env: proc.env ?? [],
    cwd: proc.cwd,
    uid: proc.user.uid,
    gid: proc.user.gid,
    umask: proc.user.umask,
    additionalGids: proc.user.additionalGids ?? [],
    rlimits,
    caps,
    noNewPrivileges: proc.noNewPrivileges ?? false,
    oomScoreAdj: proc.oomScoreAdj,
    seccomp: bpf,
    seccompListener,
    terminal: proc.terminal
      ? { rows: proc.consoleSize?.height ?? 24, cols: proc.consoleSize?.width ?? 80 }
      : undefined,
  };
}

function devicePlan(d: Device, field: string): PlanDevice {
  const type = { c: S_IFCHR, u: S_IFCHR, b: S_IFBLK, p: S_IFIFO }[d.type];
  if (d.type !== 'p' && (d.major === undefined || d.minor === undefined))
    fail(field, 'major and minor are required for character and block devices');
  return {
    path: d.path,
    mode: type | (d.fileMode ?? 0o666),
    major: d.major ?? 0,
    minor: d.minor ?? 0,
    uid: d.uid ?? 0,
    gid: d.gid ?? 0,
  };
}

function normalizeDest(dest: string): string {
  return `/${dest.split('/').filter(Boolean).join('/')}`;
}

/** The cgroup filesystem as the container sees it: its own cgroups only, read-only. */
function cgroupMounts(dest: string, flags: number, opts: CompileOptions, cgroupns: boolean): PlanMount[] {
  if (opts.cgroupMode === 'v2') {
    return [
      { source: 'cgroup2', destination: dest, type: 'cgroup2', flags, propagation: 0, kind: 0, data: '' },
    ];
  }
  // v1 / hybrid: a tmpfs with each hierarchy's container directory bound in, then sealed.
  const out: PlanMount[] = [
    {
      source: 'tmpfs',
      destination: dest,
      type: 'tmpfs',
      flags: flags & ~MS.RDONLY,
      propagation: 0,
      kind: 0,
      data: 'mode=755',
    },
  ];
  for (const procs of opts.cgroupProcs ?? []) {
    const m = /^\/sys\/fs\/cgroup\/([^/]+)(\/.*)?\/cgroup\.procs$/.exec(procs);
    if (!m) continue;
    const dir = procs.slice(0, -'/cgroup.procs'.length);
    out.push({
      source: dir,
      destination: `${dest}/${m[1]}`,
      type: 'bind',
      flags: MS.BIND | (cgroupns ? 0 : MS.RDONLY) | MS.NOSUID | MS.NODEV | MS.NOEXEC,
      propagation: 0,
      kind: 1,
      data: '',
    });
  }
  out.push({
    source: '',
    destination: dest,
    type: '',
    flags: flags | MS.RDONLY,
    propagation: 0,
    kind: 2,
    data: '',
  });
  return out;
}

export function compilePlan(config: OciConfig, opts: CompileOptions): Plan {
  if (!config.process) fail('process', 'is required to create a container');
  const linux = config.linux ?? {};
  const bundle = opts.bundle;
  const rootfs = isAbsolute(config.root.path) ? config.root.path : resolve(bundle, config.root.path);
  if (!existsSync(rootfs) || !statSync(rootfs).isDirectory())
    fail('root.path', `${rootfs} is not a directory`);

  let namespaces = 0;
  const joins: Plan['joins'] = [];
  const seen = new Set<string>();
  for (const [i, ns] of (linux.namespaces ?? []).entries()) {
    if (seen.has(ns.type)) fail(`linux.namespaces[${i}]`, `duplicate ${ns.type} namespace`);
    seen.add(ns.type);
    if (ns.path) {
      if (!existsSync(ns.path)) fail(`linux.namespaces[${i}].path`, `${ns.path} does not exist`);
      joins.push({ type: CLONE[ns.type], path: ns.path });
    } else {
      namespaces |= CLONE[ns.type];
    }
  }
  if (!seen.has('mount')) fail('linux.namespaces', 'Berth needs a mount namespace');
  const userns = (namespaces & CLONE.user) !== 0;
  const joinedUser = joins.find((j) => j.type === CLONE.user);
  if (joinedUser) checkJoinedMaps(joinedUser.path, linux.uidMappings, linux.gidMappings);
  if (
    !userns &&
    (linux.uidMappings?.length || linux.gidMappings?.length) &&
    !joins.some((j) => j.type === CLONE.user)
  )
    fail('linux.uidMappings', 'id mappings need a new user namespace');
  if (userns && !linux.uidMappings?.length)
    fail('linux.uidMappings', 'a new user namespace needs uid mappings');
  if (userns && !linux.gidMappings?.length)
    fail('linux.gidMappings', 'a new user namespace needs gid mappings');
  const hasNs = (t: keyof typeof CLONE) =>
    (namespaces & CLONE[t]) !== 0 || joins.some((j) => j.type === CLONE[t]);
  const rootlessMaps = opts.rootless ? checkRootless(config, userns, opts.rootless) : undefined;
  if (config.hostname !== undefined && !hasNs('uts')) fail('hostname', 'needs a UTS namespace');
  if (config.domainname !== undefined && !hasNs('uts')) fail('domainname', 'needs a UTS namespace');
  if (linux.timeOffsets && !(namespaces & CLONE.time))
    fail('linux.timeOffsets', 'needs a new time namespace');

  const cgroupns = (namespaces & CLONE.cgroup) !== 0;
  const netns = (namespaces & CLONE.network) !== 0;
  const mounts: PlanMount[] = [];
  let devBound = false;
  for (const [i, m] of (config.mounts ?? []).entries()) {
    const field = `mounts[${i}]`;
    if (!m.destination.startsWith('/')) fail(`${field}.destination`, 'must be an absolute path');
    const dest = normalizeDest(m.destination);
    const o = parseMountOptions(m.options, field);
    let type = m.type ?? ((o.flags & MS.BIND) !== 0 ? 'bind' : '');
    if (!type) fail(`${field}.type`, 'is required unless the options say bind');
    if (type === 'bind') o.flags |= MS.BIND;
    const bind = (o.flags & MS.BIND) !== 0;
    if (type === 'cgroup') {
      mounts.push(...cgroupMounts(dest, o.flags, opts, cgroupns));
      continue;
    }
    let source = m.source ?? type;
    if (bind) {
      source = isAbsolute(source) ? source : resolve(bundle, source);
      if (!existsSync(source)) fail(`${field}.source`, `${source} does not exist`);
      if (dest === '/dev') devBound = true;
    }
    if (type === 'sysfs' && (userns || joinedUser) && !netns) {
      // sysfs cannot be mounted in a user namespace that does not own a network namespace.
      source = '/sys';
      type = 'bind';
      o.flags |= MS.BIND | MS.REC;
    }
    mounts.push({
      source,
      destination: dest,
      type: bind ? 'bind' : type,
      flags: o.flags,
      propagation: o.propagation,
      kind: bind || type === 'bind' ? 1 : 0,
      data: o.data,
    });
  }

  const devices: PlanDevice[] = [];
  const symlinks: Plan['symlinks'] = [];
  if (!devBound) {
    const custom = new Set((linux.devices ?? []).map((d) => d.path));
    for (const d of DEFAULT_DEVICES) if (!custom.has(d.path)) devices.push(devicePlan(d, 'linux.devices'));
    symlinks.push(...DEV_SYMLINKS);
  }
  for (const [i, d] of (linux.devices ?? []).entries()) devices.push(devicePlan(d, `linux.devices[${i}]`));

  const sysctl: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(linux.sysctl ?? {})) {
    if (!/^[a-zA-Z0-9_][a-zA-Z0-9_.-]*$/.test(key) || key.includes('..'))
      fail(`linux.sysctl.${key}`, 'invalid name');
    sysctl.push([key.replaceAll('.', '/'), value]);
  }

  let timeOffsets: string | undefined;
  if (linux.timeOffsets) {
    timeOffsets = Object.entries(linux.timeOffsets)
      .map(([clock, o]) => `${clock} ${o.secs} ${o.nanosecs ?? 0}\n`)
      .join('');
  }

  const proc = compileProcess(config.process, 'process', linux.seccomp, opts);

  return {
    ...proc,
    namespaces,
    joins,
    uidMap: idMap(linux.uidMappings),
    gidMap: idMap(linux.gidMappings),
    timeOffsets,
    cgroupProcs: opts.cgroupProcs ?? [],
    rootfs,
    rootReadonly: config.root.readonly ?? false,
    rootPropagation: linux.rootfsPropagation ? PROPAGATION[linux.rootfsPropagation] : undefined,
    mounts,
    devices,
    symlinks,
    masked: linux.maskedPaths ?? [],
    readonly: linux.readonlyPaths ?? [],
    hostname: config.hostname,
    domainname: config.domainname,
    sysctl,
    setgroupsDeny: rootlessMaps === 'self' ? true : undefined,
    idMapHelper: rootlessMaps === 'helper' ? true : undefined,
    startHooks: config.hooks?.startContainer ?? [],
    createHooks: config.hooks?.createContainer ?? [],
    prestartHooks: config.hooks?.prestart ?? [],
    createRuntimeHooks: config.hooks?.createRuntime ?? [],
  };
}

/**
 * The runtime-spec's containerProcessState (runtime.md) a seccomp listener receives with its
 * fd: "pid":-1 stands for the process's pid (and init's, while it is being created) until the
 * helper knows it.
 */
export function seccompListenerState(
  listener: { metadata?: string },
  state: { id: string; status: string; pid?: number; bundle: string; annotations?: Record<string, string> },
): string {
  return JSON.stringify({
    ociVersion: '1.2.0',
    fds: ['seccompFd'],
    pid: -1,
    ...(listener.metadata !== undefined ? { metadata: listener.metadata } : {}),
    state: { ociVersion: '1.2.0', ...state, pid: state.pid ?? -1 },
  });
}

/**
 * The container's cgroup limits with the device rules every container needs appended after
 * the config's own (as runc does): the default devices, the console and ptys, and the
 * config's linux.devices. A config that denies all devices still gets a working /dev/null.
 */
export function containerResources(config: OciConfig): LinuxResources {
  const resources = config.linux?.resources ?? {};
  const rule = (major: number, minor?: number): LinuxDeviceCgroup => ({
    allow: true,
    type: 'c',
    major,
    ...(minor === undefined ? {} : { minor }),
    access: 'rwm',
  });
  const allow: LinuxDeviceCgroup[] = [
    ...DEFAULT_DEVICES.map((d) => rule(d.major!, d.minor)),
    rule(5, 1), // /dev/console
    rule(5, 2), // /dev/ptmx
    rule(136), // /dev/pts/*
    ...(config.linux?.devices ?? [])
      .filter((d) => d.type !== 'p')
      .map((d) => ({
        allow: true,
        type: d.type === 'b' ? ('b' as const) : ('c' as const),
        major: d.major,
        minor: d.minor,
        access: 'rwm',
      })),
  ];
  return { ...resources, devices: [...(resources.devices ?? []), ...allow] };
}
