// `pnpm bench wire [rounds]`: berthd's transport alone, without containers. Two servers run
// side by side, each in a process of its own with berthd's real router, HTTP handler and event
// log (on a temporary SQLite DB) and a container service whose create only appends a
// `container.exited` event for the container and answers: one answers queries and mutations
// directly (http.ts, as berthd does), the other through tRPC's resolveResponse (WHATWG Request
// and Response: berthd before). The client (the typed agent client, in this process) calls
// `container.create` and waits for the event on an `event.watch` subscription, as
// bench/agent.ts does. Printed per server, medians and p99 in ms:
//   reply   the create's round trip, from the call to its reply in the caller's hands
//   event   from the event's commit in the server (its clock stamp in the event) to the
//           event in the caller's hands: the event log, the subscription, SSE, the client
//   list    container.list (a query) of 20 containers, round trip
// No root needed; everything lives under /tmp/berth-bench-wire-*.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type AgentClient, createAgentClient } from '../packages/agent/src/client/index.ts';
import type { ContainerService } from '../packages/agent/src/containers/service.ts';
import type { AgentContext } from '../packages/agent/src/context.ts';
import { openAgentDb } from '../packages/agent/src/db/index.ts';
import { EventLog } from '../packages/agent/src/events/log.ts';
import { trpcHandler } from '../packages/agent/src/http.ts';
import { agentRouter } from '../packages/agent/src/router.ts';
import { ContainerConfig, type ContainerInfo } from '../packages/contracts/src/index.ts';
import { p50p99 } from './lib/stats.ts';

const info = (name: string): ContainerInfo => ({
  id: '0123456789ab',
  name,
  image: 'busybox',
  imageDigest: `sha256:${'0'.repeat(64)}`,
  state: 'running',
  pid: 1234,
  exitCode: null,
  restartCount: 0,
  group: null,
  config: ContainerConfig.parse({ name, image: 'busybox', command: ['/bin/true'] }),
  createdAt: new Date().toISOString(),
  startedAt: new Date().toISOString(),
  finishedAt: null,
});

async function serve(socketPath: string, dir: string, direct: boolean): Promise<void> {
  const db = await openAgentDb(join(dir, 'agent.db'));
  const events = new EventLog(db, 10_000);
  const containers = {
    async create(config: { name: string }, actor: string) {
      // The event 2 ms after the reply (a container's exit comes after its start's reply), as
      // berthd's create and exit commit theirs: a prepared statement, not Prisma.
      setTimeout(() => {
        void events.commitSql(
          () => undefined,
          [
            [
              'container.exited',
              { actor, subject: config.name, data: { clock: String(process.hrtime.bigint()) } },
            ],
          ],
        );
      }, 2);
      return info(config.name);
    },
    async list() {
      return Array.from({ length: 20 }, (_, i) => info(`c${i}`));
    },
  } as unknown as ContainerService;
  const context = { containers, events } as unknown as AgentContext;
  const server = createServer(
    trpcHandler({ router: agentRouter, basePath: '/trpc/', createContext: () => context, direct }),
  );
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  console.log('listening');
  // Ends when the benchmark closes its stdin (a clean exit, so --cpu-prof can write its profile).
  process.stdin.resume().once('end', () => process.exit(0));
}

if (process.argv[2] === '--serve') {
  await serve(process.argv[3]!, process.argv[4]!, process.argv[5] === 'direct');
} else {
  const rounds = Number(process.argv[2] ?? 300);
  const base = mkdtempSync(join(tmpdir(), 'berth-bench-wire-'));
  const self = fileURLToPath(import.meta.url);
  const servers = ['direct', 'resolveResponse'].map((mode) => {
    const dir = mkdtempSync(join(base, `${mode}-`));
    const socketPath = join(dir, 's.sock');
    const child = spawn(process.execPath, [...process.execArgv, self, '--serve', socketPath, dir, mode], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const ready = new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (l) => l === 'listening' && resolve());
      child.once('exit', (code) => reject(new Error(`${mode} server exited with ${code}`)));
    });
    return { mode, child, ready, client: createAgentClient({ socketPath }) };
  });
  const stats = (xs: number[]) => {
    const { p50, p99 } = p50p99(xs);
    return `${p50.toFixed(3).padStart(8)}${p99.toFixed(3).padStart(8)}`;
  };
  let seq = 0;
  async function run(client: AgentClient) {
    const name = `w${++seq}`;
    let started!: () => void;
    const ready = new Promise<void>((r) => {
      started = r;
    });
    let got!: (t: [bigint, bigint]) => void;
    const event = new Promise<[bigint, bigint]>((r) => {
      got = r;
    });
    const sub = client.event.watch.subscribe(
      { subject: name },
      {
        onStarted: () => started(),
        onData: (e) => got([process.hrtime.bigint(), BigInt(e.data.data.clock as string)]),
      },
    );
    await ready;
    const t0 = process.hrtime.bigint();
    await client.container.create.mutate({
      config: { name, image: 'busybox', command: ['/bin/true'] },
      start: true,
    });
    const reply = Number(process.hrtime.bigint() - t0) / 1e6;
    const [at, clock] = await event;
    sub.unsubscribe();
    const t1 = process.hrtime.bigint();
    await client.container.list.query();
    return { reply, event: Number(at - clock) / 1e6, list: Number(process.hrtime.bigint() - t1) / 1e6 };
  }
  try {
    await Promise.all(servers.map((s) => s.ready));
    const times = new Map(
      servers.map((s) => [s.mode, { reply: [] as number[], event: [] as number[], list: [] as number[] }]),
    );
    for (let r = -20; r < rounds; r++) {
      for (const s of r % 2 ? [...servers].reverse() : servers) {
        const t = await run(s.client);
        if (r < 0) continue; // warm-up
        const m = times.get(s.mode)!;
        m.reply.push(t.reply);
        m.event.push(t.event);
        m.list.push(t.list);
      }
    }
    console.log(`\nberthd's wire, ${rounds} interleaved rounds (ms: p50 p99)\n`);
    console.log(`${'server'.padEnd(18)}${'reply'.padStart(16)}${'event'.padStart(16)}${'list'.padStart(16)}`);
    for (const [mode, m] of times)
      console.log(`${mode.padEnd(18)}${stats(m.reply)}${stats(m.event)}${stats(m.list)}`);
  } finally {
    await Promise.all(
      servers.map((s) => {
        s.child.stdin!.end();
        return new Promise((resolve) => s.child.once('exit', resolve));
      }),
    );
    rmSync(base, { recursive: true, force: true });
  }
}
