// The seam between the migration runner and a database. One implementation per database
// (sqlite.ts, postgres.ts); the runner in migrate.ts holds all the policy.

/** A committed migration: `<dir>/<name>/migration.sql`, as `prisma migrate diff --script` writes it. */
export interface Migration {
  /** The migration's folder name; migrations apply in ascending order of name. */
  name: string;
  sql: string;
  /** sha256 of the file's bytes, hex. */
  checksum: string;
}

/** A row of `_berth_migrations`. */
export interface AppliedMigration {
  name: string;
  checksum: string;
  appliedAt: Date;
}

export interface MigrationDriver {
  readonly dialect: 'sqlite' | 'postgresql';
  /**
   * Hold the database for the whole run, so two processes starting at once do not both apply
   * the same migration (an advisory lock on PostgreSQL; a no-op where the database is a file
   * only this process opens). Resolves to the function that releases it.
   */
  lock(): Promise<() => Promise<void>>;
  /** Create `_berth_migrations` if it does not exist. */
  ensureTable(): Promise<void>;
  /** Every recorded migration, in ascending order of name. */
  applied(): Promise<AppliedMigration[]>;
  /** In one transaction: run the migration's SQL, then record it. On error nothing stays applied. */
  apply(migration: Migration): Promise<void>;
}

export const MIGRATIONS_TABLE = '_berth_migrations';
