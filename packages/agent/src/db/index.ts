import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate } from '@berth/migrate';
import { sqliteDriver } from '@berth/migrate/sqlite';
import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3';
import Database from 'better-sqlite3';
import { PrismaClient } from '../generated/prisma/client.ts';

export type AgentDb = PrismaClient;

/**
 * The committed migrations (prisma/agent/migrations at the repository's root), found by
 * walking up from this module: it runs from src/db/ under vitest and from dist/ when bundled.
 */
export function agentMigrationsDir(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'prisma', 'agent', 'migrations');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error(`prisma/agent/migrations not found above ${from}`);
  }
}

/**
 * Open the agent's SQLite database at `file`, creating it, and bring it up to date with the
 * committed migrations before anything else touches it. The caller's umask decides the file's
 * mode (berthd runs with 077: root-only).
 */
export async function openAgentDb(file: string, migrationsDir = agentMigrationsDir()): Promise<AgentDb> {
  const raw = new Database(file);
  try {
    raw.pragma('journal_mode = WAL');
    raw.pragma('busy_timeout = 5000');
    await migrate({ driver: sqliteDriver(raw), dir: migrationsDir });
  } finally {
    raw.close();
  }
  const db = new PrismaClient({ adapter: new PrismaBetterSQLite3({ url: `file:${file}`, timeout: 5000 }) });
  // With WAL, NORMAL syncs at checkpoints instead of at every commit (measured here: 2.5 ms
  // of fsync per commit, about ten commits per container create+start+exit). A commit is
  // still atomic and survives berthd being killed, which is what the intent journal and
  // recovery rely on; only a power loss can take back the last commits, and with them every
  // container those commits were about. Per connection: set on Prisma's own.
  await db.$executeRawUnsafe('PRAGMA synchronous = NORMAL');
  return db;
}
