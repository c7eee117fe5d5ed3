import type { StdioOptions } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { constants, userInfo } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { type CgroupLayout, createCgroupManager, detectHostCgroupLayout } from '../cgroup/index.ts';
import type { CgroupManager, CgroupMode } from '../cgroup/manager.ts';
import type { CgroupPool, PooledCgroup } from '../cgroup/pool.ts';
import type { LinuxResources } from '../cgroup/resources.ts';
import { type OciConfig, type ProcessSpec, parseConfig, processSchema, SpecError } from '../spec/config.ts';
import { encodePlan } from '../spec/encode.ts';
import { CLONE } from '../spec/linux.ts';
import {
  type CompileOptions,
  compilePlan,
  compileProcess,
  containerResources,
  type Plan,
  type SeccompCompiler,
  seccompListenerState,
  subordinateIds,
} from '../spec/plan.ts';
import { signalProcess } from '../sys/index.ts';
import { RuntimeError } from './errors.ts';
import { type CreatedReport, callerFds, helperError, runHelper } from './helper.ts';
import { runHooksWarning } from './hooks.ts';
import { startViaMonitor, waitViaMonitor } from './monitor-client.ts';
import type { Spawner } from './spawner.ts';
import {
  checkId,
  isAlive,
  type OciState,
  parentPid,
  processStart,
  StateDir,
  type StateRecord,
  type Status,
  statusOf,
} from './state.ts';

// The container lifecycle as a library (what berthd and the OCI CLI both call). One place
// says which verb is allowed in which state (ALLOWED), and refusals say why.

export type CgroupFactory = (path: string) => CgroupManager;

export interface RuntimeOptions {
  /** State root, e.g. /run/berth-runtime. */
  root: string;
  /** How containers get their cgroup; false runs without one (tests of the bare helper). */
  cgroups?: CgroupFactory | false;
  compileSeccomp?: SeccompCompiler;
  /** A warm native spawner: containers start without paying Node's spawn cost. */
  spawner?: Spawner;
  /**
   * Cgroups made ahead of time (openCgroupPool from @berth/runtime/cgroup): a container whose
   * config has no linux.cgroupsPath gets one of them (its path is in the state record), and
   * delete() hands it back for removal in the background. Needs `cgroups` left at its default.
   */
  cgroupPool?: CgroupPool;
  /**
   * Flat pools (berthd's: cgroups named like container ids, see cgroup/pool.ts) by parent: a
   * container whose absolute linux.cgroupsPath is a slot reserved in the pool of its parent is
   * placed in that slot (limits written ahead, a warm cell), and delete() hands it back,
   * waiting for its removal (the path may be made again: a restart). Any other cgroupsPath is
   * made as usual. Needs `cgroups` left at its default.
   */
  cgroupPoolOf?: (parent: string) => CgroupPool | undefined;
  /**
   * Run by an unprivileged user (runc --rootless): containers map only its own ids and get
   * no cgroup (their linux.resources are not applied), as runc and crun do without a
   * delegated cgroup.
   */
  rootless?: boolean;
}

export interface CreateOptions {
  bundle: string;
  /** Parsed config; read from <bundle>/config.json when absent. */
  config?: OciConfig;
  pidFile?: string;
  consoleSocket?: string;
  /** stdio of the container's init when it has no terminal (default: inherit ours). */
  stdio?: StdioOptions;
  /** Files for init's stdio when started through the spawner. */
  stdioFiles?: [string, string, string];
  /** Start immediately (run). */
  autostart?: boolean;
  /**
   * With autostart through the spawner: the result's `started` settles once init has exec'd
   * (rejecting as start() would when it cannot), at the cost of one more wake-up of ours.
   */
  confirmStart?: boolean;
  /** Bound of the console log (console.log, plus console.log.1 as the previous part). */
  consoleLogMax?: number;
  /** Our fds 3..3+n-1 become init's 3..3+n-1 (OCI --preserve-fds). */
  preserveFds?: number;
  /** Told the end of each phase of the create (berthd's BERTH_TRACE lines, benchmarks). */
  trace?: { mark(phase: string): void };
}

