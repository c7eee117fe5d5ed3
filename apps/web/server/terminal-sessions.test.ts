// The shell session API of the terminal page on a real panel server (real DB and sign-in),
// with berthd's session API replaced by an explicitly injected recorder (berthd's own is
// driven by e2e/specs/terminal.spec.ts): who may list and end, and what reaches berthd.
import type { ShellSessionInfo } from '@berth/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TERMINAL_SESSIONS_PATH } from './terminal-sessions.ts';
import { startTestPanel, type TestPanel } from './test-panel.ts';

const info: ShellSessionInfo = {
  id: '3f9a2c1b',
  container: 'web',
  command: ['/bin/sh'],
  user: null,
  actor: 'panel:ada',
  pid: 4242,
  createdAt: '2026-11-29T17:00:00.000Z',
  attached: 1,
  lastActivityAt: '2026-11-29T17:01:00.000Z',
  detachedAt: null,
};

describe("the terminal page's session API", () => {
  let panel: TestPanel;
  let base: string;
  const calls: string[] = [];

  beforeEach(async () => {
    calls.length = 0;
    panel = await startTestPanel({
      shells: {
        list: async (name) => {
          calls.push(`list ${name}`);
          return [info];
        },
        kill: async (name, session, actor) => {
          calls.push(`kill ${name} ${session} ${actor}`);
        },
      },
    });
    base = `${panel.base}${TERMINAL_SESSIONS_PATH}`;
  });
  afterEach(() => panel.close());

  const message = async (r: Response) => ((await r.json()) as { message: string }).message;
  const kill = (cookie: string, body: string, type = 'application/json') =>
    fetch(base, { method: 'POST', headers: { cookie, 'content-type': type }, body });

  it('lists and ends sessions for an admin, as that admin', async () => {
    const cookie = await panel.cookieOf('ada');
    const list = await fetch(`${base}?name=web`, { headers: { cookie } });
    expect(list.status).toBe(200);
    expect(await list.json()).toEqual([info]);
    const ended = await kill(cookie, JSON.stringify({ name: 'web', session: '3f9a2c1b' }));
    expect(ended.status).toBe(200);
    expect(calls).toEqual(['list web', 'kill web 3f9a2c1b panel:ada']);
  });

  it('refuses strangers and members before berthd hears of it', async () => {
    const anon = await fetch(`${base}?name=web`);
    expect(anon.status).toBe(401);
    expect(await anon.json()).toEqual({ code: 'UNAUTHENTICATED', message: 'sign in first' });
    const member = await panel.cookieOf('bob');
    expect((await fetch(`${base}?name=web`, { headers: { cookie: member } })).status).toBe(403);
    expect((await kill(member, JSON.stringify({ name: 'web', session: '3f9a2c1b' }))).status).toBe(403);
    expect(calls).toEqual([]);
  });

  it('names the bad field, and takes no actor from the browser', async () => {
    const cookie = await panel.cookieOf('ada');
    const noName = await fetch(base, { headers: { cookie } });
    expect(noName.status).toBe(400);
    expect(await message(noName)).toMatch(/^name: /);
    const badId = await kill(cookie, JSON.stringify({ name: 'web', session: 'nope' }));
    expect(await message(badId)).toMatch(/^session: must be a session id/);
    const actor = await kill(cookie, JSON.stringify({ name: 'web', session: '3f9a2c1b', actor: 'root' }));
    expect(actor.status).toBe(400);
    expect(await message(actor)).toMatch(/actor/);
    const form = await kill(cookie, 'name=web&session=3f9a2c1b', 'application/x-www-form-urlencoded');
    expect(await form.json()).toEqual({
      code: 'INVALID_INPUT',
      message: 'content-type: must be application/json',
    });
    expect(calls).toEqual([]);
  });
});
