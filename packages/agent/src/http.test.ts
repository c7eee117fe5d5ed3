import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerConfig, type ContainerInfo, FilePushRequest, type HostFacts } from '@berth/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerService } from './containers/service.ts';
import type { AgentContext } from './context.ts';
import { type AgentDb, openAgentDb } from './db/index.ts';
import { AgentError } from './errors.ts';
import { EventLog } from './events/log.ts';
import { directCalls, MAX_BODY_BYTES, subscriptionCall, trpcHandler } from './http.ts';
import { agentRouter } from './router.ts';

// berthd answers common queries and mutations itself (http.ts) and everything else through
// tRPC's resolveResponse. Two servers with the real router, one each way, are asked the same
// raw HTTP requests: status, content type and body (with no stack trace: it would name berthd's
// files) must be the same, errors included, and onError must hear of the same ones.

const info = (name: string): ContainerInfo => ({
  id: '0123456789ab',
  name,
  image: 'busybox',
  imageDigest: `sha256:${'0'.repeat(64)}`,
  state: 'created',
  exitCode: null,
  restartCount: 0,
  group: null,
  config: ContainerConfig.parse({ name, image: 'busybox' }),
  createdAt: '2026-01-01T00:00:00.000Z',
  startedAt: null,
  finishedAt: null,
});

let creates = 0;
const containers = {
  async create(config: { name: string }) {
    creates++;
    if (config.name === 'taken') throw new AgentError('CONFLICT', 'a container named taken already exists');
    if (config.name === 'boom') throw new Error('disk on fire');
    return info(config.name);
  },
  async inspect(name: string) {
    if (name === 'missing') throw new AgentError('NOT_FOUND', 'container missing not found');
    return info(name);
  },
  async list() {
    return [info('a'), info('b')];
  },
  // A result tRPC can only stream: refused in a plain reply.
  async kill() {
    return { later: Promise.resolve(1) };
  },
} as unknown as ContainerService;

// Image pulls as a subscription that ends (or fails halfway), with untracked values.
const images = {
  async *pull(input: { reference: string }) {
    yield { type: 'layer', n: 1 };
    if (input.reference === 'fails') throw new AgentError('NOT_FOUND', 'no such image');
    yield { type: 'layer', n: 2 };
  },
};

const context = {
  host: { facts: async () => ({ hostname: 'h' }) as HostFacts },
  containers,
  images,
} as unknown as AgentContext;

let dir: string;
let db: AgentDb;
let log: EventLog;
const servers: Record<
  'direct' | 'tRPC' | 'directSmall' | 'tRPCSmall',
  { socketPath: string; server: Server; errors: string[] }
> = {} as never;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-http-'));
  db = await openAgentDb(join(dir, 'agent.db'));
  log = new EventLog(db, 1000);
  (context as { events?: EventLog }).events = log;
  for (const [name, direct, maxBodyBytes] of [
    ['direct', true, undefined],
    ['tRPC', false, undefined],
    ['directSmall', true, 1024],
    ['tRPCSmall', false, 1024],
  ] as const) {
    const errors: string[] = [];
    const server = createServer(
      trpcHandler({
        router: agentRouter,
        basePath: '/trpc/',
        createContext: () => context,
        direct,
        ...(maxBodyBytes ? { maxBodyBytes } : {}),
        onError: ({ error, path, type }) => errors.push(`${type} ${path} ${error.code}`),
      }),
    );
    const socketPath = join(dir, `${name}.sock`);
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    servers[name] = { socketPath, server, errors };
  }
});

afterAll(async () => {
  for (const { server } of Object.values(servers))
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  await db.$disconnect();
  rmSync(dir, { recursive: true, force: true });
});

interface Reply {
  status: number;
  contentType: string | undefined;
  allow: string | undefined;
  body: unknown;
}