export interface ExecOptions {
  process: ProcessSpec;
  stdio?: StdioOptions;
  consoleSocket?: string;
  /** With process.terminal: serve attach on this socket; the command starts on first attach. */
  attachSocket?: string;
  /** With attachSocket: a resumable session, which keeps this much output to replay ('R'
   * attach), runs its process under a reaper, and outlives its caller. */
  scrollbackBytes?: number;
  /** A resumable session writes its process's exit status here ({"exitCode","signal",
   * "exitedAt"}, as a container's exit file), for a caller that was away when it ended. */
  exitFile?: string;
  pidFile?: string;
  /** Our fds 3..3+n-1 become the process's 3..3+n-1 (OCI --preserve-fds). */
  preserveFds?: number;
}

/** A container create() made (and, with autostart, started). */
export interface Created {
  pid: number;
  /**
   * With autostart and confirmStart: settles once init has exec'd (through the spawner, which
   * hears of it; through the helper, once the start is sent: its exec is not reported).
   */
  started?: Promise<void>;
  /**
   * Through the spawner: init's exit, as its monitor reports it once the exit record is
   * written (wait() asks the monitor's socket instead). Rejects when the start failed or the
   * spawner went away: wait() still knows.
   */
  exited?: Promise<{ code: number; signal: number }>;
}

const ALLOWED: Record<string, Status[]> = {
  start: ['created'],
  kill: ['created', 'running', 'paused'],
  delete: ['stopped'],
  exec: ['running'],
  pause: ['running'],
  resume: ['paused'],
  update: ['created', 'running', 'paused'],
};

const NS_FLAGS_FOR_EXEC: Array<[string, number]> = [
  ['user', CLONE.user],
  ['mount', CLONE.mount],
  ['pid', CLONE.pid],
  ['network', CLONE.network],
  ['ipc', CLONE.ipc],
  ['uts', CLONE.uts],
  ['cgroup', CLONE.cgroup],
  ['time', CLONE.time],
];

