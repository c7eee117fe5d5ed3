import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostFacts } from '@berth/contracts';
import { TRPCClientError } from '@trpc/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentContext } from '../context.ts';
import { trpcHandler } from '../http.ts';
import { agentRouter } from '../router.ts';
import { AgentUnreachableError, createAgentClient } from './index.ts';

// The client against the real router on a real Unix socket, with the host service injected
// (the real one, reading /proc, is exercised by apps/cli/test/skeleton.root.test.ts).

const facts: HostFacts = {
  hostname: 'test-host',
  kernelRelease: '6.18.0-test',
  architecture: 'x86_64',
  cgroup: {
    mode: 'v2',
    v2: { mountPoint: '/sys/fs/cgroup', controllers: ['cpu', 'memory', 'pids'] },
    v1: {},
  },
  namespaces: ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'time', 'user', 'uts'],
  maxUserNamespaces: 1000,
  cpus: 4,
  memory: { totalBytes: 8 << 30, availableBytes: 4 << 30 },
  agent: { version: '0.0.0-test', uptimeSeconds: 1 },
};

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-client-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

// Only the services a test calls; the others are absent (a call to one fails the test).
async function serve(socketPath: string, services: Partial<AgentContext>): Promise<Server> {
  const context = services as AgentContext;
  // berthd's own handler (../http.ts): whole replies for queries and mutations, tRPC's for SSE.
  const server = createServer(
    trpcHandler({ router: agentRouter, basePath: '/trpc/', createContext: () => context }),
  );
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return server;
}

async function stop(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

describe('over a live socket', () => {
  it('queries host.facts', async () => {
    const socketPath = join(dir, 'berthd.sock');
    const server = await serve(socketPath, { host: { facts: async () => facts } });
    try {
      expect(await createAgentClient({ socketPath }).host.facts.query()).toEqual(facts);
    } finally {
      await stop(server);
    }
  });

  it('answers queries asked together (one batched request) each with its own reply', async () => {
    const socketPath = join(dir, 'berthd.sock');
    let n = 0;
    const server = await serve(socketPath, {
      host: { facts: async () => ({ ...facts, hostname: `host-${++n}` }) },
    });
    try {
      const client = createAgentClient({ socketPath });
      const got = await Promise.all([client.host.facts.query(), client.host.facts.query()]);
      expect(got.map((f) => f.hostname).sort()).toEqual(['host-1', 'host-2']);
    } finally {
      await stop(server);
    }
  });

  it('replies with a Content-Length, in one piece (not chunked)', async () => {
    const socketPath = join(dir, 'berthd.sock');
    const server = await serve(socketPath, { host: { facts: async () => facts } });
    try {
      const reply = await new Promise<{ headers: Record<string, unknown>; body: string }>(
        (resolve, reject) => {
          const req = request({ socketPath, path: '/trpc/host.facts', method: 'GET' }, (res) => {
            let body = '';
            res.setEncoding('utf8').on('data', (c: string) => (body += c));
            res.on('end', () => resolve({ headers: res.headers, body }));
          });
          req.on('error', reject);
          req.end();
        },
      );
      expect(reply.headers['transfer-encoding']).toBeUndefined();
      expect(Number(reply.headers['content-length'])).toBe(Buffer.byteLength(reply.body));
      expect(JSON.parse(reply.body).result.data.hostname).toBe('test-host');
    } finally {
      await stop(server);
    }
  });

  it('streams host.watchFacts over server-sent events until unsubscribed', async () => {
    const socketPath = join(dir, 'berthd.sock');
    let calls = 0;
    const server = await serve(socketPath, {
      host: { facts: async () => ({ ...facts, agent: { ...facts.agent, uptimeSeconds: ++calls } }) },
    });
    try {
      const seen = await new Promise<number[]>((resolve, reject) => {
        const got: number[] = [];
        const sub = createAgentClient({ socketPath }).host.watchFacts.subscribe(
          { intervalMs: 500 },
          {
            onData(f) {
              got.push(f.agent.uptimeSeconds);
              if (got.length === 2) {
                sub.unsubscribe();
                resolve(got);
              }
            },
            onError: reject,
          },
        );
      });
      expect(seen).toEqual([1, 2]);
    } finally {
      await stop(server);
    }
  });

  it('rejects bad input with INVALID_INPUT naming the field', async () => {
    const socketPath = join(dir, 'berthd.sock');
    const server = await serve(socketPath, { host: { facts: async () => facts } });
    try {
      const err = await new Promise<unknown>((resolve) => {
        createAgentClient({ socketPath }).host.watchFacts.subscribe(
          { intervalMs: 10 },
          { onError: resolve, onData: () => resolve(new Error('got data for invalid input')) },
        );
      });
      expect(err).toBeInstanceOf(TRPCClientError);
      const e = err as TRPCClientError<typeof agentRouter>;
      expect(e.message).toMatch(/^invalid intervalMs: /);
      expect(e.data?.berthCode).toBe('INVALID_INPUT');
    } finally {
      await stop(server);
    }
  });
});

describe('mutations (one request each, not batched)', () => {
  it('reject bad input with INVALID_INPUT naming the field', async () => {
    const socketPath = join(dir, 'berthd.sock');
    const server = await serve(socketPath, {});
    try {
      const err = await createAgentClient({ socketPath })
        .container.start.mutate({ name: '../x', actor: 'test' })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TRPCClientError);
      const e = err as TRPCClientError<typeof agentRouter>;
      expect(e.message).toMatch(/^invalid name: /);
      expect(e.data?.berthCode).toBe('INVALID_INPUT');
    } finally {
      await stop(server);
    }
  });

  it('reject with AgentUnreachableError when the socket does not exist', async () => {
    const socketPath = join(dir, 'missing.sock');
    const err = await createAgentClient({ socketPath })
      .container.start.mutate({ name: 'lab', actor: 'test' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentUnreachableError);
    expect((err as AgentUnreachableError).message).toBe(`agent unreachable at ${socketPath}`);
  });
});

describe('agent unreachable', () => {
  it('when the socket does not exist', async () => {
    const socketPath = join(dir, 'missing.sock');
    const err = await createAgentClient({ socketPath })
      .host.facts.query()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentUnreachableError);
    expect(err).toBeInstanceOf(TRPCClientError);
    expect((err as AgentUnreachableError).message).toBe(`agent unreachable at ${socketPath}`);
    expect((err as AgentUnreachableError).code).toBe('AGENT_UNREACHABLE');
  });

  it('when a dead agent left its socket file behind (connection refused)', async () => {
    const socketPath = join(dir, 'stale.sock');
    // A process that listens and is then killed leaves the socket file with nobody behind it.
    const child = spawn(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('up'))`,
    ]);
    await new Promise((resolve) => child.stdout.once('data', resolve));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(existsSync(socketPath)).toBe(true);
    const err = await createAgentClient({ socketPath })
      .host.facts.query()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentUnreachableError);
    expect((err as Error).message).toBe(`agent unreachable at ${socketPath}`);
  });
});