function ask(
  socketPath: string,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          contentType: res.headers['content-type'],
          allow: res.headers.allow,
          body: text ? noStacks(JSON.parse(text)) : text,
        });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A reply's JSON, checked to carry no stack trace anywhere (berthd's trpc.ts: isDev false). */
function noStacks(v: unknown): unknown {
  if (Array.isArray(v)) v.forEach(noStacks);
  else if (v && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) {
      if (k === 'stack') throw new Error(`a reply carries a stack trace: ${JSON.stringify(v)}`);
      noStacks(x);
    }
  return v;
}

/** The same request to both servers: the replies must match. Returns the direct one. */
async function both(method: string, path: string, body?: string, headers?: Record<string, string>) {
  const direct = await ask(servers.direct.socketPath, method, path, body, headers);
  const trpc = await ask(servers.tRPC.socketPath, method, path, body, headers);
  expect(direct).toEqual(trpc);
  return direct;
}

const create = (config: unknown) => JSON.stringify({ config, actor: 'test' });
const berthCode = (r: Reply) => (r.body as { error: { data: { berthCode: string } } }).error.data.berthCode;
const message = (r: Reply) => (r.body as { error: { message: string } }).error.message;

describe('queries and mutations answered directly, as tRPC answers them', () => {
  it('a mutation', async () => {
    const r = await both('POST', '/trpc/container.create', create({ name: 'web', image: 'busybox' }));
    expect(r.status).toBe(200);
    expect(r.contentType).toBe('application/json');
    expect(r.body).toEqual({ result: { data: info('web') } });
  });

  it('a query with its input in the URL, and one without input', async () => {
    const input = encodeURIComponent(JSON.stringify({ name: 'web' }));
    expect((await both('GET', `/trpc/container.inspect?input=${input}`)).body).toEqual({
      result: { data: info('web') },
    });
    expect((await both('GET', '/trpc/container.list')).status).toBe(200);
  });

  it('input of the wrong type: 400, INVALID_INPUT, the field named', async () => {
    const r = await both('POST', '/trpc/container.create', create({ name: 5, image: 'busybox' }));
    expect(r.status).toBe(400);
    expect(berthCode(r)).toBe('INVALID_INPUT');
    expect(message(r)).toContain('config.name');
  });

  it('too big a body: refused by validation, naming the field', async () => {
    const r = await both(
      'POST',
      '/trpc/container.create',
      create({ name: 'x'.repeat(2_000_000), image: 'b' }),
    );
    expect(r.status).toBe(400);
    expect(message(r)).toContain('config.name');
  });

  it('a body over the bound (1 KiB here): 413, nothing read further, the procedure never called', async () => {
    const before = creates;
    const body = create({ name: 'web', image: 'busybox', labels: { big: 'x'.repeat(2000) } });
    const direct = await ask(servers.directSmall.socketPath, 'POST', '/trpc/container.create', body);
    const trpc = await ask(servers.tRPCSmall.socketPath, 'POST', '/trpc/container.create', body);
    expect(direct).toEqual(trpc);
    expect(direct.status).toBe(413);
    expect(berthCode(direct)).toBe('INVALID_INPUT');
    expect(message(direct)).toBe('the request body is larger than 1024 bytes, the most berthd reads');
    expect(creates).toBe(before);
    // Under the bound, the same servers answer as always.
    const small = await ask(
      servers.directSmall.socketPath,
      'POST',
      '/trpc/container.create',
      create({ name: 'web', image: 'busybox' }),
    );
    expect(small.status).toBe(200);
    expect(creates).toBe(before + 1);
  });

  it('the default bound holds the largest input the API takes (a file push)', () => {
    const push = JSON.stringify(
      FilePushRequest.parse({ name: 'web', path: '/f', dataBase64: '', actor: 'test' }),
    );
    const largest = push.length + (FilePushRequest.shape.dataBase64.maxLength ?? Number.POSITIVE_INFINITY);
    expect(largest).toBeLessThan(MAX_BODY_BYTES);
  });

  it('a body that is not JSON: 400', async () => {
    const r = await both('POST', '/trpc/container.create', '{"config":');
    expect(r.status).toBe(400);
    expect(berthCode(r)).toBe('INVALID_INPUT');
  });

  it("a service's errors keep their tRPC code, HTTP status and Berth code", async () => {
    const conflict = await both('POST', '/trpc/container.create', create({ name: 'taken', image: 'b' }));
    expect([conflict.status, berthCode(conflict)]).toEqual([409, 'CONFLICT']);
    expect(message(conflict)).toBe('a container named taken already exists');
    const input = encodeURIComponent(JSON.stringify({ name: 'missing' }));
    const missing = await both('GET', `/trpc/container.inspect?input=${input}`);
    expect([missing.status, berthCode(missing)]).toEqual([404, 'NOT_FOUND']);
    const internal = await both('POST', '/trpc/container.create', create({ name: 'boom', image: 'b' }));
    expect([internal.status, berthCode(internal)]).toEqual([500, 'INTERNAL']);
  });

  it('onError hears of the same failures either way', async () => {
    for (const s of Object.values(servers)) s.errors.length = 0;
    await both('POST', '/trpc/container.create', create({ name: 'boom', image: 'b' }));
    await both('POST', '/trpc/container.create', create({ name: 5 }));
    expect(servers.direct.errors).toEqual(servers.tRPC.errors);
    expect(servers.direct.errors).toEqual([
      'mutation container.create INTERNAL_SERVER_ERROR',
      'mutation container.create BAD_REQUEST',
    ]);
  });

  it('batched queries, one failing: 207 with a reply each', async () => {
    const input = encodeURIComponent(JSON.stringify({ 0: { name: 'missing' }, 1: { name: 'web' } }));
    const r = await both('GET', `/trpc/container.inspect,container.inspect?batch=1&input=${input}`);
    expect(r.status).toBe(207);
    expect((r.body as unknown[]).length).toBe(2);
    const ok = await both(
      'GET',
      `/trpc/container.list,container.list?batch=1&input=${encodeURIComponent('{}')}`,
    );
    expect(ok.status).toBe(200);
    const notObject = await both(
      'GET',
      `/trpc/container.inspect,container.inspect?batch=1&input=${encodeURIComponent('[1]')}`,
    );
    expect(notObject.status).toBe(400);
  });

  it('a stream-like result in a plain reply is refused the same way', async () => {
    const ref = JSON.stringify({ name: 'web', actor: 't' });
    expect((await both('POST', '/trpc/container.kill', ref)).status).toBe(415);
    const batch = await both(
      'POST',
      '/trpc/container.kill,container.kill?batch=1',
      JSON.stringify({ 0: JSON.parse(ref) }),
    );
    expect(batch.status).toBe(207); // the second call has no input: 400
    expect((batch.body as Array<{ error: { data: { httpStatus: number } } }>)[0]!.error.data.httpStatus).toBe(
      415,
    );
  });
});

