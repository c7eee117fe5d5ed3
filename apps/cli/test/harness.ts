// Root-test harness for the CLI: the real bundled berthd on a temporary socket and state
// dir (started before the file's tests, stopped and removed after), and the bundled `berth`.
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BerthdArgs, type BerthdProcess, startBerthd } from '@berth/agent/testing';
import { afterAll, beforeAll } from 'vitest';

export const CLI_BUNDLE = fileURLToPath(new URL('../dist/berth.js', import.meta.url));

export interface BerthRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function useBerthd(label: string): {
  readonly dir: string;
  /** Runs `berth --socket <that berthd> …args`; with `untilLines`, Ctrl-C once that many lines are out. */
  berth(args: string[], opts?: { untilLines?: number }): Promise<BerthRun>;
} {
  const state = { dir: '', berthd: undefined as BerthdProcess | undefined };
  beforeAll(async () => {
    state.dir = mkdtempSync(`/tmp/berth-test-${label}-`);
    chmodSync(state.dir, 0o755);
    state.berthd = await startBerthd({
      socketPath: join(state.dir, 'berthd.sock'),
      stateDir: join(state.dir, 'state'),
      socketGroup: '0',
    });
  }, 60_000);
  afterAll(async () => {
    await state.berthd?.stop();
    rmSync(state.dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return state.dir;
    },
    berth(args, opts = {}) {
      return new Promise((resolve, reject) => {
        const child = spawn(
          process.execPath,
          [CLI_BUNDLE, '--socket', join(state.dir, 'berthd.sock'), ...args],
          {
            cwd: state.dir,
          },
        );
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (c: string) => {
          stdout += c;
          if (opts.untilLines && stdout.split('\n').length > opts.untilLines) child.kill('SIGINT');
        });
        child.stderr.setEncoding('utf8').on('data', (c: string) => {
          stderr += c;
        });
        child.once('error', reject);
        child.once('close', (code) => resolve({ code, stdout, stderr }));
      });
    },
  };
}

/** berthd's arguments for a test dir made by testDir(): its socket, state dir and agent.json. */
export function berthdArgs(dir: string): BerthdArgs {
  return {
    socketPath: join(dir, 'berthd.sock'),
    stateDir: join(dir, 'state'),
    socketGroup: '0',
    extraArgs: ['--config', join(dir, 'agent.json')],
  };
}

/** A fresh `/tmp/<tag>-…` dir with berthd's config (made from the dir's path) in agent.json;
 * traversable, as /var/lib is (a container's user-namespaced root reaches its root fs by path). */
export function testDir(tag: string, agentConfig: (dir: string) => Record<string, unknown>): string {
  const dir = mkdtempSync(`/tmp/${tag}-`);
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'agent.json'), JSON.stringify(agentConfig(dir)));
  return dir;
}

/** How runCli starts the bundled CLI: as another user, with more environment, elsewhere. */
export interface CliOptions {
  uid?: number;
  gid?: number;
  /** Added to a bare PATH (nothing else of the test's environment leaks in). */
  env?: Record<string, string>;
  cwd?: string;
  /** Another copy of the bundle (one a test user can read); default CLI_BUNDLE. */
  bundle?: string;
  /** Killed (SIGKILL) after this long; default 60 s. */
  timeoutMs?: number;
}

/** Runs the bundled `berth …argv` and collects its exit code and output. */
export function runCli(argv: string[], opts: CliOptions = {}): Promise<BerthRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [opts.bundle ?? CLI_BUNDLE, ...argv], {
      cwd: opts.cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...opts.env },
      uid: opts.uid,
      gid: opts.gid,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs the bundled `berth --socket <socketPath> …argv` (killed after `timeoutMs`). */
export function runBerth(socketPath: string, argv: string[], timeoutMs = 60_000): Promise<BerthRun> {
  return runCli(['--socket', socketPath, ...argv], { timeoutMs });
}

/** Polls `check` until it holds, or throws naming `what` after `ms`. */
export async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Whatever a test under `dir` left: processes in the `/tag` cgroups, mounts under dir, the
 * cgroups, the dir. */
