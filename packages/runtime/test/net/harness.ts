// Test "containers" for the networking root tests: network namespaces the test creates
// (named berth-test-*), busybox servers and clients run inside them, and cleanup of all of it
// even when a test fails. Traffic only ever goes to these namespaces and loopback.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { run } from '../../src/net/exec.ts';
import {
  deleteIptables,
  deleteTables,
  type Endpoint,
  FileNetStateStore,
  NetworkManager,
  type NetworkManagerOptions,
} from '../../src/net/index.ts';

export const rand = (n = 3): string => randomBytes(n).toString('hex');

export interface TestNs {
  /** Set for namespaces made with `ip netns add` (commands run through `ip netns exec`). */
  name?: string;
  path: string;
}

export class Harness {
  readonly id = rand();
  // The pid in the names lets a later run sweep what a killed run left (see sweepStale).
  readonly table = `berth_test_${process.pid}_${this.id}`;
  private readonly cleanups: Array<() => Promise<unknown>> = [];
  /** Run after all the others: forced removal of what the code under test should have removed. */
  private readonly lastly: Array<() => Promise<unknown>> = [];
  dir = '';
  managers: NetworkManager[] = [];

  async setup(): Promise<void> {
    await sweepStale();
    this.dir = await mkdtemp(join(tmpdir(), 'berth-test-net-'));
    this.defer(() => rm(this.dir, { recursive: true, force: true }));
    // Whatever the manager's own teardown managed, Berth's tables of this test go.
    this.lastly.push(() => deleteTables(this.table));
  }

  /** A unique, short bridge name; the bridge is removed at teardown whatever happens. */
  bridge(): string {
    const name = `bt${rand(4)}`;
    this.lastly.push(() => run('ip', ['link', 'del', name], { allowFail: true }));
    return name;
  }

  defer(fn: () => Promise<unknown>): void {
    this.cleanups.push(fn);
  }

