import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CgroupPool,
  createCgroupManager,
  openCgroupPool,
  removeStrayCgroupSlots,
} from '@berth/runtime/cgroup';
import { releaseSessionSocket, sessionExitFile } from './session-socket.ts';
import type {
  ContainerRuntime,
  DefaultSpecOptions,
  ExecProcess,
  ExecStdio,
  GroupCgroup,
  RuntimeExit,
  RuntimeState,
  RuntimeStatus,
  TerminalStream,
} from './types.ts';
import { withUmask } from './umask.ts';

// The real runtime: packages/runtime's Runtime class (the container lifecycle as a library:
// native helper + per-container monitor). It is loaded at start-up by name so that berthd
// builds while the runtime core lands piece by piece; when the build has no Runtime, every
// container operation is refused with the reason (unavailableReason), nothing is faked.

/** The part of @berth/runtime's Runtime that berthd uses (structural, checked at load). */
interface RuntimeLike {
  create(
    id: string,
    o: {
      bundle: string;
      config?: unknown;
      stdio?: unknown;
      stdioFiles?: [string, string, string];
      trace?: { mark(phase: string): void };
      autostart?: boolean;
      confirmStart?: boolean;
    },
  ): Promise<{ pid: number; started?: Promise<void>; exited?: Promise<RuntimeExit> }>;
  start(id: string): Promise<void>;
  state(id: string): { status: RuntimeStatus; pid?: number };
  list(): Array<{ id: string }>;
  kill(id: string, signal?: string | number, all?: boolean): Promise<void>;
  wait(id: string): Promise<{ code: number; signal: number }>;
  delete(id: string, force?: boolean, o?: { cgroupInBackground?: boolean }): Promise<void>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  update(id: string, resources: unknown): Promise<void>;
  exec(
    id: string,
    o: {
      process: unknown;
      stdio?: unknown;
      attachSocket?: string;
      scrollbackBytes?: number;
      exitFile?: string;
    },
  ): Promise<{ pid: number; exit: Promise<number> }>;
}

/** @berth/runtime's warm native spawner (a berth-helper zygote). */
interface SpawnerLike {
  readonly alive: boolean;
  close(): void;
  /** Warm cells (the runtime's WarmCells), for the cgroup pools. */
  prepareCell?(procsFiles: string[]): Promise<string>;
  discardCell?(id: string): void;
  hasCell?(id: string): boolean;
}
type AttachFn = (socket: string) => Promise<TerminalStream>;
type SessionFns = {
  attachReplay(
    socket: string,
  ): Promise<TerminalStream & { scrollback: Buffer; live(onData: (chunk: Buffer) => void): void }>;
  sessionInfo(
    socket: string,
  ): Promise<{ output: number; lastIoMs: number; attached: number; exited: boolean } | undefined>;
  waitViaMonitor(socket: string): Promise<RuntimeExit | undefined>;
};

type RuntimeCtor = new (opts: {
  root: string;
  compileSeccomp?: (seccomp: unknown, arch: 'x86_64' | 'aarch64') => Buffer;
  spawner?: SpawnerLike;
  cgroupPoolOf?: (parent: string) => CgroupPool | undefined;
}) => RuntimeLike;

/**
 * Cgroups made ahead of time for each parent (a flat pool: the ungrouped containers' parent and
 * each group's, opened on the first create there): mkdir in every hierarchy, the limits written
 * and a warm cell waiting inside, so that init is born in its cgroups instead of being moved
 * into each (a write to cgroup.procs waits for an RCU grace period, ~2 ms, in each of this
 * host's ~10 hierarchies). The slot's name is the container's id (reserveId): its cgroup is
 * <parent>/<id>; a later instance of it (a restart) gets a slot of its own under the same
 * parent (the service's freshCgroup), recorded by the runtime (cgroupPath). Small: each ready
 * slot holds a cell (a monitor and a resident).
 */
const POOL = { size: 2, shapes: 2 };

export interface RealRuntimeOptions {
  /** The runtime's state root (monitors, console logs, exit records). */
  root: string;
}

