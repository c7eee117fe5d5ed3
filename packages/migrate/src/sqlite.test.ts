import Database from 'better-sqlite3';
import { describeDriver } from './driver-suite.ts';
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
