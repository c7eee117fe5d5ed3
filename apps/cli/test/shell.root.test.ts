// Terminals end to end as root: the real bundled berthd on a temporary socket, real
// containers (user namespaces, ptys from their own devpts), `berth shell` and `berth console`
// under a real pty (util-linux `script`), and the terminal websocket driven directly through
// the client library for resizes, detaches, several viewers and bad frames. Shell sessions
// outlive their clients and berthd itself (kill -9). Needs root: containers.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createAgentClient, openTerminal, type TerminalConnection } from '@berth/agent/client';
import { type BerthdProcess, startBerthd } from '@berth/agent/testing';
import {
  type ShellSessionInfo,
  TERMINAL_PATH,
  TERMINAL_PROTOCOL,
  type TerminalOpen,
  type TerminalServerFrame,
} from '@berth/contracts';
import { Runtime } from '@berth/runtime';
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type BerthRun, CLI_BUNDLE, until, useTaggedBerthd } from './harness.ts';

const tag = `berth-test-shell-${process.pid}`;
const agent = useTaggedBerthd(tag, { stopTimeoutSec: 2 });
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
  session: Promise<string>;
} {
  let out = '';
  let ready: (i: { pid?: number; session?: string }) => void = () => {};
  const info = new Promise<{ pid?: number; session?: string }>((r) => {
    ready = r;
  });
  const term = openTerminal({ socketPath: socketPath() }, open, {
    onOutput: (c) => {
      out += c.toString('utf8');
    },
    onReady: (i) => ready(i),
  });
  return {
    term,
    output: () => out,
    pid: info.then((i) => i.pid ?? -1),
    session: info.then((i) => i.session ?? ''),
  };
}

const attachOpen = (session: string, name = 'box'): TerminalOpen => ({
  type: 'open',
  kind: 'attach',
  name,
  session,
  cols: 80,
  rows: 24,
  actor: 'test:attach',
});

async function sessionsOf(name: string): Promise<ShellSessionInfo[]> {
  return JSON.parse(await ok('shell', name, '--list', '--format', 'json')) as ShellSessionInfo[];
}

/** The container's processes as `ps` inside shows them ("PID STAT ARGS" lines), but `ps` itself. */
async function psIn(name: string): Promise<string[]> {
  const r = await berth('exec', name, '--', 'ps', '-o', 'pid,stat,args');
  return r.stdout
    .split('\n')
    .slice(1)
    .map((l) => l.trim())
    .filter((l) => l && !/ps -o pid,stat,args$/.test(l));
}

const isZombie = (line: string): boolean => /^\d+ +Z/.test(line);

