import { connect, type Socket } from 'node:net';
import { RuntimeError } from './errors.ts';

// The monitor's socket protocol (native/monitor.c): the first byte picks the conversation.
// 'S' start → "ok\n" | "err ...\n"; 'W' wait → "exit <code> <signal>\n";
// 'A' attach → raw output; input frames 'i' u32le n + bytes, resize 'r' u16le rows u16le cols.

function open(path: string, mode: 'S' | 'W' | 'A'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path, () => {
      s.off('error', reject);
      // A monitor that exits right after we connect (its init is gone) makes this write fail
      // with EPIPE, reported on the next tick - before the caller's handlers are attached. The
      // close that follows ends the conversation; the error itself is nobody's to throw.
      s.on('error', () => {});
      s.write(mode);
      resolve(s);
    });
    s.once('error', reject);
  });
}

function readAll(s: Socket): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      out += d;
    });
    s.on('error', () => resolve(out));
    s.on('close', () => resolve(out));
  });
}

export async function startViaMonitor(sock: string): Promise<void> {
  let s: Socket;
  try {
    s = await open(sock, 'S');
  } catch (e) {
    throw new RuntimeError('START_FAILED', `cannot reach the container's monitor: ${(e as Error).message}`);
  }
  const reply = (await readAll(s)).trim();
  if (reply !== 'ok')
    throw new RuntimeError('START_FAILED', reply.replace(/^err -?\d+ /, '') || 'the monitor closed');
}

/** Resolves when init exits; undefined if the monitor was already gone (read the exit file). */
export async function waitViaMonitor(sock: string): Promise<{ code: number; signal: number } | undefined> {
  let s: Socket;
  try {
    s = await open(sock, 'W');
  } catch {
    return undefined;
  }
  const reply = (await readAll(s)).trim();
  const m = /^exit (-?\d+) (\d+)/.exec(reply);
  return m ? { code: Number(m[1]), signal: Number(m[2]) } : undefined;
}

export interface Attachment {
  socket: Socket;
  write(data: Buffer | string): void;
  resize(rows: number, cols: number): void;
  close(): void;
}

export async function attach(sock: string): Promise<Attachment> {
  const socket = await open(sock, 'A');
  return {
    socket,
    write(data) {
      const b = typeof data === 'string' ? Buffer.from(data) : data;
      const head = Buffer.alloc(5);
      head.write('i');
      head.writeUInt32LE(b.length, 1);
      socket.write(Buffer.concat([head, b]));
    },
    resize(rows, cols) {
      const b = Buffer.alloc(5);
      b.write('r');
      b.writeUInt16LE(rows, 1);
      b.writeUInt16LE(cols, 3);
      socket.write(b);
    },
    close() {
      socket.end();
    },
  };
}
