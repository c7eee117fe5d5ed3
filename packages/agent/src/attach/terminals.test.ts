import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TerminalOpenParsed, TerminalSize } from '@berth/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTerminal } from '../client/terminal.ts';
import { AgentError } from '../errors.ts';
import { type OpenTerminal, type TerminalSession, terminalServer } from './terminals.ts';

// The terminal websocket on a real Unix socket with the client library, its sessions injected
// (an echoing stand-in for a pty): the protocol's order, early input, exits, refusals and
// hangups. Real shells and consoles: apps/cli/test/shell.root.test.ts.

class EchoSession implements TerminalSession {
  readonly pid = 4242;
  readonly inputs: string[] = [];
  readonly sizes: TerminalSize[] = [];
  hungUp = false;
  private out: (b: Buffer) => void = () => {};
  private finish: (code: number | undefined) => void = () => {};
  run(onOutput: (b: Buffer) => void): Promise<number | undefined> {
    this.out = onOutput;
    onOutput(Buffer.from('scrollback|'));
    return new Promise((resolve) => {
      this.finish = resolve;
    });
  }
  input(data: Buffer): void {
    const text = data.toString();
    this.inputs.push(text);
    if (text.startsWith('exit ')) this.finish(Number(text.slice(5)));
    else this.out(Buffer.from(`echo:${text}|`));
  }
  resize(size: TerminalSize): void {
    this.sizes.push(size);
  }
  pause(): void {}
  resume(): void {}
  hangup(): void {
    this.hungUp = true;
    this.finish(undefined);
  }
}

let dir: string;
let server: Server;
let opened: TerminalOpenParsed[];
let sessions: EchoSession[];

async function serve(open: OpenTerminal): Promise<string> {
  const socketPath = join(dir, 'berthd.sock');
  const terminals = terminalServer(open);
  server = createServer((_req, res) => res.end());
  server.on('upgrade', terminals.handleUpgrade);
  server.on('close', () => terminals.close());
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return socketPath;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-terminals-'));
  opened = [];
  sessions = [];
});
afterEach(async () => {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  rmSync(dir, { recursive: true, force: true });
});

const shell = { type: 'open', kind: 'shell', name: 'lab', cols: 80, rows: 24, actor: 'test' } as const;

describe('the terminal websocket', () => {
  it('opens with the size, relays input (even typed before ready), resizes and the exit code', async () => {
    const socketPath = await serve(async (o) => {
      opened.push(o);
      // Slow to open: input sent meanwhile waits for the session.
      await new Promise((r) => setTimeout(r, 50));
      const s = new EchoSession();
      sessions.push(s);
      return s;
    });
    let out = '';
    let ready: { pid?: number } | undefined;
    const term = openTerminal({ socketPath }, shell, {
      onOutput: (c) => {
        out += c.toString();
      },
      onReady: (i) => {
        ready = i;
      },
    });
    term.write('early');
    term.resize({ cols: 100, rows: 30 });
    await new Promise((r) => setTimeout(r, 200));
    term.write('exit 3');
    const end = await term.ended;
    expect(end).toEqual({ closeCode: 1000, exitCode: 3 });
    expect(ready).toEqual({ pid: 4242 });
    expect(out).toBe('scrollback|echo:early|');
    expect(opened[0]).toMatchObject({
      kind: 'shell',
      name: 'lab',
      cols: 80,
      rows: 24,
      term: 'xterm-256color',
    });
    expect(sessions[0]!.sizes).toEqual([{ cols: 100, rows: 30 }]);
    expect(sessions[0]!.hungUp).toBe(false);
  });

  it('hangs the session up (detaches) when the client goes away first', async () => {
    const socketPath = await serve(async () => {
      const s = new EchoSession();
      sessions.push(s);
      return s;
    });
    let ready!: () => void;
    const isReady = new Promise<void>((r) => {
      ready = r;
    });
    const term = openTerminal({ socketPath }, shell, { onOutput: () => {}, onReady: () => ready() });
    await isReady;
    term.close();
    await term.ended;
    for (let i = 0; i < 50 && !sessions[0]!.hungUp; i++) await new Promise((r) => setTimeout(r, 10));
    expect(sessions[0]!.hungUp).toBe(true);
  });

  it('abandons (not hangs up) a terminal whose client went away before it was ready', async () => {
    let abandoned = false;
    let opening!: () => void;
    const isOpening = new Promise<void>((r) => {
      opening = r;
    });
    const socketPath = await serve(async () => {
      opening();
      await new Promise((r) => setTimeout(r, 100));
      const s = new EchoSession();
      sessions.push(s);
      return Object.assign(s, {
        abandon: () => {
          abandoned = true;
        },
      });
    });
    const term = openTerminal({ socketPath }, shell, { onOutput: () => {} });
    await isOpening;
    term.close();
    await term.ended;
    for (let i = 0; i < 50 && !abandoned; i++) await new Promise((r) => setTimeout(r, 10));
    expect(abandoned).toBe(true);
    expect(sessions[0]!.hungUp).toBe(false);
  });

  it("ends with the code and sentence of the session's own failure", async () => {
    const socketPath = await serve(async () =>
      Object.assign(new EchoSession(), {
        run: async () => {
          throw new AgentError('CONFLICT', 'shell session 3f9a2c1b ended: its container lab stopped');
        },
      }),
    );
    const end = await openTerminal({ socketPath }, shell, { onOutput: () => {} }).ended;
    expect(end.error).toEqual({
      code: 'CONFLICT',
      message: 'shell session 3f9a2c1b ended: its container lab stopped',
    });
    expect(end.closeCode).toBe(1000);
  });

  it("passes a refusal's code and sentence on, and opens nothing for a bad open frame", async () => {
    const socketPath = await serve(async (o) => {
      opened.push(o);
      throw new AgentError('CONFLICT', 'cannot exec container "lab": it is stopped');
    });
    const refused = await openTerminal({ socketPath }, shell, { onOutput: () => {} }).ended;
    expect(refused.error).toEqual({
      code: 'CONFLICT',
      message: 'cannot exec container "lab": it is stopped',
    });
    const bad = await openTerminal({ socketPath }, { ...shell, rows: 5000 }, { onOutput: () => {} }).ended;
    expect(bad.error?.code).toBe('INVALID_INPUT');
    expect(bad.closeCode).toBe(1008);
    expect(opened).toHaveLength(1);
  });

  it('answers other paths with 404', async () => {
    const socketPath = await serve(async () => new EchoSession());
    const { request } = await import('node:http');
    const status = await new Promise<number | undefined>((resolve) => {
      const req = request({
        socketPath,
        path: '/v0/elsewhere',
        headers: { connection: 'upgrade', upgrade: 'websocket' },
      });
      req.on('upgrade', (res, socket) => {
        socket.destroy();
        resolve(res.statusCode);
      });
      req.on('response', (res) => resolve(res.statusCode));
      req.end();
    });
    expect(status).toBe(404);
  });
});
