import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { migrate } from '@berth/migrate';
import { sqliteDriver } from '@berth/migrate/sqlite';
import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3';
import Database from 'better-sqlite3';
import { PrismaClient } from '../generated/prisma/client.ts';

export type AgentDb = PrismaClient;

/**
 * Prisma's driver adapter for better-sqlite3, keeping the connection it opens: berthd's hot
 * paths (a container's create, start and exit) run their few statements on that same
 * connection, prepared once, without Prisma's per-query cost (measured here: 0.35-1.3 ms per
 * query or batch through Prisma, 0.03 ms as a prepared statement). One connection, so one
 * writer: see sqlOf.
 */
class KeepingAdapter extends PrismaBetterSQLite3 {
  connection?: Database.Database;
  /** Run when Prisma closes the connection ($disconnect). */
  onDispose?: () => Promise<void>;
  override async connect(): ReturnType<PrismaBetterSQLite3['connect']> {
    const adapter = await super.connect();
    this.connection = (adapter as unknown as { client?: Database.Database }).client;
    const dispose = adapter.dispose.bind(adapter);
    adapter.dispose = async () => {
      await this.onDispose?.();
      return dispose();
    };
    return adapter;
  }
}

const connections = new WeakMap<AgentDb, AgentSql>();

/** The agent DB's own SQLite connection (the one Prisma uses), for prepared statements. */
export interface AgentSql {
  readonly connection: Database.Database;
  /**
   * Runs `fn` (synchronous statements only) as one transaction on the connection, once no
   * Prisma transaction is open on it: Prisma's transactions span awaits, and a statement run
   * meanwhile would join (and commit or roll back with) Prisma's. Nothing else can run
   * during `fn`, so nothing joins it either.
   */
  transaction<T>(fn: () => T): Promise<T>;
  /** Runs `fn` (reads) once no Prisma transaction is open (its uncommitted writes unseen). */
  read<T>(fn: () => T): Promise<T>;
}

export function sqlOf(db: AgentDb): AgentSql {
  const sql = connections.get(db);
  if (!sql) throw new Error('sqlOf: not a database opened by openAgentDb');
  return sql;
}

/** A DateTime as Prisma's better-sqlite3 adapter stores it. */
export const sqlTime = (d: Date): string => d.toISOString().replace('Z', '+00:00');

/** A DateTime column back: ISO text, SQLite's CURRENT_TIMESTAMP (UTC) or Unix milliseconds. */
export function timeOf(v: unknown): Date {
  if (typeof v === 'number') return new Date(v);
  const s = String(v);
  return new Date(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?$/.test(s) ? `${s.replace(' ', 'T')}Z` : s);
}

async function outsidePrismaTransactions(connection: Database.Database): Promise<void> {
  while (connection.inTransaction) await new Promise((r) => setImmediate(r));
}

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
export async function openAgentDb(
  file: string,
  migrationsDir = agentMigrationsDir(),
  /** checkpointEveryMs: WAL checkpoints in a worker thread at this period (berthd: 1000). */
  opts: { checkpointEveryMs?: number } = {},
): Promise<AgentDb> {
  const raw = new Database(file);
  try {
    raw.pragma('journal_mode = WAL');
    raw.pragma('busy_timeout = 5000');
    await migrate({ driver: sqliteDriver(raw), dir: migrationsDir });
  } finally {
    raw.close();
  }
  const adapter = new KeepingAdapter({ url: `file:${file}`, timeout: 5000 });
  const db = new PrismaClient({ adapter });
  // With WAL, NORMAL syncs at checkpoints instead of at every commit (measured here: 2.5 ms
  // of fsync per commit, about ten commits per container create+start+exit). A commit is
  // still atomic and survives berthd being killed, which is what the intent journal and
  // recovery rely on; only a power loss can take back the last commits, and with them every
  // container those commits were about. Per connection: set on Prisma's own.
  await db.$executeRawUnsafe('PRAGMA synchronous = NORMAL');
  const connection = adapter.connection;
  if (typeof connection?.prepare !== 'function')
    throw new Error("the agent DB: Prisma's better-sqlite3 adapter did not keep its connection");
  if (opts.checkpointEveryMs !== undefined)
    adapter.onDispose = checkpointInBackground(file, connection, opts.checkpointEveryMs);
  connections.set(db, {
    connection,
    async transaction(fn) {
      await outsidePrismaTransactions(connection);
      return connection.transaction(fn).immediate();
    },
    async read(fn) {
      await outsidePrismaTransactions(connection);
      return fn();
    },
  });
  return db;
}

/**
 * WAL checkpoints (the WAL's pages copied into the database file, and both synced: with
 * synchronous = NORMAL the only fsyncs there are) on a connection of their own in a worker
 * thread, every `everyMs`, rather than on berthd's connection whenever a commit takes the WAL
 * past 1000 pages: about every 26 containers created, started, exited and deleted, that commit
 * stalled berthd's event loop for the checkpoint (4-9 ms measured here). PASSIVE: it never
 * waits for, nor holds up, berthd's writes. Should the worker fail, berthd's connection
 * checkpoints itself again. Returns what stops it.
 */
function checkpointInBackground(
  file: string,
  connection: Database.Database,
  everyMs: number,
): () => Promise<void> {
  connection.pragma('wal_autocheckpoint = 0');
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const Database = require(workerData.driver);
     const db = new Database(workerData.file, { fileMustExist: true });
     db.pragma('synchronous = NORMAL');
     const timer = setInterval(() => db.pragma('wal_checkpoint(PASSIVE)'), workerData.everyMs);
     parentPort.on('message', () => {
       clearInterval(timer);
       db.close();
       parentPort.close();
     });`,
    {
      eval: true,
      workerData: {
        driver: createRequire(import.meta.url).resolve('better-sqlite3'),
        file,
        everyMs,
      },
    },
  );
  worker.unref();
  let stopped = false;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.once('error', (e) => {
    console.error(`berthd: the database's checkpoints: ${e.message}; made by berthd's connection again`);
  });
  worker.once('exit', () => {
    if (!stopped && connection.open) connection.pragma('wal_autocheckpoint = 1000');
  });
  return async () => {
    stopped = true;
    worker.postMessage('stop');
    await exited;
  };
}
