import type { ClientBase } from 'pg';
import { type AppliedMigration, MIGRATIONS_TABLE, type Migration, type MigrationDriver } from './driver.ts';

// pg_advisory_lock key: any constant shared by every Berth process migrating this database.
const LOCK_KEY = 0x62657274; // "bert"

/**
 * PostgreSQL through `pg`. The caller connects the client (one connection: a pool would spread
 * a transaction over several) and ends it. The migration's SQL runs as a simple query, so a
 * file with many statements runs as written; PostgreSQL's DDL is transactional, so a failing
 * migration leaves nothing behind.
 */
export function postgresDriver(client: ClientBase): MigrationDriver {
  return {
    dialect: 'postgresql',
    async lock() {
      await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
      return async () => {
        await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]);
      };
    },
    async ensureTable() {
      await client.query(
        `CREATE TABLE IF NOT EXISTS "${MIGRATIONS_TABLE}" (
          "name" TEXT NOT NULL PRIMARY KEY,
          "checksum" TEXT NOT NULL,
          "applied_at" TIMESTAMPTZ NOT NULL DEFAULT now()
        )`,
      );
    },
    async applied() {
      const res = await client.query<{ name: string; checksum: string; applied_at: Date }>(
        `SELECT "name", "checksum", "applied_at" FROM "${MIGRATIONS_TABLE}" ORDER BY "name"`,
      );
      return res.rows.map(
        (r): AppliedMigration => ({ name: r.name, checksum: r.checksum, appliedAt: r.applied_at }),
      );
    },
    async apply(m: Migration) {
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query(`INSERT INTO "${MIGRATIONS_TABLE}" ("name", "checksum") VALUES ($1, $2)`, [
          m.name,
          m.checksum,
        ]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    },
  };
}
