// Bridge networking end to end as root: the real bundled berthd (real runtime, user-namespaced
// containers) with its own default network on a unique test subnet, bridge, nftables table and
// veth prefix, driven through the bundled `berth` CLI. Traffic goes only between the test's
// containers and to 127.0.0.1. Everything is removed in afterAll, even when a test fails.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { type BerthdProcess, startBerthd } from '@berth/agent/testing';
import type { ContainerInfo, MetricsTick, NetworkInfo } from '@berth/contracts';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BerthRun, berthdArgs, cleanupTestHost, runBerth, testDir, until } from './harness.ts';

const TAG = `berth-test-clinet-${process.pid}`;
const CGROUP_PARENT = `/${TAG}`;
const hex = randomBytes(4).toString('hex');
const BRIDGE = `bc${hex.slice(0, 6)}`;
const TABLE = `berth_test_clinet_${process.pid}`;
const IF_PREFIX = `k${hex.slice(0, 3)}`;
const SUBNET = `10.${124 + (randomBytes(1)[0]! % 3)}.${randomBytes(1)[0]!}.0/24`;

/** A /24 of the test's own for user network `i` (the default network has SUBNET). */
const subnet = (i: number): string =>
  SUBNET.replace(/\.(\d+)\.0\/24$/, (_, x) => `.${(Number(x) + i) % 256}.0/24`);
/** Bridges of the networks the test created (removed in cleanup whatever happens). */
const userBridges = new Set<string>();

let dir: string;
let berthd: BerthdProcess | undefined;
const args = () => berthdArgs(dir);

/** berthd's config (agent.json); the modes test allows the host's network later. */
const agentConfig = (): Record<string, unknown> => ({
  cgroupParent: CGROUP_PARENT,
  stopTimeoutSec: 2,
  // The spoofing test's container needs NET_ADMIN to change its own address and MAC.
  allowPrivileged: true,
  // Not the global ip_forward: other tests share this host.
  network: {
    subnet: SUBNET,
    bridge: BRIDGE,
    table: TABLE,
    hostIfPrefix: IF_PREFIX,
    forwarding: 'bridges',
  },
});

beforeAll(async () => {
  dir = testDir(TAG, agentConfig);
  berthd = await startBerthd(args());
}, 60_000);

afterAll(async () => {
  try {
    if (berthd && berthd.child.exitCode === null) {
      const list = await berth('ls', '--format', 'json');
      for (const c of JSON.parse(list.stdout || '[]') as ContainerInfo[]) await berth('rm', '-f', c.name);
      await berthd.stop();
    }
  } finally {
    cleanupHost();
  }
}, 120_000);

/** Whatever the test left: processes, mounts, cgroups, the dir, and our links and nft tables. */
function cleanupHost(): void {
  try {
    for (const l of links().filter((n) => n === BRIDGE || n.startsWith(IF_PREFIX) || userBridges.has(n)))
      spawnSync('ip', ['link', 'del', l], { stdio: 'ignore' });
    for (const family of ['inet', 'bridge'])
      spawnSync('nft', ['delete', 'table', family, TABLE], { stdio: 'ignore' });
  } finally {
    cleanupTestHost(dir, TAG);
  }
}

function links(): string[] {
  const r = spawnSync('ip', ['-json', 'link', 'show'], { encoding: 'utf8' });
  return (JSON.parse(r.stdout || '[]') as Array<{ ifname: string }>).map((l) => l.ifname);
}

function nftTableText(): string {
  return ['inet', 'bridge']
    .map((f) => spawnSync('nft', ['list', 'table', f, TABLE], { encoding: 'utf8' }).stdout)
    .join('\n');
}

const berth = (...argv: string[]): Promise<BerthRun> => runBerth(args().socketPath, argv);

async function ok(...argv: string[]): Promise<string> {
  const r = await berth(...argv);
  if (r.code !== 0)
    throw new Error(
      `berth ${argv.join(' ')} exited ${r.code}: ${r.stderr}\nberthd said:\n${berthd?.stderr()}`,
    );
  return r.stdout;
}

/** A port free on 127.0.0.1 right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** GET / over plain TCP to 127.0.0.1:port; the body, or undefined when it fails. */
function httpGet(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let data = '';
    sock.setTimeout(3000, () => sock.destroy());
    sock.on('connect', () => sock.write('GET / HTTP/1.0\r\nHost: x\r\n\r\n'));
    sock.on('data', (c) => {
      data += c.toString('utf8');
    });
    sock.on('error', () => resolve(undefined));
    sock.on('close', () => {
      const at = data.indexOf('\r\n\r\n');
      resolve(at >= 0 ? data.slice(at + 4) : undefined);
    });
  });
}

