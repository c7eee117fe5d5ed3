// The network state (@berth/runtime/net's NetState: networks, IPAM leases, the host's saved
// sysctls) in the agent DB, tables Network, NetworkEndpoint and NetworkSavedSysctl.
//
// Durability. The agent DB runs WAL with synchronous=NORMAL (db/index.ts): a commit survives
// berthd being killed but not a power loss. A lease must survive both before its address
// carries a packet (the manager brings the link up only after write() resolves), or IPAM could
// hand it out again after a power cut while the old holder still uses it. SQLite's synchronous
// level is per connection and cannot change inside a transaction ("Safety level may not be
// changed inside a transaction"), and Prisma's single connection may be inside someone else's
// transaction at any moment, so this store keeps a connection of its own with
// synchronous=FULL: in WAL mode FULL syncs the WAL after each commit, which makes this commit
// durable together with every earlier commit of any connection (the WAL is one file, synced
// whole). Its transactions are synchronous (better-sqlite3), so it never holds the write lock
// across a turn of the event loop; when Prisma's connection holds it, the write is retried
// after a pause instead of blocking the loop in SQLite's busy handler (which would also block
// the very transaction it waits for).
//
// Writes are diffs against what the store last wrote, in one immediate transaction: attaching
// a container writes one row. The unique indexes (network+ip, network+ip6, network+mac, hostIf)
// are IPAM's last line: the database refuses an address handed out twice.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  type EndpointRecord,
  emptyState,
  type NetState,
  type NetStateStore,
  type NetworkRecord,
} from '@berth/runtime/net';
import Database from 'better-sqlite3';

type Row = Record<string, string | number | bigint | null>;

const networkRow = (n: NetworkRecord): Row => ({
  name: n.name,
  bridge: n.bridge,
  subnet: n.subnet,
  gateway: n.gateway,
  subnet6: n.subnet6 ?? null,
  gateway6: n.gateway6 ?? null,
  mtu: n.mtu,
  isolated: n.isolated ? 1 : 0,
  domain: n.domain,
  ipamCursor: n.ipamCursor,
  createdAt: n.createdAt,
});

const endpointRow = (e: EndpointRecord): Row => ({
  containerId: e.containerId,
  network: e.network,
  hostIf: e.hostIf,
  ip: e.ip,
  ip6: e.ip6 ?? null,
  mac: e.mac,
  hostname: e.hostname,
  aliases: JSON.stringify(e.aliases),
  ports: JSON.stringify(e.ports),
  rateLimit: e.rateLimit ? JSON.stringify(e.rateLimit) : null,
  createdAt: e.createdAt,
});

function networkOf(r: Row): NetworkRecord {
  return {
    name: String(r.name),
    bridge: String(r.bridge),
    subnet: String(r.subnet),
    gateway: String(r.gateway),
    ...(r.subnet6 !== null ? { subnet6: String(r.subnet6) } : {}),
    ...(r.gateway6 !== null ? { gateway6: String(r.gateway6) } : {}),
    mtu: Number(r.mtu),
    isolated: Number(r.isolated) === 1,
    domain: String(r.domain),
    ipamCursor: String(r.ipamCursor),
    createdAt: String(r.createdAt),
  };
}

function endpointOf(r: Row): EndpointRecord {
  return {
    containerId: String(r.containerId),
    network: String(r.network),
    hostIf: String(r.hostIf),
    ip: String(r.ip),
    ...(r.ip6 !== null ? { ip6: String(r.ip6) } : {}),
    mac: String(r.mac),
    hostname: String(r.hostname),
    aliases: JSON.parse(String(r.aliases)) as string[],
    ports: JSON.parse(String(r.ports)) as EndpointRecord['ports'],
    ...(r.rateLimit !== null
      ? { rateLimit: JSON.parse(String(r.rateLimit)) as EndpointRecord['rateLimit'] }
      : {}),
    createdAt: String(r.createdAt),
  };
}

/** Columns → `INSERT ... ON CONFLICT(pk) DO UPDATE`: never REPLACE, which would delete a row
 * that clashes on another unique index (another container's lease) instead of refusing. */
function upsertSql(table: string, pk: string, cols: string[]): string {
  const set = cols.filter((c) => c !== pk).map((c) => `"${c}" = excluded."${c}"`);
  return `INSERT INTO "${table}" (${cols.map((c) => `"${c}"`).join(', ')}) VALUES (${cols
    .map((c) => `@${c}`)
    .join(', ')}) ON CONFLICT("${pk}") DO UPDATE SET ${set.join(', ')}`;
}

/** What the store has written, row by row (JSON per key), to diff the next state against. */
interface Written {
  networks: Map<string, string>;
  endpoints: Map<string, string>;
  sysctls: Map<string, string>;
}

const BUSY_RETRY_MS = 2;
const BUSY_GIVE_UP_MS = 10_000;

export class DbNetStateStore implements NetStateStore {
  private readonly db: Database.Database;
  private written: Written = { networks: new Map(), endpoints: new Map(), sysctls: new Map() };
  private readonly stmt;