export function parseSignal(sig: string | number | undefined): number {
  if (sig === undefined) return constants.signals.SIGTERM;
  if (typeof sig === 'number' || /^\d+$/.test(sig)) {
    const n = Number(sig);
    if (n < 1 || n > 64) throw new RuntimeError('INVALID_STATE', `invalid signal ${sig}`);
    return n;
  }
  const name = sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`;
  const n = (constants.signals as Record<string, number>)[name];
  if (n === undefined) throw new RuntimeError('INVALID_STATE', `unknown signal "${sig}"`);
  return n;
}

let namedMounts: string[] | undefined;

/**
 * The container's directories in the host's named v1 hierarchies (name=systemd on v1 and hybrid
 * hosts): they have no controllers, but an init such as systemd tracks its services there, so
 * the container gets its own directory, as runc and LXC give it.
 */
function namedCgroupDirs(cgroupPath: string): string[] {
  namedMounts ??= Object.values(detectHostCgroupLayout('/proc').v1Named ?? {});
  return namedMounts.map((m) => join(m, cgroupPath));
}

/**
 * Removes those directories, the sub-cgroups the container made first. Its processes are gone
 * by then, but an exiting one can hold a directory for a moment: retried briefly, then left.
 */
async function removeNamedCgroups(cgroupPath: string): Promise<void> {
  const rm = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rm(join(dir, e.name));
    rmdirSync(dir);
  };
  for (const d of namedCgroupDirs(cgroupPath)) {
    for (let i = 0; ; i++) {
      try {
        rm(d);
        break;
      } catch {
        if (i >= 50) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
}

/**
 * A user-namespaced container's root owns its own cgroup directories (not their limits), as
 * LXC delegates them: an init such as systemd makes its sub-cgroups there and moves processes.
 * The monitor does it (native/ns.c), while init sets itself up and before it starts.
 */
function cgroupDelegate(procsFiles: string[], config: OciConfig): Plan['cgroupDelegate'] {
  const linux = config.linux;
  if (!linux?.namespaces?.some((n) => n.type === 'user' && !n.path)) return undefined;
  const uid = linux.uidMappings?.find((m) => m.containerID === 0)?.hostID;
  const gid = linux.gidMappings?.find((m) => m.containerID === 0)?.hostID;
  if (uid === undefined || gid === undefined) return undefined;
  return { uid, gid, dirs: procsFiles.map((f) => dirname(f)) };
}

/**
 * The ancestors of a container's cgroup that do not exist yet in any of its hierarchies
 * (cgroupsPath /a/b/c creates /a and /a/b): create records them, delete removes them again,
 * deepest first, and only while empty. Berth's own /berth, under which relative paths land,
 * is the runtime's and stays.
 */
function missingCgroupParents(procsFiles: string[], cgroupPath: string): string[] {
  const parts = cgroupPath.split('/').filter(Boolean);
  const out: string[] = [];
  for (const procs of procsFiles) {
    const dir = dirname(procs);
    if (!dir.endsWith(`/${parts.join('/')}`)) continue;
    let base = dir.slice(0, dir.length - parts.join('/').length - 1);
    for (const [i, part] of parts.slice(0, -1).entries()) {
      base = join(base, part);
      if (i === 0 && part === 'berth') continue;
      if (!existsSync(base)) out.push(base);
    }
  }
  return out;
}

/** Removes the parents create made, deepest first; one still in use (EBUSY, ENOTEMPTY) stays. */
function removeCgroupParents(dirs: string[] | undefined): void {
  for (const d of [...(dirs ?? [])].sort((a, b) => b.length - a.length)) {
    try {
      rmdirSync(d);
    } catch {
      // another container's, or busy: not ours to force
    }
  }
}

/** The caller's ids and subordinate ranges, for a rootless container's maps. */
function rootlessIds(): NonNullable<CompileOptions['rootless']> {
  const uid = process.geteuid!();
  const user = userInfo().username;
  const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
  const onPath = (tool: string) =>
    (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => d && existsSync(join(d, tool)));
  return {
    uid,
    gid: process.getegid!(),
    subuids: subordinateIds(read('/etc/subuid'), user, uid),
    subgids: subordinateIds(read('/etc/subgid'), user, uid),
    idMapTools: onPath('newuidmap') && onPath('newgidmap'),
  };
}

async function waitGone(pid: number | undefined, start: string | undefined, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isAlive(pid, start)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

export class Runtime {
  private layout?: CgroupLayout;

  constructor(readonly opts: RuntimeOptions) {}

  private dir(id: string): StateDir {
    checkId(id);
    return new StateDir(join(this.opts.root, id));
  }

  private async cgroups(): Promise<CgroupFactory | undefined> {
    if (this.opts.cgroups === false || this.opts.rootless) return undefined;
    if (this.opts.cgroups) return this.opts.cgroups;
    // The host's layout is read once, not for every container.
    this.layout ??= detectHostCgroupLayout();
    const layout = this.layout;
    return (path: string) => createCgroupManager({ path, layout });
  }

  /** The cgroup path of a container: absolute cgroupsPath as given, anything else under /berth. */
  static cgroupPath(id: string, config: OciConfig): string {
    const p = config.linux?.cgroupsPath;
    if (!p) return `/berth/${id}`;
    if (p.includes('..'))
      throw new SpecError('linux.cgroupsPath: must not contain ".."', 'linux.cgroupsPath');
    return isAbsolute(p) ? p : `/berth/${p}`;
  }

  private async cgroupOf(rec: StateRecord): Promise<CgroupManager | undefined> {
    const f = await this.cgroups();
    return f && rec.cgroupPath ? f(rec.cgroupPath) : undefined;
  }

  private ociState(dir: StateDir, rec: StateRecord, status = statusOf(dir, rec)): OciState {
    return {
      ociVersion: '1.2.0',
      id: rec.id,
      status,
      ...(rec.pid !== undefined && status !== 'stopped' ? { pid: rec.pid } : {}),
      bundle: rec.bundle,
      annotations: rec.annotations ?? {},
    };
  }

  private async check(id: string, verb: keyof typeof ALLOWED): Promise<[StateDir, StateRecord, Status]> {
    const dir = this.dir(id);
    const rec = dir.read();
    const status = statusOf(dir, rec);
    if (!ALLOWED[verb]!.includes(status))
      throw new RuntimeError('INVALID_STATE', `cannot ${verb} container "${id}": it is ${status}`);
    return [dir, rec, status];
  }

  async create(id: string, o: CreateOptions): Promise<Created> {
    checkId(id);
    const trace = o.trace ?? { mark() {} };
    const bundle = resolve(o.bundle);
    let config: OciConfig;
    if (o.config) {
      config = o.config;
    } else {
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
      } catch (e) {
        throw new RuntimeError('INVALID_CONFIG', `${join(bundle, 'config.json')}: ${(e as Error).message}`);
      }
      config = parseConfig(raw);
    }
    const given = config.linux?.cgroupsPath ? Runtime.cgroupPath(id, config) : undefined;
    const flatPool = given ? this.opts.cgroupPoolOf?.(dirname(given)) : undefined;
    const reserved = given && flatPool?.isReserved(given) ? given : undefined;
    const pool =
      this.opts.cgroups !== undefined
        ? undefined
        : reserved
          ? flatPool
          : !config.linux?.cgroupsPath
            ? this.opts.cgroupPool
            : undefined;
    const cgroupPath = pool ? undefined : Runtime.cgroupPath(id, config);
    // A restart makes the same path again: its removal (in the background) must be over.
    if (given && !reserved && flatPool) await flatPool.removed(given);
    const passFds = callerFds(o.preserveFds);
    if (existsSync(join(this.opts.root, id)))
      throw new RuntimeError('ALREADY_EXISTS', `container "${id}" already exists`);
    // Everything that can be checked without side effects is checked before the first one
    // (a pooled cgroup is taken first, its limits validated and written, and given back if
    // the config fails to compile).
    const factory = await this.cgroups();
    let pooled: PooledCgroup | undefined;
    // A warm cell starts init through the spawner, in namespaces it creates itself.
    const cellUsable =
      this.opts.spawner !== undefined &&
      !o.consoleSocket &&
      !o.preserveFds &&
      !config.linux?.namespaces?.some((n) => n.type === 'user' && n.path);
    trace.mark('config');
    if (pool)
      pooled = await pool.take(containerResources(config), {
        cell: cellUsable,
        ...(reserved ? { reserved } : {}),
      });
    // A take whose slot had no warm cell (init is moved in) shows as a phase of its own.
    trace.mark(pooled && !pooled.cell ? 'take.nocell' : 'take');
    const cgroup = pooled ? pooled.manager : cgroupPath ? factory?.(cgroupPath) : undefined;
    const named = cgroupPath && cgroup && !this.opts.cgroups ? namedCgroupDirs(cgroupPath) : [];
    let plan: Plan;
    try {
      plan = compilePlan(config, {
        bundle,
        cgroupProcs: pooled
          ? pooled.procsFiles
          : [...(cgroup?.procsFiles() ?? []), ...named.map((d) => join(d, 'cgroup.procs'))],
        cgroupMode: cgroup?.mode as CgroupMode | undefined,
        compileSeccomp: this.opts.compileSeccomp,
        rootless: this.opts.rootless ? rootlessIds() : undefined,
      });
    } catch (e) {
      if (pooled) void pool!.release(pooled);
      throw e;
    }
    trace.mark('plan');

    const dir = StateDir.create(this.opts.root, id);
    const rec: StateRecord = {
      id,
      bundle,
      created: new Date().toISOString(),
      cgroupPath: pooled ? pooled.path : cgroup ? cgroupPath : undefined,
      ...(pooled ? { cgroupPooled: true } : {}),
      cgroupParents: cgroup && cgroupPath ? missingCgroupParents(plan.cgroupProcs, cgroupPath) : undefined,
      annotations: config.annotations,
      poststop: config.hooks?.poststop,
    };
    let cgroupCreated = pooled !== undefined;
    let launching: Promise<CreatedReport> | undefined;
    let writing: Promise<unknown> | undefined;
    let reports: Omit<Created, 'pid'> = {};
    try {
      if (cgroup && !pooled) {
        await cgroup.create();
        cgroupCreated = true;
        await cgroup.apply(containerResources(config));
        for (const d of named) mkdirSync(d, { recursive: true, mode: 0o755 });
      }
      trace.mark('cgroup');
      Object.assign(plan, {
        stateDir: dir.path,
        consoleSocket: o.consoleSocket,
        autostart: o.autostart,
        reportStart: o.autostart && o.confirmStart,
        logMax: o.consoleLogMax,
        stdio: o.stdioFiles,
        preserveFds: passFds.length,
        ...(pooled?.cell ? { cell: pooled.cell } : {}),
        stateJson: JSON.stringify(this.ociState(dir, rec, 'running')),
        seccompListener: plan.seccompListener && {
          ...plan.seccompListener,
          state: seccompListenerState(plan.seccompListener, this.ociState(dir, rec, 'creating')),
        },
        runtimeStateJson: JSON.stringify({ ...this.ociState(dir, rec, 'created'), pid: -1 }),
        ...(cgroup ? { cgroupDelegate: cgroupDelegate(plan.cgroupProcs, config) } : {}),
      } satisfies Partial<Plan>);
      // The state files are written while the helper makes the container (on a core of its
      // own), not before, and in the thread pool: nothing in the helper reads them. A hook run
      // during the create may ask for the state (a runtime's `state ID`): with hooks, the state
      // is written first. The record with init's pid is written once they are (it replaces theirs).
      const hooks = config.hooks;
      const hooked = [hooks?.prestart, hooks?.createRuntime, hooks?.createContainer].some((h) => h?.length);
      // state.json is on disk before anything is spawned: a caller killed from here on leaves
      // a record (status creating, the cgroup named) through which delete finds and kills what
      // the helper made. config.json (read by exec and start, after create returns) is written
      // in the thread pool while the helper works.
      if (hooked) this.writeState(dir, rec, config);
      else dir.write(rec);
      ({ created: launching, ...reports } = this.launch(plan, o, passFds));
      launching.catch(() => {});
      trace.mark('spawn');
      writing = hooked ? undefined : dir.writeConfigAsync(config);
      writing?.catch(() => {});
      const created = await launching;
      trace.mark('launch');
      await writing;
      trace.mark('state');
      const pid = created.pid;
      rec.pid = pid;
      // The monitor reports the start times (read while init set itself up); a helper that
      // does not is asked through /proc.
      rec.pidStart = created.pidStart ?? processStart(pid);
      rec.monitorPid = created.monitorPid ?? parentPid(pid);
      rec.monitorStart = created.monitorStart ?? (rec.monitorPid ? processStart(rec.monitorPid) : undefined);
      if (o.autostart) rec.started = true;
      dir.write(rec);
      // prestart, createRuntime (in the monitor) and createContainer (in the container) hooks
      // ran in the helper, in the spec's order, before launch returned.
      if (o.pidFile) writeFileSync(o.pidFile, String(pid));
      trace.mark('record');
      // Started by the monitor: poststart hooks as start() runs them (after the exec, when
      // that is reported).
      const poststart = config.hooks?.poststart;
      if (o.autostart && poststart?.length) {
        const started = await (reports.started ?? Promise.resolve()).then(
          () => true,
          () => false,
        );
        if (started) await runHooksWarning('poststart', poststart, this.ociState(dir, rec, 'running'));
      }
      return { pid, ...reports };
    } catch (e) {
      // A container the helper made before a failure here is killed by the rollback (once
      // nothing writes into its state dir any more).
      await writing?.catch(() => {});
      const made = rec.pid === undefined ? await launching?.catch(() => undefined) : undefined;
      if (made) Object.assign(rec, { pid: made.pid, pidStart: made.pidStart ?? processStart(made.pid) });
      if (made) Object.assign(rec, { monitorPid: made.monitorPid, monitorStart: made.monitorStart });
      await this.rollback(dir, rec, cgroupCreated ? cgroup : undefined);
      throw e;
    }
  }

  private writeState(dir: StateDir, rec: StateRecord, config: OciConfig): void {
    dir.write(rec);
    dir.writeConfig(config);
  }

  private launch(
    plan: Plan,
    o: CreateOptions,
    passFds: number[],
  ): { created: Promise<CreatedReport> } & Omit<Created, 'pid'> {
    if (this.opts.spawner && !o.consoleSocket && !passFds.length) {
      const r = this.opts.spawner.spawn(plan);
      return { created: r.created, exited: r.exited, ...(plan.reportStart ? { started: r.started } : {}) };
    }
    // The helper's monitor starts init before it reports (its exec is not reported to us).
    return {
      created: this.launchHelper(plan, o, passFds),
      ...(plan.reportStart ? { started: Promise.resolve() } : {}),
    };
  }

  private async launchHelper(plan: Plan, o: CreateOptions, passFds: number[]): Promise<CreatedReport> {
    const run = runHelper('create', encodePlan(plan), o.stdio ?? 'inherit', passFds);
    const line = await run.next();
    if (line?.kind !== 'ok') {
      // The report pipe closes when the monitor has exited: then nothing of it is left.
      while ((await run.next()) !== undefined) {}
      await run.done;
      throw helperError('CREATE_FAILED', line, 'create');
    }
    run.child.stdio[4]?.destroy();
    await run.done;
    const { kind: _, ...created } = line;
    return created;
  }

  /** Undo a half-made container: no process, cgroup or state dir is left behind. */
  private async rollback(dir: StateDir, rec: StateRecord, cgroup: CgroupManager | undefined): Promise<void> {
    if (rec.pid !== undefined && isAlive(rec.pid, rec.pidStart))
      signalProcess(rec.pid, constants.signals.SIGKILL);
    await waitGone(rec.pid, rec.pidStart);
    await waitGone(rec.monitorPid, rec.monitorStart);
    if (cgroup) await this.removeCgroup(rec, cgroup).catch(() => {});
    removeCgroupParents(rec.cgroupParents);
    rmSync(dir.path, { recursive: true, force: true });
  }

  /** A pooled cgroup goes back to the pool, which removes it in the background. */
  private async removeCgroup(rec: StateRecord, cg: CgroupManager | undefined): Promise<void> {
    const flat = this.opts.cgroupPoolOf?.(dirname(rec.cgroupPath!));
    if (rec.cgroupPooled && flat?.flat) return flat.release(rec.cgroupPath!);
    if (rec.cgroupPooled && this.opts.cgroupPool) {
      void this.opts.cgroupPool.release(rec.cgroupPath!);
      return;
    }
    cg ??= await this.cgroupOf(rec);
    if (!cg) return;
    await cg.destroy();
    if (!this.opts.cgroups) await removeNamedCgroups(rec.cgroupPath!);
  }

  async start(id: string): Promise<void> {
    const [dir, rec] = await this.check(id, 'start');
    const config = dir.readConfig();
    await startViaMonitor(dir.file('monitor.sock'));
    rec.started = true;
    dir.write(rec);
    // The state poststart hooks see is the running container's, pid included, even when
    // the process has already exited (runtime-tools hooks_stdin).
    await runHooksWarning('poststart', config.hooks?.poststart, this.ociState(dir, rec, 'running'));
  }

  state(id: string): OciState {
    const dir = this.dir(id);
    return this.ociState(dir, dir.read());
  }

  list(): OciState[] {
    if (!existsSync(this.opts.root)) return [];
    const out: OciState[] = [];
    for (const id of readdirSync(this.opts.root)) {
      try {
        out.push(this.state(id));
      } catch {
        // not a container dir
      }
    }
    return out;
  }

  async kill(id: string, signal?: string | number, all = false): Promise<void> {
    const [, rec] = await this.check(id, 'kill');
    const sig = parseSignal(signal);
    if (all) {
      const cg = await this.cgroupOf(rec);
      if (cg && sig === constants.signals.SIGKILL) return cg.killAll();
      if (cg) {
        for (const pid of await cg.pids()) signalProcess(pid, sig);
        return;
      }
    }
    signalProcess(rec.pid!, sig);
  }

  /** Resolves with init's exit once it has exited. */
  async wait(id: string): Promise<{ code: number; signal: number }> {
    const dir = this.dir(id);
    const r = await waitViaMonitor(dir.file('monitor.sock'));
    if (r) return r;
    const rec = dir.read();
    await waitGone(rec.monitorPid, rec.monitorStart, 60_000);
    const exit = dir.exit();
    return exit ? { code: exit.exitCode, signal: exit.signal } : { code: -1, signal: 0 };
  }

  /**
   * `cgroupInBackground`: a pooled cgroup's removal goes on after this returns (its pool's
   * close() waits for it), for a caller that makes the next instance's cgroup elsewhere; a
   * create of the same path waits for it anyway.
   */
  async delete(id: string, force = false, o: { cgroupInBackground?: boolean } = {}): Promise<void> {
    const dir = this.dir(id);
    const rec = dir.read();
    const status = statusOf(dir, rec);
    if (status !== 'stopped' && !force)
      throw new RuntimeError(
        'INVALID_STATE',
        `cannot delete container "${id}": it is ${status} (use --force)`,
      );
    // A stopped container's pooled cgroup goes back by its path: no manager needed here.
    const cg = status === 'stopped' && rec.cgroupPooled ? undefined : await this.cgroupOf(rec);
    if (status !== 'stopped') {
      if (status === 'paused') await cg?.thaw();
      if (rec.pid !== undefined) signalProcess(rec.pid, constants.signals.SIGKILL);
    }
    await waitGone(rec.pid, rec.pidStart);
    // A monitor that has written the exit record only has its socket left to unlink; waiting
    // for it would cost a poll interval per container for nothing.
    if (!dir.exit()) await waitGone(rec.monitorPid, rec.monitorStart);
    if (cg || (rec.cgroupPooled && rec.cgroupPath)) {
      const removing = this.removeCgroup(rec, cg);
      if (o.cgroupInBackground && rec.cgroupPooled) removing.catch(() => {});
      else await removing;
    }
    removeCgroupParents(rec.cgroupParents);
    rmSync(dir.path, { recursive: true, force: true });
    if (rec.poststop?.length)
      await runHooksWarning('poststop', rec.poststop, this.ociState(dir, rec, 'stopped'));
  }

  /** create + start + wait + delete; resolves with the exit. */
  async run(id: string, o: CreateOptions & { keep?: boolean }): Promise<{ code: number; signal: number }> {
    if (this.opts.spawner && !o.consoleSocket && !o.preserveFds) return this.runWarm(id, o);
    await this.create(id, { ...o, autostart: false });
    const waiting = this.wait(id);
    try {
      await this.start(id);
    } catch (e) {
      await this.delete(id, true).catch(() => {});
      throw e;
    }
    const exit = await waiting;
    if (!o.keep) await this.delete(id, true);
    return exit;
  }

  /** The warm path: one request to the spawner carries create and start. */
  private async runWarm(id: string, o: CreateOptions & { keep?: boolean }) {
    const { exited } = await this.create(id, { ...o, autostart: true });
    try {
      const exit = await (exited ?? this.wait(id));
      o.trace?.mark('exited');
      return exit;
    } finally {
      if (!o.keep) await this.delete(id, true);
      o.trace?.mark('delete');
    }
  }

  async exec(id: string, o: ExecOptions): Promise<{ pid: number; exit: Promise<number> }> {
    const [dir, rec] = await this.check(id, 'exec');
    const config = dir.readConfig();
    const proc = processSchema.parse(o.process);
    const passFds = callerFds(o.preserveFds);
    const p = compileProcess(proc, 'process', config.linux?.seccomp, {
      compileSeccomp: this.opts.compileSeccomp,
    });
    let namespaces = 0;
    for (const [type, flag] of NS_FLAGS_FOR_EXEC)
      if (config.linux?.namespaces?.some((n) => n.type === type)) namespaces |= flag;
    const cg = await this.cgroupOf(rec);
    const plan: Partial<Plan> & Pick<Plan, 'args'> = {
      ...p,
      namespaces,
      targetPid: rec.pid,
      cgroupProcs: cg?.procsFiles() ?? [],
      consoleSocket: o.consoleSocket,
      attachSocket: o.attachSocket,
      ...(o.attachSocket && o.scrollbackBytes !== undefined ? { logMax: o.scrollbackBytes } : {}),
      ...(o.attachSocket && o.exitFile ? { exitFile: o.exitFile } : {}),
      preserveFds: passFds.length,
      seccompListener: p.seccompListener && {
        ...p.seccompListener,
        state: seccompListenerState(p.seccompListener, this.ociState(dir, rec, 'running')),
      },
    };
    const run = runHelper('exec', encodePlan(plan), o.stdio ?? 'inherit', passFds);
    const first = await run.next();
    if (first?.kind !== 'ok') {
      await run.done;
      throw helperError('EXEC_FAILED', first, 'exec');
    }
    if (o.pidFile) writeFileSync(o.pidFile, String(first.pid));
    const exit = (async () => {
      const next = await run.next(); // "err" if execve failed, else "exit"
      const code = await run.done;
      if (next?.kind === 'err') throw helperError('EXEC_FAILED', next, 'exec');
      return code;
    })();
    exit.catch(() => {});
    return { pid: first.pid, exit };
  }

  async ps(id: string): Promise<number[]> {
    const dir = this.dir(id);
    const rec = dir.read();
    const cg = await this.cgroupOf(rec);
    if (!cg) throw new RuntimeError('NO_CGROUPS', `container "${id}" has no cgroup to list`);
    return cg.pids();
  }

  async pause(id: string): Promise<void> {
    const [dir, rec] = await this.check(id, 'pause');
    const cg = await this.cgroupOf(rec);
    if (!cg) throw new RuntimeError('NO_CGROUPS', `container "${id}" has no cgroup to freeze`);
    await cg.freeze();
    rec.paused = true;
    dir.write(rec);
  }

  async resume(id: string): Promise<void> {
    const [dir, rec] = await this.check(id, 'resume');
    const cg = await this.cgroupOf(rec);
    if (!cg) throw new RuntimeError('NO_CGROUPS', `container "${id}" has no cgroup to thaw`);
    await cg.thaw();
    rec.paused = false;
    dir.write(rec);
  }

  async update(id: string, resources: LinuxResources): Promise<void> {
    const [, rec] = await this.check(id, 'update');
    const cg = await this.cgroupOf(rec);
    if (!cg) throw new RuntimeError('NO_CGROUPS', `container "${id}" has no cgroup to update`);
    await cg.apply(resources);
  }
}
