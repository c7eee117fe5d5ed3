import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Migration } from './driver.ts';

export function checksumOf(sql: string | Buffer): string {
  return createHash('sha256').update(sql).digest('hex');
}

/**
 * The committed migrations under `dir`, in the order they apply: each sub-folder holding a
 * `migration.sql` (Prisma's layout), sorted by name. Other files (`migration_lock.toml`) are
 * ignored; a sub-folder without `migration.sql` is an error, since it is a migration someone
 * forgot to write.
 */
export function readMigrations(dir: string): Migration[] {
  if (!existsSync(dir)) throw new Error(`migrations folder ${dir} does not exist`);
  const migrations: Migration[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const file = join(dir, entry.name, 'migration.sql');
    if (!existsSync(file)) throw new Error(`migration ${entry.name} has no migration.sql (${file})`);
    const bytes = readFileSync(file);
    migrations.push({ name: entry.name, sql: bytes.toString('utf8'), checksum: checksumOf(bytes) });
  }
  // Plain code-unit order, not locale order: Prisma's names start with a UTC timestamp.
  return migrations.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
