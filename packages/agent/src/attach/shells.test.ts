import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeRuntime } from '../../test/fakes.ts';
import type { ContainerService } from '../containers/service.ts';
import type { ContainerRuntime } from '../runtime/types.ts';
import { ShellSessions } from './shells.ts';

// A shell session is ended by signalling every process of its shell's session (the processes
// whose session id is the shell's host pid). Once the shell and all of its session are gone,
// that pid is free for any host process: a new session leader there is not ours.

describe('shell sessions: ending one', () => {
  let dir: string | undefined;
  let bystander: ChildProcess | undefined;
  afterEach(() => {
    bystander?.kill('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('signals no host session that took the shell’s pid after it (a recycled pid)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-test-shells-'));
    // A host process leading its own session, standing in for one that got the shell's pid.
    bystander = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
    const pid = bystander.pid as number;
    let exited = false;
    bystander.on('exit', () => {
      exited = true;
    });
    const runtime: ContainerRuntime = new FakeRuntime();
    runtime.sessionInfo = async () => ({ output: 0, lastIoMs: Date.now(), attached: 0, exited: false });
    runtime.waitSession = () => new Promise(() => {}); // the session lives on
    mkdirSync(join(dir, 'terminals'));
    writeFileSync(
      join(dir, 'terminals', 'abcd1234.json'),
      JSON.stringify({
        id: 'abcd1234',
        containerId: 'c1',
        container: 'web',
        pid: 0x7fffffff, // no such process
        leader: pid,
        leaderStart: '1', // the shell started at boot's first tick: not the bystander
        socket: join(dir, 'missing.sock'),
        command: ['/bin/sh', '-l'],
        user: null,
        actor: 'alice',
        createdAt: new Date().toISOString(),
        detachedAt: new Date().toISOString(),
      }),
    );
    const shells = new ShellSessions({
      stateDir: dir,
      runtime,
      events: { append: async () => ({}) as never },
      idleTimeoutSec: 0,
      scrollbackBytes: 4096,
    });
    expect((await shells.adopt()).adopted).toEqual(['abcd1234']);
    const svc = { get: async () => ({ id: 'c1', name: 'web' }) } as unknown as ContainerService;
    await shells.kill(svc, 'web', 'abcd1234', 'alice');
    // The hangup at once, the SIGKILL after the grace (2 s).
    await new Promise((r) => setTimeout(r, 2500));
    shells.close();
    expect(exited).toBe(false);
  });
});
