import type { Database } from 'better-sqlite3';
import { type AppliedMigration, MIGRATIONS_TABLE, type Migration, type MigrationDriver } from './driver.ts';

/**
 * SQLite through better-sqlite3 (12.x; 13 crashes on Node 20). The caller opens and closes the
 * database. better-sqlite3 is synchronous; the driver wraps it in the async interface.
 */
export function sqliteDriver(db: Database): MigrationDriver {
  return {
    dialect: 'sqlite',
    // Each migration runs in BEGIN IMMEDIATE, which takes SQLite's write lock; a second
    // process waits on it (busy_timeout) and then sees the migration recorded.
    async lock() {
      return async () => {};
    },
    async ensureTable() {
      db.exec(
        `CREATE TABLE IF NOT EXISTS "${MIGRATIONS_TABLE}" (
          "name" TEXT NOT NULL PRIMARY KEY,
          "checksum" TEXT NOT NULL,
          "applied_at" TEXT NOT NULL
        )`,
      );
    },
    async applied() {
      const rows = db
        .prepare(`SELECT "name", "checksum", "applied_at" FROM "${MIGRATIONS_TABLE}" ORDER BY "name"`)
        .all() as Array<{ name: string; checksum: string; applied_at: string }>;
      return rows.map(
        (r): AppliedMigration => ({ name: r.name, checksum: r.checksum, appliedAt: new Date(r.applied_at) }),
      );
    },
    async apply(m: Migration) {
      const record = db.prepare(
        `INSERT INTO "${MIGRATIONS_TABLE}" ("name", "checksum", "applied_at") VALUES (?, ?, ?)`,
      );
      const run = db.transaction(() => {
        // Another process may have applied it while this one waited for the write lock.
        const seen = db.prepare(`SELECT 1 FROM "${MIGRATIONS_TABLE}" WHERE "name" = ?`).get(m.name);
        if (seen) return;
        db.exec(m.sql);
        const broken = db.pragma('foreign_key_check') as Array<{
          table: string;
          rowid: number;
          parent: string;
        }>;
        if (broken.length > 0) {
          const first = broken[0]!;
          throw new Error(
            `it leaves ${broken.length} row(s) violating foreign keys (first: ${first.table} rowid ${first.rowid} → ${first.parent})`,
          );
        }
        record.run(m.name, m.checksum, new Date().toISOString());
      });
      // Prisma rebuilds a table (RedefineTables) by copy, DROP and rename between
      // "PRAGMA foreign_keys=OFF/ON", but that pragma is a no-op inside a transaction, and
      // with keys on the DROP would cascade-delete the rows that reference the table. So
      // keys go off around the transaction (as Prisma and Rails do) and
      // foreign_key_check above stands in for them.
      const keysWereOn = db.pragma('foreign_keys', { simple: true }) === 1;
      if (keysWereOn) db.pragma('foreign_keys = OFF');
      try {
        run.immediate();
      } finally {
        if (keysWereOn) db.pragma('foreign_keys = ON');
      }
    },
  };
}