describe('the rare requests, through resolveResponse on both', () => {
  it('an unknown procedure: 404', async () => {
    const r = await both('POST', '/trpc/container.nope', '{}');
    expect(r.status).toBe(404);
    expect(berthCode(r)).toBe('NOT_FOUND');
    expect((await both('GET', '/trpc/container.list,nope.nope?batch=1')).status).toBe(207);
  });

  it('the wrong method: 405 with Allow', async () => {
    const query = await both('POST', '/trpc/container.list', '{}');
    expect([query.status, query.allow]).toEqual([405, 'GET']);
    const mutation = await both('GET', '/trpc/container.create');
    expect([mutation.status, mutation.allow]).toEqual([405, 'POST']);
  });

  it('no or another content type: 415', async () => {
    expect((await both('POST', '/trpc/container.create', '{}', {})).status).toBe(415);
    expect(
      (await both('POST', '/trpc/container.create', '{}', { 'content-type': 'text/plain' })).status,
    ).toBe(415);
  });

  it('HEAD', async () => {
    expect((await both('HEAD', '/trpc/container.list')).status).toBe(204);
  });
});

describe('which requests are answered directly', () => {
  const taken = (method: string, url: string, headers: Record<string, string> = {}) =>
    directCalls(agentRouter, '/trpc/', { method, url, headers } as unknown as IncomingMessage) !== undefined;
  const json = { 'content-type': 'application/json' };

  it('JSON queries and mutations of known paths, on their method, batched or not', () => {
    expect(taken('POST', '/trpc/container.create', json)).toBe(true);
    expect(
      taken('POST', '/trpc/container.create', { 'content-type': 'Application/JSON; charset=utf-8' }),
    ).toBe(true);
    expect(taken('GET', '/trpc/container.list')).toBe(true);
    expect(taken('GET', '/trpc/container.list,host.facts?batch=1&input=%7B%7D')).toBe(true);
  });

  it('not the others', () => {
    expect(taken('POST', '/trpc/container.create')).toBe(false);
    expect(taken('POST', '/trpc/container.list', json)).toBe(false);
    expect(taken('GET', '/trpc/container.create')).toBe(false);
    expect(taken('GET', '/trpc/container.nope')).toBe(false);
    expect(taken('GET', '/trpc/container.list,event.watch?batch=1')).toBe(false);
    expect(taken('GET', '/trpc/container.list,container.create?batch=1')).toBe(false);
    expect(taken('HEAD', '/trpc/container.list')).toBe(false);
    expect(taken('GET', '/trpc/container.list', { accept: 'application/jsonl' })).toBe(false);
    expect(taken('GET', '/trpc/container.list', { 'trpc-accept': 'application/jsonl' })).toBe(false);
    expect(taken('GET', '/trpc/container.list?connectionParams=%7B%7D')).toBe(false);
    expect(taken('GET', '/trpc/container%2Elist')).toBe(false);
  });
});