/** The IPAM leases in berthd's DB, by container id (read-only, beside the running berthd). */
const endpoints = (): Record<string, { ip: string; hostIf: string; network: string }> => {
  const f = join(dir, 'state', 'agent.db');
  if (!existsSync(f)) return {};
  const db = new Database(f, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT containerId, ip, hostIf, network FROM NetworkEndpoint').all() as Array<{
      containerId: string;
      ip: string;
      hostIf: string;
      network: string;
    }>;
    return Object.fromEntries(rows.map((r) => [r.containerId, r]));
  } finally {
    db.close();
  }
};

/** The network state as a berthd before the DB store kept it in network.json: moved out of
 * the DB (berthd stopped), to see the next berthd move it back in. */
function moveStateToNetworkJson(): void {
  const db = new Database(join(dir, 'state', 'agent.db'));
  try {
    const state = {
      version: 1,
      networks: {} as Record<string, unknown>,
      endpoints: {} as Record<string, unknown>,
    };
    for (const n of db.prepare('SELECT * FROM Network').all() as Array<Record<string, unknown>>) {
      const { subnet6, gateway6, isolated, ...rest } = n;
      state.networks[String(n.name)] = {
        ...rest,
        isolated: isolated === 1,
        ...(subnet6 ? { subnet6, gateway6 } : {}),
      };
    }
    for (const e of db.prepare('SELECT * FROM NetworkEndpoint').all() as Array<Record<string, unknown>>) {
      const { ip6, aliases, ports, rateLimit, ...rest } = e;
      state.endpoints[String(e.containerId)] = {
        ...rest,
        aliases: JSON.parse(String(aliases)),
        ports: JSON.parse(String(ports)),
        ...(ip6 ? { ip6 } : {}),
        ...(rateLimit ? { rateLimit: JSON.parse(String(rateLimit)) } : {}),
      };
    }
    writeFileSync(join(dir, 'state', 'network.json'), JSON.stringify(state));
    db.exec('DELETE FROM NetworkEndpoint; DELETE FROM Network; DELETE FROM NetworkSavedSysctl;');
  } finally {
    db.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('bridge networking', () => {
  it('connects containers by name, publishes a port on 127.0.0.1, and leaves nothing behind', async () => {
    // The default network is listed before its first use, without being made.
    const before = JSON.parse(await ok('network', 'ls', '--format', 'json')) as NetworkInfo[];
    expect(before).toMatchObject([
      { name: BRIDGE, default: true, pending: true, subnet: SUBNET, gateway: SUBNET.replace(/0\/24$/, '1') },
    ]);
    expect(await ok('network', 'ls')).toContain(`${BRIDGE} (default, made on first use)`);
    expect(links()).not.toContain(BRIDGE);
    const hostPort = await freePort();
    await ok(
      'launch',
      'busybox',
      'srv',
      '--network',
      'bridge',
      '--publish',
      `127.0.0.1:${hostPort}:80`,
      '--',
      'sh',
      '-c',
      'mkdir -p /www && echo hello-from-srv > /www/index.html && exec httpd -f -p 80 -h /www',
    );
    await ok('launch', 'busybox', 'cli', '--network', 'bridge', '--', 'sleep', '1000');
    const srv = JSON.parse(await ok('inspect', 'srv')) as ContainerInfo;
    const cli = JSON.parse(await ok('inspect', 'cli')) as ContainerInfo;
    expect(srv.config.network).toBe('bridge');
    expect(srv.config.ports).toEqual([
      { protocol: 'tcp', hostAddress: '127.0.0.1', hostPort, containerPort: 80 },
    ]);
    expect(Object.keys(endpoints()).sort()).toEqual([srv.id, cli.id].sort());
    expect(links()).toContain(BRIDGE);

    // The files berthd wrote into the root before start.
    expect(await ok('exec', 'cli', '--', 'cat', '/etc/hostname')).toBe('cli\n');
    expect(await ok('exec', 'cli', '--', 'cat', '/etc/resolv.conf')).toContain(
      `nameserver ${SUBNET.replace(/0\/24$/, '1')}`,
    );

    // By name: busybox's own resolver asks berthd's DNS responder on the gateway, then nc.
    const script =
      'ip=$(nslookup srv | awk \'/^Address/ {a=$NF} END {print a}\'); echo "ip=$ip"; printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc "$ip" 80';
    let out = '';
    await until('srv reachable from cli by name', async () => {
      const r = await berth('exec', 'cli', '--', 'sh', '-c', script);
      out = r.stdout + r.stderr;
      return r.stdout.includes('hello-from-srv');
    }).catch((e: Error) => {
      throw new Error(`${e.message}: last output: ${out}`);
    });
    expect(out).toMatch(new RegExp(`ip=${SUBNET.replace(/\.0\/24$/, '').replace(/\./g, '\\.')}\\.\\d+`));

    // The published port from the host's loopback.
    let body: string | undefined;
    await until('the published port', async () => {
      body = await httpGet(hostPort);
      return body?.includes('hello-from-srv') ?? false;
    });
    expect(body).toContain('hello-from-srv');
    expect(nftTableText()).toContain(String(hostPort));

    // berthd restarted after Berth's tables were lost: it rebuilds them from its state, and the
    // running containers keep their addresses and published port.
    await berthd?.stop();
    for (const family of ['inet', 'bridge'])
      spawnSync('nft', ['delete', 'table', family, TABLE], { stdio: 'ignore' });
    expect(await httpGet(hostPort)).toBeUndefined();
    berthd = await startBerthd(args());
    await until('the published port after a restart', async () => {
      body = await httpGet(hostPort);
      return body?.includes('hello-from-srv') ?? false;
    });
    expect(Object.keys(endpoints()).sort()).toEqual([srv.id, cli.id].sort());
    expect((await berth('exec', 'cli', '--', 'sh', '-c', script)).stdout).toContain('hello-from-srv');

    // berthd killed -9: the kernel keeps the containers' links and rules (the published port
    // still answers); a new berthd adopts them, and names resolve again through its responder.
    berthd?.child.kill('SIGKILL');
    await berthd?.exited;
    expect(await httpGet(hostPort)).toContain('hello-from-srv');
    berthd = await startBerthd(args());
    expect(Object.keys(endpoints()).sort()).toEqual([srv.id, cli.id].sort());
    await until('srv by name after berthd was killed', async () =>
      (await berth('exec', 'cli', '--', 'sh', '-c', script)).stdout.includes('hello-from-srv'),
    );
    expect(await httpGet(hostPort)).toContain('hello-from-srv');

    // berthd killed -9 in the middle of a launch, wherever that lands: after a restart the
    // leases, the containers and the host's links agree, and no address is handed out twice.
    const leased = endpoints();
    const launching = berth('launch', 'busybox', 'crash', '--network', 'bridge', '--', 'sleep', '1000');
    await sleep(200 + Math.floor(Math.random() * 600));
    berthd?.child.kill('SIGKILL');
    await berthd?.exited;
    await launching;
    berthd = await startBerthd(args());
    const consistent = async (): Promise<Record<string, { ip: string; hostIf: string }>> => {
      const leases = endpoints();
      const ids = (JSON.parse(await ok('ls', '--format', 'json')) as ContainerInfo[]).map((c) => c.id);
      for (const id of Object.keys(leases)) expect(ids).toContain(id);
      const ips = Object.values(leases).map((l) => l.ip);
      expect(new Set(ips).size).toBe(ips.length);
      expect(
        links()
          .filter((l) => l.startsWith(IF_PREFIX))
          .sort(),
      ).toEqual(
        Object.values(leases)
          .map((l) => l.hostIf)
          .sort(),
      );
      return leases;
    };
    let leases = await consistent();
    expect(leases[srv.id]?.ip).toBe(leased[srv.id]?.ip);
    expect(leases[cli.id]?.ip).toBe(leased[cli.id]?.ip);
    await ok('rm', '-f', 'crash').catch(() => {});
    await ok('launch', 'busybox', 'third', '--network', 'bridge', '--', 'sleep', '1000');
    const third = JSON.parse(await ok('inspect', 'third')) as ContainerInfo;
    expect([leased[srv.id]?.ip, leased[cli.id]?.ip]).not.toContain(third.network?.ip);
    leases = await consistent();
    expect(leases[third.id]?.ip).toBe(third.network?.ip);
    await ok('rm', '-f', 'third');

    // A host upgraded in place: the state a berthd kept in network.json is moved into the DB
    // at start (the file renamed away), and the running containers keep their network.
    await berthd?.stop();
    moveStateToNetworkJson();
    expect(endpoints()).toEqual({});
    berthd = await startBerthd(args());
    expect(existsSync(join(dir, 'state', 'network.json'))).toBe(false);
    expect(existsSync(join(dir, 'state', 'network.json.migrated'))).toBe(true);
    expect(Object.keys(endpoints()).sort()).toEqual([srv.id, cli.id].sort());
    expect(endpoints()[srv.id]?.ip).toBe(leased[srv.id]?.ip);
    expect(await httpGet(hostPort)).toContain('hello-from-srv');
    await until('srv by name after the migration', async () =>
      (await berth('exec', 'cli', '--', 'sh', '-c', script)).stdout.includes('hello-from-srv'),
    );

    // Stop releases the lease; start attaches again.
    await ok('stop', 'cli');
    expect(Object.keys(endpoints())).toEqual([srv.id]);
    await ok('start', 'cli');
    expect(Object.keys(endpoints()).sort()).toEqual([srv.id, cli.id].sort());

    // Delete: no veth, no lease, no port rule.
    await ok('rm', '-f', 'srv');
    await ok('rm', '-f', 'cli');
    expect(endpoints()).toEqual({});
    expect(links().filter((l) => l.startsWith(IF_PREFIX))).toEqual([]);
    expect(nftTableText()).not.toContain(String(hostPort));
    expect(await httpGet(hostPort)).toBeUndefined();
  }, 120_000);

  it('refuses published ports without the bridge, naming the field', async () => {
    const r = await berth('launch', 'busybox', 'nobr', '--publish', '8080:80', '--', 'true');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('ports');
    const bad = await berth('launch', 'busybox', 'nobr', '--network', 'bridge', '--publish', '8080:99999');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('containerPort');
    expect(
      (JSON.parse(await ok('ls', '--format', 'json')) as ContainerInfo[]).map((c) => c.name),
    ).not.toContain('nobr');
  }, 60_000);
});

// ---- user networks, isolation, modes --------------------------------------------------------

async function createNetwork(name: string, ...opts: string[]): Promise<NetworkInfo> {
  const info = JSON.parse(await ok('network', 'create', name, ...opts, '--format', 'json')) as NetworkInfo;
  userBridges.add(info.bridge);
  return info;
}

const HTTPD =
  'mkdir -p /www && echo "hello-from-$(hostname)" > /www/index.html && exec httpd -f -p 80 -h /www';

/** In `from`: GET / from `target` (a name, resolved through the network's DNS, or an IP). */
async function fetchIn(from: string, target: string): Promise<string> {
  const script = /^[\d.]+$/.test(target)
    ? `printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 2 ${target} 80`
    : `ip=$(nslookup ${target} 2>/dev/null | awk '/^Address/ {a=$NF} END {print a}'); echo "ip=$ip"; [ -n "$ip" ] && printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 2 "$ip" 80`;
  const r = await berth('exec', from, '--', 'sh', '-c', script);
  return r.stdout + r.stderr;
}

async function inspect(name: string): Promise<ContainerInfo> {
  return JSON.parse(await ok('inspect', name)) as ContainerInfo;
}

const prefix24 = (cidr: string): string => cidr.replace(/\.0\/24$/, '.');

describe('user networks', () => {
  it('are created, listed, inspected; their containers reach each other by name, never across networks', async () => {
    const blue = await createNetwork('blue', '--subnet', subnet(1));
    const red = await createNetwork('red', '--subnet', subnet(2), '--ipv6');
    expect(blue).toMatchObject({ name: 'blue', subnet: subnet(1), isolated: false, default: false });
    expect(red.subnet6).toMatch(/^fd[0-9a-f:]+\/64$/);
    const ls = await ok('network', 'ls');
    expect(ls).toContain('blue');
    expect(ls).toContain(subnet(2));

    // Bad input names the field and changes nothing; an overlapping subnet is a conflict.
    const bad = await berth('network', 'create', 'green', '--subnet', '10.1.2.3/24');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('subnet');
    const overlap = await berth('network', 'create', 'green', '--subnet', subnet(1));
    expect(overlap.code).toBe(5);
    expect(overlap.stderr).toContain('overlaps');
    const reserved = await berth('network', 'create', 'host', '--subnet', subnet(3));
    expect(reserved.code).toBe(2);
    expect((await berth('network', 'inspect', 'green')).code).toBe(4);
    const missing = await berth('launch', 'busybox', 'lost', '--network', 'nosuchnet', '--', 'true');
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain('nosuchnet');

    await ok('launch', 'busybox', 'srvb', '--network', 'blue', '--', 'sh', '-c', HTTPD);
    await ok('launch', 'busybox', 'clib', '--network', 'blue', '--', 'sleep', '1000');
    await ok('launch', 'busybox', 'clir', '--network', 'red', '--', 'sleep', '1000');
    const srvb = await inspect('srvb');
    expect(srvb.network?.network).toBe('blue');
    expect(srvb.network?.ip.startsWith(prefix24(subnet(1)))).toBe(true);
    expect(srvb.network?.gateway).toBe(blue.gateway);
    expect(srvb.network?.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    const clir = await inspect('clir');
    expect(clir.network?.ip6).toMatch(/^fd/);
    // ls shows the network and address in a column.
    const row = (await ok('ls')).split('\n').find((l) => l.startsWith('srvb '));
    expect(row).toContain(`blue ${srvb.network?.ip}`);

    let out = '';
    await until('srvb from clib by name', async () => {
      out = await fetchIn('clib', 'srvb');
      return out.includes('hello-from-srvb');
    }).catch((e: Error) => {
      throw new Error(`${e.message}: ${out}`);
    });
    // From red: the name does not resolve there, and the address does not answer.
    expect(await fetchIn('clir', 'srvb')).not.toContain('hello-from');
    expect(await fetchIn('clir', srvb.network!.ip)).not.toContain('hello-from');
    // ...while it does from blue by address (so the check above can fail).
    expect(await fetchIn('clib', srvb.network!.ip)).toContain('hello-from-srvb');

    // Its interface's counters in the metrics: bytes and packets both ways.
    await until('srvb network counters in the metrics', async () => {
      const tick = JSON.parse(await ok('stats', 'srvb', '--no-stream', '--format', 'json')) as MetricsTick;
      const net = tick.samples.find((x) => x.name === 'srvb')?.net;
      return (net?.rxPackets ?? 0) > 0 && (net?.txPackets ?? 0) > 0 && (net?.txBytes ?? 0) > 100;
    });

    const info = JSON.parse(await ok('network', 'inspect', 'blue')) as NetworkInfo;
    expect(info.containers.map((c) => c.container)).toEqual(['clib', 'srvb']);
    const rm = await berth('network', 'rm', 'blue');
    expect(rm.code).toBe(5);
    expect(rm.stderr).toContain('attached');
    expect(await ok('events', '--since', '0', '--subject', 'blue')).toMatch(
      /network\.created blue by \S+ subnet=/,
    );
  }, 180_000);

  it('--isolated: neighbours cannot reach each other; the gateway and its DNS answer', async () => {
    await createNetwork('iso', '--subnet', subnet(4), '--isolated');
    await ok('launch', 'busybox', 'isoa', '--network', 'iso', '--', 'sh', '-c', HTTPD);
    await ok('launch', 'busybox', 'isob', '--network', 'iso', '--', 'sleep', '1000');
    const a = await inspect('isoa');
    // The name resolves (DNS on the gateway works), but the neighbour does not answer.
    let out = '';
    await until('isoa resolves from isob', async () => {
      out = await fetchIn('isob', 'isoa');
      return out.includes(`ip=${a.network?.ip}`);
    }).catch((e: Error) => {
      throw new Error(`${e.message}: ${out}`);
    });
    expect(out).not.toContain('hello-from');
    expect(await fetchIn('isob', a.network!.ip)).not.toContain('hello-from');
    // The container itself serves: from its own namespace it answers.
    expect(await fetchIn('isoa', '127.0.0.1')).toContain('hello-from-isoa');
  }, 120_000);

  it('a published port answers on the host loopback and, through the host address, to another container (hairpin)', async () => {
    const hostPort = await freePort();
    await createNetwork('pub', '--subnet', subnet(5));
    await ok(
      'launch',
      'busybox',
      'web',
      '--network',
      'pub',
      '--publish',
      `${hostPort}:80`,
      '--',
      'sh',
      '-c',
      HTTPD,
    );
    await ok('launch', 'busybox', 'webcli', '--network', 'pub', '--', 'sleep', '1000');
    await ok('launch', 'busybox', 'othercli', '--network', 'bridge', '--', 'sleep', '1000');
    const web = await inspect('web');
    expect(web.network?.ports).toEqual([
      { protocol: 'tcp', hostAddress: '0.0.0.0', hostPort, containerPort: 80 },
    ]);
    expect((await ok('ls')).split('\n').find((l) => l.startsWith('web '))).toContain(
      `0.0.0.0:${hostPort}->80/tcp`,
    );
    await until(
      'the published port on 127.0.0.1',
      async () => (await httpGet(hostPort))?.includes('hello-from-web') ?? false,
    );
    const gw = web.network!.gateway;
    const hairpin = `printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 2 ${gw} ${hostPort}`;
    let out = '';
    await until('hairpin from a neighbour', async () => {
      out = (await berth('exec', 'webcli', '--', 'sh', '-c', hairpin)).stdout;
      return out.includes('hello-from-web');
    });
    // And from a container on another network, through its own gateway (a host address too).
    const other = await inspect('othercli');
    const viaOther = `printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 2 ${other.network!.gateway} ${hostPort}`;
    await until('the published port from another network', async () =>
      (await berth('exec', 'othercli', '--', 'sh', '-c', viaOther)).stdout.includes('hello-from-web'),
    );
    // A port published twice is refused, naming the port.
    const twice = await berth(
      'launch',
      'busybox',
      'web2',
      '--network',
      'pub',
      '--publish',
      `${hostPort}:80`,
      '--',
      'true',
    );
    expect(twice.code).not.toBe(0);
    expect(twice.stderr).toContain(String(hostPort));
  }, 120_000);

  it('drops what a container sends with another IP or MAC (even with NET_ADMIN)', async () => {
    await createNetwork('spoof', '--subnet', subnet(6));
    await ok('launch', 'busybox', 'victim', '--network', 'spoof', '--', 'sh', '-c', HTTPD);
    await ok('launch', 'busybox', 'bystander', '--network', 'spoof', '--', 'sleep', '1000');
    // Privileged: NET_ADMIN to change its own address and MAC (the API has no per-capability
    // option); the bridge's rules must hold whatever the container does inside.
    await ok('launch', 'busybox', 'spoofer', '--network', 'spoof', '--privileged', '--', 'sleep', '1000');
    const victim = await inspect('victim');
    const bystander = await inspect('bystander');
    const me = await inspect('spoofer');
    const len = 24;
    const sh = (script: string) => berth('exec', 'spoofer', '--', 'sh', '-c', script);
    const get = `printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 2 ${victim.network!.ip} 80`;
    // Its own identity works (so the checks below can fail).
    await until('victim from spoofer', async () => (await sh(get)).stdout.includes('hello-from-victim'));
    // Another container's IP.
    let r = await sh(
      `ip addr flush dev eth0 && ip addr add ${bystander.network!.ip}/${len} dev eth0 && ${get}`,
    );
    expect(r.stdout).not.toContain('hello-from');
    // A made-up address in the subnet.
    const made = `${prefix24(subnet(6))}200`;
    r = await sh(`ip addr flush dev eth0 && ip addr add ${made}/${len} dev eth0 && ${get}`);
    expect(r.stdout).not.toContain('hello-from');
    // Its own address back, another MAC.
    r = await sh(
      `ip addr flush dev eth0 && ip addr add ${me.network!.ip}/${len} dev eth0 && ip link set eth0 address 02:42:de:ad:be:ef && ${get}`,
    );
    expect(r.stdout).not.toContain('hello-from');
    // Both back: it works again.
    await sh(`ip link set eth0 address ${me.network!.mac}`);
    await until('victim from spoofer with its own identity again', async () =>
      (await sh(get)).stdout.includes('hello-from-victim'),
    );
  }, 120_000);

  it('applies per-container rate limits: tc on the host end (ingress), an nft limit (egress)', async () => {
    await ok(
      'launch',
      'busybox',
      'slow',
      '--network',
      'bridge',
      '--rate-in',
      '2M',
      '--rate-out',
      '1M',
      '--',
      'sleep',
      '1000',
    );
    const slow = await inspect('slow');
    expect(slow.config.rateLimit).toEqual({ ingressBps: 2_000_000, egressBps: 1_000_000 });
    expect(slow.network?.rateLimit).toEqual({ ingressBps: 2_000_000, egressBps: 1_000_000 });
    const hostIf = (endpoints()[slow.id] as { hostIf: string }).hostIf;
    expect(spawnSync('tc', ['qdisc', 'show', 'dev', hostIf], { encoding: 'utf8' }).stdout).toMatch(
      /tbf .*rate 2Mbit/,
    );
    expect(nftTableText()).toContain(`lim_${hostIf}`);
    const bad = await berth(
      'launch',
      'busybox',
      'slow2',
      '--network',
      'bridge',
      '--rate-out',
      'fast',
      '--',
      'true',
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('rate-out');
    const none = await berth('launch', 'busybox', 'slow3', '--rate-in', '1M', '--', 'true');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('rateLimit');
    await ok('rm', '-f', 'slow');
    expect(spawnSync('ip', ['link', 'show', hostIf]).status).not.toBe(0);
  }, 60_000);

  it("cannot reach the agent's socket from inside", async () => {
    await ok('launch', 'busybox', 'nosock', '--network', 'bridge', '--', 'sleep', '1000');
    const sock = args().socketPath;
    const script = [
      `test -e ${sock} && echo FOUND-path`,
      // (The root's overlay options name the state dir; the socket itself is never mounted.)
      'grep -F berthd.sock /proc/self/mountinfo && echo FOUND-mount',
      `for p in /proc/*/root${sock} /proc/*/cwd/berthd.sock /proc/1/root${dir}; do test -e "$p" && echo "FOUND-$p"; done`,
      `ls -la ${dir} 2>&1 | grep -q berthd.sock && echo FOUND-ls`,
      // connect(2) by path: busybox nc cannot speak AF_UNIX, so a shell redirection to it.
      `(echo > ${sock}) 2>/dev/null && echo FOUND-write`,
      'echo done',
    ].join('; ');
    const r = await berth('exec', 'nosock', '--', 'sh', '-c', script);
    expect(r.stdout).toContain('done');
    expect(r.stdout).not.toContain('FOUND');
    // The host can (the check is real).
    expect(existsSync(sock)).toBe(true);
  }, 60_000);

  it('network modes: none has only loopback, host is refused by policy, container:NAME shares a namespace', async () => {
    await ok('launch', 'busybox', 'lonely', '--network', 'none', '--', 'sleep', '1000');
    const links = await ok('exec', 'lonely', '--', 'sh', '-c', "ip -o link | awk -F': ' '{print $2}'");
    expect(links.trim().split('\n')).toEqual(['lo']);
    expect((await inspect('lonely')).network).toBeUndefined();
    const host = await berth('launch', 'busybox', 'hosty', '--network', 'host', '--', 'true');
    expect(host.code).toBe(6);
    expect(host.stderr).toContain('allowHostNetwork');
    await ok('launch', 'busybox', 'peer', '--network', 'bridge', '--', 'sh', '-c', HTTPD);
    await ok('launch', 'busybox', 'sidecar', '--network', 'container:peer', '--', 'sleep', '1000');
    const ip = (await inspect('peer')).network!.ip;
    expect(await ok('exec', 'sidecar', '--', 'ip', '-o', 'addr', 'show', 'eth0')).toContain(ip);
    await until('peer on the shared loopback', async () =>
      (await fetchIn('sidecar', '127.0.0.1')).includes('hello-from-peer'),
    );
  }, 60_000);

  it('container:NAME follows its peer: stopped after it, started again in its new namespace', async () => {
    // (peer and sidecar from the test above.)
    const netnsOf = async (name: string): Promise<string> =>
      readlinkSync(`/proc/${(await inspect(name)).pid}/ns/net`);
    /** Both running, in one network namespace. */
    const sharing = (peer: string, sidecar: string) => async (): Promise<boolean> => {
      const [p, s] = [await inspect(peer), await inspect(sidecar)];
      return (
        p.state === 'running' && s.state === 'running' && (await netnsOf(peer)) === (await netnsOf(sidecar))
      );
    };
    const together = sharing('peer', 'sidecar');
    expect(await together()).toBe(true);
    const sidecarPid = (await inspect('sidecar')).pid;

    // The peer restarted: a new namespace; the sidecar is restarted after it, into that one.
    // (Not told apart by inode: the kernel may give the new namespace the freed one's number.)
    await ok('restart', 'peer');
    await until("the sidecar in the restarted peer's namespace", together);
    expect((await inspect('sidecar')).pid).not.toBe(sidecarPid);
    const ip = (await inspect('peer')).network!.ip;
    expect(await ok('exec', 'sidecar', '--', 'ip', '-o', 'addr', 'show', 'eth0')).toContain(ip);
    await until('peer on the shared loopback after its restart', async () =>
      (await fetchIn('sidecar', '127.0.0.1')).includes('hello-from-peer'),
    );
    expect(await ok('events', '--since', '0', '--subject', 'sidecar')).toMatch(
      /container\.stopped sidecar .*reason=its network peer peer stopped/,
    );
    expect(await ok('events', '--since', '0', '--subject', 'sidecar')).toMatch(
      /container\.started sidecar .*reason=its network peer peer started/,
    );

    // The peer's init killed from outside, restarted by its policy: the sidecar follows it.
    await ok(
      'launch',
      'busybox',
      'peer2',
      '--network',
      'bridge',
      '--restart',
      'always',
      '--',
      'sleep',
      '1000',
    );
    await ok('launch', 'busybox', 'sidecar2', '--network', 'container:peer2', '--', 'sleep', '1000');
    const pairs = sharing('peer2', 'sidecar2');
    expect(await pairs()).toBe(true);
    const [peer2Pid, sidecar2Pid] = [(await inspect('peer2')).pid, (await inspect('sidecar2')).pid];
    process.kill(peer2Pid!, 'SIGKILL');
    await until('the sidecar after its peer was killed and restarted', async () => {
      const [p, s] = [await inspect('peer2'), await inspect('sidecar2')];
      return p.pid !== peer2Pid && s.pid !== sidecar2Pid && (await pairs());
    });
    await ok('rm', '-f', 'sidecar2');
    await ok('rm', '-f', 'peer2');

    // The peer stopped: the sidecar is stopped too, and refuses to start until the peer runs.
    await ok('stop', 'peer');
    expect((await inspect('sidecar')).state).toBe('stopped');
    const refused = await berth('start', 'sidecar');
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain('container:peer: peer is not running');
    await ok('start', 'peer');
    await until('the sidecar started after its peer', together);

    // A sidecar its user stopped stays stopped across the peer's restart.
    await ok('stop', 'sidecar');
    await ok('restart', 'peer');
    await sleep(1000);
    expect((await inspect('sidecar')).state).toBe('stopped');

    // The peer cannot go while the sidecar exists (rm -f can; the sidecar is stopped).
    await ok('stop', 'peer');
    const rm = await berth('rm', 'peer');
    expect(rm.code).toBe(5);
    expect(rm.stderr).toContain('is the network of sidecar');
    // Nor be renamed (the sidecar names it).
    const mv = await berth('rename', 'peer', 'peer-renamed');
    expect(mv.code).toBe(5);
    expect(mv.stderr).toContain('is the network of sidecar');
    await ok('start', 'peer');
    await ok('start', 'sidecar');
    await ok('rm', '-f', 'peer');
    expect((await inspect('sidecar')).state).toBe('stopped');
    expect((await berth('start', 'sidecar')).stderr).toContain('peer');
    await ok('rm', '-f', 'sidecar');
  }, 240_000);

  it("host mode, where the agent's config allows it: the host's namespace", async () => {
    await berthd?.stop();
    writeFileSync(join(dir, 'agent.json'), JSON.stringify({ ...agentConfig(), allowHostNetwork: true }));
    berthd = await startBerthd(args());
    await ok('launch', 'busybox', 'hosty', '--network', 'host', '--', 'sleep', '1000');
    expect((await ok('exec', 'hosty', '--', 'readlink', '/proc/self/ns/net')).trim()).toBe(
      readlinkSync('/proc/self/ns/net'),
    );
    expect(await ok('exec', 'hosty', '--', 'cat', '/proc/net/dev')).toContain(`${BRIDGE}:`);
    expect((await inspect('hosty')).network).toBeUndefined();
    // The host's loopback is its loopback: a server the test runs there answers.
    const srv = createServer((s) => s.end('hello-from-host\n'));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (srv.address() as { port: number }).port;
      const r = await berth('exec', 'hosty', '--', 'sh', '-c', `nc -w 2 127.0.0.1 ${port} </dev/null`);
      expect(r.stdout).toContain('hello-from-host');
    } finally {
      srv.close();
    }
    await ok('rm', '-f', 'hosty');
  }, 60_000);

  it('teardown: deleting the containers and networks leaves no veth, rule, lease or bridge', async () => {
    const list = JSON.parse(await ok('ls', '--format', 'json')) as ContainerInfo[];
    for (const c of list) await ok('rm', '-f', c.name);
    const forced = await ok('network', 'rm', '--force', 'blue');
    expect(forced).toContain('removed network blue');
    for (const n of ['red', 'iso', 'pub', 'spoof']) await ok('network', 'rm', n);
    expect(endpoints()).toEqual({});
    expect(links().filter((l) => l.startsWith(IF_PREFIX) || userBridges.has(l))).toEqual([]);
    const nets = JSON.parse(await ok('network', 'ls', '--format', 'json')) as NetworkInfo[];
    expect(nets.map((n) => n.name)).toEqual([BRIDGE]);
    const fw = nftTableText();
    for (const b of userBridges) expect(fw).not.toContain(b);
    // No container's port in the sets (the guard rule's "prefix*" stays).
    expect(fw).not.toMatch(new RegExp(`"${IF_PREFIX}[0-9a-f]`));
    expect(await ok('events', '--since', '0', '--subject', 'blue')).toMatch(
      /network\.removed blue .*detached=/,
    );
  }, 120_000);
});
