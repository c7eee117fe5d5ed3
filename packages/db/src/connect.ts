import { join } from 'node:path';
import { migrate } from '@berth/migrate';
import { postgresDriver } from '@berth/migrate/postgres';
import { sqliteDriver } from '@berth/migrate/sqlite';
import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import Database from 'better-sqlite3';
import pg from 'pg';
import { PrismaClient as PostgresClient } from '../generated/postgresql/client.ts';
import { PrismaClient as SqliteClient } from '../generated/sqlite/client.ts';

export type PanelDbProvider = 'sqlite' | 'postgresql';

/**
 * Where the panel DB lives: a PostgreSQL URL when one is given (DATABASE_URL), otherwise an
 * SQLite file. Bad input gets an error that names the setting.
 */
export type PanelDbLocation = { provider: 'sqlite'; file: string } | { provider: 'postgresql'; url: string };

export function panelDbLocation(databaseUrl: string | undefined, dataDir: string): PanelDbLocation {
  if (!databaseUrl) return { provider: 'sqlite', file: join(dataDir, 'panel.db') };
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) return { provider: 'postgresql', url: databaseUrl };
  if (databaseUrl.startsWith('file:')) return { provider: 'sqlite', file: databaseUrl.slice('file:'.length) };
  throw new Error('DATABASE_URL must be a postgresql:// URL or a file: path');
}

/**
 * The two generated clients come from one set of models (prisma/panel/models.prisma), so
 * their delegates have the same shape; the repositories are written once against the SQLite
 * client's types, and panel-db.test.ts runs them on both databases.
 */
export type PanelPrisma = SqliteClient;

/** Applies the committed migrations of the location's provider; returns the ones it applied. */
export async function migratePanelDb(location: PanelDbLocation, migrationsRoot: string): Promise<string[]> {
  const dir = join(migrationsRoot, location.provider, 'migrations');
  if (location.provider === 'sqlite') {
    const db = new Database(location.file);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('busy_timeout = 5000');
      return (await migrate({ driver: sqliteDriver(db), dir })).applied;
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: location.url });
  await client.connect();
  try {
    return (await migrate({ driver: postgresDriver(client), dir })).applied;
  } finally {
    await client.end();
  }
}

export function prismaFor(location: PanelDbLocation): PanelPrisma {
  if (location.provider === 'sqlite') {
    return new SqliteClient({
      adapter: new PrismaBetterSQLite3({ url: location.file, timeout: 5000 }),
    });
  }
  const client = new PostgresClient({ adapter: new PrismaPg({ connectionString: location.url }) });
  return client as unknown as PanelPrisma;
}
