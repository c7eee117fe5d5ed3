import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EndpointRecord, emptyState, type NetState } from '@berth/runtime/net';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { type AgentDb, openAgentDb } from '../db/index.ts';
import { DbNetStateStore, migrateNetworkFile } from './store.ts';

let dir: string;
let db: AgentDb;
const stores: DbNetStateStore[] = [];
const open = (): DbNetStateStore => {
  const s = new DbNetStateStore(join(dir, 'agent.db'));
  stores.push(s);
  return s;
};

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-netstore-'));
  db = await openAgentDb(join(dir, 'agent.db'));
});
afterEach(async () => {
  for (const s of stores.splice(0)) s.close();
  await db.$disconnect();
  rmSync(dir, { recursive: true, force: true });
});

const ep = (containerId: string, ip: string, extra: Partial<EndpointRecord> = {}): EndpointRecord => ({
  containerId,
  network: 'blue',
  hostIf: `vb${containerId}`,
  ip,
  mac: `02:42:0a:00:00:${ip.split('.')[3]!.padStart(2, '0')}`,
  hostname: containerId,
  aliases: ['www'],
  ports: [{ protocol: 'tcp', hostAddress: '0.0.0.0', hostPort: 8080, containerPort: 80 }],
  createdAt: '2026-11-29T00:00:00.000Z',
  ...extra,
});

const sample = (): NetState => ({
  ...emptyState(),
  networks: {
    blue: {
      name: 'blue',
      bridge: 'br-blue',
      subnet: '10.9.0.0/24',
      gateway: '10.9.0.1',
      subnet6: 'fd00:1::/64',
      gateway6: 'fd00:1::1',
      mtu: 1500,
      isolated: false,
      domain: 'berth.internal',
      ipamCursor: '2',
      createdAt: '2026-11-29T00:00:00.000Z',
    },
  },
  endpoints: { a: ep('a', '10.9.0.2', { ip6: 'fd00:1::2', rateLimit: { egressBps: 8000 } }) },
  savedSysctls: { 'net/ipv4/ip_forward': '0' },
});

test('writes commit with synchronous FULL on its own connection, and read back whole', async () => {
  const s = open();
  expect(s.synchronous()).toBe(2);
  expect(await s.read()).toEqual(emptyState());
  expect(s.hasState()).toBe(false);
  await s.write(sample());
  expect(s.hasState()).toBe(true);
  expect(await open().read()).toEqual(sample());
  // Prisma sees the same rows (the schema and the store agree).
  expect(await db.networkEndpoint.findMany()).toMatchObject([
    { containerId: 'a', ip: '10.9.0.2', network: 'blue' },
  ]);
  // Prisma's own connection keeps NORMAL.
  const [sync] = await db.$queryRawUnsafe<Array<{ synchronous: bigint }>>('PRAGMA synchronous');
  expect(Number(sync?.synchronous)).toBe(1);
});

test('a diff: released leases go, changed rows change, the rest stays', async () => {
  const s = open();
  await s.read();
  await s.write(sample());
  const next = sample();
  next.endpoints.b = ep('b', '10.9.0.3');
  next.networks.blue!.ipamCursor = '3';
  delete next.savedSysctls;
  await s.write(next);
  expect(await open().read()).toEqual(next);
  delete next.endpoints.a;
  await s.write(next);
  expect(Object.keys((await open().read()).endpoints)).toEqual(['b']);
  delete next.endpoints.b;
  delete next.networks.blue;
  await s.write(next);
  expect(await open().read()).toEqual(emptyState());
});

test('the database refuses an address handed out twice, and the write changes nothing', async () => {
  const s = open();
  await s.read();
  await s.write(sample());
  const twice = sample();
  twice.endpoints.b = ep('b', '10.9.0.2', { mac: '02:42:0a:00:00:99' });
  twice.networks.blue!.ipamCursor = '9';
  await expect(s.write(twice)).rejects.toThrow(
    /UNIQUE constraint failed: NetworkEndpoint\.network, NetworkEndpoint\.ip/,
  );
  expect(await open().read()).toEqual(sample());
  // A lease on a network that does not exist is refused too (the foreign key).
  const orphan = sample();
  orphan.endpoints.c = ep('c', '10.9.0.4', { network: 'nowhere' });
  await expect(s.write(orphan)).rejects.toThrow(/FOREIGN KEY/);
});

test('waits for a write lock another connection holds, without blocking the event loop', async () => {
  const s = open();
  await s.read();
  await db.$executeRawUnsafe('BEGIN IMMEDIATE');
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  let settled = false;
  const done = s.write(sample()).finally(() => {
    settled = true;
  });
  // The loop keeps turning while the write waits (a loaded machine may take a while to tick),
  // and the write is still waiting: a blocking wait would have run out before returning.
  const since = Date.now();
  while (ticks < 5 && Date.now() - since < 10_000) await new Promise((r) => setTimeout(r, 5));
  expect(ticks).toBeGreaterThanOrEqual(5);
  expect(settled).toBe(false);
  await db.$executeRawUnsafe('COMMIT');
  await done;
  clearInterval(timer);
  expect(await open().read()).toEqual(sample());
});

test('moves a network.json into the DB once, and renames it away', async () => {
  const file = join(dir, 'network.json');
  writeFileSync(file, JSON.stringify(sample()));
  const s = open();
  expect(await migrateNetworkFile(file, s)).toBe(true);
  expect(existsSync(file)).toBe(false);
  expect(existsSync(`${file}.migrated`)).toBe(true);
  expect(await open().read()).toEqual(sample());
  expect(await migrateNetworkFile(file, s)).toBe(false);
  // A crash after the write but before the rename: the DB's state is kept, the file goes.
  const stale = sample();
  stale.endpoints = {};
  writeFileSync(file, JSON.stringify(stale));
  expect(await migrateNetworkFile(file, open())).toBe(true);
  expect(await open().read()).toEqual(sample());
});
