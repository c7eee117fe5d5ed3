import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  describeFrameError,
  type ErrorCode,
  TERMINAL_MAX_MESSAGE,
  TERMINAL_PATH,
  TERMINAL_PROTOCOL,
  TerminalClientFrame,
  TerminalClose,
  TerminalOpen,
  type TerminalOpenParsed,
  type TerminalServerFrame,
  type TerminalSize,
} from '@berth/contracts';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { AgentError } from '../errors.ts';

// Terminals over a websocket (the frame protocol is in @berth/contracts/terminal.ts), on
// berthd's Unix socket and on its TCP listener behind the same bearer-token check as every
// other request. This file speaks the protocol; shells.ts opens and attaches shell sessions,
// sessions.ts consoles. A websocket that closes detaches its client: nothing is killed here.

/** A shell or console, as the websocket sees it. */
export interface TerminalSession {
  readonly pid?: number;
  /** A shell's session id. */
  readonly session?: string;
  /** Streams output (scrollback first) to `onOutput`; resolves with the exit status at the end. */
  run(onOutput: (chunk: Buffer) => void): Promise<number | undefined>;
  input(data: Buffer): void;
  resize(size: TerminalSize): void;
  /** Backpressure: stop reading output while the client is behind. */
  pause(): void;
  resume(): void;
  /** The client went away before the end: it is detached (the shell or console runs on). */
  hangup(): void;
  /** The client went away before it was told the terminal runs (no 'ready'): a shell it
   * opened is ended, as nobody knows it (default: hangup). */
  abandon?(): void;
}

export type OpenTerminal = (open: TerminalOpenParsed) => Promise<TerminalSession>;

/** Output bytes queued to a client before reading from the terminal pauses. */
const HIGH_WATER = 1 << 20;
const LOW_WATER = 256 << 10;
/** Input and resizes a client may send while its terminal is being opened. */
const MAX_EARLY_FRAMES = 256;

export interface TerminalServer {
  /** The `upgrade` listener for an http(s) server; answers only TERMINAL_PATH. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Ends every terminal (their sessions hang up). */
  close(): void;
}

export function terminalServer(open: OpenTerminal): TerminalServer {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: TERMINAL_MAX_MESSAGE,
    // Another protocol is accepted only to be told, in a frame, what to ask for (serve()).
    handleProtocols: (offered) =>
      offered.has(TERMINAL_PROTOCOL) ? TERMINAL_PROTOCOL : ([...offered][0] ?? false),
  });
  return {
    handleUpgrade(req, socket, head) {
      const path = new URL(req.url ?? '/', 'http://berthd').pathname;
      if (path !== TERMINAL_PATH) {
        socket.end(
          `HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nno websocket at ${path}; terminals are at ${TERMINAL_PATH}\n`,
        );
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => serve(ws, open));
    },
    close() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}

function send(ws: WebSocket, frame: TerminalServerFrame): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
}

/** Close reasons are at most 123 bytes. */
function reason(message: string): string {
  const b = Buffer.from(message);
  return b.length <= 123
    ? message
    : `${b
        .subarray(0, 120)
        .toString('utf8')
        .replace(/\uFFFD*$/, '')}...`;
}

function serve(ws: WebSocket, open: OpenTerminal): void {
  let session: TerminalSession | undefined;
  let opening = false;
  let ended = false;
  let queued = 0;
  const early: Array<() => void> = [];

  const fail = (code: ErrorCode, message: string, closeCode: number = TerminalClose.badFrame) => {
    if (ended) return;
    ended = true;
    send(ws, { type: 'error', code, message });
    ws.close(closeCode, reason(message));
    session?.hangup();
  };

  if (ws.protocol !== TERMINAL_PROTOCOL) {
    fail('INVALID_INPUT', `invalid protocol: ask for the websocket subprotocol ${TERMINAL_PROTOCOL}`);
    return;
  }

  const start = (s: TerminalSession) => {
    session = s;
    send(ws, {
      type: 'ready',
      ...(s.pid !== undefined ? { pid: s.pid } : {}),
      ...(s.session !== undefined ? { session: s.session } : {}),
    });
    s.run((chunk) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      queued += chunk.length;
      if (queued > HIGH_WATER) s.pause();
      ws.send(chunk, { binary: true }, () => {
        queued -= chunk.length;
        if (queued < LOW_WATER) s.resume();
      });
    }).then(
      (code) => {
        if (ended) return;
        ended = true;
        if (code !== undefined) send(ws, { type: 'exit', code });
        ws.close(TerminalClose.normal, code !== undefined ? `exit ${code}` : 'ended');
      },
      (err: Error) =>
        err instanceof AgentError
          ? fail(err.code, err.message, TerminalClose.normal)
          : fail('INTERNAL', `the terminal failed: ${err.message}`, TerminalClose.internal),
    );
    // What the client typed while the terminal was opening, once its output is listened to.
    for (const f of early.splice(0)) f();
  };

  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (ended) return;
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (isBinary) {
      if (!opening) return fail('INVALID_INPUT', 'invalid frame: the first frame must be a JSON open frame');
      if (session) session.input(buf);
      else if (early.length < MAX_EARLY_FRAMES) early.push(() => session?.input(buf));
      else fail('INVALID_INPUT', 'invalid frame: too much input before the terminal was ready');
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(buf.toString('utf8'));
    } catch {
      return fail('INVALID_INPUT', 'invalid frame: a text frame must be JSON');
    }
    if (!opening) {
      const parsed = TerminalOpen.safeParse(json);
      if (!parsed.success)
        return fail('INVALID_INPUT', `invalid open frame: ${describeFrameError(parsed.error)}`);
      opening = true;
      open(parsed.data).then(
        (s) => {
          if (ended || ws.readyState !== WebSocket.OPEN) (s.abandon ?? s.hangup)();
          else start(s);
        },
        (err: unknown) => {
          if (err instanceof AgentError) fail(err.code, err.message, TerminalClose.normal);
          else {
            console.error(`berthd: terminal: ${(err as Error).stack ?? err}`);
            fail('INTERNAL', `cannot open the terminal: ${(err as Error).message}`, TerminalClose.internal);
          }
        },
      );
      return;
    }
    const frame = TerminalClientFrame.safeParse(json);
    if (!frame.success) return fail('INVALID_INPUT', `invalid frame: ${describeFrameError(frame.error)}`);
    const { cols, rows } = frame.data;
    if (session) session.resize({ cols, rows });
    else if (early.length < MAX_EARLY_FRAMES) early.push(() => session?.resize({ cols, rows }));
  });
  ws.on('close', () => {
    if (!ended) {
      ended = true;
      session?.hangup();
    }
  });
  ws.on('error', () => {
    // a client that breaks the protocol (ws closes it with 1002/1009); 'close' follows
  });
}
