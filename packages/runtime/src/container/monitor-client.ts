import { connect, type Socket } from 'node:net';
import { RuntimeError } from './errors.ts';

// The monitor's socket protocol (native/monitor.c): the first byte picks the conversation.
// 'S' start → "ok\n" | "err ...\n"; 'W' wait → "exit <code> <signal>\n";
// 'A' attach → raw output; input frames 'i' u32le n + bytes, resize 'r' u16le rows u16le cols.
// An exec session with an attach socket also answers 'R' (attach with replay: u64le n, the n
// bytes of scrollback, then live output) and 'I' ("info <bytes> <last io ms> <attached> <exited>").

function open(path: string, mode: 'S' | 'W' | 'A' | 'R' | 'I'): Promise<Socket> {
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
  return attachmentOf(await open(sock, 'A'));
}

function attachmentOf(socket: Socket): Attachment {
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

/**
 * Attach to a resumable exec session with replay: `scrollback` is the session's recent output
 * (possibly empty); `live(fn)` then gets the live output, which follows the scrollback without
 * a gap or an overlap (what came before `live` was called is held and given first; the socket
 * is read all along, so an error closing it loses nothing already received).
 * Rejects when the session sends nothing within `timeoutMs`: a frozen container's session
 * accepts the connection (the kernel does) but never answers.
 */
export async function attachReplay(
  sock: string,
  timeoutMs = 5000,
): Promise<Attachment & { scrollback: Buffer; live(onData: (chunk: Buffer) => void): void }> {
  const socket = await open(sock, 'R');
  let held: Buffer[] = [];
  let consumer: ((chunk: Buffer) => void) | undefined;
  const scrollback = await new Promise<Buffer>((resolve, reject) => {
    let got = Buffer.alloc(0);
    let need = -1;
    let done = false;
    const timer = setTimeout(() => {
      socket.off('close', onClose);
      socket.destroy();
      reject(
        new RuntimeError(
          'EXEC_FAILED',
          `the session does not answer (nothing within ${timeoutMs} ms); is its container frozen?`,
        ),
      );
    }, timeoutMs);
    socket.on('data', (d: Buffer) => {
      // It answers: the scrollback that follows may take its time.
      clearTimeout(timer);
      if (done) {
        if (consumer) consumer(d);
        else held.push(d);
        return;
      }
      got = Buffer.concat([got, d]);
      if (need < 0 && got.length >= 8) {
        need = Number(got.readBigUInt64LE(0));
        got = got.subarray(8);
      }
      if (need >= 0 && got.length >= need) {
        done = true;
        socket.off('close', onClose);
        if (got.length > need) held.push(got.subarray(need));
        resolve(got.subarray(0, need));
      }
    });
    const onClose = () => {
      clearTimeout(timer);
      reject(new RuntimeError('EXEC_FAILED', 'the session closed before its scrollback came'));
    };
    socket.once('close', onClose);
  });
  return {
    ...attachmentOf(socket),
    scrollback,
    live(onData) {
      consumer = onData;
      for (const c of held) onData(c);
      held = [];
    },
  };
}

export interface SessionInfo {
  /** Bytes of output so far. */
  output: number;
  /** Last output or input (unix ms). */
  lastIoMs: number;
  /** Clients attached (berthd's viewers). */
  attached: number;
  exited: boolean;
}

/**
 * What a resumable exec session says of itself; undefined when it is gone. Rejects when it
 * does not answer within `timeoutMs` (it lives, but cannot run: its container is frozen).
 */
export async function sessionInfo(sock: string, timeoutMs = 2000): Promise<SessionInfo | undefined> {
  let s: Socket;
  try {
    s = await open(sock, 'I');
  } catch {
    return undefined;
  }
  let timer: NodeJS.Timeout | undefined;
  const reply = await Promise.race([
    readAll(s),
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (reply === undefined) {
    s.destroy();
    throw new RuntimeError('EXEC_FAILED', `the session at ${sock} did not answer within ${timeoutMs} ms`);
  }
  const m = /^info (\d+) (-?\d+) (\d+) (\d+)/.exec(reply.trim());
  return m
    ? { output: Number(m[1]), lastIoMs: Number(m[2]), attached: Number(m[3]), exited: m[4] !== '0' }
    : undefined;
}
