import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { type AgentDb, openAgentDb, sqlOf } from '../db/index.ts';
import { EventLog } from '../events/log.ts';
import { ContainerRecords } from './records.ts';

// The prepared statements write what Prisma reads back unchanged (dates, booleans, nulls), and
// their transactions never join one Prisma has open on the same connection.

let dir: string;
let db: AgentDb;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-records-'));
  db = await openAgentDb(join(dir, 'agent.db'));
});
afterEach(async () => {
  await db.$disconnect();
  rmSync(dir, { recursive: true, force: true });
});

const container = {
  id: 'c0ffee000001',
  name: 'lab',
  image: 'busybox',
  imageDigest: 'sha256:0',
  config: '{}',
  groupName: null,
  restartPolicy: 'no',
  autostart: true,
  autostartOrder: 2,
  labels: '{"a":"b"}',
  idBase: 100000,
};

test('a create, a start and an exit written by statements read back through Prisma as written', async () => {
  const records = new ContainerRecords(db);
  const { intentId, record } = await records.sql.transaction(() => records.insertCreating(container));
  expect(await db.intent.findUnique({ where: { id: intentId } })).toMatchObject({
    op: 'create',
    containerId: container.id,
  });
  expect(await db.container.findUnique({ where: { id: container.id } })).toEqual(record);
  expect(record).toMatchObject({ ...container, state: 'creating', exitCode: null, stoppedByUser: false });

  const running = await records.sql.transaction(() => {
    records.finishCreate(container.id, '{"ociVersion":"1.0.2"}', intentId);
    return records.setRunning(container.id, false);
  });
  expect(await db.intent.count()).toBe(0);
  expect((await db.containerSpec.findUnique({ where: { containerId: container.id } }))?.spec).toBe(
    '{"ociVersion":"1.0.2"}',
  );
  expect(await db.container.findUnique({ where: { id: container.id } })).toEqual(running);
  expect(running.startedAt).toBeInstanceOf(Date);

  const events = new EventLog(db, 100);
  const { result: stopped, events: told } = await events.commitSql(
    () => records.setExited(container.id, 137),
    [['container.exited', { subject: 'lab', data: { id: container.id, exitCode: 137, signal: 9 } }]],
  );
  expect(stopped).toMatchObject({ state: 'stopped', exitCode: 137 });
  expect(await db.container.findUnique({ where: { id: container.id } })).toEqual(stopped);
  expect(await events.list({ after: 0 })).toEqual(told);
  expect(await records.byId(container.id)).toEqual(stopped);
  expect(await records.byName('lab')).toEqual(stopped);
  expect(await records.configContaining('{}')).toEqual([stopped]);
  expect(await records.all()).toEqual([stopped]);
  expect(await records.configContaining('"network":"container:lab"')).toEqual([]);
  expect(await records.withSpec(container.id)).toEqual({ ...stopped, spec: '{"ociVersion":"1.0.2"}' });

  // A delete: its intent and the state first, then the rows (spec and snapshots with them).
  await db.snapshot.create({ data: { id: 's1', containerId: container.id, name: 'snap' } });
  const deleting = await records.sql.transaction(() => records.startDelete(container.id));
  expect(await db.intent.findUnique({ where: { id: deleting } })).toMatchObject({ op: 'delete' });
  expect(await db.container.findUnique({ where: { id: container.id } })).toMatchObject({
    state: 'deleting',
    stoppedByUser: true,
  });
  await records.sql.transaction(() => records.remove(container.id, deleting));
  expect(await records.withSpec(container.id)).toBeUndefined();
  expect([await db.containerSpec.count(), await db.snapshot.count(), await db.intent.count()]).toEqual([
    0, 0, 0,
  ]);
});

test("a statement transaction waits for Prisma's open transaction instead of joining it", async () => {
  const records = new ContainerRecords(db);
  let release!: () => void;
  const held = new Promise<void>((r) => {
    release = r;
  });
  // A Prisma transaction that writes, then waits, then fails: its write is rolled back.
  const prisma = db
    .$transaction(async (tx) => {
      await tx.agentMeta.create({ data: { key: 'rolled-back', value: 'x' } });
      await held;
      throw new Error('no');
    })
    .catch(() => 'rolled back');
  await new Promise((r) => setTimeout(r, 20));
  expect(sqlOf(db).connection.inTransaction).toBe(true);
  const ours = records.sql.transaction(() => records.insertCreating(container));
  await new Promise((r) => setTimeout(r, 20));
  release();
  expect(await prisma).toBe('rolled back');
  await ours;
  expect(await db.agentMeta.findUnique({ where: { key: 'rolled-back' } })).toBeNull();
  expect((await db.container.findUnique({ where: { id: container.id } }))?.name).toBe('lab');
});
