import { EventEmitter } from 'node:events';
import type { AgentEventInfo, EventKind } from '@berth/contracts';
import type Database from 'better-sqlite3';
import { type AgentDb, type AgentSql, sqlOf, sqlTime, timeOf } from '../db/index.ts';
import type { Prisma } from '../generated/prisma/client.ts';

// The agent's event log: every event is a row in AgentEvent (its id is the cursor) and is
// then told to live watchers. History is bounded: beyond `history` rows the oldest go.

/**
 * Live events a watcher holds while its consumer (a subscriber whose socket is full) does not
 * take them; past this many it drops them and catches up from the DB when it is pulled again.
 */
export const WATCH_QUEUE_MAX = 5000;

export interface EventInput {
  actor?: string;
  subject?: string;
  data?: Record<string, unknown>;
}

export class EventLog {
  private readonly emitter = new EventEmitter();
  private appended = 0;
  private sql?: { db: AgentSql; insert: Database.Statement };
  private reads?: { after: Database.Statement; afterSubject: Database.Statement; newest: Database.Statement };

  constructor(
    private readonly db: AgentDb,
    private readonly history: number,
  ) {
    this.emitter.setMaxListeners(0);
  }

  async append(kind: EventKind, e: EventInput = {}): Promise<AgentEventInfo> {
    const [info] = (await this.commit([], [[kind, e]])).events;
    return info!;
  }

  /**
   * `writes` and the events about them in one transaction (one commit), then the events told to
   * watchers: nobody hears of a change before it is recorded. Resolves with the writes' results.
   */
  async commit(
    writes: Array<Prisma.PrismaPromise<unknown>>,
    events: Array<[EventKind, EventInput]>,
  ): Promise<{ results: unknown[]; events: AgentEventInfo[] }> {
    const insert = this.db.agentEvent.createManyAndReturn({
      data: events.map(([kind, e]) => ({
        kind,
        data: JSON.stringify(e.data ?? {}),
        actor: e.actor ?? null,
        subject: e.subject ?? null,
      })),
    });
    const done = writes.length > 0 ? await this.db.$transaction([...writes, insert]) : [await insert];
    const rows = done.at(-1) as Awaited<typeof insert>;
    const infos = rows.sort((a, b) => a.id - b.id).map(toInfo);
    await this.told(infos);
    return { results: done.slice(0, -1), events: infos };
  }

  /**
   * As commit, for writes that are synchronous statements on the DB's own connection (sqlOf):
   * `write` and the events' rows in one transaction, then the events told to watchers.
   */
  async commitSql<T>(
    write: () => T,
    events: Array<[EventKind, EventInput]>,
  ): Promise<{ result: T; events: AgentEventInfo[] }> {
    this.sql ??= {
      db: sqlOf(this.db),
      insert: sqlOf(this.db)
        .connection.prepare(
          'INSERT INTO "AgentEvent" ("at", "kind", "data", "actor", "subject") VALUES (?, ?, ?, ?, ?) RETURNING "id"',
        )
        .pluck()
        .safeIntegers(false),
    };
    const { insert } = this.sql;
    const [result, infos] = await this.sql.db.transaction(() => {
      const result = write();
      const at = new Date();
      const infos = events.map(([kind, e]): AgentEventInfo => {
        const data = JSON.stringify(e.data ?? {});
        const id = insert.get(sqlTime(at), kind, data, e.actor ?? null, e.subject ?? null) as number;
        // As read back from the row (what a watcher resuming from the DB gets).
        const info = { id, at: at.toISOString(), kind, actor: e.actor ?? null, subject: e.subject ?? null };
        return { ...info, data: JSON.parse(data) as Record<string, unknown> };
      });
      return [result, infos] as const;
    });
    await this.told(infos);
    return { result, events: infos };
  }

  /** Recorded events to live watchers; the history pruned every 500 events. */
  private async told(infos: AgentEventInfo[]): Promise<void> {
    for (const info of infos) this.emitter.emit('event', info);
    const before = this.appended;
    this.appended += infos.length;
    if (Math.floor(this.appended / 500) > Math.floor(before / 500)) await this.prune();
  }

  async prune(): Promise<void> {
    const cutoff = await this.db.agentEvent.findFirst({
      orderBy: { id: 'desc' },
      skip: this.history,
      select: { id: true },
    });
    if (cutoff) await this.db.agentEvent.deleteMany({ where: { id: { lte: cutoff.id } } });
  }

