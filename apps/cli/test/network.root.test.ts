// Bridge networking end to end as root: the real bundled berthd (real runtime, user-namespaced
// containers) with its own default network on a unique test subnet, bridge, nftables table and
// veth prefix, driven through the bundled `berth` CLI. Traffic goes only between the test's
// containers and to 127.0.0.1. Everything is removed in afterAll, even when a test fails.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { type BerthdProcess, startBerthd } from '@berth/agent/testing';
import type { ContainerInfo } from '@berth/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BerthRun, cleanupTestHost, runBerth, until } from './harness.ts';

const TAG = `berth-test-clinet-${process.pid}`;
const CGROUP_PARENT = `/${TAG}`;
const hex = randomBytes(4).toString('hex');
const BRIDGE = `bc${hex.slice(0, 6)}`;
const TABLE = `berth_test_clinet_${process.pid}`;
const IF_PREFIX = `k${hex.slice(0, 3)}`;
const SUBNET = `10.${124 + (randomBytes(1)[0]! % 3)}.${randomBytes(1)[0]!}.0/24`;

let dir: string;
let berthd: BerthdProcess | undefined;
const args = () => ({
  socketPath: join(dir, 'berthd.sock'),
  stateDir: join(dir, 'state'),
  socketGroup: '0',
  extraArgs: ['--config', join(dir, 'agent.json')],
});

beforeAll(async () => {
  dir = mkdtempSync(`/tmp/${TAG}-`);
  chmodSync(dir, 0o755);
  writeFileSync(
    join(dir, 'agent.json'),
    JSON.stringify({
      cgroupParent: CGROUP_PARENT,
      stopTimeoutSec: 2,
      // Not the global ip_forward: other tests share this host.
      network: {
        subnet: SUBNET,
        bridge: BRIDGE,
        table: TABLE,
        hostIfPrefix: IF_PREFIX,
        forwarding: 'bridges',
      },
    }),
  );
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
    for (const l of links().filter((n) => n === BRIDGE || n.startsWith(IF_PREFIX)))
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

const endpoints = (): Record<string, unknown> => {
  const f = join(dir, 'state', 'network.json');
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')).endpoints as Record<string, unknown>) : {};
};

describe('bridge networking', () => {
  it('connects containers by name, publishes a port on 127.0.0.1, and leaves nothing behind', async () => {
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
