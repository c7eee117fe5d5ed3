// Terminals end to end as root: the real bundled berthd on a temporary socket, real
// containers (user namespaces, ptys from their own devpts), `berth shell` and `berth console`
// under a real pty (util-linux `script`), and the terminal websocket driven directly through
// the client library for resizes, hangups and bad frames. Needs root: containers.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAgentClient, openTerminal, type TerminalConnection } from '@berth/agent/client';
import { type BerthdProcess, startBerthd } from '@berth/agent/testing';
import {
  TERMINAL_PATH,
  TERMINAL_PROTOCOL,
  type TerminalOpen,
  type TerminalServerFrame,
} from '@berth/contracts';
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type BerthRun, CLI_BUNDLE, until, useTaggedBerthd } from './harness.ts';

const agent = useTaggedBerthd(`berth-test-shell-${process.pid}`, { stopTimeoutSec: 2 });
const { berth, ok } = agent;
const socketPath = () => join(agent.dir, 'berthd.sock');

beforeAll(async () => {
  await ok('launch', 'busybox', 'box', '--', 'sleep', '100000');
  await ok(
    'launch',
    '-t',
    'busybox',
    'con',
    '--',
    'sh',
    '-c',
    'echo console-hello; while read l; do echo "got:$l"; done',
  );
}, 60_000);

/** `berth …argv` on a real pty of `rows`x`cols` (script(1)); `input` is typed line by line. */
function underPty(
  argv: string[],
  input: Array<string | { wait: RegExp }>,
  size = { rows: 33, cols: 111 },
): Promise<BerthRun> {
  const quoted = [process.execPath, CLI_BUNDLE, '--socket', socketPath(), ...argv]
    .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
    .join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(
      'script',
      ['-qfec', `stty rows ${size.rows} cols ${size.cols}; exec ${quoted}`, '/dev/null'],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm' } },
    );
    let stdout = '';
    let stderr = '';
    const waiters: Array<() => void> = [];
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      for (const w of waiters.splice(0)) w();
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    (async () => {
      for (const step of input) {
        if (typeof step === 'string') child.stdin.write(step);
        else
          while (!step.wait.test(stdout)) {
            if (child.exitCode !== null) return;
            await new Promise<void>((r) => waiters.push(r));
          }
      }
    })().catch(reject);
  });
}

/** A terminal through the client library, with its output collected. */
function terminal(open: TerminalOpen): {
  term: TerminalConnection;
  output: () => string;
  pid: Promise<number>;
} {
  let out = '';
  let ready: (pid: number) => void = () => {};
  const pid = new Promise<number>((r) => {
    ready = r;
  });
  const term = openTerminal({ socketPath: socketPath() }, open, {
    onOutput: (c) => {
      out += c.toString('utf8');
    },
    onReady: (i) => ready(i.pid ?? -1),
  });
  return { term, output: () => out, pid };
}

const shellOpen = (extra: Partial<Extract<TerminalOpen, { kind: 'shell' }>> = {}): TerminalOpen => ({
  type: 'open',
  kind: 'shell',
  name: 'box',
  cols: 80,
  rows: 24,
  actor: 'test:shell',
  ...extra,
});

/**
 * Live processes in the container other than its init, as `ps` inside shows them. (Killed
 * ones may stay zombies: their orphans go to the container's init, here `sleep`, which reaps
 * nobody, as in any container without an init that reaps.)
 */
async function containerProcesses(name: string): Promise<string[]> {
  const r = await berth('exec', name, '--', 'ps', '-o', 'pid,stat,args');
  return r.stdout
    .split('\n')
    .slice(1)
    .map((l) => l.trim())
    .filter((l) => l && !/^1 /.test(l) && !/^\d+ +Z/.test(l) && !/ps -o pid,stat,args$/.test(l));
}

