// The custom server on a real port: API routing, the session cookie's attributes, pages
// handed to Next's handler, and websocket upgrades only where a route is registered.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createPanelServices } from '@berth/api';
import { agentHostFacts } from '@berth/api/agent';
import { openPanelDb, type PanelDb } from '@berth/db';
import { panelMigrationsRoot, type TestDatabase, testSqlite } from '@berth/db/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createPanelServer } from './panel.ts';
import type { UpgradeRouter } from './upgrade.ts';

describe('the panel server', () => {
  let database: TestDatabase;
  let db: PanelDb;
  let base: string;
  let close: () => Promise<void>;
  let upgrades: UpgradeRouter;

  beforeEach(async () => {
    database = testSqlite();
    db = await openPanelDb(database.location, panelMigrationsRoot);
    const services = createPanelServices({ db, hostFacts: agentHostFacts('/nonexistent/berthd.sock') });
    await services.auth.createUser({ username: 'ada', password: 'correct horse', role: 'admin' });
    const panel = createPanelServer({
      services,
      secureCookies: false,
      agent: { socketPath: '/nonexistent/berthd.sock' },
      pages: (req, res) => {
        res.end(`page ${req.url}`);
      },
    });
    upgrades = panel.upgrades;
    panel.server.listen(0, '127.0.0.1');
    await once(panel.server, 'listening');
    base = `http://127.0.0.1:${(panel.server.address() as AddressInfo).port}`;
    close = async () => {
      upgrades.close();
      panel.server.closeAllConnections();
      await new Promise((resolve) => panel.server.close(resolve));
    };
  });
  afterEach(async () => {
    await close();
    await db.close();
    await database.drop();
  });

  it('sets an httpOnly, SameSite=Strict session cookie at sign-in and honours it', async () => {
    const login = await fetch(`${base}/api/trpc/auth.login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ json: { username: 'ada', password: 'correct horse' } }),
    });
    expect(login.status).toBe(200);
    expect(login.headers.get('cache-control')).toBe('no-store');
    const cookie = login.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(
      /^berth_session=[A-Za-z0-9_-]{43}; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Strict$/,
    );
    const me = await fetch(`${base}/api/trpc/auth.me`, { headers: { cookie: cookie.split(';')[0] ?? '' } });
    expect(me.status).toBe(200);
    expect(await fetch(`${base}/api/trpc/auth.me`).then((r) => r.status)).toBe(401);
  });

  it('hands everything else to the pages handler', async () => {
    expect(await fetch(`${base}/login?next=1`).then((r) => r.text())).toBe('page /login?next=1');
  });

  it('refuses websocket upgrades on unregistered paths, accepts them on routes', async () => {
    const refused = new WebSocket(`${base.replace('http', 'ws')}/ws/nothing`);
    const [, res] = (await once(refused, 'unexpected-response')) as [unknown, { statusCode: number }];
    expect(res.statusCode).toBe(404);

    upgrades.route('/ws/echo', (ws) => ws.on('message', (data) => ws.send(`echo ${data}`)));
    const ws = new WebSocket(`${base.replace('http', 'ws')}/ws/echo`);
    await once(ws, 'open');
    ws.send('hi');
    const [reply] = await once(ws, 'message');
    expect(String(reply)).toBe('echo hi');
    ws.close();
  });
});
