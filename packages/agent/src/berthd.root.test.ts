// Root: berthd chowns its socket to a group and owns a root-only state dir; run against the
// real bundled daemon (see test/berthd-process.ts).
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type BerthdProcess, spawnBerthd, startBerthd } from '../test/berthd-process.ts';
import { createAgentClient } from './client/index.ts';
import { agentMigrationsDir } from './db/index.ts';

// Any gid will do for the socket's group: no group is created on the host.
const SOCKET_GID = '47311';

let dir: string;
let running: BerthdProcess[];
const args = () => ({
  socketPath: join(dir, 'berthd.sock'),
  stateDir: join(dir, 'state'),
  socketGroup: SOCKET_GID,
});

beforeEach(() => {
  dir = mkdtempSync('/tmp/berth-test-berthd-');
  chmodSync(dir, 0o755);
  running = [];
});
afterEach(async () => {
  await Promise.all(running.map((p) => p.stop()));
  rmSync(dir, { recursive: true, force: true });
});

async function start(): Promise<BerthdProcess> {
  const p = await startBerthd(args());
  running.push(p);
  return p;
}

function readDb(file: string) {
  const db = new Database(file, { readonly: true });
  try {
    return {
      migrations: (
        db.prepare('SELECT name FROM _berth_migrations ORDER BY name').all() as Array<{ name: string }>
      ).map((r) => r.name),
      events: (db.prepare('SELECT kind FROM AgentEvent ORDER BY id').all() as Array<{ kind: string }>).map(
        (r) => r.kind,
      ),
      agentId: (
        db.prepare("SELECT value FROM AgentMeta WHERE key = 'agentId'").get() as { value: string } | undefined
      )?.value,
    };
  } finally {
    db.close();
  }
}

it('makes the socket root:<group> 0660, the state dir 0711 and its database 0600, migrated', async () => {
  const berthd = await start();
  const { socketPath, stateDir } = args();
  const sock = statSync(socketPath);
  expect(sock.isSocket()).toBe(true);
  expect(sock.mode & 0o777).toBe(0o660);
  expect([sock.uid, sock.gid]).toEqual([0, Number(SOCKET_GID)]);
  // 0711: traversable, never listable, so a container's user-namespaced root can reach its root fs.
  expect(statSync(stateDir).mode & 0o777).toBe(0o711);
  expect(statSync(join(stateDir, 'agent.db')).mode & 0o777).toBe(0o600);
  expect(berthd.stderr()).toContain(`listening on ${socketPath} (group ${SOCKET_GID})`);

  const committed = readdirSync(agentMigrationsDir(), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  expect(committed.length).toBeGreaterThan(0);
  const db = readDb(join(stateDir, 'agent.db'));
  expect(db.migrations).toEqual(committed);
  expect(db.events).toEqual(['agent.started']);
});

it('keeps its database across a restart: migrations applied once, the agent id kept, events appended', async () => {
  const first = await start();
  const before = readDb(join(args().stateDir, 'agent.db'));
  expect(await first.stop()).toBe(0);
  expect(existsSync(args().socketPath)).toBe(false);
  await start();
  const after = readDb(join(args().stateDir, 'agent.db'));
  expect(after.migrations).toEqual(before.migrations);
  expect(after.agentId).toBe(before.agentId);
  expect(after.events).toEqual(['agent.started', 'agent.stopped', 'agent.started']);
});

it('refuses to start on a socket another berthd serves, and that one keeps serving', async () => {
  await start();
  const second = spawnBerthd(args());
  expect(await second.exited).toBe(1);
  expect(second.stderr()).toBe(`berthd: another berthd is already listening on ${args().socketPath}\n`);
  const facts = await createAgentClient({ socketPath: args().socketPath }).host.facts.query();
  expect(facts.agent.version).toMatch(/^\d+\.\d+\.\d+/);
});

it('replaces the socket file a killed berthd left behind', async () => {
  const first = await start();
  first.child.kill('SIGKILL');
  await first.exited;
  expect(statSync(args().socketPath).isSocket()).toBe(true);
  await start();
  const facts = await createAgentClient({ socketPath: args().socketPath }).host.facts.query();
  expect(facts.cpus).toBeGreaterThan(0);
});

it('names a socket group that does not exist and creates nothing', async () => {
  const proc = spawnBerthd({ ...args(), socketGroup: 'berth-test-no-such-group' });
  expect(await proc.exited).toBe(1);
  expect(proc.stderr()).toBe(
    "berthd: socket group 'berth-test-no-such-group' does not exist: create it (groupadd --system berth-test-no-such-group) or choose another with --socket-group\n",
  );
  expect(readdirSync(dir)).toEqual([]);
});
