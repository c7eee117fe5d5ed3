import { randomUUID } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CASES, type ConformanceCase } from './cases.ts';
import { CaseFailure, check } from './check.ts';
import { berthDriver, CgroupSandbox, crunDriver, type RunResult, type RuntimeDriver } from './runtimes.ts';
import { Bundle, defaultSpec, type Spec } from './spec.ts';

// Runs the conformance cases against a runtime and says, per case, pass or fail and why.
// Used by the root test (conformance.root.test.ts) and by `pnpm bench oci-conformance`.

export interface OciState {
  ociVersion?: string;
  id?: string;
  status?: string;
  pid?: number;
  bundle?: string;
  annotations?: Record<string, string>;
}

/** What a case gets: one runtime, the shared bundle, and the verbs of util/container.go. */
export class CaseContext {
  private readonly ids = new Set<string>();
  private lastFiles?: { outPath: string; errPath: string };

  constructor(
    readonly rt: RuntimeDriver,
    readonly bundle: Bundle,
    readonly sandbox: CgroupSandbox,
    readonly scratch: string,
  ) {}

  /** A UUID container id, as the suite uses (uuid.NewString()). */
  newId(): string {
    const id = randomUUID();
    this.ids.add(id);
    return id;
  }

  /** The default config (see spec.ts) with its own absolute cgroupsPath. */
  spec(edit?: (s: Spec) => void): Spec {
    const s = defaultSpec(`/${this.sandbox.name}/${randomUUID()}`);
    edit?.(s);
    return s;
  }

  /** A path under the bundle (which is also the rootfs). */
  path(...p: string[]): string {
    return this.bundle.path(...p);
  }

  write(spec: Spec | string): void {
    this.bundle.writeConfig(spec);
  }

  /** `create [--pid-file F] --bundle B ID`, its stdout/stderr in files in the bundle. */
  async create(id: string | undefined, opts: { pidFile?: string } = {}): Promise<RunResult> {
    const tag = randomUUID();
    const outPath = this.path(`stdout-${tag}`);
    const errPath = this.path(`stderr-${tag}`);
    const out = openSync(outPath, 'wx', 0o600);
    const err = openSync(errPath, 'wx', 0o600);
    try {
      const args = ['create', ...(opts.pidFile ? ['--pid-file', opts.pidFile] : [])];
      args.push('--bundle', this.bundle.dir);
      if (id) args.push(id);
      const r = await this.rt.run(args, { stdout: out, stderr: err });
      this.lastFiles = { outPath, errPath };
      return { code: r.code, stdout: readFileSync(outPath, 'utf8'), stderr: readFileSync(errPath, 'utf8') };
    } finally {
      closeSync(out);
      closeSync(err);
    }
  }

  /** What the container wrote to the stdio it inherited from the last `create`. */
  streams(): { stdout: string; stderr: string } {
    if (!this.lastFiles) return { stdout: '', stderr: '' };
    return {
      stdout: readFileSync(this.lastFiles.outPath, 'utf8'),
      stderr: readFileSync(this.lastFiles.errPath, 'utf8'),
    };
  }

  start(id?: string): Promise<RunResult> {
    return this.rt.run(['start', ...(id ? [id] : [])]);
  }

  kill(id: string | undefined, sig = 'TERM'): Promise<RunResult> {
    return this.rt.run(['kill', ...(id ? [id] : []), sig]);
  }

  delete(id?: string, force = false): Promise<RunResult> {
    return this.rt.run(['delete', ...(force ? ['--force'] : []), ...(id ? [id] : [])]);
  }

  async stateRaw(id?: string): Promise<RunResult> {
    return this.rt.run(['state', ...(id ? [id] : [])]);
  }

  /** `state ID` parsed, or undefined when the runtime errs (no such container). */
  async state(id: string): Promise<OciState | undefined> {
    const r = await this.stateRaw(id);
    if (r.code !== 0) return undefined;
    return JSON.parse(r.stdout) as OciState;
  }

