import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// Runs the real, bundled berthd (packages/agent/dist/berthd.js, built by `pnpm build`) as a
// child process, for root tests here and in apps/cli. Not a fake: it is the daemon as
// installed.

export const BERTHD_BUNDLE = fileURLToPath(new URL('../dist/berthd.js', import.meta.url));

export interface BerthdArgs {
  socketPath: string;
  stateDir: string;
  socketGroup: string;
  /** More berthd flags (e.g. --insecure-registry 127.0.0.1:5000). */
  extraArgs?: string[];
}

export interface BerthdProcess {
  readonly child: ChildProcess;
  /** Everything berthd wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code when berthd exits (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** SIGTERM (SIGKILL after 20 s), then the exit code. */
  stop(): Promise<number | null>;
}

export function spawnBerthd(args: BerthdArgs): BerthdProcess {
  const child = spawn(
    process.execPath,
    [
      BERTHD_BUNDLE,
      '--socket',
      args.socketPath,
      '--state-dir',
      args.stateDir,
      '--socket-group',
      args.socketGroup,
      ...(args.extraArgs ?? []),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    stderr: () => stderr,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(timer);
      }
      return child.exitCode;
    },
  };
}

/** Start berthd and wait until it says it listens; rejects with its stderr if it exits first. */
export async function startBerthd(args: BerthdArgs): Promise<BerthdProcess> {
  const proc = spawnBerthd(args);
  await new Promise<void>((resolve, reject) => {
    proc.child.stderr!.on('data', () => {
      if (proc.stderr().includes(' listening on ')) resolve();
    });
    proc.exited.then((code) =>
      reject(new Error(`berthd exited with ${code} before listening:\n${proc.stderr()}`)),
    );
  });
  return proc;
}
