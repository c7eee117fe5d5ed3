import { type ChildProcess, spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { encodePlan, frame } from '../spec/encode.ts';
import type { Plan } from '../spec/plan.ts';
import { RuntimeError } from './errors.ts';
import { type CreatedReport, helperPath, onLines, parseReport } from './helper.ts';

// A long-lived native spawner (berth-helper zygote): a warm Node process hands it plans over
// a pipe and it forks a monitor per container, so starting a container costs a fork of a
// small C process instead of Node's spawn.

interface Pending {
  created: Deferred<CreatedReport>;
  /** Settles once init has exec'd (a plan with autostart and reportStart), or could not. */
  started: Deferred<void>;
  exited: Deferred<{ code: number; signal: number }>;
  ok?: boolean;
  startError?: RuntimeError;
}

class Deferred<T> {
  promise: Promise<T>;
  resolve!: (v: T) => void;
  reject!: (e: Error) => void;
  constructor() {
    this.promise = new Promise<T>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    this.promise.catch(() => {});
  }
}

/**
 * Warm cells (native/cell.c): a monitor forked ahead of time with a resident process already in
 * a pooled cgroup, so that the container's init is born there by clone instead of being moved
 * in (a move waits for an RCU grace period: about 2 ms here). The cgroup pool
 * (openCgroupPool({ cells: spawner })) prepares one per ready slot; the runtime runs a
 * container in it by its id.
 */
export interface WarmCells {
  /** A cell whose resident sits in these cgroup.procs files; resolves with its id. */
  prepareCell(procsFiles: string[]): Promise<string>;
  /** Lets a cell go unused (its resident exits; its cgroup is removed by the pool); a used one is left alone. */
  discardCell(id: string): void;
  /** Whether the cell is still there to be used (false once its spawner has exited). */
  hasCell(id: string): boolean;
}

export class Spawner implements WarmCells {
  private readonly child: ChildProcess;
  private readonly pending = new Map<string, Pending>();
  private readonly preparing = new Map<string, Deferred<string>>();
  /** Cells ready and not yet used or discarded. */
  private readonly cells = new Set<string>();
  private seq = 0;

  constructor() {
    this.child = spawn(helperPath(), ['zygote'], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.stdin!.on('error', () => {});
    onLines(this.child.stdout!, (line) => this.onLine(line));
    this.child.on('exit', () => {
      for (const p of this.pending.values()) {
        const e = new RuntimeError('CREATE_FAILED', 'the spawner exited');
        p.created.reject(e);
        p.started.reject(e);
        p.exited.reject(e);
      }
      this.pending.clear();
      for (const c of this.preparing.values())
        c.reject(new RuntimeError('CREATE_FAILED', 'the spawner exited'));
      this.preparing.clear();
    });
    this.hold(false);
  }

  /** The zygote keeps the caller's event loop alive only while a request is pending. */
  private hold(on: boolean): void {
    const stdout = this.child.stdout as unknown as { ref?: () => void; unref?: () => void };
    if (on) {
      this.child.ref();
      stdout.ref?.();
    } else {
      this.child.unref();
      stdout.unref?.();
    }
  }

  private get busy(): number {
    return this.pending.size + this.preparing.size;
  }

  private finish(id: string): void {
    this.pending.delete(id);
    this.preparing.delete(id);
    if (this.busy === 0) this.hold(false);
  }

  private onLine(line: string): void {
    const sp = line.indexOf(' ');
    const id = line.slice(0, sp);
    const cell = this.preparing.get(id);
    if (cell) {
      const r = parseReport(line.slice(sp + 1));
      if (r.kind === 'ok') {
        this.cells.add(id);
        cell.resolve(id);
      } else cell.reject(new RuntimeError('CREATE_FAILED', r.kind === 'err' ? r.message : line));
      this.finish(id);
      return;
    }
    const p = this.pending.get(id);
    if (!p) return;
    const r = parseReport(line.slice(sp + 1));
    if (r.kind === 'ok') {
      p.ok = true;
      const { kind: _, ...created } = r;
      p.created.resolve(created);
    } else if (r.kind === 'err' && !p.ok) {
      // Creation failed: the monitor has exited, nothing more comes for this request.
      p.created.reject(new RuntimeError('CREATE_FAILED', r.message));
      this.finish(id);
    } else if (r.kind === 'err') {
      p.startError = new RuntimeError('START_FAILED', r.message);
      p.started.reject(p.startError);
    } else if (r.kind === 'started') {
      p.started.resolve();
    } else if (r.kind === 'exit') {
      if (p.startError) p.exited.reject(p.startError);
      else p.exited.resolve({ code: r.code, signal: r.signal });
      // (Init was started, by then, unless it failed to: said above.)
      p.started.resolve();
      this.finish(id);
    }
  }

  /** False once the zygote has exited (then every spawn fails at once; make a new Spawner). */
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Makes the plan's container. `created` settles with the monitor's report; `started`, for a
   * plan with autostart and reportStart, once init has exec'd (or rejects as a start would);
   * `exited` with init's exit (the monitor reports it to us as it writes its exit record).
   */
  spawn(plan: Plan): {
    created: Promise<CreatedReport>;
    started: Promise<void>;
    exited: Promise<{ code: number; signal: number }>;
  } {
    const id = `r${++this.seq}`;
    const p: Pending = { created: new Deferred(), started: new Deferred(), exited: new Deferred() };
    const out = { created: p.created.promise, started: p.started.promise, exited: p.exited.promise };
    if (!this.alive) {
      const e = new RuntimeError('CREATE_FAILED', 'the spawner exited');
      p.created.reject(e);
      p.started.reject(e);
      p.exited.reject(e);
      return out;
    }
    if (this.busy === 0) this.hold(true);
    if (plan.cell) this.cells.delete(plan.cell);
    this.pending.set(id, p);
    p.created.promise.catch((e: Error) => {
      p.started.reject(e);
      p.exited.reject(e);
    });
    this.child.stdin!.write(frame(encodePlan({ ...plan, requestId: id })));
    return out;
  }

  prepareCell(procsFiles: string[]): Promise<string> {
    const id = `c${++this.seq}`;
    const d = new Deferred<string>();
    if (!this.alive) {
      d.reject(new RuntimeError('CREATE_FAILED', 'the spawner exited'));
      return d.promise;
    }
    if (this.busy === 0) this.hold(true);
    this.preparing.set(id, d);
    const plan = encodePlan({ args: [], requestId: id, cgroupProcs: procsFiles, cellPrepare: true });
    this.child.stdin!.write(frame(plan));
    return d.promise;
  }

  hasCell(id: string): boolean {
    return this.alive && this.cells.has(id);
  }

  discardCell(id: string): void {
    if (!this.cells.delete(id)) return; // used already, or gone with the zygote
    if (!this.child.stdin!.writable) return; // closed: the zygote's exit lets every cell go
    this.child.stdin!.write(frame(encodePlan({ args: [], requestId: `${id}-discard`, cellDiscard: id })));
  }

  close(): void {
    (this.child.stdin as Writable).end();
  }
}