describe('berth shell', () => {
  it('runs a login shell on a pty of the local terminal size, and exits with its status', async () => {
    const r = await underPty(
      ['shell', 'box'],
      [{ wait: /~ # / }, 'echo hi-$((6*7)); stty size; tty\r', { wait: /hi-42/ }, 'exit 7\r'],
    );
    expect(r.stdout).toContain('hi-42');
    expect(r.stdout).toMatch(/33 111/);
    expect(r.stdout).toMatch(/\/dev\/pts\/\d+/);
    expect(r.code).toBe(7);
  });

  it('runs a command given after --, with its exit status', async () => {
    const r = await underPty(['shell', 'box', '--', 'sh', '-c', 'echo cmd-$((1+2)); exit 3'], []);
    expect(r.stdout).toContain('cmd-3');
    expect(r.code).toBe(3);
  });

  it('follows resizes, passes the exit code, and logs the session with its actor', async () => {
    const { term, output, pid } = terminal(shellOpen({ cols: 90, rows: 20 }));
    expect(await pid).toBeGreaterThan(1);
    term.write('stty size\r');
    await until('the first size', async () => /20 90/.test(output()));
    term.resize({ cols: 132, rows: 43 });
    term.write('stty size\r');
    await until('the new size', async () => /43 132/.test(output()));
    term.write('exit 5\r');
    const end = await term.ended;
    expect(end.exitCode).toBe(5);
    const events = await createAgentClient({ socketPath: socketPath() }).event.list.query({ subject: 'box' });
    const opened = events.filter((e) => e.kind === 'container.shell-opened');
    expect(opened.at(-1)?.actor).toBe('test:shell');
    await until('the closing event', async () =>
      (await createAgentClient({ socketPath: socketPath() }).event.list.query({ subject: 'box' })).some(
        (e) => e.kind === 'container.shell-closed' && e.data.exitCode === 5,
      ),
    );
  });

  it("ends the shell's whole session when the client disconnects: nothing is left in the container", async () => {
    const { term, output, pid } = terminal(shellOpen());
    await pid;
    term.write('sleep 4343 &\rsleep 4242\r');
    await until('both sleeps running', async () => {
      const ps = await containerProcesses('box');
      return ps.some((l) => l.includes('sleep 4343')) && ps.some((l) => l.includes('sleep 4242'));
    });
    expect(output()).not.toContain('error');
    term.close();
    await term.ended;
    await until('the session gone', async () => (await containerProcesses('box')).length === 0);
    expect((await ok('inspect', 'box')).includes('"running"')).toBe(true);
  });

  it('refuses a container that is not running or does not exist, with the reason', async () => {
    const { term } = terminal(shellOpen({ name: 'nope' }));
    const end = await term.ended;
    expect(end.error?.code).toBe('NOT_FOUND');
    expect(end.error?.message).toMatch(/no container named nope/);
    const r = await underPty(['shell', 'nope'], []);
    expect(r.code).toBe(4);
    expect(r.stdout + r.stderr).toMatch(/no container named nope/);
  });
});

/** A raw websocket to the terminal endpoint; resolves with the frames and the close code. */
function rawSession(
  send: Array<string | Buffer>,
  protocol: string = TERMINAL_PROTOCOL,
): Promise<{ frames: TerminalServerFrame[]; code: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws+unix:${socketPath()}:${TERMINAL_PATH}`, protocol);
    const frames: TerminalServerFrame[] = [];
    ws.on('open', () => {
      for (const m of send) ws.send(m, { binary: typeof m !== 'string' });
    });
    ws.on('message', (d, isBinary) => {
      if (!isBinary) frames.push(JSON.parse(d.toString()) as TerminalServerFrame);
    });
    ws.on('error', reject);
    ws.on('close', (code) => resolve({ frames, code }));
  });
}

describe('the terminal websocket', () => {
  const open = JSON.stringify(shellOpen());
  it.each([
    ['bytes before open', [Buffer.from('ls\r')], /first frame must be a JSON open frame/],
    ['text that is not JSON', ['{oops'], /must be JSON/],
    [
      'an open frame without a size',
      [JSON.stringify({ type: 'open', kind: 'shell', name: 'box' })],
      /cols: .*; rows: /,
    ],
    ['rows out of bounds', [JSON.stringify({ ...shellOpen(), rows: 0 })], /rows: rows must be at least 1/],
    ['an unknown kind', [JSON.stringify({ ...shellOpen(), kind: 'root' })], /kind/],
    ['an unknown field', [JSON.stringify({ ...shellOpen(), privileged: true })], /privileged/],
    [
      'a resize too large',
      [open, JSON.stringify({ type: 'resize', cols: 100_000, rows: 10 })],
      /cols: cols must be at most 1000/,
    ],
    ['an unknown frame type', [open, JSON.stringify({ type: 'signal', name: 'KILL' })], /type/],
  ])('refuses %s with an error frame and closes', async (_what, send, message) => {
    const { frames, code } = await rawSession(send as Array<string | Buffer>);
    const err = frames.find((f) => f.type === 'error');
    expect(err).toMatchObject({ type: 'error', code: 'INVALID_INPUT' });
    expect((err as { message: string }).message).toMatch(message);
    expect(code).toBe(1008);
  });

  it('refuses a client that does not speak the protocol', async () => {
    const { frames, code } = await rawSession([open], 'something.else');
    expect(frames[0]).toMatchObject({ type: 'error', code: 'INVALID_INPUT' });
    expect(code).toBe(1008);
  });

  it('leaves no shell behind after refusing a bad frame mid-session', async () => {
    await rawSession([open, 'not json']);
    await until('no shell left', async () => (await containerProcesses('box')).length === 0);
  });
});

describe('berth console', () => {
  it('shows the scrollback, then live output, and passes input to init; detaching leaves it running', async () => {
    const { term, output } = terminal({
      type: 'open',
      kind: 'console',
      name: 'con',
      cols: 100,
      rows: 30,
      actor: 'test:console',
    });
    await until('the scrollback', async () => output().includes('console-hello'));
    term.write('ping\r');
    await until('the echo of init', async () => output().includes('got:ping'));
    term.close();
    await term.ended;
    expect(JSON.parse(await ok('inspect', 'con')).state).toBe('running');
    // Two viewers at once see the same console.
    const a = terminal({ type: 'open', kind: 'console', name: 'con', cols: 80, rows: 24, actor: 'a' });
    const b = terminal({ type: 'open', kind: 'console', name: 'con', cols: 80, rows: 24, actor: 'b' });
    await Promise.all([a.pid, b.pid]);
    a.term.write('both\r');
    await until(
      'both viewers see it',
      async () => a.output().includes('got:both') && b.output().includes('got:both'),
    );
    a.term.close();
    b.term.close();
    // berth logs reads the same console, and keeps an earlier run's across a restart.
    const logs = await ok('logs', 'con');
    expect(logs).toContain('console-hello');
    expect(logs).toContain('got:ping');
    await ok('restart', 'con');
    await until('the second run on the console', async () =>
      /console-hello.*got:ping.*console-hello/s.test(await ok('logs', 'con')),
    );
  });

  it('through the CLI on a pty: Ctrl-] detaches', async () => {
    const r = await underPty(
      ['console', 'con'],
      [{ wait: /console-hello/ }, 'pong\r', { wait: /got:pong/ }, '\x1d'],
    );
    expect(r.stdout).toContain('got:pong');
    expect(r.code).toBe(0);
    expect(JSON.parse(await ok('inspect', 'con')).state).toBe('running');
  });

  it('refuses a container without a terminal, saying how to get one', async () => {
    const { term } = terminal({ type: 'open', kind: 'console', name: 'box', cols: 80, rows: 24, actor: 't' });
    const end = await term.ended;
    expect(end.error?.code).toBe('CONFLICT');
    expect(end.error?.message).toMatch(/no console.*--terminal/);
  });
});

/** Whether the process `pid` (a host pid) is alive and not a zombie. */
function sessionAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('a berthd killed with a shell open', () => {
  it('ends that shell at its next start (nobody can reach it again)', async () => {
    const { term, pid } = terminal(shellOpen());
    const shellPid = await pid;
    term.write('sleep 4545\r');
    await until('the shell running its command', async () =>
      (await containerProcesses('box')).some((l) => l.includes('sleep 4545')),
    );
    agent.berthd?.child.kill('SIGKILL');
    await term.ended.catch(() => undefined);
    // Without berthd the shell lives on, waiting for a client that will never come back.
    expect(sessionAlive(shellPid)).toBe(true);
    let again: BerthdProcess | undefined;
    try {
      again = await startBerthd({
        socketPath: socketPath(),
        stateDir: join(agent.dir, 'state'),
        socketGroup: '0',
        extraArgs: ['--config', join(agent.dir, 'agent.json')],
      });
      await until('the orphaned shell ended', async () => (await containerProcesses('box')).length === 0);
      expect(again.stderr()).toContain(`shells left by an earlier berthd ended: ${shellPid}`);
      expect(JSON.parse(await ok('inspect', 'box')).state).toBe('running');
      for (const n of ['box', 'con']) await ok('rm', '-f', n);
    } finally {
      await again?.stop();
    }
  });
});
