import {
  type ErrorBody,
  TERMINAL_PATH,
  TERMINAL_PROTOCOL,
  type TerminalOpen,
  TerminalServerFrame,
  type TerminalSize,
} from '@berth/contracts';
import WebSocket from 'ws';
import { AgentUnreachableError, isUnreachableError } from './errors.ts';
import type { AgentClientOptions } from './index.ts';

// A terminal on berthd (shell or console) over its websocket: binary messages are bytes, text
// messages are the JSON control frames of @berth/contracts/terminal.ts. Pure JavaScript (ws),
// usable from the panel's server, which relays browsers' terminals to the same endpoint.

export interface TerminalEnd {
  /** The shell's (or, under a console, the container's) exit status, when it ended so. */
  exitCode?: number;
  /** What the agent said was wrong, when it refused or failed. */
  error?: ErrorBody;
  /** The websocket's close code. */
  closeCode: number;
}

export interface TerminalHandlers {
  onOutput(chunk: Buffer): void;
  /** The terminal runs: output follows (pid: the shell's host pid; session: a shell's id). */
  onReady?(info: { pid?: number; session?: string }): void;
}

export interface TerminalConnection {
  write(data: Buffer | string): void;
  resize(size: TerminalSize): void;
  /** Detach: the shell session (or the console) keeps running; attach again by its id. */
  close(): void;
  readonly ended: Promise<TerminalEnd>;
}

/** The websocket address and options for `options` (a Unix socket or a remote berthd). */
export function terminalAddress(options: AgentClientOptions): {
  url: string;
  wsOptions: WebSocket.ClientOptions;
} {
  if ('url' in options) {
    const url = `${options.url.replace(/^http/, 'ws').replace(/\/+$/, '')}${TERMINAL_PATH}`;
    return {
      url,
      wsOptions: {
        headers: { authorization: `Bearer ${options.token}` },
        ...(options.ca ? { ca: options.ca } : {}),
      },
    };
  }
  return { url: `ws+unix:${options.socketPath}:${TERMINAL_PATH}`, wsOptions: {} };
}

/** Opens a terminal: sends `open` (with the size) first, then relays bytes and resizes. */
export function openTerminal(
  options: AgentClientOptions,
  open: TerminalOpen,
  handlers: TerminalHandlers,
): TerminalConnection {
  const { url, wsOptions } = terminalAddress(options);
  const where = 'url' in options ? options.url : options.socketPath;
  const ws = new WebSocket(url, TERMINAL_PROTOCOL, { ...wsOptions, maxPayload: 1 << 20 });
  let exitCode: number | undefined;
  let error: ErrorBody | undefined;
  let failure: Error | undefined;
  const pending: Array<Buffer | string> = [];
  const ended = new Promise<TerminalEnd>((resolve, reject) => {
    ws.on('close', (closeCode) => {
      if (failure) reject(failure);
      else
        resolve({
          closeCode,
          ...(exitCode !== undefined ? { exitCode } : {}),
          ...(error ? { error } : {}),
        });
    });
  });
  ended.catch(() => {});
  ws.on('open', () => {
    ws.send(JSON.stringify(open));
    for (const p of pending.splice(0)) ws.send(p, { binary: typeof p !== 'string' });
  });
  ws.on('unexpected-response', (_req, res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      body += c;
    });
    res.on('end', () => {
      let message = `berthd refused the terminal (HTTP ${res.statusCode})`;
      try {
        const parsed = JSON.parse(body) as Partial<ErrorBody>;
        if (parsed.message) message = parsed.message;
      } catch {
        if (body.trim()) message = body.trim();
      }
      failure = new Error(message);
      ws.terminate();
    });
  });
  ws.on('error', (err) => {
    failure ??= isUnreachableError(err) ? new AgentUnreachableError(where, { cause: err }) : err;
  });
  ws.on('message', (data, isBinary) => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (isBinary) return handlers.onOutput(buf);
    let frame: TerminalServerFrame;
    try {
      frame = TerminalServerFrame.parse(JSON.parse(buf.toString('utf8')));
    } catch {
      failure = new Error('berthd sent a terminal frame this client does not understand');
      ws.terminate();
      return;
    }
    if (frame.type === 'ready')
      handlers.onReady?.({
        ...(frame.pid !== undefined ? { pid: frame.pid } : {}),
        ...(frame.session !== undefined ? { session: frame.session } : {}),
      });
    else if (frame.type === 'exit') exitCode = frame.code;
    else error = { code: frame.code, message: frame.message };
  });
  const sendOrQueue = (p: Buffer | string) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(p, { binary: typeof p !== 'string' });
    else if (ws.readyState === WebSocket.CONNECTING) pending.push(p);
  };
  return {
    write(data) {
      sendOrQueue(typeof data === 'string' ? Buffer.from(data) : data);
    },
    resize(size) {
      sendOrQueue(JSON.stringify({ type: 'resize', cols: size.cols, rows: size.rows }));
    },
    close() {
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000, 'detached');
    },
    ended,
  };
}
