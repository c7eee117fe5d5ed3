import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCgroupManager } from '@berth/runtime/cgroup';
import { compileSeccomp } from '@berth/runtime/seccomp';
import type {
  ContainerRuntime,
  DefaultSpecOptions,
  ExecProcess,
  ExecStdio,
  GroupCgroup,
  RuntimeExit,
  RuntimeState,
  RuntimeStatus,
} from './types.ts';

// The real runtime: packages/runtime's Runtime class (the container lifecycle as a library:
// native helper + per-container monitor). It is loaded at start-up by name so that berthd
// builds while the runtime core lands piece by piece; when the build has no Runtime, every
// container operation is refused with the reason (unavailableReason), nothing is faked.

/** The part of @berth/runtime's Runtime that berthd uses (structural, checked at load). */
interface RuntimeLike {
  create(
    id: string,
    o: { bundle: string; config?: unknown; stdio?: unknown; stdioFiles?: [string, string, string] },
  ): Promise<{ pid: number }>;
  start(id: string): Promise<void>;
  state(id: string): { status: RuntimeStatus; pid?: number };
  list(): Array<{ id: string }>;
  kill(id: string, signal?: string | number, all?: boolean): Promise<void>;
  wait(id: string): Promise<{ code: number; signal: number }>;
  delete(id: string, force?: boolean): Promise<void>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  update(id: string, resources: unknown): Promise<void>;
  exec(id: string, o: { process: unknown; stdio?: unknown }): Promise<{ pid: number; exit: Promise<number> }>;
}

type RuntimeCtor = new (opts: {
  root: string;
  compileSeccomp?: (seccomp: unknown, arch: 'x86_64' | 'aarch64') => Buffer;
}) => RuntimeLike;

export interface RealRuntimeOptions {
  /** The runtime's state root (monitors, console logs, exit records). */
  root: string;
}

export async function loadRealRuntime(opts: RealRuntimeOptions): Promise<ContainerRuntime> {
  let Ctor: RuntimeCtor | undefined;
  let defaultConfig: ((o: DefaultSpecOptions) => Record<string, unknown>) | undefined;
  let reason: string | undefined;
  try {
    const mod = (await import('@berth/runtime')) as Record<string, unknown>;
    Ctor = typeof mod.Runtime === 'function' ? (mod.Runtime as RuntimeCtor) : undefined;
    if (typeof mod.defaultConfig === 'function') defaultConfig = mod.defaultConfig as typeof defaultConfig;
    if (!Ctor || !defaultConfig)
      reason = 'this build of berthd has no container runtime (packages/runtime exports no Runtime)';
  } catch (e) {
    reason = `the container runtime failed to load: ${(e as Error).message}`;
  }
  const rt = Ctor
    ? new Ctor({
        root: opts.root,
        compileSeccomp: (seccomp, arch) => compileSeccomp(seccomp as never, arch),
      })
    : undefined;
  const need = (): RuntimeLike => {
    if (!rt) throw new Error(reason);
    return rt;
  };
  return {
    unavailableReason: () => reason,
    defaultSpec(o) {
      if (!defaultConfig) throw new Error(reason);
      return defaultConfig(o);
    },
    async create(id, bundle, spec, logFile) {
      // The runtime makes the container's cgroup directories with the process umask; berthd's
      // is 077, and a user-namespaced container could then not bind its own cgroup. 022 for
      // the duration (only directories under /sys/fs/cgroup and the runtime root are made).
      const old = process.umask(0o022);
      const log = openSync(logFile, 'a', 0o600);
      try {
        return await need().create(id, { bundle, config: spec, stdio: ['ignore', log, log] });
      } finally {
        closeSync(log);
        process.umask(old);
      }
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
    delete: (id, force) => need().delete(id, force),
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
    async oomKills(id) {
      const s =
        rt && existsSync(join(opts.root, id, 'state.json')) ? readCgroupPath(opts.root, id) : undefined;
      if (!s) return 0;
      const stats = await createCgroupManager({ path: s })
        .stats()
        .catch(() => undefined);
      return stats?.memory?.oomKill ?? 0;
    },
    group: (path) => groupCgroup(path),
    close() {},
  };
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

function groupCgroup(path: string): GroupCgroup {
  const cg = createCgroupManager({ path });
  return {
    async create() {
      // Containers inside reach their own cgroup through this one from their user namespace:
      // it must be traversable (berthd's umask is 077).
      const old = process.umask(0o022);
      try {
        await cg.create();
      } finally {
        process.umask(old);
      }
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
    destroy: () => cg.destroy(),
  };
}
