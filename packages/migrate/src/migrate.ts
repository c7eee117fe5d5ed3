import type { Migration, MigrationDriver } from './driver.ts';
import { readMigrations } from './read.ts';

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

export interface MigrateOptions {
  driver: MigrationDriver;
  /** A folder of Prisma-layout migrations; or give `migrations` directly. */
  dir?: string;
  migrations?: Migration[];
  /** Called once per migration applied. */
  onApplied?: (name: string) => void;
}

export interface MigrateResult {
  /** Names applied by this run, in order. */
  applied: string[];
  /** Names that were already applied before this run. */
  alreadyApplied: string[];
}

/**
 * Apply the pending migrations, each in its own transaction, recording each in
 * `_berth_migrations`. Before applying anything, refuses (and changes nothing) when the
 * database does not match the committed files: an applied migration whose file changed, or
 * an applied migration that no longer exists (a database newer than this code).
 */
export async function migrate(opts: MigrateOptions): Promise<MigrateResult> {
  const migrations = opts.migrations ?? (opts.dir !== undefined ? readMigrations(opts.dir) : undefined);
  if (!migrations) throw new MigrationError('migrate: give either `dir` or `migrations`');
  const { driver } = opts;
  const release = await driver.lock();
  try {
    await driver.ensureTable();
    const applied = await driver.applied();
    const byName = new Map(migrations.map((m) => [m.name, m]));
    for (const done of applied) {
      const file = byName.get(done.name);
      if (!file) {
        throw new MigrationError(
          `migration ${done.name} is applied to the database but missing from the migrations folder; ` +
            'the database is newer than this version of Berth',
        );
      }
      if (file.checksum !== done.checksum) {
        throw new MigrationError(
          `migration ${done.name} was changed after it was applied (checksum ${done.checksum} in the ` +
            `database, ${file.checksum} on disk); committed migrations must never be edited`,
        );
      }
    }
    const appliedNames = new Set(applied.map((a) => a.name));
    const pending = migrations.filter((m) => !appliedNames.has(m.name));
    const done: string[] = [];
    for (const m of pending) {
      try {
        await driver.apply(m);
      } catch (err) {
        throw new MigrationError(
          `migration ${m.name} failed and was rolled back: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      done.push(m.name);
      opts.onApplied?.(m.name);
    }
    return { applied: done, alreadyApplied: applied.map((a) => a.name) };
  } finally {
    await release();
  }
}
