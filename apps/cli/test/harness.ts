// Root-test harness for the CLI: the real bundled berthd on a temporary socket and state
// dir (started before the file's tests, stopped and removed after), and the bundled `berth`.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BerthdProcess, startBerthd } from '@berth/agent/testing';
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
