// The API as a client sees it: JSON over HTTP (tRPC's fetch adapter), errors carrying only
// berthCode and a sentence.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPanelDb, type PanelDb } from '@berth/db';
import { panelMigrationsRoot, type TestDatabase, testSqlite } from '@berth/db/testing';
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import superjson from 'superjson';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { agentHostFacts } from './agent-source.ts';
import { createApiContext } from './context.ts';
import { appRouter } from './router.ts';
import { createPanelServices, type PanelServices } from './services/index.ts';

describe('the panel API over HTTP', () => {
  let database: TestDatabase;
  let db: PanelDb;
  let services: PanelServices;
  let dir: string;
  let socketPath: string;
  let cookie: string | undefined;

  const call = async (path: string, input?: unknown, method: 'GET' | 'POST' = 'GET') => {
    const url = new URL(`http://panel/api/trpc/${path}`);
    if (method === 'GET' && input !== undefined)
      url.searchParams.set('input', JSON.stringify(superjson.serialize(input)));
    const req = new Request(url, {
      method,
      headers: { 'content-type': 'application/json' },
      body: method === 'POST' ? JSON.stringify(superjson.serialize(input ?? null)) : undefined,
    });
    const res = await fetchRequestHandler({
      endpoint: '/api/trpc',
      req,
      router: appRouter,
      createContext: () =>
        createApiContext({
          services,
          sessionToken: cookie,
          ip: '127.0.0.1',
          setSession: (token) => {
            cookie = token;
          },
          clearSession: () => {
            cookie = undefined;
          },
        }),
    });
    const body = (await res.json()) as { result?: unknown; error?: unknown };
    // superjson wraps both in { json, meta }.
    return {
      status: res.status,
      result: body.result ? superjson.deserialize((body.result as { data: never }).data) : undefined,
      error: body.error ? (body.error as { json: unknown }).json : undefined,
    };
  };

  beforeEach(async () => {
    database = testSqlite();
    db = await openPanelDb(database.location, panelMigrationsRoot);
    dir = mkdtempSync(join(tmpdir(), 'berth-test-api-'));
    socketPath = join(dir, 'no-berthd.sock'); // nothing listens here
    services = createPanelServices({ db, hostFacts: agentHostFacts(socketPath) });
    await services.auth.createUser({ username: 'ada', password: 'correct horse', role: 'admin' });
    cookie = undefined;
  });
  afterEach(async () => {
    await db.close();
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses host.facts before sign-in, with a sentence and no stack', async () => {
    const { status, error } = await call('host.facts');
    expect(status).toBe(401);
    expect(error).toEqual({
      message: 'sign in first',
      code: -32001,
      data: { code: 'UNAUTHORIZED', httpStatus: 401, berthCode: 'UNAUTHENTICATED' },
    });
  });

  it('signs in, answers auth.me, and says "agent unreachable at <socket>" when berthd is not there', async () => {
    expect((await call('auth.login', { username: 'ada', password: 'correct horse' }, 'POST')).status).toBe(
      200,
    );
    expect(cookie).toBeTruthy();
    expect((await call('auth.me')).result).toMatchObject({
      user: { username: 'ada', role: 'admin', createdAt: expect.any(Date) },
    });

    const { status, error } = await call('host.facts');
    expect(status).toBe(503);
    expect(error).toEqual({
      message: `agent unreachable at ${socketPath}`,
      code: expect.any(Number),
      data: { code: 'SERVICE_UNAVAILABLE', httpStatus: 503, berthCode: 'AGENT_UNREACHABLE' },
    });

    await call('auth.logout', undefined, 'POST');
    expect(cookie).toBeUndefined();
    expect((await call('auth.me')).status).toBe(401);
  });

  it('names the field of bad input', async () => {
    const { status, error } = await call('auth.login', { username: '', password: 'x' }, 'POST');
    expect(status).toBe(400);
    expect(error).toMatchObject({
      message: expect.stringMatching(/^invalid username: /),
      data: { berthCode: 'INVALID_INPUT' },
    });
  });
});