export async function loadRealRuntime(opts: RealRuntimeOptions): Promise<ContainerRuntime> {
  let Ctor: RuntimeCtor | undefined;
  let SpawnerCtor: (new () => SpawnerLike) | undefined;
  let defaultConfig: ((o: DefaultSpecOptions) => Record<string, unknown>) | undefined;
  let reason: string | undefined;
  let attach: AttachFn | undefined;
  let sessions: SessionFns | undefined;
  try {
    const mod = (await import('@berth/runtime')) as Record<string, unknown>;
    Ctor = typeof mod.Runtime === 'function' ? (mod.Runtime as RuntimeCtor) : undefined;
    if (typeof mod.Spawner === 'function') SpawnerCtor = mod.Spawner as new () => SpawnerLike;
    if (typeof mod.attach === 'function') attach = mod.attach as AttachFn;
    if (typeof mod.attachReplay === 'function') sessions = mod as unknown as SessionFns;
    if (typeof mod.defaultConfig === 'function') defaultConfig = mod.defaultConfig as typeof defaultConfig;
    if (!Ctor || !defaultConfig)
      reason = 'this build of berthd has no container runtime (packages/runtime exports no Runtime)';
  } catch (e) {
    reason = `the container runtime failed to load: ${(e as Error).message}`;
  }
  // Containers are created through a warm spawner (a berth-helper zygote, one fork of a small
  // C process per container instead of Node spawning the helper: most of a create's time).
  // Its monitors outlive it and berthd; one that died (never expected) is replaced on the
  // next create. Without a built helper there is none, and the runtime reports why it fails.
  let spawner: SpawnerLike | undefined;
  const warmSpawner = (): SpawnerLike | undefined => {
    if (spawner?.alive) return spawner;
    try {
      spawner = SpawnerCtor ? new SpawnerCtor() : undefined;
    } catch {
      spawner = undefined;
    }
    return spawner;
  };
  const pools = new Map<string, Promise<CgroupPool>>();
  const openPools = new Map<string, CgroupPool>();
  /** Ids reserved and not yet created, with their slot. */
  const reservations = new Map<string, { pool: CgroupPool; path: string }>();
  const poolFor = (parent: string): Promise<CgroupPool> => {
    let p = pools.get(parent);
    if (!p) {
      const sp = spawner?.alive ? spawner : undefined;
      const cells =
        sp?.prepareCell && sp.discardCell
          ? {
              prepareCell: sp.prepareCell.bind(sp),
              discardCell: sp.discardCell.bind(sp),
              ...(sp.hasCell ? { hasCell: sp.hasCell.bind(sp) } : {}),
            }
          : undefined;
      p = openCgroupPool({ parent, flat: true, ...POOL, ...(cells ? { cells } : {}) });
      pools.set(parent, p);
      p.then(
        (pool) => openPools.set(parent, pool),
        () => pools.delete(parent),
      );
    }
    return p;
  };
  const unreserve = (id: string) => {
    const r = reservations.get(id);
    if (!r) return;
    reservations.delete(id);
    r.pool.unreserve(r.path); // nothing when create took it
  };
  const closePool = async (parent: string) => {
    const p = pools.get(parent);
    if (!p) return;
    pools.delete(parent);
    openPools.delete(parent);
    await (await p.catch(() => undefined))?.close();
  };
  const makeRuntime = (sp: SpawnerLike | undefined) =>
    Ctor
      ? new Ctor({
          // The runtime compiles the seccomp profile itself, once per profile (it caches).
          root: opts.root,
          ...(sp ? { spawner: sp } : {}),
          cgroupPoolOf: (parent) => openPools.get(parent),
        })
      : undefined;
  let rt = makeRuntime(warmSpawner());
  const need = (): RuntimeLike => {
    if (!rt) throw new Error(reason);
    return rt;
  };
  /** The runtime, with a live spawner (a new Runtime is cheap: it is its options and a map). */
  const forCreate = (): RuntimeLike => {
    if (rt && spawner && !spawner.alive) rt = makeRuntime(warmSpawner());
    return need();
  };
  return {
    unavailableReason: () => reason,
    defaultSpec(o) {
      if (!defaultConfig) throw new Error(reason);
      return defaultConfig(o);
    },
    async create(id, bundle, spec, logFile, trace, createOpts) {
      // The runtime makes the container's cgroup directories with the process umask; berthd's
      // is 077, and a user-namespaced container could then not bind its own cgroup. 022 for
      // the duration (only directories under /sys/fs/cgroup and the runtime root are made).
      try {
        return await withUmask(0o022, async () => {
          const runtime = forCreate();
          if (spawner) {
            // The monitor opens these as root before init is cloned; init inherits them.
            closeSync(openSync(logFile, 'a', 0o600));
            // Created and started in one request to the monitor when asked: `started` settles
            // once init has exec'd, as start()'s reply would.
            const start = createOpts?.start === true;
            return await runtime.create(id, {
              bundle,
              config: spec,
              stdioFiles: ['/dev/null', logFile, logFile],
              ...(start ? { autostart: true, confirmStart: true } : {}),
              ...(trace ? { trace: { mark: (phase: string) => trace.mark(`rt.${phase}`) } } : {}),
            });
          }
          const log = openSync(logFile, 'a', 0o600);
          try {
            return await runtime.create(id, { bundle, config: spec, stdio: ['ignore', log, log] });
          } finally {
            closeSync(log);
          }
        });
      } finally {
        unreserve(id);
      }
    },
    async reserveId(cgroupParent) {
      if (!rt) throw new Error(reason);
      const pool = await poolFor(cgroupParent);
      const path = await pool.reserve();
      const id = path.slice(cgroupParent.length + 1);
      reservations.set(id, { pool, path });
      return id;
    },
    releaseId: (id) => unreserve(id),
    async removeStrayCgroups(parents, known) {
      const removed: string[] = [];
      for (const parent of parents)
        removed.push(
          ...(await removeStrayCgroupSlots(
            parent,
            (name) => reservations.has(name) || known(name, `${parent}/${name}`),
          )),
        );
      return removed;
    },
    start: (id) => need().start(id),
    state(id): RuntimeState | undefined {
      if (!rt || !existsSync(join(opts.root, id, 'state.json'))) return undefined;
      try {
        const s = rt.state(id);
        return { status: s.status, ...(s.pid !== undefined ? { pid: s.pid } : {}) };
      } catch {
        return undefined;
      }
    },
    list: () => (rt ? rt.list().map((s) => s.id) : []),
    kill: (id, signal, all) => need().kill(id, signal, all),
    wait: (id): Promise<RuntimeExit> => need().wait(id),
    delete: (id, force, o) => need().delete(id, force, o),
    pause: (id) => need().pause(id),
    resume: (id) => need().resume(id),
    update: (id, resources) => need().update(id, resources),
    async exec(id: string, p: ExecProcess, stdio: ExecStdio) {
      const { exit } = await need().exec(id, {
        process: {
          terminal: false,
          args: p.args,
          env: p.env,
          cwd: p.cwd,
          user: { uid: p.uid, gid: p.gid },
          noNewPrivileges: true,
        },
        stdio: stdio.fds,
      });
      return { exit };
    },
    async execTerminal(id, p, size, scrollbackBytes, beforeExec) {
      if (!sessions) throw new Error(reason ?? 'this build of the runtime has no resumable sessions');
      const socket = attachSocketPath(opts.root, id);
      try {
        beforeExec?.(socket.path);
        const r = await need().exec(id, {
          process: {
            terminal: true,
            consoleSize: { height: size.rows, width: size.cols },
            args: p.args,
            env: p.env,
            cwd: p.cwd,
            user: { uid: p.uid, gid: p.gid },
            noNewPrivileges: true,
          },
          stdio: ['ignore', 'ignore', 'ignore'],
          attachSocket: socket.path,
          scrollbackBytes,
          exitFile: sessionExitFile(socket.path),
        });
        // The session (root of the container's user namespace by then) cannot remove its
        // socket; a berthd that adopts it after a restart removes it when it ends.
        r.exit.finally(() => socket.release()).catch(() => {});
        return { pid: r.pid, socket: socket.path, exit: r.exit };
      } catch (e) {
        socket.release();
        throw e;
      }
    },
    attachSession(socket) {
      if (!sessions) throw new Error(reason ?? 'this build of the runtime has no resumable sessions');
      return sessions.attachReplay(socket);
    },
    async sessionInfo(socket) {
      return sessions?.sessionInfo(socket);
    },
    async waitSession(socket) {
      return sessions?.waitViaMonitor(socket);
    },
    async attachConsole(id) {
      if (!attach) throw new Error(reason ?? 'this build of the runtime cannot attach to terminals');
      if (!hasTerminal(opts.root, id)) throw new Error('its init has no terminal (not started with one)');
      return attach(join(opts.root, id, 'monitor.sock'));
    },
    consoleLogs(id) {
      if (!hasTerminal(opts.root, id)) return [];
      return ['console.log.1', 'console.log'].map((f) => join(opts.root, id, f)).filter((f) => existsSync(f));
    },
    async oomKills(id) {
      const s =
        rt && existsSync(join(opts.root, id, 'state.json')) ? readCgroupPath(opts.root, id) : undefined;
      if (!s) return 0;
      const stats = await createCgroupManager({ path: s })
        .stats()
        .catch(() => undefined);
      return stats?.memory?.oomKill ?? 0;
    },
    group: (path) => groupCgroup(path, () => closePool(path)),
    cgroupPath: (id) => readCgroupPath(opts.root, id),
    async close() {
      // The ready slots go (their cells let go through the spawner, before it closes).
      await Promise.all([...pools.keys()].map((parent) => closePool(parent)));
      spawner?.close();
    },
  };
}

