import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupLayout } from './detect.ts';

// Helpers for the root tests: a unique "/berth-test-<random>" parent in every hierarchy, child
// processes that put themselves into the cgroup before they exec (as the C helper does), and
// teardown that removes only what the test created.

export const BUSYBOX = '/bin/busybox';

export function testParent(): string {
  return `/berth-test-${randomBytes(4).toString('hex')}`;
}

/** Mount points of every hierarchy in `layout`, named ones included. */
export function mountsOf(layout: CgroupLayout): string[] {
  const all = new Set(Object.values(layout.v1));
  if (layout.v2) all.add(layout.v2.mountPoint);
  // Berth never uses named hierarchies, but a peer (crun) run by the benchmark does.
  for (const m of Object.values(layout.v1Named ?? {})) all.add(m);
  return [...all];
}

/** Kill what is left in `parent` (only our test's processes can be there) and remove it, deepest first. */
export function removeTestTree(layout: CgroupLayout, parent: string): string[] {
  if (!/^\/berth-(test|bench)-/.test(parent))
    throw new Error(`refusing to remove ${parent}: not a test or bench cgroup`);
  const failed: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const d of readdirSync(dir, { withFileTypes: true })) if (d.isDirectory()) walk(join(dir, d.name));
    for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone
      }
    }
    try {
      if (existsSync(join(dir, 'freezer.state'))) writeFileSync(join(dir, 'freezer.state'), 'THAWED');
      if (existsSync(join(dir, 'cgroup.freeze'))) writeFileSync(join(dir, 'cgroup.freeze'), '0');
    } catch {
      // best effort
    }
    for (let i = 0; i < 200; i++) {
      try {
        rmdirSync(dir);
        return;
      } catch {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      }
    }
    failed.push(dir);
  };
  for (const m of mountsOf(layout)) walk(join(m, parent));
  return failed;
}

/**
 * Start `script` under busybox sh, after it has written its own pid into each of `procsFiles`
 * (so everything it runs is inside from the first instruction).
 */
export function spawnInCgroup(
  procsFiles: string[],
  script: string,
  cmd: string[] = [BUSYBOX, 'sh', '-c'],
): ChildProcess {
  const join_ = `for f in ${procsFiles.map((f) => `'${f}'`).join(' ')}; do echo $$ > "$f" || exit 99; done; exec ${cmd.map((c) => `'${c}'`).join(' ')} "$0"`;
  return spawn(BUSYBOX, ['sh', '-c', join_, script], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Wait until `pid`'s cgroup membership shows up (the child wrote itself in), or throw. */
export async function waitUntil(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Run `script` in the cgroup to its end and return what it printed. Waits for 'close' (the pipes
 * drained), not 'exit': Node may report the exit before the last stdout chunk was read.
 */
export function runInCgroup(
  procsFiles: string[],
  script: string,
  children: ChildProcess[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnInCgroup(procsFiles, script);
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

/** Whether a process is alive (a zombie is dead). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}
