import { openPanelDb, type PanelDb } from '@berth/db';
import { panelMigrationsRoot, type TestDatabase, testSqlite } from '@berth/db/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PanelError } from '../errors.ts';
import { AuthService, hashSessionToken } from './auth.ts';
import { LoginThrottle } from './login-throttle.ts';

describe('AuthService', () => {
  let database: TestDatabase;
  let db: PanelDb;
  let now: Date;
  let auth: AuthService;
  const ip = '192.0.2.7';

  beforeEach(async () => {
    database = testSqlite();
    db = await openPanelDb(database.location, panelMigrationsRoot);
    now = new Date('2030-01-01T00:00:00Z');
    auth = new AuthService({
      db,
      sessionTtlMs: 60 * 60 * 1000,
      throttle: new LoginThrottle(3, 900),
      now: () => now,
    });
    await auth.createUser({ username: 'ada', password: 'correct horse', role: 'admin' });
  });
  afterEach(async () => {
    await db.close();
    await database.drop();
  });

  const codeOf = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PanelError);
    return { code: (err as PanelError).code, message: (err as PanelError).message };
  };

  it('signs in with the right password: a session stored only as a hash, and an audit entry', async () => {
    const { token, expiresAt, user } = await auth.login({ username: 'ada', password: 'correct horse', ip });
    expect(user).toEqual({
      id: expect.any(String),
      username: 'ada',
      role: 'admin',
      createdAt: expect.any(Date),
    });
    expect(user).not.toHaveProperty('passwordHash');
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(expiresAt).toEqual(new Date('2030-01-01T01:00:00Z'));
    expect(await db.sessions.findActive(token, now)).toBeNull(); // the raw token is not a key
    expect((await db.sessions.findActive(hashSessionToken(token), now))?.user.id).toBe(user.id);
    expect((await auth.viewer(token))?.user).toEqual(user);
    const [entry] = await db.audit.list({ limit: 1 });
    expect(entry).toMatchObject({ action: 'auth.login', actorId: user.id, actorName: 'ada', ip });
  });

  it('refuses a wrong password and an unknown user with the same sentence, audited', async () => {
    expect(await codeOf(auth.login({ username: 'ada', password: 'wrong', ip }))).toEqual({
      code: 'UNAUTHENTICATED',
      message: 'wrong user name or password',
    });
    expect(await codeOf(auth.login({ username: 'bob', password: 'x', ip }))).toEqual({
      code: 'UNAUTHENTICATED',
      message: 'wrong user name or password',
    });
    const entries = await db.audit.list({ limit: 5 });
    expect(entries.map((e) => [e.action, e.actorName])).toEqual([
      ['auth.login_failed', 'bob'],
      ['auth.login_failed', 'ada'],
    ]);
  });

  it('throttles repeated failures for that address and name, even with the right password', async () => {
    for (let i = 0; i < 3; i++) await codeOf(auth.login({ username: 'ada', password: 'nope', ip }));
    const limited = await codeOf(auth.login({ username: 'ada', password: 'correct horse', ip }));
    expect(limited.code).toBe('RATE_LIMITED');
    expect(limited.message).toMatch(/^too many failed sign-ins; try again in \d+ minutes?$/);
    // Another address is not locked out by someone else's failures.
    await expect(
      auth.login({ username: 'ada', password: 'correct horse', ip: '192.0.2.8' }),
    ).resolves.toBeTruthy();
  });

  it('ends a session at its expiry, and at logout (audited)', async () => {
    const { token } = await auth.login({ username: 'ada', password: 'correct horse', ip });
    now = new Date('2030-01-01T00:59:59Z');
    const viewer = await auth.viewer(token);
    expect(viewer?.user.username).toBe('ada');
    now = new Date('2030-01-01T01:00:00Z');
    expect(await auth.viewer(token)).toBeNull();
    await auth.login({ username: 'ada', password: 'correct horse', ip }); // removes expired ones
    expect(await db.sessions.findActive(hashSessionToken(token), new Date(0))).toBeNull();

    now = new Date('2030-01-01T00:00:00Z');
    const second = await auth.login({ username: 'ada', password: 'correct horse', ip });
    await auth.logout({ token: second.token, viewer: await auth.viewer(second.token), ip });
    expect(await auth.viewer(second.token)).toBeNull();
    expect((await db.audit.list({ limit: 1 }))[0]).toMatchObject({ action: 'auth.logout', actorName: 'ada' });
  });

  it('authorises: no viewer is UNAUTHENTICATED, a member is FORBIDDEN where admins only may act', async () => {
    expect(() => auth.requireUser(null)).toThrow('sign in first');
    await auth.createUser({ username: 'grace', password: 'hopper1906', role: 'member' });
    const { token } = await auth.login({ username: 'grace', password: 'hopper1906', ip });
    const member = await auth.viewer(token);
    expect(auth.requireUser(member).username).toBe('grace');
    expect(() => auth.requireAdmin(member)).toThrow(/not allowed/);
    expect(
      auth.requireAdmin(
        await auth.viewer((await auth.login({ username: 'ada', password: 'correct horse', ip })).token),
      ).username,
    ).toBe('ada');
  });

  it('creates the first admin only while there is no user, and names bad fields', async () => {
    expect(await auth.ensureFirstAdmin({ username: 'admin', password: 'whatever-long' })).toBe(false);
    expect(
      await codeOf(auth.createUser({ username: 'Bad Name', password: 'long enough', role: 'member' })),
    ).toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(/^invalid username: /),
    });
    expect(await codeOf(auth.createUser({ username: 'carol', password: 'short', role: 'member' }))).toEqual({
      code: 'INVALID_INPUT',
      message: 'invalid password: use at least 8 characters',
    });
    expect(await db.users.count()).toBe(1);

    const empty = testSqlite();
    const emptyDb = await openPanelDb(empty.location, panelMigrationsRoot);
    try {
      const fresh = new AuthService({ db: emptyDb });
      expect(await fresh.ensureFirstAdmin({ username: 'admin', password: 'first-password' })).toBe(true);
      expect(await fresh.ensureFirstAdmin({ username: 'admin', password: 'other-password' })).toBe(false);
      expect((await emptyDb.users.credentials('admin'))?.role).toBe('admin');
      await expect(fresh.login({ username: 'admin', password: 'first-password', ip })).resolves.toBeTruthy();
    } finally {
      await emptyDb.close();
      await empty.drop();
    }
  });
});
