// The custom server on a real port: API routing, the session cookie's attributes, pages
// handed to Next's handler, and websocket upgrades only where a route is registered.
import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startTestPanel, type TestPanel } from './test-panel.ts';

describe('the panel server', () => {
  let panel: TestPanel;
  let base: string;

  beforeEach(async () => {
    panel = await startTestPanel();
    base = panel.base;
  });
  afterEach(() => panel.close());

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

    panel.upgrades.route('/ws/echo', (ws) => ws.on('message', (data) => ws.send(`echo ${data}`)));
    const ws = new WebSocket(`${base.replace('http', 'ws')}/ws/echo`);
    await once(ws, 'open');
    ws.send('hi');
    const [reply] = await once(ws, 'message');
    expect(String(reply)).toBe('echo hi');
    ws.close();
  });
});
