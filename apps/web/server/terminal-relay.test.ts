// The terminal relay on a real panel server (real DB, real sign-in) in front of a stand-in for
// berthd's terminal endpoint on a Unix socket (injected as the agent address; the real berthd
// is driven by e2e/specs/terminal.spec.ts): who may open, which frames pass, and what arrives.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TERMINAL_PATH } from '@berth/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { TERMINAL_WS_PATH } from './terminal-relay.ts';
import { startTestPanel, type TestPanel } from './test-panel.ts';

interface AgentSide {
  opens: unknown[];
  input: string[];
  controls: unknown[];
  closed: number;
}

describe('the panel terminal relay', () => {
  let panel: TestPanel;
  let dir: string;
  let agentHttp: Server;
  let agent: AgentSide;
  let url: string;
  let close: () => Promise<void>;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-test-relay-'));
    // berthd's side: answers an attach to 0badc0de with NOT_FOUND, anything else with ready.
    agent = { opens: [], input: [], controls: [], closed: 0 };
    agentHttp = createServer();
    const wss = new WebSocketServer({ server: agentHttp, path: TERMINAL_PATH });
    wss.on('connection', (ws) => {
      ws.on('close', () => {
        agent.closed += 1;
      });
      ws.on('message', (data, isBinary) => {
        const text = data.toString();
        if (isBinary) {
          agent.input.push(text);
          ws.send(Buffer.from(`out:${text}`), { binary: true });
          return;
        }
        const frame = JSON.parse(text) as { type: string; kind?: string; session?: string };
        if (frame.type !== 'open') return void agent.controls.push(frame);
        agent.opens.push(frame);
        if (frame.session === '0badc0de') {
          ws.send(
            JSON.stringify({ type: 'error', code: 'NOT_FOUND', message: 'no shell session 0badc0de in web' }),
          );
          ws.close(1008);
          return;
        }
        ws.send(JSON.stringify({ type: 'ready', pid: 42, session: frame.session ?? '3f9a2c1b' }));
        if (frame.session === 'f100d000') {
          // A shell printing without end (yes(1)): 64 MiB, far more than socket buffers hold.
          const chunk = Buffer.alloc(32 * 1024, 'y');
          for (let i = 0; i < 2048 && ws.readyState === ws.OPEN; i++) ws.send(chunk, { binary: true });
          return;
        }
        ws.send(Buffer.from('scrollback'), { binary: true });
      });
    });
    agentHttp.listen(join(dir, 'berthd.sock'));
    await once(agentHttp, 'listening');
    panel = await startTestPanel({
      agent: { socketPath: join(dir, 'berthd.sock') },
      terminalRecheckMs: 100,
      terminalMaxBufferedBytes: 256 * 1024,
    });
    url = `${panel.base.replace('http', 'ws')}${TERMINAL_WS_PATH}`;
    close = async () => {
      await panel.close();
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise((resolve) => agentHttp.close(resolve));
    };
  });
  afterEach(async () => {
    await close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Opens the browser side, sends `first`, collects frames until the socket closes or `until`. */
  async function session(cookie: string | undefined, first: string, until?: (texts: string[]) => boolean) {
    const ws = new WebSocket(url, cookie ? { headers: { cookie } } : {});
    const texts: string[] = [];
    const bytes: string[] = [];
    let closeCode = 0;
    const done = new Promise<void>((resolve) => {
      ws.on('message', (data, isBinary) => {
        (isBinary ? bytes : texts).push(data.toString());
        if (until?.([...texts, ...bytes])) resolve();
      });
      ws.on('close', (code) => {
        closeCode = code;
        resolve();
      });
    });
    await once(ws, 'open');
    ws.send(first);
    await done;
    return { ws, texts, bytes, closeCode: () => closeCode };
  }

  /** The frame that attaches to shell session `session` of the container web. */
  const attachFrame = (session: string) =>
    JSON.stringify({ type: 'open', kind: 'attach', name: 'web', session, cols: 80, rows: 24 });
  const attach = attachFrame('3f9a2c1b');

  it('refuses without a signed-in user, and berthd never hears of it', async () => {
    const r = await session(undefined, attach);
    expect(r.texts.map((t) => JSON.parse(t))).toEqual([
      { type: 'error', code: 'UNAUTHENTICATED', message: 'sign in first' },
    ]);
    expect(r.closeCode()).toBe(1008);
    expect(agent.opens).toEqual([]);
  });

  it('refuses a member (no terminal grant) before anything reaches berthd', async () => {
    const r = await session(await panel.cookieOf('bob'), attach);
    expect(JSON.parse(r.texts[0] ?? '{}')).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    expect(agent.opens).toEqual([]);
  });

  it('refuses an invalid attach with the field named, before berthd hears of it', async () => {
    const bad = attachFrame('zz');
    const r = await session(await panel.cookieOf('ada'), bad);
    expect(JSON.parse(r.texts[0] ?? '{}')).toMatchObject({ type: 'error', code: 'INVALID_INPUT' });
    expect(JSON.parse(r.texts[0] ?? '{}').message).toMatch(/^session: /);
    expect(r.closeCode()).toBe(1008);
    expect(agent.opens).toEqual([]);
  });

  it('relays an admin attach as the admin, then bytes both ways and resizes', async () => {
    const r = await session(await panel.cookieOf('ada'), attach, (all) => all.includes('scrollback'));
    expect(JSON.parse(r.texts[0] ?? '{}')).toEqual({ type: 'ready', pid: 42, session: '3f9a2c1b' });
    expect(r.bytes).toEqual(['scrollback']);
    expect(agent.opens).toEqual([
      expect.objectContaining({ kind: 'attach', session: '3f9a2c1b', readOnly: false, actor: 'panel:ada' }),
    ]);
    const echoed = new Promise((resolve) => r.ws.on('message', (d) => resolve(d.toString())));
    r.ws.send(JSON.stringify({ type: 'resize', cols: 100, rows: 30 }));
    r.ws.send(Buffer.from('ls\r'), { binary: true });
    expect(await echoed).toBe('out:ls\r');
    expect(agent.controls).toEqual([{ type: 'resize', cols: 100, rows: 30 }]);
    // A bad control frame ends the relay with the problem named.
    const closed = once(r.ws, 'close');
    const err = new Promise((resolve) =>
      r.ws.on('message', (d, bin) => !bin && resolve(JSON.parse(d.toString()))),
    );
    r.ws.send(JSON.stringify({ type: 'resize', cols: -1, rows: 30 }));
    expect(await err).toEqual({
      type: 'error',
      code: 'INVALID_INPUT',
      message: 'cols: cols must be at least 1',
    });
    expect((await closed)[0]).toBe(1008);
  });

  it("passes berthd's refusal of a gone session on, so the page can open a new shell", async () => {
    const gone = attachFrame('0badc0de');
    const r = await session(await panel.cookieOf('ada'), gone);
    expect(r.texts.map((t) => JSON.parse(t))).toEqual([
      { type: 'error', code: 'NOT_FOUND', message: 'no shell session 0badc0de in web' },
    ]);
    expect(r.closeCode()).toBe(1008);
  });

  it("ends the terminal when the user's panel session ends (the shell session only detaches)", async () => {
    const cookie = await panel.cookieOf('ada');
    const r = await session(cookie, attach, (all) => all.includes('scrollback'));
    const closed = once(r.ws, 'close');
    const frames: unknown[] = [];
    r.ws.on('message', (d, bin) => !bin && frames.push(JSON.parse(d.toString())));
    await panel.services.auth.logout({
      token: cookie.slice('berth_session='.length),
      viewer: await panel.services.auth.viewer(cookie.slice('berth_session='.length)),
      ip: '127.0.0.1',
    });
    expect((await closed)[0]).toBe(1008);
    expect(frames).toEqual([expect.objectContaining({ type: 'error', code: 'UNAUTHENTICATED' })]);
    await expect.poll(() => agent.closed).toBe(1);
  });

  it('lets go of a browser that does not read (bounded memory), detaching from the session', async () => {
    const cookie = await panel.cookieOf('ada');
    const ws = new WebSocket(url, { headers: { cookie } });
    await once(ws, 'open');
    const closed = once(ws, 'close');
    ws.send(attachFrame('f100d000'));
    // The browser stops reading once output flows: its TCP window fills, the relay's buffer grows.
    ws.once('message', () => (ws as unknown as { _socket: { pause(): void } })._socket.pause());
    await expect.poll(() => agent.closed, { timeout: 30_000 }).toBe(1);
    (ws as unknown as { _socket: { resume(): void } })._socket.resume();
    expect((await closed)[0]).toBe(1013);
  });
});
