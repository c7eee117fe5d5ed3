import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { describeDriver } from './driver-suite.ts';
import { migrate } from './migrate.ts';
import { checksumOf } from './read.ts';
import { sqliteDriver } from './sqlite.ts';

describeDriver('SQLite (better-sqlite3, in memory)', async () => {
  const db = new Database(':memory:');
  return {
    driver: sqliteDriver(db),
    async tables() {
      const rows = db
        .prepare(
          `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_berth_migrations' ORDER BY name`,
        )
        .all() as Array<{ name: string }>;
      return rows.map((r) => r.name);
    },
    async records() {
      const rows = db
        .prepare('SELECT name, checksum, applied_at FROM _berth_migrations ORDER BY name')
        .all() as Array<{
        name: string;
        checksum: string;
        applied_at: string;
      }>;
      return rows.map((r) => ({ name: r.name, checksum: r.checksum, appliedAt: new Date(r.applied_at) }));
    },
    async close() {
      db.close();
    },
  };
});

describe('SQLite foreign keys', () => {
  // Prisma's RedefineTables: how a migration changes a column of a table others reference.
  const redefineParent = `PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_P" ("id" INTEGER NOT NULL PRIMARY KEY, "x" TEXT NOT NULL DEFAULT 'a');
INSERT INTO "new_P" ("id") SELECT "id" FROM "P";
DROP TABLE "P";
ALTER TABLE "new_P" RENAME TO "P";
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;`;
  const schema = `CREATE TABLE "P" ("id" INTEGER NOT NULL PRIMARY KEY);
CREATE TABLE "C" ("id" INTEGER NOT NULL PRIMARY KEY, "p" INTEGER NOT NULL REFERENCES "P"("id") ON DELETE CASCADE);`;
  const m = (name: string, sql: string) => ({ name, sql, checksum: checksumOf(sql) });

  it('keeps the rows that reference a table a migration rebuilds, and keys on afterwards', async () => {
    const db = new Database(':memory:');
    try {
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
      const driver = sqliteDriver(db);
      await migrate({ driver, migrations: [m('0001', schema)] });
      db.exec('INSERT INTO "P" VALUES (1); INSERT INTO "C" VALUES (10, 1);');
      await migrate({ driver, migrations: [m('0001', schema), m('0002', redefineParent)] });
      expect(db.prepare('SELECT * FROM "C"').all()).toEqual([{ id: 10, p: 1 }]);
      expect(db.prepare('SELECT * FROM "P"').all()).toEqual([{ id: 1, x: 'a' }]);
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    } finally {
      db.close();
    }
  });

  it('rolls back a migration that leaves rows pointing nowhere', async () => {
    const db = new Database(':memory:');
    try {
      const driver = sqliteDriver(db);
      await migrate({ driver, migrations: [m('0001', schema)] });
      db.exec('INSERT INTO "P" VALUES (1); INSERT INTO "C" VALUES (10, 1);');
      const orphaning = m('0002', 'DROP TABLE "P"; CREATE TABLE "P" ("id" INTEGER NOT NULL PRIMARY KEY);');
      await expect(migrate({ driver, migrations: [m('0001', schema), orphaning] })).rejects.toThrow(
        'migration 0002 failed and was rolled back: it leaves 1 row(s) violating foreign keys (first: C rowid 10 → P)',
      );
      expect(db.prepare('SELECT count(*) AS n FROM "P"').get()).toEqual({ n: 1 });
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    } finally {
      db.close();
    }
  });
});
