// Test "containers" for the networking root tests: network namespaces the test creates
// (named berth-test-*), busybox servers and clients run inside them, and cleanup of all of it
// even when a test fails. Traffic only ever goes to these namespaces and loopback.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/net/exec.ts';
import {
  deleteTables,
  FileNetStateStore,
  NetworkManager,
  type NetworkManagerOptions,
} from '../../src/net/index.ts';

export const rand = (n = 3): string => randomBytes(n).toString('hex');

export interface TestNs {
  name: string;
  path: string;
}

export class Harness {
  readonly id = rand();
  readonly table = `berth_test_${this.id}`;
  private readonly cleanups: Array<() => Promise<unknown>> = [];
  /** Run after all the others: forced removal of what the code under test should have removed. */
  private readonly lastly: Array<() => Promise<unknown>> = [];
  dir = '';
  managers: NetworkManager[] = [];

  async setup(): Promise<void> {
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

  async netns(): Promise<TestNs> {
    const name = `berth-test-${rand(4)}`;
    await run('ip', ['netns', 'add', name]);
    this.defer(async () => {
      await run('ip', ['netns', 'del', name], { allowFail: true });
      await rm(`/etc/netns/${name}`, { recursive: true, force: true });
    });
    return { name, path: `/run/netns/${name}` };
  }

  /** Files `ip netns exec` binds over /etc inside the namespace (resolv.conf, hosts). */
  async etcFiles(ns: TestNs, files: Record<string, string>): Promise<void> {
    const dir = `/etc/netns/${ns.name}`;
    await mkdir(dir, { recursive: true });
    for (const [f, text] of Object.entries(files)) await writeFile(join(dir, f), text);
  }

  /** A busybox httpd serving `body` at / on `port` inside the namespace. */
  async httpd(ns: TestNs, port: number, body: string): Promise<void> {
    const www = await mkdtemp(join(this.dir, 'www-'));
    await writeFile(join(www, 'index.html'), body);
    const child = spawn(
      'ip',
      ['netns', 'exec', ns.name, 'busybox', 'httpd', '-f', '-p', String(port), '-h', www],
      {
        stdio: 'ignore',
      },
    );
    this.defer(() => kill(child));
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

export function inNs(ns: TestNs, argv: string[]) {
  return run('ip', ['netns', 'exec', ns.name, ...argv], { allowFail: true });
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
  const r = ns
    ? await run('ip', ['netns', 'exec', ns.name, ...argv], { allowFail: true, input })
    : await run(argv[0]!, argv.slice(1), { allowFail: true, input });
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

export async function nftTable(family: 'inet' | 'bridge', table: string): Promise<string | undefined> {
  const r = await run('nft', ['list', 'table', family, table], { allowFail: true });
  return r.code === 0 ? r.stdout : undefined;
}
