import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerRoot, ImageAdapter, ResolvedImage } from '../src/runtime/images.ts';
import type { ContainerRuntime, RuntimeExit, RuntimeInstance, RuntimeStatus } from '../src/runtime/types.ts';

// A fake runtime and image store for the agent's unit tests, injected explicitly through
// startAgent/ContainerService options (never chosen by itself). It keeps containers in
// memory: "processes" exit when killed or when a test calls exit(). The real runtime is
// exercised by the root tests (apps/cli/test/containers.root.test.ts).

interface FakeContainer {
  status: RuntimeStatus;
  pid: number;
  exit?: RuntimeExit;
  waiters: Array<(e: RuntimeExit) => void>;
  spec: Record<string, unknown>;
  resources: Record<string, unknown>;
}

export class FakeRuntime implements ContainerRuntime {
  readonly containers = new Map<string, FakeContainer>();
  readonly calls: string[] = [];
  private nextPid = 1000;
  /** Set to make create fail (e.g. to test rollback). */
  failCreate?: Error;
  /** Set to make start fail (the instance stays created, as when init cannot exec). */
  failStart?: Error;
  /**
   * Set to start in create() when asked (`start`), as the real runtime does through its
   * spawner: the result carries `started` and `exited` (then "create+start <id>" is logged).
   */
  startsInCreate = false;
  /** How many times wait() was asked (an exit heard through `exited` needs none). */
  waits = 0;

  unavailableReason(): string | undefined {
    return undefined;
  }
  defaultSpec(o: { args: string[]; rootfs: string }): Record<string, unknown> {
    return {
      process: { args: o.args, cwd: '/', user: { uid: 0, gid: 0 }, env: [] },
      root: { path: o.rootfs },
      mounts: [],
      linux: { namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'mount' }], resources: {} },
    };
  }
  async create(
    id: string,
    _bundle: string,
    spec: Record<string, unknown>,
    _logFile?: string,
    _trace?: unknown,
    opts?: { start?: boolean },
  ): Promise<RuntimeInstance> {
    const start = opts?.start === true && this.startsInCreate;
    this.calls.push(`${start ? 'create+start' : 'create'} ${id}`);
    if (this.failCreate) throw this.failCreate;
    const pid = this.nextPid++;
    const c: FakeContainer = { status: 'created', pid, waiters: [], spec, resources: {} };
    this.containers.set(id, c);
    if (!start) return { pid };
    if (this.failStart) {
      // Init could not exec: it is gone, and so is the report of its exit.
      c.status = 'stopped';
      c.exit = { code: 127, signal: 0 };
      const failed = Promise.reject(this.failStart);
      failed.catch(() => {}); // awaited later (as the real runtime's are)
      return { pid, started: failed, exited: failed };
    }
    c.status = 'running';
    return {
      pid,
      started: Promise.resolve(),
      exited: new Promise((resolve) => c.waiters.push(resolve)),
    };
  }
  private need(id: string): FakeContainer {
    const c = this.containers.get(id);
    if (!c) throw new Error(`container "${id}" does not exist`);
    return c;
  }
  async start(id: string): Promise<void> {
    this.calls.push(`start ${id}`);
    if (this.failStart) throw this.failStart;
    this.need(id).status = 'running';
  }
  state(id: string) {
    const c = this.containers.get(id);
    return c ? { status: c.status, pid: c.pid } : undefined;
  }
  list(): string[] {
    return [...this.containers.keys()];
  }
  /** The container's init exits with `code` (as if by itself). */
  exit(id: string, code: number, signal = 0): void {
    const c = this.need(id);
    c.status = 'stopped';
    c.exit = { code, signal };
    for (const w of c.waiters.splice(0)) w(c.exit);
  }
  async kill(id: string, signal: number | string): Promise<void> {
    this.calls.push(`kill ${id} ${signal}`);
    const c = this.need(id);
    if (c.status === 'stopped') return;
    this.exit(id, 128 + (signal === 'SIGKILL' ? 9 : 15), signal === 'SIGKILL' ? 9 : 15);
  }
  wait(id: string): Promise<RuntimeExit> {
    this.waits++;
    const c = this.need(id);
    if (c.exit) return Promise.resolve(c.exit);
    return new Promise((resolve) => c.waiters.push(resolve));
  }
  async delete(id: string): Promise<void> {
    this.calls.push(`delete ${id}`);
    this.containers.delete(id);
  }
  async pause(id: string): Promise<void> {
    this.need(id).status = 'paused';
  }
  async resume(id: string): Promise<void> {
    this.need(id).status = 'running';
  }
  async update(id: string, resources: Record<string, unknown>): Promise<void> {
    Object.assign(this.need(id).resources, resources);
  }
  async exec(): Promise<{ exit: Promise<number> }> {
    return { exit: Promise.resolve(0) };
  }
  async execTerminal(): Promise<never> {
    throw new Error('the fake runtime has no terminals');
  }
  async attachConsole(): Promise<never> {
    throw new Error('the fake runtime has no terminals');
  }
  async attachSession(): Promise<never> {
    throw new Error('the fake runtime has no terminals');
  }
  async sessionInfo(): Promise<undefined> {
    return undefined;
  }
  async waitSession(): Promise<undefined> {
    return undefined;
  }
  consoleLogs(): string[] {
    return [];
  }
  async oomKills(): Promise<number> {
    return 0;
  }
  group() {
    return {
      create: async () => {},
      apply: async () => {},
      stats: async () => ({ pids: 0 }),
      destroy: async () => {},
    };
  }
  close(): void {}
}

/** Images: every reference resolves to one empty image; roots are plain directories. */
export class FakeImages implements ImageAdapter {
  constructor(private readonly dir: string) {}
  async resolve(ref: string): Promise<ResolvedImage> {
    if (ref.startsWith('missing')) throw new Error(`image ${ref} not found`);
    return {
      reference: ref,
      digest: `sha256:${'0'.repeat(64)}`,
      layers: [],
      config: { env: ['FROM_IMAGE=1'], entrypoint: null, cmd: ['/bin/sh'] },
    };
  }
  async createRoot(id: string): Promise<ContainerRoot> {
    const r = this.root(id);
    mkdirSync(r.path, { recursive: true });
    mkdirSync(r.upper, { recursive: true });
    return r;
  }
  root(id: string): ContainerRoot {
    return { path: join(this.dir, id, 'rootfs'), upper: join(this.dir, id, 'upper') };
  }
  async ensureMounted(): Promise<void> {}
  unmount(): void {}
  async removeRoot(id: string): Promise<void> {
    const { rmSync } = await import('node:fs');
    rmSync(join(this.dir, id), { recursive: true, force: true });
  }
}
