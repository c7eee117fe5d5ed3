// A Berth of the test's own, started and stopped with the README's scripts (start.sh,
// stop.sh) on its own port, data dir, run dir and socket, so it never meets a running Berth.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface TestStack {
  url: string;
  socket: string;
  runDir: string;
  logDir: string;
  adminPassword: string;
  /** What start.sh printed. */
  startOutput: string;
  /** Runs start.sh again with the same settings; resolves to what it printed. */
  startAgain(): Promise<string>;
  /** stop.sh, then removes the test's directories. Safe to call twice. */
  stop(): Promise<string>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export async function startStack(): Promise<TestStack> {
  // 0755: the panel runs as berth-panel and must reach its data dir and the socket.
  const dir = mkdtempSync('/tmp/berth-test-e2e-');
  chmodSync(dir, 0o755);
  const port = await freePort();
  // As a root shell runs command 1: without the NODE_PATH that pnpm's bin shims export (it
  // lets bundles find packages they do not declare, hiding what would break for real).
  const { NODE_PATH: _, ...inherited } = process.env;
  const env = {
    ...inherited,
    BERTH_SKIP_INSTALL: process.env.BERTH_E2E_INSTALL === '1' ? '0' : '1', // test.sh installed already
    BERTH_PORT: String(port),
    BERTH_DATA_DIR: join(dir, 'data'),
    BERTH_RUN_DIR: join(dir, 'run'),
    BERTH_LOG_DIR: join(dir, 'log'),
    BERTH_ADMIN_PASSWORD: randomBytes(12).toString('base64url'),
  };
  let stopped: Promise<string> | undefined;
  const stop = () => {
    stopped ??= run(join(repoRoot, 'scripts/stop.sh'), { env })
      .then(
        (r) => r.stdout,
        (err: { stdout?: string; message: string }) => `stop.sh failed: ${err.message}\n${err.stdout ?? ''}`,
      )
      .finally(() => rmSync(dir, { recursive: true, force: true }));
    return stopped;
  };
  try {
    const start = async () =>
      (await run(join(repoRoot, 'scripts/start.sh'), { env, timeout: 240_000 })).stdout;
    const stdout = await start();
    return {
      startAgain: start,
      url: `http://127.0.0.1:${port}`,
      socket: join(env.BERTH_RUN_DIR, 'berthd.sock'),
      runDir: env.BERTH_RUN_DIR,
      logDir: env.BERTH_LOG_DIR,
      adminPassword: env.BERTH_ADMIN_PASSWORD,
      startOutput: stdout,
      stop,
    };
  } catch (err) {
    const logs = ['berthd.log', 'panel.log']
      .map((f) => {
        try {
          return `--- ${f}\n${readFileSync(join(env.BERTH_LOG_DIR, f), 'utf8').slice(-3000)}`;
        } catch {
          return '';
        }
      })
      .join('\n');
    await stop();
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`start.sh failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}\n${logs}`);
  }
}

export function pidOf(stack: TestStack, name: 'berthd' | 'panel'): number {
  return Number(readFileSync(join(stack.runDir, `${name}.pid`), 'utf8').trim());
}
