// Running the host's network tools (ip, nft, tc, nsenter). One place spawns them, so errors
// read the same everywhere: the tool, what it was asked, and what it said.
import { spawn } from 'node:child_process';
import { NetError } from './errors.ts';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  /** Short description for error messages. */
  what?: string;
  /** Resolve with the exit code instead of throwing on failure. */
  allowFail?: boolean;
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(
        new NetError(
          e.code === 'ENOENT' ? 'unavailable' : 'kernel',
          `${opts.what ?? cmd}: cannot run ${cmd}: ${e.message}`,
        ),
      ),
    );
    child.on('close', (code, signal) => {
      const r = {
        code: code ?? 128,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      };
      if (r.code !== 0 && !opts.allowFail) {
        const why = r.stderr.trim() || (signal ? `killed by ${signal}` : `exit ${r.code}`);
        reject(new NetError('kernel', `${opts.what ?? cmd}: ${why}`));
      } else resolve(r);
    });
    child.stdin.on('error', () => {}); // EPIPE when the tool exits early; its exit code tells.
    child.stdin.end(opts.input ?? '');
  });
}
