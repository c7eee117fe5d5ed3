import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { attachReplay } from './monitor-client.ts';

// A session in a frozen container: the kernel accepts the connection, nothing ever answers.
describe('attachReplay', () => {
  let dir: string | undefined;
  let server: Server | undefined;
  const clients: Socket[] = [];
  const closed = new Set<Socket>();
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const silentSession = async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-test-attach-'));
    const path = join(dir, 'attach.sock');
    server = createServer((c) => {
      clients.push(c);
      // Read (and drop) what comes, so the client's hang-up is seen.
      c.resume();
      c.on('close', () => closed.add(c));
    });
    await new Promise<void>((r) => server!.listen(path, r));
    return path;
  };

  it('gives up on a session that does not answer, saying why', async () => {
    const path = await silentSession();
    await expect(attachReplay(path, 300)).rejects.toThrow(
      'the session does not answer (nothing within 300 ms); is its container frozen?',
    );
    // The connection is not left open.
    await expect.poll(() => clients.length === 1 && closed.has(clients[0]!)).toBe(true);
  });

  it('waits for a scrollback that has begun', async () => {
    const path = await silentSession();
    server!.removeAllListeners('connection');
    server!.on('connection', (c) => {
      clients.push(c);
      const head = Buffer.alloc(8);
      head.writeBigUInt64LE(5n);
      c.write(Buffer.concat([head, Buffer.from('ab')]));
      setTimeout(() => c.write('cde'), 500);
    });
    const a = await attachReplay(path, 200);
    expect(a.scrollback.toString()).toBe('abcde');
    a.close();
  });
});
