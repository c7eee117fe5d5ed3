// agentHostFacts against a stand-in for berthd: a tRPC server on a Unix socket that answers
// host.facts with errors the way berthd's formatter shapes them ({ berthCode }).

import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initTRPC, TRPCError } from '@trpc/server';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { agentHostFacts } from './agent-source.ts';
import { PanelError } from './errors.ts';

describe('agentHostFacts', () => {
  let dir: string;
  let socketPath: string;
  let close: () => Promise<void>;
  let failure: Error;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-test-agent-source-'));
    socketPath = join(dir, 'berthd.sock');
    const t = initTRPC.create({
      errorFormatter: ({ shape, error }) => ({
        ...shape,
        data: { ...shape.data, berthCode: error.code === 'CONFLICT' ? 'CONFLICT' : 'INTERNAL' },
      }),
    });
    const router = t.router({
      host: t.router({
        facts: t.procedure.query(() => {
          throw failure;
        }),
      }),
    });
    const server = createHTTPServer({ router, basePath: '/trpc/' });
    server.listen(socketPath);
    await once(server, 'listening');
    close = () => new Promise((resolve) => server.close(() => resolve()));
  });
  afterEach(async () => {
    await close();
    rmSync(dir, { recursive: true, force: true });
  });

  const rejection = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => e as PanelError,
    );

  it("passes on berthd's own code and sentence, saying they are berthd's", async () => {
    failure = new TRPCError({ code: 'CONFLICT', message: 'the host is busy' });
    const conflict = await rejection(agentHostFacts(socketPath).facts());
    expect(conflict).toBeInstanceOf(PanelError);
    expect([conflict?.code, conflict?.message]).toEqual(['CONFLICT', 'berthd: the host is busy']);

    failure = new Error('no cgroup hierarchy is mounted');
    const internal = await rejection(agentHostFacts(socketPath).facts());
    expect([internal?.code, internal?.message]).toEqual([
      'INTERNAL',
      'berthd: no cgroup hierarchy is mounted',
    ]);
  });

  it('says "agent unreachable at <socket>" once berthd is gone', async () => {
    await close();
    close = async () => {};
    const gone = await rejection(agentHostFacts(socketPath).facts());
    expect([gone?.code, gone?.message]).toEqual(['AGENT_UNREACHABLE', `agent unreachable at ${socketPath}`]);
  });
});