  /** util.WaitingForStatus: polls `state` until one of the statuses, or a timeout. */
  async waitStatus(id: string, statuses: string[], ms = 10_000): Promise<string | undefined> {
    const deadline = Date.now() + ms;
    let last: string | undefined;
    do {
      last = (await this.state(id))?.status;
      if (last && statuses.includes(last)) return last;
      await new Promise((r) => setTimeout(r, 50));
    } while (Date.now() < deadline);
    return last;
  }

  /**
   * util.RuntimeInsideValidate: create, start, wait for stopped, and return what the
   * process wrote to the stdio it inherited from `create`.
   */
  async inside(spec: Spec): Promise<{ stdout: string; stderr: string }> {
    this.write(spec);
    const id = this.newId();
    const c = await this.create(id);
    check(c.code === 0, `create failed: ${c.stderr.trim()}`);
    const s = await this.start(id);
    check(s.code === 0, `start failed: ${s.stderr.trim()}`);
    const st = await this.waitStatus(id, ['stopped']);
    check(st === 'stopped', `the container did not stop (status ${st})`);
    const out = this.streams();
    await this.delete(id);
    return out;
  }

  /** util.RuntimeOutsideValidate: create, then check from outside with the state. */
  async outside(spec: Spec, fn: (state: OciState, id: string) => Promise<void> | void): Promise<void> {
    this.write(spec);
    const id = this.newId();
    const c = await this.create(id);
    check(c.code === 0, `create failed: ${c.stderr.trim()}`);
    const state = await this.state(id);
    check(state?.pid, 'state has no pid after create');
    await fn(state, id);
  }

  /** Kills and deletes every container the case made (util Runtime.Clean). */
  async cleanup(): Promise<void> {
    for (const id of this.ids) {
      if ((await this.stateRaw(id)).code !== 0) continue;
      if ((await this.delete(id, true)).code !== 0 && (await this.stateRaw(id)).code === 0) {
        await this.kill(id, 'KILL');
        await this.waitStatus(id, ['stopped'], 5000);
        await this.delete(id, true);
      }
    }
    this.ids.clear();
    this.lastFiles = undefined;
  }
}

export interface CaseResult {
  name: string;
  source: string;
  pass: boolean;
  error?: string;
  ms: number;
}

/** The suite's fixtures: one scratch dir, one bundle, the cgroup sandbox, both runtimes. */
export class ConformanceSuite {
  readonly scratch: string;
  readonly bundle: Bundle;
  readonly sandbox: CgroupSandbox;
  readonly runtimes: RuntimeDriver[];

  constructor() {
    this.scratch = mkdtempSync(join(tmpdir(), 'berth-test-oci-'));
    chmodSync(this.scratch, 0o755); // root of a user namespace must reach the bundle
    this.bundle = new Bundle(join(this.scratch, 'bundle'));
    this.sandbox = new CgroupSandbox(String(process.pid));
    this.sandbox.create();
    this.runtimes = [
      crunDriver(join(this.scratch, 'crun-state'), this.sandbox),
      berthDriver(join(this.scratch, 'berth-state'), this.sandbox),
    ];
  }

  async runCase(rt: RuntimeDriver, c: ConformanceCase): Promise<CaseResult> {
    const ctx = new CaseContext(rt, this.bundle, this.sandbox, this.scratch);
    const t0 = Date.now();
    let error: string | undefined;
    try {
      await c.run(ctx);
    } catch (e) {
      error = e instanceof CaseFailure ? e.message : `${(e as Error).stack ?? e}`;
    }
    try {
      await ctx.cleanup();
    } finally {
      this.bundle.reset();
    }
    return { name: c.name, source: c.source, pass: error === undefined, error, ms: Date.now() - t0 };
  }

  async dispose(): Promise<string[]> {
    const left = this.sandbox.destroy();
    if (existsSync(this.scratch)) rmSync(this.scratch, { recursive: true, force: true });
    return left;
  }
}

export { CASES };
