import type { TerminalServerFrame } from '@berth/contracts';
import { forgetSession, rememberSession, storedSession } from './session-store';

// The browser's end of the panel's terminal websocket (/ws/terminal, relayed to berthd):
// binary messages are bytes, text messages JSON control frames. With a session remembered for
// this container it sends `attach` (berthd replays the scrollback, then goes live); if that
// session is gone it says so in the terminal and opens a new shell. A connection lost while
// the shell runs (panel restarted, network) is retried, attaching to the same session.

export interface TerminalSink {
  /** Bytes from the shell. */
  output(bytes: Uint8Array): void;
  /** A line from the panel itself (not the shell), in plain words. */
  notice(text: string): void;
  /** Attached (or started): the session's id. Before an attach's replay: clear the screen. */
  ready(session: string | undefined, attached: boolean): void;
}

export interface TerminalLink {
  input(data: string): void;
  resize(cols: number, rows: number): void;
  close(): void;
}

// Reconnect attempts: 0.5 s doubling to 8 s, about two minutes in all (a panel restart).
const MAX_RETRIES = 20;
const retryDelay = (n: number) => Math.min(500 * 2 ** n, 8000);

export function connectTerminal(
  container: string,
  size: { cols: number; rows: number },
  sink: TerminalSink,
): TerminalLink {
  const store = window.sessionStorage;
  const url = `${window.location.protocol === 'https:' ? 'wss' : 'ws'}://${window.location.host}/ws/terminal`;
  const encoder = new TextEncoder();
  let current = { ...size };
  let ws: WebSocket;
  let closedByUs = false;
  let retries = 0;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;

  const open = (attachTo: string | undefined) => {
    const socket = new WebSocket(url);
    ws = socket;
    socket.binaryType = 'arraybuffer';
    let ready = false;
    let ended = false;
    socket.onopen = () => {
      const base = { type: 'open', name: container, cols: current.cols, rows: current.rows };
      socket.send(
        JSON.stringify(
          attachTo ? { ...base, kind: 'attach', session: attachTo } : { ...base, kind: 'shell' },
        ),
      );
    };
    socket.onmessage = (ev: MessageEvent<ArrayBuffer | string>) => {
      if (ws !== socket) return;
      if (typeof ev.data !== 'string') return sink.output(new Uint8Array(ev.data));
      const frame = JSON.parse(ev.data) as TerminalServerFrame;
      if (frame.type === 'ready') {
        ready = true;
        retries = 0;
        if (frame.session) rememberSession(store, container, frame.session);
        sink.ready(frame.session, attachTo !== undefined);
      } else if (frame.type === 'exit') {
        ended = true;
        forgetSession(store, container);
        sink.notice(`The shell exited with status ${frame.code}. Reload the page for a new shell.`);
      } else if (!ready && attachTo && frame.code === 'NOT_FOUND') {
        // The session we remembered ended (exited, killed, or berthd forgot it): start afresh.
        ended = true;
        forgetSession(store, container);
        sink.notice(`The shell session ${attachTo} has ended; opened a new shell.`);
        open(undefined);
      } else {
        ended = true;
        sink.notice(frame.message);
      }
    };
    socket.onclose = () => {
      if (ws !== socket || closedByUs || ended) return;
      const session = storedSession(store, container);
      if (!session || retries >= MAX_RETRIES) {
        sink.notice(
          session
            ? 'Disconnected; the shell keeps running. Reload the page to attach to it again.'
            : 'Could not open the terminal; reload the page to try again.',
        );
        return;
      }
      if (retries === 0) sink.notice('Connection lost; the shell keeps running. Reconnecting…');
      retryTimer = setTimeout(() => open(session), retryDelay(retries++));
    };
  };
  open(storedSession(store, container));

  return {
    input(data) {
      if (ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(data));
    },
    resize(cols, rows) {
      current = { cols, rows };
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'resize', cols, rows }));
    },
    close() {
      closedByUs = true;
      clearTimeout(retryTimer);
      ws.close(1000, 'detached');
    },
  };
}
