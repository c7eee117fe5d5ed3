// `pnpm bench agent [rounds]` (root): berthd's own cost, from a warm agent, side by side in one
// interleaved run:
//   floor   a minimal C program (bench/runtime-floor.c): clone with five namespaces,
//           pivot_root, mount /proc, exec /bin/true: the physical limit on this machine
//   crun    `crun run` of /bin/true on a prepared busybox bundle with Berth's defaults
//   agent   through berthd's API (the typed client on its socket): create + start a busybox
//           container running /bin/true, until the agent has recorded its exit (its
//           container.exited event): DB record, overlay root, user namespace, cgroup,
//           monitor, seccomp, network mode none. The delete after each is not timed.
// Then: a stopped container started again (a fresh instance, as a restart policy makes; until
// its exit is recorded), 50 containers launched concurrently (time until all run), and
// `container.list` with 500 container records (p50). Medians and p99 in ms. Everything lives under
// /tmp/berth-bench-agent-* and /berth-bench-* cgroups, removed at the end.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAgentClient } from '../packages/agent/src/client/index.ts';
import { parseTraces } from '../packages/agent/src/trace.ts';
import { startBerthd } from '../packages/agent/test/berthd-process.ts';
import { busyboxBundle, compilePeers, sh, Timer } from './lib/peers.ts';
import { p50p99 } from './lib/stats.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
// The agent's own better-sqlite3 (the repository's root has none).
const Database = createRequire(join(here, '../packages/agent/package.json'))(
  'better-sqlite3',
) as typeof import('better-sqlite3');
const rounds = Number(process.argv[2] ?? 50);
const tag = randomBytes(4).toString('hex');
// Through turbo: it runs the agent's Prisma generate step before the build. Built before
// anything is created, so a failed build leaves nothing behind.
sh('pnpm', ['exec', 'turbo', 'run', 'build', '--filter=@berth/agent...', '--output-logs=errors-only']);
const base = mkdtempSync('/tmp/berth-bench-agent-');
chmodSync(base, 0o755);
const cgroupParent = `/berth-bench-${tag}`;
const { floorBin, timerBin } = compilePeers(base);
const { bundle, rootfs } = busyboxBundle(base, `${cgroupParent}/crun`);

/** One trace kind's line: each phase seen, with its median over `mine`. */
function phaseLine(op: string, mine: Array<{ ms: Record<string, number> }>): string {
  const phases = [...new Set(mine.flatMap((t) => Object.keys(t.ms)))];
  const med = (k: string) => stats(mine.map((t) => t.ms[k] ?? 0)).p50.toFixed(2);
  return `  ${op.padEnd(7)}${phases.map((k) => `${k} ${med(k)}`).join('  ')}`;
}

const stats = p50p99;

writeFileSync(join(base, 'agent.json'), JSON.stringify({ cgroupParent }));
const args = {
  socketPath: join(base, 'berthd.sock'),
  stateDir: join(base, 'state'),
  socketGroup: '0',
  extraArgs: ['--config', join(base, 'agent.json')],
};
// berthd's per-phase timing lines (packages/agent/src/trace.ts), summarised after the run.
process.env.BERTH_TRACE = '1';
let berthd = await startBerthd(args);
const client = createAgentClient({ socketPath: args.socketPath });
const host = new Timer(timerBin, false);
const crunHost = new Timer(timerBin, true);
let seq = 0;

let lastEvent = 0;
/** When each exited event reached this client (ms of the monotonic clock berthd's traces use). */
const received = new Map<number, number>();

/**
 * Resolves when the agent has recorded the named container's exit (events after lastEvent: none
 * lost), with the time the event reached this client: taken as it arrives, before the
 * subscription is ended (an unsubscribe aborts its fetch, which costs the client a millisecond
 * or more, and is no part of receiving the event).
 */
function exitOf(name: string): { ready: Promise<void>; done: Promise<bigint> } {
  let ready!: () => void;
  const readyP = new Promise<void>((r) => {
    ready = r;
  });
  const done = new Promise<bigint>((resolve, reject) => {
    const sub = client.event.watch.subscribe(
      { subject: name, after: lastEvent },
      {
        onStarted: () => ready(),
        onData(e) {
          if (e.data.kind === 'container.exited') {
            const at = process.hrtime.bigint();
            received.set(e.data.id, Number(at) / 1e6);
            lastEvent = Math.max(lastEvent, e.data.id);
            resolve(at);
            sub.unsubscribe();
          }
        },
        onError: reject,
      },
    );
  });
  return { ready: readyP, done };
}

/** When the create+start call returned (its reply), per timed or warm-up run. */
const replied: number[] = [];
/** Each run's container (name and id) and its time, to find the slowest runs' traces. */
const runs: Array<{ name: string; id: string; ms: number }> = [];