  /** `file`: the agent DB, migrated already (openAgentDb). */
  constructor(readonly file: string) {
    // timeout 0: a busy database is retried by write() without blocking the event loop.
    this.db = new Database(file, { timeout: 0 });
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    const net = Object.keys(networkRow({} as NetworkRecord));
    const ep = Object.keys(endpointRow({ aliases: [], ports: [] } as unknown as EndpointRecord));
    this.stmt = {
      upsertNetwork: this.db.prepare(upsertSql('Network', 'name', net)),
      deleteNetwork: this.db.prepare('DELETE FROM "Network" WHERE "name" = ?'),
      upsertEndpoint: this.db.prepare(upsertSql('NetworkEndpoint', 'containerId', ep)),
      deleteEndpoint: this.db.prepare('DELETE FROM "NetworkEndpoint" WHERE "containerId" = ?'),
      upsertSysctl: this.db.prepare(upsertSql('NetworkSavedSysctl', 'key', ['key', 'value'])),
      deleteSysctl: this.db.prepare('DELETE FROM "NetworkSavedSysctl" WHERE "key" = ?'),
    };
  }

  /** The connection's synchronous level (2 = FULL), for tests. */
  synchronous(): number {
    return Number(this.db.pragma('synchronous', { simple: true }));
  }

  /** Whether any network is recorded. */
  hasState(): boolean {
    return this.db.prepare('SELECT 1 FROM "Network" LIMIT 1').get() !== undefined;
  }

  async read(): Promise<NetState> {
    const state = emptyState();
    for (const r of this.db.prepare('SELECT * FROM "Network"').all() as Row[]) {
      const n = networkOf(r);
      state.networks[n.name] = n;
    }
    for (const r of this.db.prepare('SELECT * FROM "NetworkEndpoint"').all() as Row[]) {
      const e = endpointOf(r);
      state.endpoints[e.containerId] = e;
    }
    const sysctls = this.db.prepare('SELECT * FROM "NetworkSavedSysctl"').all() as Array<{
      key: string;
      value: string;
    }>;
    if (sysctls.length) state.savedSysctls = Object.fromEntries(sysctls.map((s) => [s.key, s.value]));
    this.written = written(state);
    return state;
  }

  async write(state: NetState): Promise<void> {
    const next = written(state);
    const prev = this.written;
    const apply = this.db.transaction(() => {
      // Leases go before the networks they are on, and come after them (the foreign key).
      for (const id of prev.endpoints.keys()) if (!next.endpoints.has(id)) this.stmt.deleteEndpoint.run(id);
      for (const k of prev.sysctls.keys()) if (!next.sysctls.has(k)) this.stmt.deleteSysctl.run(k);
      for (const [name, json] of next.networks)
        if (prev.networks.get(name) !== json) this.stmt.upsertNetwork.run(networkRow(state.networks[name]!));
      for (const [id, json] of next.endpoints)
        if (prev.endpoints.get(id) !== json) this.stmt.upsertEndpoint.run(endpointRow(state.endpoints[id]!));
      for (const [k, v] of next.sysctls)
        if (prev.sysctls.get(k) !== v) this.stmt.upsertSysctl.run({ key: k, value: v });
      for (const name of prev.networks.keys())
        if (!next.networks.has(name)) this.stmt.deleteNetwork.run(name);
    });
    const deadline = Date.now() + BUSY_GIVE_UP_MS;
    for (;;) {
      try {
        apply.immediate();
        break;
      } catch (e) {
        if ((e as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, BUSY_RETRY_MS));
      }
    }
    this.written = next;
  }

  close(): void {
    this.db.close();
  }
}

function written(state: NetState): Written {
  return {
    networks: new Map(Object.values(state.networks).map((n) => [n.name, JSON.stringify(networkRow(n))])),
    endpoints: new Map(
      Object.values(state.endpoints).map((e) => [e.containerId, JSON.stringify(endpointRow(e))]),
    ),
    sysctls: new Map(Object.entries(state.savedSysctls ?? {})),
  };
}

/**
 * Moves a network state kept in a file by an earlier berthd (`<stateDir>/network.json`) into
 * the DB, once: the file's state is written (durably) unless the DB already has one, then the
 * file is renamed to `network.json.migrated` and its directory synced. A crash between the two
 * steps repeats only the rename. Returns whether a file was migrated.
 */
export async function migrateNetworkFile(file: string, store: DbNetStateStore): Promise<boolean> {
  if (!existsSync(file)) return false;
  const state = JSON.parse(readFileSync(file, 'utf8')) as NetState;
  if (state.version !== 1) throw new Error(`${file}: unknown network state version ${String(state.version)}`);
  if (!store.hasState()) {
    await store.read(); // what the store has (nothing), to diff against
    await store.write({ ...emptyState(), ...state });
  }
  renameSync(file, `${file}.migrated`);
  const dir = openSync(dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
  return true;
}