  /**
   * Kept events after a cursor, oldest first: prepared statements on the DB's own connection
   * (each watcher reads its backlog when it starts; through Prisma that was 0.35-1.3 ms of the
   * agent's one thread, while a create was under way).
   */
  async list(opts: { after?: number; subject?: string; limit?: number } = {}): Promise<AgentEventInfo[]> {
    const sql = sqlOf(this.db);
    const reads = this.prepared(sql);
    const after = opts.after ?? 0;
    const limit = opts.limit ?? 1000;
    const rows = await sql.read(
      () =>
        (opts.subject === undefined
          ? reads.after.all(after, limit)
          : reads.afterSubject.all(after, opts.subject, limit)) as EventRow[],
    );
    return rows.map((r) => toInfo({ ...r, at: timeOf(r.at) }));
  }

  private prepared(sql: AgentSql): NonNullable<EventLog['reads']> {
    const columns = 'SELECT "id", "at", "kind", "data", "actor", "subject" FROM "AgentEvent"';
    this.reads ??= {
      after: sql.connection.prepare(`${columns} WHERE "id" > ? ORDER BY "id" LIMIT ?`).safeIntegers(false),
      afterSubject: sql.connection
        .prepare(`${columns} WHERE "id" > ? AND "subject" = ? ORDER BY "id" LIMIT ?`)
        .safeIntegers(false),
      newest: sql.connection.prepare('SELECT max("id") FROM "AgentEvent"').pluck().safeIntegers(false),
    };
    return this.reads;
  }

  /**
   * Events after `after` (from the DB), then live ones, in id order without gaps or repeats,
   * until `signal` aborts. Live events that arrive while the backlog is read are buffered.
   */
  async *watch(opts: {
    after?: number;
    subject?: string;
    signal?: AbortSignal;
    /** Live events held for a consumer that does not take them (default WATCH_QUEUE_MAX). */
    maxQueued?: number;
  }): AsyncGenerator<AgentEventInfo> {
    const maxQueued = opts.maxQueued ?? WATCH_QUEUE_MAX;
    const queue: AgentEventInfo[] = [];
    // The consumer fell behind: the queue was dropped, and the events are read from the DB.
    let overflowed = false;
    let wake: (() => void) | undefined;
    const onEvent = (e: AgentEventInfo) => {
      if (opts.subject !== undefined && e.subject !== opts.subject) return;
      if (queue.length >= maxQueued) {
        overflowed = true;
        queue.length = 0;
      } else if (!overflowed) queue.push(e);
      wake?.();
    };
    const onAbort = () => wake?.();
    this.emitter.on('event', onEvent);
    opts.signal?.addEventListener('abort', onAbort);
    try {
      let last = opts.after;
      if (last === undefined) {
        const sql = sqlOf(this.db);
        const newest = this.prepared(sql).newest;
        last = ((await sql.read(() => newest.get())) as number | null) ?? 0;
      }
      while (!opts.signal?.aborted) {
        overflowed = false;
        queue.length = 0;
        // The kept events after `last` (the backlog, or what a slow consumer missed), then
        // the live ones; those told meanwhile are queued, and skipped when already read.
        for (;;) {
          const backlog = await this.list({ after: last, subject: opts.subject, limit: 500 });
          for (const e of backlog) {
            last = e.id;
            yield e;
          }
          if (backlog.length < 500) break;
        }
        while (!opts.signal?.aborted && !overflowed) {
          const e = queue.shift();
          if (!e) {
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
            wake = undefined;
            continue;
          }
          if (e.id <= last) continue;
          last = e.id;
          yield e;
        }
      }
    } finally {
      this.emitter.off('event', onEvent);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }
}

interface EventRow {
  id: number;
  at: unknown;
  kind: string;
  data: string;
  actor: string | null;
  subject: string | null;
}

function toInfo(row: {
  id: number;
  at: Date;
  kind: string;
  data: string;
  actor: string | null;
  subject: string | null;
}): AgentEventInfo {
  let data: Record<string, unknown> = {};
  try {
    data = JSON.parse(row.data) as Record<string, unknown>;
  } catch {
    // a row written by hand; keep the event, drop the details
  }
  return {
    id: row.id,
    at: row.at.toISOString(),
    kind: row.kind,
    actor: row.actor,
    subject: row.subject,
    data,
  };
}
