import type Database from 'better-sqlite3';
import { type AgentDb, type AgentSql, sqlOf, sqlTime, timeOf } from '../db/index.ts';
import type { ContainerRecord } from './service.ts';

// The container records a create, a start and an exit read and write, as statements prepared
// once on the agent DB's own connection (sqlOf): the path every container takes, where Prisma
// cost 0.35-1.3 ms per query or batch (measured), most of berthd's own time outside the
// runtime. The schema is still Prisma's (prisma/agent/schema.prisma), and so is everything
// else. Values are written as Prisma's adapter writes them: DateTime as ISO 8601 text,
// Boolean as 0/1, @updatedAt set here.

type Row = Record<string, unknown>;

function recordOf(r: Row): ContainerRecord {
  return {
    id: r.id as string,
    name: r.name as string,
    image: r.image as string,
    imageDigest: r.imageDigest as string,
    config: r.config as string,
    state: r.state as string,
    groupName: (r.groupName as string | null) ?? null,
    restartPolicy: r.restartPolicy as string,
    autostart: Boolean(r.autostart),
    autostartOrder: r.autostartOrder as number,
    labels: r.labels as string,
    idBase: (r.idBase as number | null) ?? null,
    exitCode: (r.exitCode as number | null) ?? null,
    restartCount: r.restartCount as number,
    stoppedByUser: Boolean(r.stoppedByUser),
    createdAt: timeOf(r.createdAt),
    startedAt: r.startedAt == null ? null : timeOf(r.startedAt),
    finishedAt: r.finishedAt == null ? null : timeOf(r.finishedAt),
    updatedAt: timeOf(r.updatedAt),
  };
}

export interface NewContainer {
  id: string;
  name: string;
  image: string;
  imageDigest: string;
  config: string;
  groupName: string | null;
  restartPolicy: string;
  autostart: boolean;
  autostartOrder: number;
  labels: string;
  idBase: number | null;
}

export class ContainerRecords {
  readonly sql: AgentSql;
  private readonly s: Record<
    | 'nameTaken'
    | 'idBases'
    | 'byId'
    | 'byName'
    | 'all'
    | 'configContaining'
    | 'withSpec'
    | 'deleting'
    | 'remove'
    | 'removeSnapshots'
    | 'insertIntent'
    | 'deleteIntent'
    | 'insert'
    | 'insertSpec'
    | 'created'
    | 'running'
    | 'exited',
    Database.Statement
  >;

  constructor(db: AgentDb) {
    this.sql = sqlOf(db);
    // The adapter reads integers as BigInt; these statements read them as numbers.
    const prep = (q: string) => this.sql.connection.prepare(q).safeIntegers(false);
    this.s = {
      nameTaken: prep('SELECT 1 FROM "Container" WHERE "name" = ?').pluck(),
      idBases: prep('SELECT "idBase" FROM "Container" WHERE "idBase" IS NOT NULL').pluck(),
      byId: prep('SELECT * FROM "Container" WHERE "id" = ?'),
      byName: prep('SELECT * FROM "Container" WHERE "name" = ?'),
      all: prep('SELECT * FROM "Container" ORDER BY "name"'),
      configContaining: prep('SELECT * FROM "Container" WHERE instr("config", ?) > 0'),
      withSpec: prep(
        'SELECT c.*, s."spec" AS "_spec" FROM "Container" c LEFT JOIN "ContainerSpec" s ON s."containerId" = c."id" WHERE c."id" = ?',
      ),
      deleting: prep(
        `UPDATE "Container" SET "state" = 'deleting', "stoppedByUser" = 1, "updatedAt" = ? WHERE "id" = ?`,
      ),
      // Its spec goes with it (ON DELETE CASCADE); its snapshots' rows here.
      remove: prep('DELETE FROM "Container" WHERE "id" = ?'),
      removeSnapshots: prep('DELETE FROM "Snapshot" WHERE "containerId" = ?'),
      insertIntent: prep(
        `INSERT INTO "Intent" ("op", "containerId", "data", "at") VALUES (?, ?, '{}', ?) RETURNING "id"`,
      ).pluck(),
      deleteIntent: prep('DELETE FROM "Intent" WHERE "id" = ?'),
      insert: prep(
        `INSERT INTO "Container" ("id", "name", "image", "imageDigest", "config", "state", "groupName",
           "restartPolicy", "autostart", "autostartOrder", "labels", "idBase", "createdAt", "updatedAt")
         VALUES (@id, @name, @image, @imageDigest, @config, 'creating', @groupName, @restartPolicy,
           @autostart, @autostartOrder, @labels, @idBase, @now, @now) RETURNING *`,
      ),
      insertSpec: prep('INSERT INTO "ContainerSpec" ("containerId", "spec") VALUES (?, ?)'),
      created: prep(`UPDATE "Container" SET "state" = 'created', "updatedAt" = ? WHERE "id" = ? RETURNING *`),
      running: prep(
        `UPDATE "Container" SET "state" = 'running', "startedAt" = @now, "exitCode" = NULL,
           "finishedAt" = NULL, "stoppedByUser" = 0,
           "restartCount" = CASE WHEN @restarting THEN "restartCount" ELSE 0 END, "updatedAt" = @now
         WHERE "id" = @id RETURNING *`,
      ),
      exited: prep(
        `UPDATE "Container" SET "state" = 'stopped', "exitCode" = ?, "finishedAt" = ?, "updatedAt" = ?
         WHERE "id" = ? RETURNING *`,
      ),
    };
  }

