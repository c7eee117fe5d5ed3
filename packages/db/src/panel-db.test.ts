import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migratePanelDb, panelDbLocation } from './connect.ts';
import { openPanelDb, type PanelDb } from './panel-db.ts';
import { panelMigrationsRoot, type TestDatabase, testPostgres, testSqlite } from './testing/databases.ts';

describe('panelDbLocation', () => {
  it('is an SQLite file in the data dir by default, PostgreSQL for a postgres URL', () => {
    expect(panelDbLocation(undefined, '/var/lib/berth/panel')).toEqual({
      provider: 'sqlite',
      file: '/var/lib/berth/panel/panel.db',
    });
    expect(panelDbLocation('postgresql://u:p@db:5432/berth', '/x')).toEqual({
      provider: 'postgresql',
      url: 'postgresql://u:p@db:5432/berth',
    });
    expect(panelDbLocation('file:/tmp/p.db', '/x')).toEqual({ provider: 'sqlite', file: '/tmp/p.db' });
  });

  it('names DATABASE_URL when it is neither', () => {
    expect(() => panelDbLocation('mysql://x', '/x')).toThrow(/^DATABASE_URL must be/);
  });
});

for (const [label, create] of [
  ['SQLite', async () => testSqlite()],
  ['PostgreSQL', testPostgres],
] as const) {
  describe(`the panel DB on ${label}`, () => {
    let database: TestDatabase;
    let db: PanelDb;
    beforeEach(async () => {
      database = await create();
      db = await openPanelDb(database.location, panelMigrationsRoot);
    });
    afterEach(async () => {
      await db?.close();
      await database?.drop();
    });

    it('is migrated on open, and a second migration run applies nothing', async () => {
      expect(db.provider).toBe(database.location.provider);
      expect(await migratePanelDb(database.location, panelMigrationsRoot)).toEqual([]);
    });

    it('stores users with unique names and hands out DTOs without the hash', async () => {
      const user = await db.users.create({ username: 'ada', passwordHash: 'h1', role: 'admin' });
      expect(user).toEqual({
        id: expect.any(String),
        username: 'ada',
        role: 'admin',
        createdAt: expect.any(Date),
      });
      expect(await db.users.findById(user.id)).toEqual(user);
      expect(await db.users.credentials('ada')).toEqual({ ...user, passwordHash: 'h1' });
      expect(await db.users.credentials('nobody')).toBeNull();
      await expect(
        db.users.create({ username: 'ada', passwordHash: 'h2', role: 'member' }),
      ).rejects.toThrow();
      expect(await db.users.count()).toBe(1);
    });

    it('finds a session only until it expires, and deletes it', async () => {
      const user = await db.users.create({ username: 'grace', passwordHash: 'h', role: 'member' });
      const expiresAt = new Date('2030-01-01T00:00:00Z');
      await db.sessions.create({ tokenHash: 'abc', userId: user.id, expiresAt });
      const found = await db.sessions.findActive('abc', new Date('2029-12-31T23:59:59Z'));
      expect(found?.user).toEqual(user);
      expect(found?.session.expiresAt).toEqual(expiresAt);
      expect(await db.sessions.findActive('abc', expiresAt)).toBeNull();
      expect(await db.sessions.findActive('other', new Date(0))).toBeNull();
      expect(await db.sessions.deleteExpired(new Date('2030-01-02T00:00:00Z'))).toBe(1);
      await db.sessions.create({ tokenHash: 'def', userId: user.id, expiresAt });
      await db.sessions.delete('def');
      expect(await db.sessions.findActive('def', new Date(0))).toBeNull();
    });

    it('keeps an audit log, newest first', async () => {
      await db.audit.record({ actorName: 'ada', action: 'auth.login_failed', ip: '127.0.0.1' });
      await db.audit.record({ actorId: 'u1', actorName: 'ada', action: 'auth.login', ip: '127.0.0.1' });
      const entries = await db.audit.list({ limit: 10 });
      expect(entries.map((e) => [e.action, e.actorId])).toEqual([
        ['auth.login', 'u1'],
        ['auth.login_failed', null],
      ]);
      expect(entries[0]?.at).toBeInstanceOf(Date);
    });
  });
}

describe('prisma/panel', () => {
  it('has both provider schemas rendered from models.prisma (one model definition)', () => {
    const script = fileURLToPath(new URL('../scripts/panel-schema.mjs', import.meta.url));
    expect(() => execFileSync(process.execPath, [script, 'check'], { stdio: 'pipe' })).not.toThrow();
  });
});
