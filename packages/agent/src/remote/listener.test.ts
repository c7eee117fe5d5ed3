import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { type AgentDb, openAgentDb } from '../db/index.ts';
import { requireToken, requireTokenUpgrade } from './listener.ts';
import { TokenStore } from './tokens.ts';

// The token check in front of requests and websocket upgrades, over plain HTTP on loopback (TLS
// is remote.root.test.ts's): each refusal's status, headers and body, including the 500 when the
// token store itself fails.

let dir: string;
let db: AgentDb;
let server: Server;
let port: number;
let token: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-listener-'));
  db = await openAgentDb(join(dir, 'agent.db'));
  const tokens = new TokenStore(db);
  token = (await tokens.create('panel')).token;
  server = createServer(requireToken(tokens, (_req, res) => res.end('served')));
  server.on(
    'upgrade',
    requireTokenUpgrade(tokens, (_req, socket) => socket.end('HTTP/1.1 101 Switching Protocols\r\n\r\n')),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterEach(async () => {
  vi.restoreAllMocks();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await db.$disconnect();
  rmSync(dir, { recursive: true, force: true });
});

const request = async (authorization?: string) => {
  const res = await fetch(`http://127.0.0.1:${port}/`, {
    headers: authorization ? { authorization } : {},
  });
  return { status: res.status, auth: res.headers.get('www-authenticate'), body: await res.text() };
};

/** The whole answer to an upgrade request, as the socket received it. */
const upgrade = (authorization?: string) =>
  new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => {
      answer += d.toString();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(answer));
    socket.write(
      `GET /terminal HTTP/1.1\r\nHost: berthd\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${authorization ? `Authorization: ${authorization}\r\n` : ''}\r\n`,
    );
  });

const refusedUpgrade = (status: string, body: object) => {
  const text = JSON.stringify(body);
  return `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nWWW-Authenticate: Bearer realm="berthd"\r\nContent-Length: ${text.length}\r\nConnection: close\r\n\r\n${text}`;
};

const missing = {
  code: 'UNAUTHENTICATED',
  message: 'a bearer token is required (Authorization: Bearer <token>; berthd token create --name NAME)',
};
const invalid = { code: 'UNAUTHENTICATED', message: 'the bearer token is not valid (unknown or revoked)' };
const internal = { code: 'INTERNAL', message: 'internal error; the details are in the log' };

test('a request passes with a valid bearer token, and is refused with 401 without one or with a wrong one', async () => {
  expect(await request(`Bearer ${token}`)).toEqual({ status: 200, auth: null, body: 'served' });
  const refused = { status: 401, auth: 'Bearer realm="berthd"' };
  expect(await request()).toEqual({ ...refused, body: JSON.stringify(missing) });
  expect(await request(`Basic ${token}`)).toEqual({ ...refused, body: JSON.stringify(missing) });
  expect(await request('Bearer berth_wrong')).toEqual({ ...refused, body: JSON.stringify(invalid) });
});

test('an upgrade passes with a valid bearer token, and is refused with 401 before it is handed on otherwise', async () => {
  expect(await upgrade(`Bearer ${token}`)).toBe('HTTP/1.1 101 Switching Protocols\r\n\r\n');
  expect(await upgrade()).toBe(refusedUpgrade('401 Unauthorized', missing));
  expect(await upgrade('Bearer berth_wrong')).toBe(refusedUpgrade('401 Unauthorized', invalid));
});

test('a failing token store answers 500 to both, with the details in the log only', async () => {
  const log = vi.spyOn(console, 'error').mockImplementation(() => {});
  await db.$executeRawUnsafe('DROP TABLE "ApiToken"');
  expect(await request(`Bearer ${token}`)).toEqual({
    status: 500,
    auth: null,
    body: JSON.stringify(internal),
  });
  expect(await upgrade(`Bearer ${token}`)).toBe(refusedUpgrade('500 Internal Server Error', internal));
  expect(log).toHaveBeenCalledTimes(2);
  expect(String(log.mock.calls[0]![0])).toMatch(/^berthd: token check: .*ApiToken/s);
});