/**
 * An event stream's raw text and headers, read until `enough` says so (or the server ends it);
 * then the client leaves.
 */
function listen(
  socketPath: string,
  path: string,
  enough: (text: string) => boolean,
  headers: Record<string, string> = {},
): Promise<{ status: number; contentType: string | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, method: 'GET', path, headers: { accept: 'text/event-stream', ...headers } },
      (res) => {
        let text = '';
        const done = () =>
          resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], text });
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
          if (enough(text)) {
            req.destroy();
            done();
          }
        });
        res.on('end', done);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The same subscription from both servers: the streams must be the same, byte for byte. */
async function bothStreams(
  path: string,
  enough: (text: string) => boolean,
  headers?: Record<string, string>,
) {
  const direct = await listen(servers.direct.socketPath, path, enough, headers);
  const trpc = await listen(servers.tRPC.socketPath, path, enough, headers);
  expect({ ...direct, text: withoutStackLines(direct.text) }).toEqual({
    ...trpc,
    text: withoutStackLines(trpc.text),
  });
  return direct;
}

/** Each event's JSON checked to carry no stack trace. */
const withoutStackLines = (text: string) =>
  text.replace(
    /^data: (\{.*)$/gm,
    (_, json: string) => `data: ${JSON.stringify(noStacks(JSON.parse(json)))}`,
  );

const input = (v: unknown) => `input=${encodeURIComponent(JSON.stringify(v))}`;
// Streams that end are read to their end (tRPC writes a message in several chunks).
const ended = () => false;

describe('subscriptions streamed directly, as tRPC streams them', () => {
  it('a stream that ends: connected, its values, return', async () => {
    const r = await bothStreams(`/trpc/image.pull?${input({ reference: 'busybox' })}`, ended);
    expect(r.status).toBe(200);
    expect(r.contentType).toBe('text/event-stream');
    expect(r.text).toBe(
      'event: connected\ndata: {"reconnectAfterInactivityMs":45000}\n\n\n' +
        'data: {"type":"layer","n":1}\n\n\n' +
        'data: {"type":"layer","n":2}\n\n\n' +
        'event: return\ndata: \n\n\n',
    );
  });

  it('untracked values after a Last-Event-ID: the id restored after each', async () => {
    const restored = 'event: restore-id\ndata: \nid: 7\n\n\n';
    const r = await bothStreams('/trpc/host.watchFacts', (t) => t.includes(restored), {
      'last-event-id': '7',
    });
    expect(r.text).toContain(`data: {"hostname":"h"}\nid: \n\n\n${restored}`);
    // A strict input refuses the id tRPC adds to it: the same error either way.
    const strict = await bothStreams(`/trpc/image.pull?${input({ reference: 'busybox' })}`, ended, {
      'last-event-id': '7',
    });
    expect(strict.text).toContain('lastEventId');
  });

  it('an error halfway, and input of the wrong type: a serialized error, onError told alike', async () => {
    for (const s of Object.values(servers)) s.errors.length = 0;
    const failing = await bothStreams(`/trpc/image.pull?${input({ reference: 'fails' })}`, ended);
    expect(failing.text).toContain('event: serialized-error');
    expect(failing.text).toContain('"berthCode":"INTERNAL"');
    const invalid = await bothStreams(`/trpc/image.pull?${input({ reference: 5 })}`, ended);
    expect(invalid.text).toContain('"berthCode":"INVALID_INPUT"');
    expect(invalid.text).toContain('reference');
    const unparsable = await bothStreams('/trpc/image.pull?input=%7B', ended);
    expect(unparsable.text).toContain('event: serialized-error');
    expect(servers.direct.errors).toEqual(servers.tRPC.errors);
    expect(servers.direct.errors.length).toBeGreaterThan(0);
  });

  it('event.watch: the kept events with their ids, then resumed after the last one seen', async () => {
    for (const subject of ['a', 'b', 'c']) await log.append('container.created', { subject, actor: 't' });
    const ids = (text: string) => text.match(/^id: \d+\n\n\n/gm)?.map((m) => m.trim()) ?? [];
    const first = await bothStreams(`/trpc/event.watch?${input({ after: 0 })}`, (t) => ids(t).length === 3);
    const last = ids(first.text).at(-1)!.slice(4);
    await log.append('container.deleted', { subject: 'a', actor: 't' });
    const resumed = await bothStreams(`/trpc/event.watch?${input({})}`, (t) => ids(t).length === 1, {
      'last-event-id': last,
    });
    expect(resumed.text).toContain('"kind":"container.deleted"');
  });

  it("a client that leaves ends its watcher (the procedure's signal)", async () => {
    const emitter = (log as unknown as { emitter: import('node:events').EventEmitter }).emitter;
    const before = emitter.listenerCount('event');
    await listen(servers.direct.socketPath, `/trpc/event.watch?${input({})}`, (t) => t.includes('connected'));
    for (let i = 0; i < 100 && emitter.listenerCount('event') !== before; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(emitter.listenerCount('event')).toBe(before);
  });

  it('an unknown subscription path, through tRPC on both', async () => {
    const r = await bothStreams('/trpc/image.nope', ended);
    expect(r.status).toBe(404);
  });

  it('which are streamed directly', () => {
    const taken = (url: string, headers: Record<string, string> = {}) =>
      subscriptionCall(agentRouter, '/trpc/', {
        method: 'GET',
        url,
        headers,
      } as unknown as IncomingMessage) !== undefined;
    expect(taken(`/trpc/event.watch?${input({})}`)).toBe(true);
    expect(taken('/trpc/event.watch')).toBe(true);
    expect(taken('/trpc/event.list')).toBe(false);
    expect(taken('/trpc/event.watch,event.watch?batch=1')).toBe(false);
    expect(taken('/trpc/event.watch?connectionParams=%7B%7D')).toBe(false);
    expect(taken('/trpc/event.watch', { 'content-type': 'text/plain' })).toBe(false);
  });
});