  /** Runs cleanups in reverse order; every one runs even if some fail. */
  async teardown(): Promise<void> {
    const errors: unknown[] = [];
    this.cleanups.unshift(...this.lastly.splice(0));
    while (this.cleanups.length) {
      try {
        await this.cleanups.pop()!();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length) throw errors[0];
  }

  storePath(): string {
    return join(this.dir, 'net-state.json');
  }

  async manager(extra: Partial<NetworkManagerOptions> = {}): Promise<NetworkManager> {
    const m = await NetworkManager.open({
      store: new FileNetStateStore(this.storePath()),
      table: this.table,
      hostIfPrefix: `t${this.id.slice(0, 3)}`,
      // Not the global ip_forward: other tests on this host may be using it.
      forwarding: 'bridges',
      dns: { upstreams: [] },
      ...extra,
    });
    this.managers.push(m);
    this.defer(async () => {
      try {
        await m.destroy();
      } finally {
        await m.close();
      }
    });
    return m;
  }

  /** Before a manager is forced onto iptables: at teardown this test's chains go, and
   * iptables-nft's own tables (ip/ip6 nat and filter) too if the test made them and nobody has
   * put a rule or chain in them. */
  async useIptables(): Promise<void> {
    const tables = ['ip nat', 'ip filter', 'ip6 nat', 'ip6 filter'];
    const had = new Set<string>();
    for (const t of tables) if (await nftTableExists(t)) had.add(t);
    this.defer(async () => {
      await deleteIptables(this.table);
      for (const t of tables.filter((x) => !had.has(x))) {
        const [family, name] = t.split(' ') as [string, string];
        const save = await run(family === 'ip' ? 'iptables-save' : 'ip6tables-save', ['-t', name], {
          allowFail: true,
        });
        const used = save.stdout
          .split('\n')
          .some((l) => l.startsWith('-A ') || (l.startsWith(':') && !/^:[A-Z]+ ACCEPT/.test(l)));
        if (!used) await run('nft', ['delete', 'table', family, name], { allowFail: true });
      }
    });
  }

  async netns(): Promise<TestNs> {
    const name = `berth-test-${process.pid}-${rand(3)}`;
    await run('ip', ['netns', 'add', name]);
    this.defer(async () => {
      await run('ip', ['netns', 'del', name], { allowFail: true });
      await rm(`/etc/netns/${name}`, { recursive: true, force: true });
    });
    return { name, path: `/run/netns/${name}` };
  }

  /** A fresh namespace per hostname, each attached to `network` (container id `<name>-<id>`),
   * in order: the namespace and its endpoint. */
  async attached<const N extends readonly string[]>(
    m: NetworkManager,
    network: string,
    hostnames: N,
  ): Promise<{ [K in keyof N]: [TestNs, Endpoint] }> {
    const out: Array<[TestNs, Endpoint]> = [];
    for (const hostname of hostnames) {
      const ns = await this.netns();
      const ep = await m.attach({
        containerId: `${hostname}-${this.id}`,
        network,
        netns: { path: ns.path },
        hostname,
      });
      out.push([ns, ep]);
    }
    return out as { [K in keyof N]: [TestNs, Endpoint] };
  }

  /** A namespace held only by a process (like a real container's): referred to by pid. */
  async processNs(): Promise<TestNs & { pid: number }> {
    const child = spawn('unshare', ['--net', '--', 'sleep', '600'], { stdio: 'ignore' });
    this.defer(() => kill(child));
    const pid = child.pid!;
    // unshare execs sleep in the same process once the namespace is made.
    for (let i = 0; i < 100; i++) {
      const r = await run('readlink', [`/proc/${pid}/ns/net`], { allowFail: true });
      const self = await run('readlink', ['/proc/self/ns/net']);
      const comm = await run('cat', [`/proc/${pid}/comm`], { allowFail: true });
      if (r.code === 0 && r.stdout !== self.stdout && comm.stdout.trim() === 'sleep')
        return { pid, path: `/proc/${pid}/ns/net` };
      await new Promise((res) => setTimeout(res, 20));
    }
    throw new Error('unshare did not make a namespace');
  }

  /** Files `ip netns exec` binds over /etc inside the namespace (resolv.conf, hosts). */
  async etcFiles(ns: TestNs, files: Record<string, string>): Promise<void> {
    if (!ns.name) throw new Error('etcFiles needs a named namespace');
    const dir = `/etc/netns/${ns.name}`;
    await mkdir(dir, { recursive: true });
    for (const [f, text] of Object.entries(files)) await writeFile(join(dir, f), text);
  }

  /** A busybox httpd serving `body` at / on `port` inside the namespace. */
  async httpd(ns: TestNs, port: number, body: string): Promise<void> {
    const www = await mkdtemp(join(this.dir, 'www-'));
    await writeFile(join(www, 'index.html'), body);
    spawnInNs(this, ns, ['busybox', 'httpd', '-f', '-p', String(port), '-h', www]);
    // Wait until it listens (a connect from inside the namespace succeeds).
    for (let i = 0; i < 100; i++) {
      if ((await httpGet(ns, '127.0.0.1', port)) !== undefined) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`httpd in ${ns.name} did not start`);
  }
}

function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

const nsArgv = (ns: TestNs, argv: string[]): string[] =>
  ns.name ? ['ip', 'netns', 'exec', ns.name, ...argv] : ['nsenter', `--net=${ns.path}`, '--', ...argv];

export function inNs(ns: TestNs, argv: string[], input?: string) {
  const [cmd, ...args] = nsArgv(ns, argv);
  return run(cmd!, args, { allowFail: true, ...(input !== undefined ? { input } : {}) });
}

/** Starts a long-running process inside the namespace; killed at teardown. */
export function spawnInNs(h: Harness, ns: TestNs, argv: string[]): ChildProcess {
  const [cmd, ...args] = nsArgv(ns, argv);
  // stdin stays open (a pipe never ended): busybox nc -l would quit at its EOF.
  const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  h.defer(() => kill(child));
  return child;
}

export async function ping(ns: TestNs, address: string): Promise<boolean> {
  return (await inNs(ns, ['busybox', 'ping', '-c', '1', '-W', '1', address])).code === 0;
}

/** GET http://host:port/ from inside the namespace (busybox nc: busybox's static wget
 * crashes in getaddrinfo here); the body, or undefined if unreachable. */
export async function httpGet(
  ns: TestNs | undefined,
  host: string,
  port: number,
): Promise<string | undefined> {
  const argv = ['busybox', 'nc', '-w', '2', host, String(port)];
  const input = `GET / HTTP/1.0\r\nHost: ${host}\r\n\r\n`;
  const r = ns ? await inNs(ns, argv, input) : await run(argv[0]!, argv.slice(1), { allowFail: true, input });
  const at = r.stdout.indexOf('\r\n\r\n');
  return r.code === 0 && r.stdout.startsWith('HTTP/1.') && at >= 0 ? r.stdout.slice(at + 4) : undefined;
}

/** A subnet in 10.64.0.0/10 that is unlikely to be used; the manager checks it anyway. */
export function testSubnet(): string {
  return `10.${64 + Math.floor(Math.random() * 60)}.${Math.floor(Math.random() * 256)}.0/24`;
}

export async function linkNames(): Promise<string[]> {
  const r = await run('ip', ['-json', 'link', 'show']);
  return (JSON.parse(r.stdout) as Array<{ ifname: string }>).map((l) => l.ifname);
}

const nftTableExists = async (familyAndName: string): Promise<boolean> =>
  (await run('nft', ['list', 'table', ...familyAndName.split(' ')], { allowFail: true })).code === 0;

export async function nftTable(family: 'inet' | 'bridge', table: string): Promise<string | undefined> {
  const r = await run('nft', ['list', 'table', family, table], { allowFail: true });
  return r.code === 0 ? r.stdout : undefined;
}

/** A TCP port free on the host right now (bind 0, close). */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
};

