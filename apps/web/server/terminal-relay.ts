import type { IncomingMessage } from 'node:http';
import { type AgentClientOptions, openTerminal, type TerminalConnection } from '@berth/agent/client';
import type { Viewer } from '@berth/api';
import { type ErrorCode, TerminalClose, type TerminalServerFrame } from '@berth/contracts';
import type { RawData, WebSocket } from 'ws';
import { sessionToken } from './session-cookie.ts';
import { parseBrowserControl, parseBrowserOpen } from './terminal-frames.ts';
import type { WebSocketRoute } from './upgrade.ts';

export const TERMINAL_WS_PATH = '/ws/terminal';

export interface TerminalRelayOptions {
  /** The signed-in user for a session token (the panel's AuthService). */
  viewer(token: string | undefined): Promise<Viewer | null>;
  agent: AgentClientOptions;
  /**
   * How often the relay pings the browser (so proxies do not cut an idle terminal) and checks
   * again that the user is still signed in and allowed (a terminal ends with its web session).
   */
  recheckMs?: number;
  /**
   * Output bytes waiting for a slow browser beyond which the relay lets go of it (default
   * 4 MiB): it closes with 1013 and the page attaches again (berthd replays the screen), so a
   * browser that does not keep up costs the panel bounded memory.
   */
  maxBufferedBytes?: number;
}

/**
 * The browser's terminal websocket, relayed to berthd's: the same wire protocol (binary =
 * bytes, text = control frames), with the panel in between checking who asks and what.
 * Nothing reaches berthd before the user is known, allowed, and has sent a valid `open`
 * (a new shell or an attach, checked the same way). Closing the browser's socket only
 * detaches from the shell session (berthd keeps it running), so a page reload can attach.
 */
// The panel has no per-container grants yet: a terminal is a root-equivalent power on the
// container, so only admins get one (new shell and attach alike).
export const mayUseTerminals = (viewer: Viewer) => viewer.user.role === 'admin';

export function terminalRoute(options: TerminalRelayOptions): WebSocketRoute {
  return (ws: WebSocket, req: IncomingMessage) => {
    const early: Array<{ data: RawData; isBinary: boolean }> = [];
    let onMessage: ((data: RawData, isBinary: boolean) => void) | undefined;
    ws.on('message', (data, isBinary) => {
      if (onMessage) onMessage(data, isBinary);
      else if (early.length < 64) early.push({ data, isBinary });
    });
    let agent: TerminalConnection | undefined;
    let recheck: ReturnType<typeof setInterval> | undefined;
    const detach = () => {
      clearInterval(recheck);
      agent?.close();
    };
    ws.on('close', detach);
    ws.on('error', detach);

    const send = (frame: TerminalServerFrame) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
    };
    const refuse = (code: ErrorCode, message: string, closeCode: number = TerminalClose.badFrame) => {
      send({ type: 'error', code, message });
      ws.close(closeCode, code);
    };

    void (async () => {
      const token = sessionToken(req);
      let viewer: Viewer | null;
      try {
        viewer = await options.viewer(token);
      } catch (err) {
        console.error('terminal: session check failed:', err);
        return refuse('INTERNAL', 'internal error; the details are in the panel log', TerminalClose.internal);
      }
      if (!viewer) return refuse('UNAUTHENTICATED', 'sign in first');
      if (!mayUseTerminals(viewer))
        return refuse('FORBIDDEN', 'you are not allowed to open a terminal (admins only)');
      recheck = setInterval(() => {
        if (ws.readyState !== ws.OPEN) return;
        ws.ping();
        options.viewer(token).then(
          (v) => {
            if (v && mayUseTerminals(v)) return;
            detach();
            refuse('UNAUTHENTICATED', 'your panel session ended or your access changed: sign in again');
          },
          (err: unknown) => console.error('terminal: session check failed:', err),
        );
      }, options.recheckMs ?? 30_000);
      const actor = `panel:${viewer.user.username}`;

      const toBuffer = (data: RawData) =>
        Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      const handle = (data: RawData, isBinary: boolean) => {
        const buf = toBuffer(data);
        if (!agent) {
          if (isBinary) return refuse('INVALID_INPUT', 'frame: the first message must be an open frame');
          const open = parseBrowserOpen(buf.toString('utf8'), actor);
          if (!open.ok) return refuse('INVALID_INPUT', open.message);
          agent = openTerminal(options.agent, open.frame, {
            onOutput: (chunk) => {
              if (ws.readyState !== ws.OPEN) return;
              if (ws.bufferedAmount > (options.maxBufferedBytes ?? 4 << 20)) {
                detach();
                ws.close(1013, 'browser too slow: attach again');
                return;
              }
              ws.send(chunk, { binary: true });
            },
            onReady: (info) =>
              send({
                type: 'ready',
                ...(info.pid !== undefined ? { pid: info.pid } : {}),
                ...(info.session !== undefined ? { session: info.session } : {}),
              }),
          });
          agent.ended.then(
            (end) => {
              if (end.exitCode !== undefined) send({ type: 'exit', code: end.exitCode });
              if (end.error) send({ type: 'error', code: end.error.code, message: end.error.message });
              if (ws.readyState === ws.OPEN) ws.close(end.closeCode === TerminalClose.badFrame ? 1008 : 1000);
            },
            (err: unknown) =>
              refuse('AGENT_UNREACHABLE', err instanceof Error ? err.message : String(err), 1011),
          );
          return;
        }
        if (isBinary) return agent.write(buf);
        const control = parseBrowserControl(buf.toString('utf8'));
        if (!control.ok) {
          agent.close();
          return refuse('INVALID_INPUT', control.message);
        }
        agent.resize(control.frame);
      };
      onMessage = handle;
      for (const m of early.splice(0)) handle(m.data, m.isBinary);
    })();
  };
}