/** Whether the instance's init was given a terminal (its config as the runtime recorded it). */
function hasTerminal(root: string, id: string): boolean {
  try {
    const config = JSON.parse(readFileSync(join(root, id, 'config.json'), 'utf8'));
    return config?.process?.terminal === true;
  } catch {
    return false;
  }
}

/**
 * Where an exec session serves its pty: the container's state dir when the path fits a Unix
 * socket address (107 bytes), else a private directory under /tmp; removed when it ends.
 */
function attachSocketPath(root: string, id: string): { path: string; release(): void } {
  const name = `exec-${randomBytes(6).toString('hex')}.sock`;
  const inState = join(root, id, name);
  if (inState.length <= 100) return { path: inState, release: () => rmSync(inState, { force: true }) };
  const dir = mkdtempSync(join(tmpdir(), 'berth-exec-'));
  return { path: join(dir, name), release: () => releaseSessionSocket(join(dir, name)) };
}

function readCgroupPath(root: string, id: string): string | undefined {
  try {
    // state.json is the runtime's record (written atomically); cgroupPath is where it put init.
    const rec = JSON.parse(readFileSync(join(root, id, 'state.json'), 'utf8'));
    return typeof rec.cgroupPath === 'string' ? rec.cgroupPath : undefined;
  } catch {
    return undefined;
  }
}

function groupCgroup(path: string, closePool: () => Promise<void>): GroupCgroup {
  const cg = createCgroupManager({ path });
  return {
    async create() {
      // Containers inside reach their own cgroup through this one from their user namespace:
      // it must be traversable (berthd's umask is 077).
      await withUmask(0o022, () => cg.create());
    },
    apply: (r) => cg.apply(r as never),
    async stats() {
      const s = await cg.stats();
      return {
        ...(s.memory?.usage !== undefined ? { memoryBytes: s.memory.usage } : {}),
        ...(s.cpu?.usageUsec !== undefined ? { cpuUsageNs: s.cpu.usageUsec * 1000 } : {}),
        ...(s.pids?.current !== undefined ? { pids: s.pids.current } : {}),
      };
    },
    async destroy() {
      await closePool(); // its ready slots live inside
      await cg.destroy();
    },
  };
}