/** Removes what test runs that were killed (no cleanup ran) left: their namespaces, tables,
 * and the bridges and veths those tables name. Only names made by this harness, and only when
 * the process that made them is gone. */
export async function sweepStale(): Promise<void> {
  const ns = await run('ip', ['netns', 'list'], { allowFail: true });
  for (const m of ns.stdout.matchAll(/^(berth-test-(\d+)-[0-9a-f]+)/gm)) {
    if (!alive(Number(m[2]))) await run('ip', ['netns', 'del', m[1]!], { allowFail: true });
  }
  const tables = await run('nft', ['list', 'tables'], { allowFail: true });
  const stale = new Set<string>();
  for (const m of tables.stdout.matchAll(/^table (?:inet|bridge) (berth_test_(\d+)_[0-9a-f]+)$/gm)) {
    if (!alive(Number(m[2]))) stale.add(m[1]!);
  }
  for (const t of stale) {
    const text = `${await nftTable('inet', t)}\n${await nftTable('bridge', t)}`;
    const prefixes = [...text.matchAll(/"(t[0-9a-f]{3})\*"/g)].map((m) => m[1]!);
    const links = (await linkNames()).filter((l) =>
      /^bt[0-9a-f]{8}$/.test(l) ? text.includes(`"${l}"`) : prefixes.some((p) => l.startsWith(p)),
    );
    for (const l of links) await run('ip', ['link', 'del', l], { allowFail: true });
    await deleteTables(t).catch(() => {});
  }
}

/** Registers a fresh Harness per test (set up before, torn down after, even on failure). */
export function useHarness(): () => Harness {
  let h: Harness | undefined;
  beforeEach(async () => {
    h = new Harness();
    await h.setup();
  });
  afterEach(async () => {
    await h?.teardown();
  });
  return () => h!;
}