/** Processes in the container's ps that are zombies. */
async function zombies(name: string): Promise<string[]> {
  return (await psIn(name)).filter(isZombie);
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
  return (await psIn(name)).filter((l) => !/^1 /.test(l) && !isZombie(l));
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

  it('a disconnect detaches: the shell runs on, is listed, and replays its output to the next client', async () => {
    const { term, session } = terminal(shellOpen());
    const id = await session;
    expect(id).toMatch(/^[0-9a-f]{8}$/);
    term.write('echo state-$((20+22)); sleep 4343\r');
    await until('the shell running its command', async () =>
      (await containerProcesses('box')).some((l) => l.includes('sleep 4343')),
    );
    term.close();
    await term.ended;
    await until('berthd has seen the client go', async () => (await sessionsOf('box'))[0]?.attached === 0);
    const [listed] = await sessionsOf('box');
    expect(listed).toMatchObject({ id, container: 'box', command: ['/bin/sh', '-l'], attached: 0 });
    expect(listed?.detachedAt).not.toBeNull();
    expect((await ok('shell', 'box', '--list')).split('\n')[1]).toMatch(new RegExp(`^${id} +/bin/sh -l`));
    expect((await containerProcesses('box')).some((l) => l.includes('sleep 4343'))).toBe(true);
    // Attached again through the CLI: the scrollback, then live (the sleep still runs: ^C
    // interrupts it); Ctrl-] detaches again, saying how to come back.
    const r = await underPty(
      ['shell', 'box', '--attach', id],
      [{ wait: /state-42/ }, '\x03', 'echo again-$((3*3))\r', { wait: /again-9/ }, '\x1d'],
    );
    expect(r.stdout).toContain('state-42');
    expect(r.stdout).toContain('again-9');
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toContain(`berth shell box --attach ${id}`);
    expect((await sessionsOf('box')).map((x) => x.id)).toEqual([id]);
    // Two viewers at once see the same output; the one that types sets the size.
    const a = terminal(attachOpen(id));
    const b = terminal({ ...attachOpen(id), cols: 70, rows: 20 });
    // A third only watches: what it types goes nowhere, its size counts for nothing.
    const c = terminal({ ...(attachOpen(id) as Extract<TerminalOpen, { kind: 'attach' }>), readOnly: true });
    await Promise.all([a.session, b.session, c.session]);
    await until('three attached', async () => (await sessionsOf('box'))[0]?.attached === 3);
    c.term.write('echo nope-$((1+1))\r');
    await new Promise((r) => setTimeout(r, 300));
    b.term.write('stty size; echo both-$((2*3))\r');
    await until('both viewers see it', async () => /both-6/.test(a.output()) && /both-6/.test(b.output()));
    await until('the size of the viewer that typed', async () => /20 70/.test(a.output()));
    // Each byte once: the replay and the live output meet without an overlap.
    expect(a.output().match(/both-6/g)).toHaveLength(1);
    expect(b.output().match(/both-6/g)).toHaveLength(1);
    await until('the watcher sees it too', async () => /both-6/.test(c.output()));
    expect(a.output() + c.output()).not.toContain('nope');
    a.term.close();
    b.term.close();
    c.term.close();
    await Promise.all([a.term.ended, b.term.ended, c.term.ended]);
    const events = await createAgentClient({ socketPath: socketPath() }).event.list.query({ subject: 'box' });
    const kinds = events.filter((e) => e.data.session === id).map((e) => `${e.kind}:${e.actor}`);
    expect(kinds).toContain('container.shell-opened:test:shell');
    expect(kinds).toContain('container.shell-detached:test:shell');
    expect(kinds).toContain('container.shell-attached:test:attach');
    // Killed: its whole session ends, with the actor in the event.
    const viewer = terminal(attachOpen(id));
    await viewer.session;
    await ok('shell', 'box', '--kill', id);
    const end = await viewer.term.ended;
    expect(end.exitCode).toBeGreaterThan(128);
    expect(await sessionsOf('box')).toEqual([]);
    await until('the session gone', async () => (await containerProcesses('box')).length === 0);
    await until('the closing event', async () =>
      (await createAgentClient({ socketPath: socketPath() }).event.list.query({ subject: 'box' })).some(
        (e) =>
          e.kind === 'container.shell-closed' &&
          e.data.session === id &&
          e.data.reason === 'killed' &&
          /^cli:/.test(e.actor ?? ''),
      ),
    );
    expect((await ok('inspect', 'box')).includes('"running"')).toBe(true);
  });

  it('Ctrl-] detaches a new shell through the CLI and says how to attach again', async () => {
    const r = await underPty(
      ['shell', 'box'],
      [{ wait: /~ # / }, 'echo kept-$((5*5))\r', { wait: /kept-25/ }, '\x1d'],
    );
    expect(r.code).toBe(0);
    const m = /berth shell box --attach ([0-9a-f]{8})/.exec(r.stdout + r.stderr);
    expect(m).not.toBeNull();
    const viaP = await underPty(
      ['shell', 'box', '--attach', m![1]!, '--detach-key', 'ctrl-p'],
      [{ wait: /kept-25/ }, 'echo p-$((1+1))\r', { wait: /p-2/ }, '\x10'],
    );
    expect(viaP.code).toBe(0);
    expect(viaP.stdout + viaP.stderr).toContain(`berth shell box --attach ${m![1]}`);
    const again = terminal(attachOpen(m![1]!));
    await until('the replay', async () => again.output().includes('kept-25'));
    again.term.write('exit 3\r');
    expect((await again.term.ended).exitCode).toBe(3);
    expect(await sessionsOf('box')).toEqual([]);
  });

  it('refuses bad session ids by name, and unknown ones with a clear sentence', async () => {
    expect((await berth('shell', 'box', '--detach-key', 'alt-x')).stderr).toMatch(
      /invalid --detach-key: "alt-x"/,
    );
    const bad = await berth('shell', 'box', '--attach', 'zz');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/invalid --attach: "zz" must be a session id of 8 hex digits/);
    const unknown = await berth('shell', 'box', '--attach', '0000abcd');
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toMatch(/no shell session 0000abcd in box; `berth shell box --list` shows/);
    const kill = await berth('shell', 'box', '--kill', '0000abcd');
    expect(kill.code).toBe(4);
    const { term } = terminal({ ...attachOpen('0000abcd'), session: 'ZZ' } as TerminalOpen);
    const end = await term.ended;
    expect(end.error?.code).toBe('INVALID_INPUT');
    expect(end.error?.message).toMatch(/session: must be a session id/);
  });

  it('reaps what a killed shell leaves behind, even under an init that reaps nobody', async () => {
    const { term, session } = terminal(shellOpen());
    const id = await session;
    // A child that ignores SIGHUP (it outlives the hangup, and is killed after the grace),
    // orphaned when the shell dies first.
    term.write("(trap '' HUP; exec sleep 4747) & sleep 4848\r");
    await until('both sleeps running', async () => {
      const ps = await containerProcesses('box');
      return ps.some((l) => l.includes('sleep 4747')) && ps.some((l) => l.includes('sleep 4848'));
    });
    // Its reaper shows as such in the container, without a path of the host.
    const ps = (await containerProcesses('box')).join('\n');
    expect(ps).toMatch(/^\d+ +S +berth-reaper$/m);
    expect(ps).not.toContain('berth-helper');
    const before = await zombies('box');
    await ok('shell', 'box', '--kill', id);
    await term.ended;
    await until('nothing of the session left', async () => (await containerProcesses('box')).length === 0);
    expect(await zombies('box')).toEqual(before);
  });

  it("a viewer that reads nothing neither holds up the others nor grows berthd's memory", async () => {
    let bytes = 0;
    let tail = '';
    let ready: (session: string) => void = () => {};
    const session = new Promise<string>((r) => {
      ready = r;
    });
    const term = openTerminal({ socketPath: socketPath() }, shellOpen(), {
      onOutput: (c) => {
        bytes += c.length;
        tail = (tail + c.toString('latin1')).slice(-256);
      },
      onReady: (i) => ready(i.session ?? ''),
    });
    const id = await session;
    // A second viewer that stops reading its socket once attached (ws's own socket, paused).
    const slow = new WebSocket(`ws+unix:${socketPath()}:${TERMINAL_PATH}`, TERMINAL_PROTOCOL);
    await new Promise<void>((resolve, reject) => {
      slow.on('open', () => slow.send(JSON.stringify(attachOpen(id))));
      slow.on('message', (d, isBinary) => {
        if (!isBinary && (JSON.parse(d.toString()) as TerminalServerFrame).type === 'ready') {
          (slow as unknown as { _socket: { pause(): void } })._socket.pause();
          resolve();
        }
      });
      slow.on('error', reject);
    });
    const berthdPid = agent.berthd!.child.pid!;
    const rss = () =>
      Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${berthdPid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    const before = rss();
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rss());
    }, 100);
    const flood = 192 << 20;
    term.write(`head -c ${flood} /dev/zero | tr '\\0' x; echo; echo flood-$((4*4))\r`);
    try {
      await until('the flood through the reading viewer', async () => tail.includes('flood-16'), 180_000);
    } finally {
      clearInterval(sampler);
    }
    console.log(
      `flood: ${bytes} bytes to the reading viewer; berthd rss ${before >> 20} MiB, peak ${peak >> 20} MiB`,
    );
    expect(bytes).toBeGreaterThan(1 << 20);
    // Had berthd queued the flood for the viewer that reads nothing, it would hold it all.
    expect(peak - before).toBeLessThan(flood / 3);
    slow.terminate();
    await ok('shell', 'box', '--kill', id);
    await term.ended;
    await until('the session gone', async () => (await containerProcesses('box')).length === 0);
  }, 240_000);

  it('says so when the container stops under a session', async () => {
    await ok('launch', 'busybox', 'gone', '--', 'sleep', '100000');
    const { term, session } = terminal({ ...shellOpen(), name: 'gone' });
    await session;
    await ok('rm', '-f', 'gone');
    const end = await term.ended;
    expect(end.error?.code).toBe('CONFLICT');
    expect(end.error?.message).toMatch(/^shell session [0-9a-f]{8} ended: its container gone stopped$/);
    const r = await berth('shell', 'gone');
    expect(r.code).toBe(4);
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

  it('ends a shell whose client is refused before it is told the shell runs', async () => {
    await rawSession([open, 'not json']);
    await until('no shell left', async () => (await containerProcesses('box')).length === 0);
    expect(await sessionsOf('box')).toEqual([]);
  });

  it('a bad frame mid-session detaches that client only: the session runs on', async () => {
    const ws = new WebSocket(`ws+unix:${socketPath()}:${TERMINAL_PATH}`, TERMINAL_PROTOCOL);
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    ws.on('open', () => ws.send(open));
    ws.on('message', (d, isBinary) => {
      if (!isBinary && (JSON.parse(d.toString()) as TerminalServerFrame).type === 'ready')
        ws.send('not json');
    });
    expect(await closed).toBe(1008);
    const [left] = await sessionsOf('box');
    expect(left).toMatchObject({ attached: 0 });
    await ok('shell', 'box', '--kill', left!.id);
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
  it('adopts the session at its next start: listed, attached again with its scrollback', async () => {
    const { term, pid, session } = terminal(shellOpen());
    const shellPid = await pid;
    const id = await session;
    term.write('echo before-kill-$((7*6)); sleep 4545\r');
    await until('the shell running its command', async () =>
      (await containerProcesses('box')).some((l) => l.includes('sleep 4545')),
    );
    // Another that ends while berthd is away: its exit status is kept for the next berthd.
    const brief = terminal(shellOpen({ command: ['sh', '-c', 'sleep 2; exit 9'] }));
    const briefPid = await brief.pid;
    const briefId = await brief.session;
    agent.berthd?.child.kill('SIGKILL');
    await term.ended.catch(() => undefined);
    expect(sessionAlive(shellPid)).toBe(true);
    await until('the brief session over', async () => !sessionAlive(briefPid));
    let again: BerthdProcess | undefined;
    try {
      again = await startBerthd({
        socketPath: socketPath(),
        stateDir: join(agent.dir, 'state'),
        socketGroup: '0',
        extraArgs: ['--config', join(agent.dir, 'agent.json')],
      });
      expect(again.stderr()).toMatch(new RegExp(`shell sessions adopted: (.*, )?${id}`));
      expect((await sessionsOf('box')).map((x) => [x.id, x.pid, x.attached])).toEqual([[id, shellPid, 0]]);
      const events = await createAgentClient({ socketPath: socketPath() }).event.list.query({
        subject: 'box',
      });
      expect(
        events.find((e) => e.kind === 'container.shell-closed' && e.data.session === briefId)?.data,
      ).toMatchObject({ exitCode: 9, reason: 'ended while berthd was down' });
      expect(again.stderr()).not.toContain('shells left by an earlier berthd ended');
      const viewer = terminal(attachOpen(id));
      await until('the replay', async () => viewer.output().includes('before-kill-42'));
      expect((await containerProcesses('box')).some((l) => l.includes('sleep 4545'))).toBe(true);
      viewer.term.write('\x03exit 4\r');
      expect((await viewer.term.ended).exitCode).toBe(4);
      await until('the session gone', async () => (await containerProcesses('box')).length === 0);
      expect(JSON.parse(await ok('inspect', 'box')).state).toBe('running');
    } finally {
      await again?.stop();
      // The file's own berthd again, for the tests after this one.
      await agent.restart();
    }
  });
});

/** A session of box that printed `<word>-42`, detached; then box frozen. Returns its id. */
async function frozenSession(word: string): Promise<string> {
  const { term, output, session } = terminal(shellOpen());
  const id = await session;
  term.write(`echo ${word}-$((2*21))\r`);
  await until('the output', async () => output().includes(`${word}-42`));
  term.close();
  await term.ended;
  await ok('freeze', 'box');
  return id;
}

/** Attaches to box's session `id` (unfrozen), sees `<word>-42` replayed and exits it with `code`. */
async function replayAndExit(id: string, word: string, code: number): Promise<void> {
  const viewer = terminal(attachOpen(id));
  await until('the replay', async () => viewer.output().includes(`${word}-42`));
  viewer.term.write(`exit ${code}\r`);
  expect((await viewer.term.ended).exitCode).toBe(code);
}

describe('a berthd killed between making a session and recording it', () => {
  it('ends the session its intent record names at its next start', async () => {
    // The session as berthd makes it (the runtime's resumable exec), and its record as the
    // crash leaves it: written before the exec, never completed.
    const { id: containerId } = JSON.parse(await ok('inspect', 'box')) as { id: string };
    const runtimeRoot = join(agent.dir, 'state', 'runtime');
    const socket = join(runtimeRoot, containerId, 'exec-berth-test.sock');
    const made = await new Runtime({ root: runtimeRoot }).exec(containerId, {
      process: {
        terminal: true,
        consoleSize: { height: 24, width: 80 },
        args: ['sh'],
        cwd: '/',
        user: { uid: 0, gid: 0 },
        noNewPrivileges: true,
      },
      stdio: ['ignore', 'ignore', 'ignore'],
      attachSocket: socket,
      scrollbackBytes: 4096,
      exitFile: `${socket}.exit`,
    });
    const ended = made.exit.catch(() => -1);
    const record = join(agent.dir, 'state', 'terminals', 'feedc0de.json');
    const intent = {
      id: 'feedc0de',
      containerId,
      container: 'box',
      pid: 0,
      leader: null,
      socket,
      command: ['sh'],
      user: null,
      actor: 'test:crash',
      createdAt: new Date().toISOString(),
      detachedAt: null,
      starting: true,
    };
    try {
      mkdirSync(dirname(record), { recursive: true, mode: 0o700 });
      writeFileSync(record, JSON.stringify(intent), { mode: 0o600 });
      expect(sessionAlive(made.pid)).toBe(true);
      await agent.restart();
      expect(agent.berthd?.stderr()).toContain('shell sessions that never started ended: feedc0de');
      await ended;
      await until('the session gone', async () => !sessionAlive(made.pid));
      expect(existsSync(record)).toBe(false);
      expect(existsSync(socket)).toBe(false);
      expect(await sessionsOf('box')).toEqual([]);
    } finally {
      if (sessionAlive(made.pid)) process.kill(made.pid, 'SIGKILL');
      rmSync(record, { force: true });
      rmSync(socket, { force: true });
    }
  });
});

describe('a restarted berthd', () => {
  it('adopts the session of a frozen container without waiting for it', async () => {
    const id = await frozenSession('frozen');
    try {
      await agent.restart();
      expect(agent.berthd?.stderr()).toMatch(new RegExp(`shell sessions adopted: (.*, )?${id}`));
      expect((await sessionsOf('box')).map((x) => x.id)).toEqual([id]);
    } finally {
      await ok('unfreeze', 'box');
    }
    await replayAndExit(id, 'frozen', 6);
  });
});

describe('a frozen container', () => {
  it('an attach to its session says it does not answer, instead of hanging', async () => {
    const id = await frozenSession('thawed');
    try {
      const { frames, code } = await rawSession([JSON.stringify(attachOpen(id))]);
      expect(frames.find((f) => f.type === 'error')).toMatchObject({
        type: 'error',
        code: 'CONFLICT',
        message: expect.stringContaining('the session does not answer'),
      });
      expect(code).toBe(1000);
    } finally {
      await ok('unfreeze', 'box');
    }
    // The session itself is untouched.
    await replayAndExit(id, 'thawed', 5);
  });
});

describe('the idle timeout', () => {
  it('ends a session nobody has been attached to for that long', async () => {
    writeFileSync(
      join(agent.dir, 'agent.json'),
      JSON.stringify({ cgroupParent: `/${tag}`, stopTimeoutSec: 2, shellIdleTimeoutSec: 2 }),
    );
    await agent.restart();
    const { term, session } = terminal(shellOpen());
    const id = await session;
    term.write('sleep 5151\r');
    await until('the shell running its command', async () =>
      (await containerProcesses('box')).some((l) => l.includes('sleep 5151')),
    );
    // Attached, it stays past the timeout.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await sessionsOf('box')).map((x) => x.id)).toEqual([id]);
    term.close();
    await term.ended;
    await until('the idle session ended', async () => (await sessionsOf('box')).length === 0);
    await until('nothing of it left', async () => (await containerProcesses('box')).length === 0);
    const events = await createAgentClient({ socketPath: socketPath() }).event.list.query({ subject: 'box' });
    expect(
      events.some(
        (e) => e.kind === 'container.shell-closed' && e.data.session === id && e.data.reason === 'idle',
      ),
    ).toBe(true);
    for (const n of ['box', 'con']) await ok('rm', '-f', n);
  });
});