export function cleanupTestHost(dir: string, tag: string): void {
  const hierarchies = readdirSync('/sys/fs/cgroup').map((h) => join('/sys/fs/cgroup', h, tag));
  for (const h of hierarchies.filter((p) => existsSync(p)))
    for (const procs of walk(h).filter((f) => f.endsWith('/cgroup.procs')))
      for (const pid of readFileSync(procs, 'utf8').split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone
        }
      }
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => dir && m.startsWith(dir))
    .sort()
    .reverse();
  // umount -l of what our own test mounted (container roots, idmapped layers) only.
  for (const m of mounts) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  for (const h of hierarchies.filter((p) => existsSync(p)))
    for (const d of walk(h, true).reverse()) {
      try {
        rmdirSync(d);
      } catch {
        // busy for a moment more; the kernel frees it when its last process is reaped
      }
    }
  if (dir) rmSync(dir, { recursive: true, force: true });
}

function walk(root: string, dirsOnly = false): string[] {
  const out: string[] = [];
  const visit = (d: string) => {
    if (dirsOnly) out.push(d);
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) visit(p);
      else if (!dirsOnly) out.push(p);
    }
  };
  if (existsSync(root)) visit(root);
  return out;
}

/**
 * A berthd of the test file's own: state under /tmp/<tag>-… (traversable, as /var/lib is), its
 * agent.json from `config`, containers' cgroups under /<tag>. `prepare` runs on the dir before
 * berthd starts. After the file's tests its containers are removed, it stops, and whatever is
 * left (processes, mounts, cgroups, the dir) is cleaned up, even when a test failed.
 */
export function useTaggedBerthd(
  tag: string,
  config: Record<string, unknown> = {},
  prepare?: (dir: string) => void | Promise<void>,
): {
  readonly dir: string;
  readonly berthd: BerthdProcess | undefined;
  berth(...argv: string[]): Promise<BerthRun>;
  /** `berth …argv`'s stdout; throws with berthd's stderr unless it exits 0. */
  ok(...argv: string[]): Promise<string>;
  /** Stops berthd (SIGTERM) and starts it again on the same socket, state and config. */
  restart(): Promise<void>;
} {
  const state = { dir: '', berthd: undefined as BerthdProcess | undefined };
  const socketPath = () => join(state.dir, 'berthd.sock');
  const berth = (...argv: string[]) => runBerth(socketPath(), argv, 180_000);
  const start = async () => {
    state.berthd = await startBerthd({
      socketPath: socketPath(),
      stateDir: join(state.dir, 'state'),
      socketGroup: '0',
      extraArgs: ['--config', join(state.dir, 'agent.json')],
    });
  };
  beforeAll(async () => {
    state.dir = mkdtempSync(`/tmp/${tag}-`);
    chmodSync(state.dir, 0o755);
    writeFileSync(join(state.dir, 'agent.json'), JSON.stringify({ cgroupParent: `/${tag}`, ...config }));
    await prepare?.(state.dir);
    await start();
  }, 900_000);
  afterAll(async () => {
    try {
      if (state.berthd && state.berthd.child.exitCode === null) {
        const list = await berth('ls', '--format', 'json');
        for (const c of JSON.parse(list.stdout || '[]') as Array<{ name: string }>)
          await berth('rm', '-f', c.name);
        await state.berthd.stop();
      }
    } finally {
      if (state.dir) cleanupTestHost(state.dir, tag);
    }
  }, 300_000);
  return {
    get dir() {
      return state.dir;
    },
    get berthd() {
      return state.berthd;
    },
    berth,
    async ok(...argv) {
      const r = await berth(...argv);
      if (r.code !== 0)
        throw new Error(
          `berth ${argv.join(' ')} exited ${r.code}: ${r.stderr}\nberthd said:\n${state.berthd?.stderr()}`,
        );
      return r.stdout;
    },
    async restart() {
      await state.berthd?.stop();
      await start();
    },
  };
}

/** The host's mount entries under `dir` or naming `tag`, from the mount point on (ids vary). */
export function hostMountsOf(dir: string, tag: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => (l.split(' ')[4] ?? '').startsWith(dir) || l.includes(tag))
    .map((l) => l.split(' ').slice(4).join(' '));
}