  nameTaken(name: string): Promise<boolean> {
    return this.sql.read(() => this.s.nameTaken.get(name) !== undefined);
  }

  byName(name: string): Promise<ContainerRecord | undefined> {
    return this.sql.read(() => {
      const r = this.s.byName.get(name) as Row | undefined;
      return r ? recordOf(r) : undefined;
    });
  }

  /** Every container, by name. */
  all(): Promise<ContainerRecord[]> {
    return this.sql.read(() => (this.s.all.all() as Row[]).map(recordOf));
  }

  /** The containers whose config (JSON text) contains `text`. */
  configContaining(text: string): Promise<ContainerRecord[]> {
    return this.sql.read(() => (this.s.configContaining.all(text) as Row[]).map(recordOf));
  }

  /** The record and its spec (JSON; '{}' when it has none yet). */
  withSpec(id: string): Promise<(ContainerRecord & { spec: string }) | undefined> {
    return this.sql.read(() => {
      const r = this.s.withSpec.get(id) as Row | undefined;
      return r ? { ...recordOf(r), spec: (r._spec as string | null) ?? '{}' } : undefined;
    });
  }

  byId(id: string): Promise<ContainerRecord | undefined> {
    return this.sql.read(() => {
      const r = this.s.byId.get(id) as Row | undefined;
      return r ? recordOf(r) : undefined;
    });
  }

  // The writes below are statements for one transaction (sql.transaction, or EventLog's
  // commitSql with the events about them): synchronous, each its part of a state change.

  /** The id ranges containers have. */
  idBasesNow(): Set<number> {
    return new Set(this.s.idBases.all() as number[]);
  }

  /** The create intent and the record in state creating (a unique name taken: SQLITE_CONSTRAINT_UNIQUE). */
  insertCreating(c: NewContainer): { intentId: number; record: ContainerRecord } {
    const now = sqlTime(new Date());
    const intentId = this.s.insertIntent.get('create', c.id, now) as number;
    const r = this.s.insert.get({ ...c, autostart: c.autostart ? 1 : 0, now }) as Row;
    return { intentId, record: recordOf(r) };
  }

  /** The end of a create: its spec written (once), its intent done. */
  finishCreate(id: string, spec: string, intentId: number): void {
    this.s.insertSpec.run(id, spec);
    this.s.deleteIntent.run(intentId);
  }

  /** The delete intent, the container marked deleting (and stopped on purpose). */
  startDelete(id: string): number {
    const now = sqlTime(new Date());
    const intentId = this.s.insertIntent.get('delete', id, now) as number;
    this.s.deleting.run(now, id);
    return intentId;
  }

  /** The container's rows gone (idempotent), and the intent that removed them, if any, done. */
  remove(id: string, intentId?: number): void {
    this.s.removeSnapshots.run(id);
    this.s.remove.run(id);
    if (intentId !== undefined) this.s.deleteIntent.run(intentId);
  }

  setCreated(id: string): ContainerRecord {
    return recordOf(this.s.created.get(sqlTime(new Date()), id) as Row);
  }

  /** Running from now; the restart count kept when the restart policy started it, else reset. */
  setRunning(id: string, restarting: boolean): ContainerRecord {
    return recordOf(
      this.s.running.get({ id, now: sqlTime(new Date()), restarting: restarting ? 1 : 0 }) as Row,
    );
  }

  setExited(id: string, exitCode: number): ContainerRecord {
    const now = sqlTime(new Date());
    return recordOf(this.s.exited.get(exitCode, now, now, id) as Row);
  }
}
