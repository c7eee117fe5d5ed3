export type { AppliedMigration, Migration, MigrationDriver } from './driver.ts';
export { type MigrateOptions, type MigrateResult, MigrationError, migrate } from './migrate.ts';
export { checksumOf, readMigrations } from './read.ts';
