import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentEventInfo, EventKind } from '@berth/contracts';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createAgentClient } from '../client/index.ts';
import type { AgentContext } from '../context.ts';
import { type AgentDb, openAgentDb } from '../db/index.ts';
import { trpcHandler } from '../http.ts';
import { agentRouter } from '../router.ts';
import { type EventInput, EventLog } from './log.ts';

// The event stream over a real socket: in order, resumable from a cursor without loss or
// repeats (what tRPC's link does on reconnect: it sends the last tracked id).

let dir: string;
let db: AgentDb;
let log: EventLog;
let server: Server;
let socketPath: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-events-'));
  db = await openAgentDb(join(dir, 'agent.db'));
  log = new EventLog(db, 100);
  socketPath = join(dir, 'a.sock');
  server = createServer(
    createHTTPHandler({
      router: agentRouter,
      basePath: '/trpc/',
      createContext: () => ({
        host: { facts: async () => ({}) as never },
        images: {} as never,
        metrics: {} as never,
        events: log,
      }),
    }),
  );
  await new Promise<void>((r) => server.listen(socketPath, r));
});
afterEach(async () => {
  await new Promise<void>((r) => {
    server.close(() => r());
    server.closeAllConnections();
  });
  await db.$disconnect();
  rmSync(dir, { recursive: true, force: true });
});

function collect(input: { after?: number; lastEventId?: string }, n: number): Promise<AgentEventInfo[]> {
  const got: AgentEventInfo[] = [];
  return new Promise((resolve, reject) => {
    const sub = createAgentClient({ socketPath }).event.watch.subscribe(input, {
      onData(e) {
        expect(e.id).toBe(String(e.data.id));
        got.push(e.data);
        if (got.length === n) {
          sub.unsubscribe();
          resolve(got);
        }
      },
      onError: reject,
    });
  });
}

it('streams kept events after a cursor, then live ones, in order; resumes from the last id', async () => {
  for (const s of ['a', 'b', 'c']) await log.append('container.created', { subject: s, actor: 't' });
  const first = collect({ after: 0 }, 5);
  await new Promise((r) => setTimeout(r, 200));
  await log.append('container.started', { subject: 'a' });
  await log.append('container.started', { subject: 'b' });
  const seen = await first;
  expect(seen.map((e) => `${e.kind} ${e.subject}`)).toEqual([
    'container.created a',
    'container.created b',
    'container.created c',
    'container.started a',
    'container.started b',
  ]);
  // Events while nobody listens, then a reconnect with the last id seen.
  await log.append('container.stopped', { subject: 'a', data: { exitCode: 0 } });
  await log.append('container.deleted', { subject: 'a' });
  const resumed = await collect({ lastEventId: String(seen.at(-1)!.id) }, 2);
  expect(resumed.map((e) => e.kind)).toEqual(['container.stopped', 'container.deleted']);
  expect(resumed[0]!.data).toEqual({ exitCode: 0 });
});

it('keeps a bounded history', async () => {
  const small = new EventLog(db, 100);
  for (let i = 0; i < 250; i++) await small.append('container.created', { subject: `c${i}` });
  await small.prune();
  const kept = await small.list({ after: 0, limit: 1000 });
  expect(kept).toHaveLength(100);
  expect(kept.at(-1)!.subject).toBe('c249');
});

it('lists kept events as Prisma reads them, subject and cursor applied', async () => {
  await log.append('container.created', { subject: 'a', actor: 't', data: { n: 1 } });
  await log.commitSql(() => undefined, [['container.started', { subject: 'b' }]]);
  await log.append('container.stopped', { subject: 'a' });
  const rows = await db.agentEvent.findMany({ orderBy: { id: 'asc' } });
  const all = await log.list();
  expect(all).toEqual(
    rows.map((r) => ({
      id: r.id,
      at: r.at.toISOString(),
      kind: r.kind,
      actor: r.actor,
      subject: r.subject,
      data: JSON.parse(r.data),
    })),
  );
  expect((await log.list({ subject: 'a' })).map((e) => e.kind)).toEqual([
    'container.created',
    'container.stopped',
  ]);
  expect(await log.list({ after: all[0]!.id, limit: 1 })).toEqual([all[1]]);
});

it('a watcher whose consumer falls behind holds at most maxQueued live events, and catches up from the log', async () => {
  const watcher = log.watch({ after: 0, maxQueued: 10 });
  await log.append('container.created', { subject: 'first' });
  expect((await watcher.next()).value?.subject).toBe('first');
  // 50 events told while nobody takes them: more than the watcher holds.
  const told = await log.commitSql(
    () => undefined,
    Array.from({ length: 50 }, (_, i): [EventKind, EventInput] => [
      'container.started',
      { subject: `c${i}` },
    ]),
  );
  // Proof that they were dropped, not held: events gone from the log are not seen.
  const gone = told.events.slice(0, 5).map((e) => e.id);
  await db.agentEvent.deleteMany({ where: { id: { in: gone } } });
  const got: string[] = [];
  for (let i = 0; i < 45; i++) got.push((await watcher.next()).value!.subject!);
  expect(got).toEqual(Array.from({ length: 45 }, (_, i) => `c${i + 5}`));
  // And it goes on live.
  await log.append('container.deleted', { subject: 'last' });
  expect((await watcher.next()).value?.subject).toBe('last');
  await watcher.return(undefined);
});

it('a subscription through the client resumes without loss or repeats after the agent comes back, and ends its watcher when unsubscribed', async () => {
  const emitter = (log as unknown as { emitter: import('node:events').EventEmitter }).emitter;
  // berthd's own handler (direct SSE) in place of tRPC's.
  await new Promise<void>((r) => {
    server.close(() => r());
    server.closeAllConnections();
  });
  const context = { events: log } as unknown as AgentContext;
  const start = async () => {
    server = createServer(
      trpcHandler({ router: agentRouter, basePath: '/trpc/', createContext: () => context }),
    );
    await new Promise<void>((r) => server.listen(socketPath, r));
  };
  await start();
  const got: string[] = [];
  let more!: () => void;
  const sub = createAgentClient({ socketPath }).event.watch.subscribe(
    { after: 0 },
    {
      onData(e) {
        got.push(e.data.subject ?? '');
        more?.();
      },
    },
  );
  const until = async (n: number) => {
    while (got.length < n) await new Promise<void>((r) => (more = r));
  };
  await log.append('container.created', { subject: 'a' });
  await until(1);
  // The agent goes away; events meanwhile; it comes back on the same socket.
  await new Promise<void>((r) => {
    server.close(() => r());
    server.closeAllConnections();
  });
  await log.append('container.created', { subject: 'b' });
  await log.append('container.created', { subject: 'c' });
  await start();
  await until(3);
  await log.append('container.created', { subject: 'd' });
  await until(4);
  expect(got).toEqual(['a', 'b', 'c', 'd']);
  sub.unsubscribe();
  for (let i = 0; i < 100 && emitter.listenerCount('event') > 0; i++)
    await new Promise((r) => setTimeout(r, 20));
  expect(emitter.listenerCount('event')).toBe(0);
}, 20_000);