async function agentRun(): Promise<number> {
  const name = `b${++seq}`;
  const exit = exitOf(name);
  await exit.ready;
  const t = process.hrtime.bigint();
  const { id } = await client.container.create.mutate({
    config: { name, image: 'busybox', command: ['/bin/true'] },
    start: true,
    actor: 'bench',
  });
  const repliedAt = process.hrtime.bigint();
  replied.push(Number(repliedAt - t) / 1e6);
  // Done when both the reply and the event are in (the event may come first).
  const exitedAt = await exit.done;
  const ms = Math.max(Number(exitedAt - t), Number(repliedAt - t)) / 1e6;
  runs.push({ name, id, ms });
  await client.container.delete.mutate({ name, actor: 'bench' });
  return ms;
}

const variants: Array<[string, () => Promise<number>]> = [
  ['floor (C: clone+pivot_root+/proc+exec)', () => host.time([floorBin, rootfs, '/bin/true'])],
  [
    'crun run, Berth defaults',
    () => crunHost.time(['crun', '--root', join(base, 'crun'), 'run', '--bundle', bundle, `c${++seq}`]),
  ],
  ['berthd API: create+start+exit recorded', agentRun],
];

try {
  lastEvent = (await client.event.list.query({ after: 0, limit: 10_000 })).at(-1)?.id ?? 0;
  for (let i = 0; i < 3; i++) for (const [, f] of variants) await f(); // warm-up
  const times = new Map<string, number[]>(variants.map(([n]) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [...variants].reverse() : variants;
    for (const [name, f] of order) times.get(name)!.push(await f());
  }
  const floor = stats(times.get(variants[0]![0])!).p50;
  const crun = stats(times.get(variants[1]![0])!).p50;
  console.log(`\nstart-to-exit of /bin/true, ${rounds} interleaved rounds (ms)\n`);
  console.log(
    `${'variant'.padEnd(42)}${'p50'.padStart(9)}${'p99'.padStart(9)}${'×floor'.padStart(9)}${'×crun'.padStart(9)}`,
  );
  for (const [name] of variants) {
    const { p50, p99 } = stats(times.get(name)!);
    console.log(
      `${name.padEnd(42)}${p50.toFixed(2).padStart(9)}${p99.toFixed(2).padStart(9)}${(p50 / floor).toFixed(2).padStart(9)}${(p50 / crun).toFixed(2).padStart(9)}`,
    );
  }

  // Where berthd's time goes: per-phase medians of its trace lines for the timed rounds.
  console.log(`\nberthd's phases (medians of the last ${rounds} of each, ms)`);
  const traces = parseTraces(berthd.stderr());
  const http = traces.filter((t) => t.op === 'http' && t.subject === 'container.create').slice(-rounds);
  const replyMs = stats(replied.slice(-rounds)).p50;
  const httpMs = stats(http.map((t) => t.ms.total ?? 0)).p50;
  console.log(
    `  reply to create+start: client side ${replyMs.toFixed(2)}, in berthd (request to reply written) ${httpMs.toFixed(2)}`,
  );
  // create: the service's phases; exit: from the start's acknowledgement ("report": the
  // container's own run included) to the exit committed and told to watchers.
  // http: berthd's handling of the create's request: read (its body), call (the procedure, its
  // input and output validated), reply (serialised and handed to the socket), written.
  for (const op of ['create', 'exit', 'http']) {
    const mine = traces
      .filter((t) => t.op === op && (op !== 'http' || t.subject === 'container.create'))
      .slice(-rounds);
    console.log(phaseLine(op, mine));
  }
  // The exited event's way out of berthd: from its value reaching the SSE writer (its commit
  // tells it in the same tick) to the client's onData, both on the one monotonic clock.
  const sse = new Map(
    traces
      .filter((t) => t.op === 'sse')
      .map((t) => {
        const [id, clock] = t.subject.split('@');
        return [Number(id), { clock: Number(clock), ms: t.ms.total ?? 0 }] as const;
      }),
  );
  const ways = [...received]
    .slice(-rounds)
    .flatMap(([id, at]) =>
      sse.has(id) ? [{ written: sse.get(id)!.ms, client: at - sse.get(id)!.clock }] : [],
    );
  const toClient = stats(ways.map((w) => w.client));
  console.log(
    `  event  exited, yielded to berthd's SSE writer → client's onData ${toClient.p50.toFixed(2)} (p99 ${toClient.p99.toFixed(2)}), of which written ${stats(ways.map((w) => w.written)).p50.toFixed(2)}`,
  );
  // The tail: the slowest timed runs, each with its biggest phases (create by name, exit by id).
  const top = (ms: Record<string, number> | undefined) =>
    Object.entries(ms ?? {})
      .filter(([k]) => k !== 'total')
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([k, v]) => `${k} ${v.toFixed(1)}`)
      .join(', ');
  console.log('  slowest runs:');
  for (const r of [...runs.slice(-rounds)].sort((a, b) => b.ms - a.ms).slice(0, 3)) {
    const create = traces.find((t) => t.op === 'create' && t.subject === r.name)?.ms;
    const exit = traces.find((t) => t.op === 'exit' && t.subject === r.id)?.ms;
    console.log(`    ${r.ms.toFixed(1).padStart(7)} ms: create ${top(create)}; exit ${top(exit)}`);
  }

  // A stopped container started again (a fresh instance: what a restart policy does), until
  // its exit is recorded: one container, started `rounds` times.
  {
    const name = `again${++seq}`;
    const first = exitOf(name);
    await first.ready;
    await client.container.create.mutate({
      config: { name, image: 'busybox', command: ['/bin/true'] },
      start: true,
      actor: 'bench',
    });
    await first.done;
    const again: number[] = [];
    for (let i = 0; i < rounds + 3; i++) {
      const exit = exitOf(name);
      await exit.ready;
      const t = process.hrtime.bigint();
      await client.container.start.mutate({ name, actor: 'bench' });
      await exit.done;
      if (i >= 3) again.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    await client.container.delete.mutate({ name, actor: 'bench' });
    const a = stats(again);
    // Their phases: berthd's "start" trace lines.
    const mine = parseTraces(berthd.stderr()).filter((t) => t.op === 'start' && t.subject === name);
    console.log(
      `\nstart of a stopped container until its exit is recorded: p50 ${a.p50.toFixed(2)} ms, p99 ${a.p99.toFixed(2)} ms (${(a.p50 / floor).toFixed(2)}× floor)`,
    );
    console.log(phaseLine('start', mine));
  }

  // 50 at once: time until every one runs.
  const names = Array.from({ length: 50 }, (_, i) => `many${i}`);
  const t0 = process.hrtime.bigint();
  await Promise.all(
    names.map((name) =>
      client.container.create.mutate({
        config: { name, image: 'busybox', command: ['sleep', '600'] },
        start: true,
        actor: 'bench',
      }),
    ),
  );
  const all = (await client.container.list.query()).filter((c) => names.includes(c.name));
  const concurrentMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (all.some((c) => c.state !== 'running')) throw new Error('not every container runs');
  console.log(`\n50 containers launched concurrently: all running after ${concurrentMs.toFixed(0)} ms`);
  await Promise.all(
    names.map((name) => client.container.delete.mutate({ name, force: true, actor: 'bench' })),
  );

  // `ls` with 500 containers: records added while berthd is stopped (stopped containers).
  await berthd.stop();
  const db = new Database(join(args.stateDir, 'agent.db'));
  const insert = db.prepare(
    "INSERT INTO Container (id, name, image, imageDigest, config, state, updatedAt) VALUES (?, ?, 'busybox', 'sha256:0', ?, 'stopped', 0)",
  );
  const cfg = JSON.stringify({
    name: 'x',
    image: 'busybox',
    env: [],
    kind: 'app',
    limits: {},
    network: 'none',
    volumes: [],
    restart: 'no',
    autostart: false,
    autostartOrder: 0,
    autostartDelayMs: 0,
    labels: {},
    privileged: false,
  });
  db.transaction(() => {
    for (let i = 0; i < 500; i++)
      insert.run(`ls${String(i).padStart(10, '0')}`, `ls-${i}`, cfg.replace('"x"', `"ls-${i}"`));
  })();
  db.close();
  berthd = await startBerthd(args);
  const ls: number[] = [];
  for (let i = 0; i < 5; i++) await client.container.list.query();
  for (let i = 0; i < 50; i++) {
    const t = process.hrtime.bigint();
    const list = await client.container.list.query();
    ls.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (list.length !== 500) throw new Error(`ls returned ${list.length}`);
  }
  const l = stats(ls);
  console.log(
    `container.list with 500 containers: p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms (target p50 < 20 ms)`,
  );
} finally {
  host.close();
  crunHost.close();
  for (const c of await client.container.list.query().catch(() => []))
    if (!c.name.startsWith('ls-'))
      await client.container.delete.mutate({ name: c.name, force: true, actor: 'bench' }).catch(() => {});
  await berthd.stop();
  for (const h of readdirSync('/sys/fs/cgroup'))
    for (const d of [`/sys/fs/cgroup/${h}${cgroupParent}/crun`, `/sys/fs/cgroup/${h}${cgroupParent}`])
      spawnSync('rmdir', [d]);
  spawnSync('sh', [
    '-c',
    `grep ${base} /proc/self/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l`,
  ]);
  rmSync(base, { recursive: true, force: true });
}
