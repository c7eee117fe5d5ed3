import { spawn } from 'node:child_process';
import type { Hook } from '../spec/config.ts';
import { RuntimeError } from './errors.ts';
import type { OciState } from './state.ts';

// Hooks run in the runtime's namespaces with the container's state JSON on stdin, as the
// runtime spec defines; a timeout kills the hook.

/**
 * poststart and poststop hooks: the spec asks that a failing one only logs a warning and the
 * remaining hooks and the lifecycle go on (runtime-tools poststart_fail, poststop_fail).
 */
export async function runHooksWarning(
  kind: string,
  hooks: Hook[] | undefined,
  state: OciState,
): Promise<void> {
  for (const hook of hooks ?? [])
    await runHooks(kind, [hook], state).catch((e: Error) => {
      process.stderr.write(`warning: ${e.message}\n`);
    });
}

export async function runHooks(kind: string, hooks: Hook[] | undefined, state: OciState): Promise<void> {
  for (const hook of hooks ?? []) {
    const [argv0, ...rest] = hook.args?.length ? hook.args : [hook.path];
    const child = spawn(hook.path, rest, {
      argv0,
      env: Object.fromEntries(
        (hook.env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
      ),
      stdio: ['pipe', 'inherit', 'inherit'],
      timeout: hook.timeout ? hook.timeout * 1000 : undefined,
    });
    child.stdin.on('error', () => {});
    child.stdin.end(JSON.stringify(state));
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (c, s) => resolve([c, s]));
    }).catch((e: Error) => {
      throw new RuntimeError('HOOK_FAILED', `${kind} hook ${hook.path}: ${e.message}`);
    });
    if (code !== 0)
      throw new RuntimeError(
        'HOOK_FAILED',
        `${kind} hook ${hook.path} failed (${signal ? `signal ${signal}` : `exit ${code}`})`,
      );
  }
}
