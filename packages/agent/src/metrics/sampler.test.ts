// The sampler on the host's side: /proc and /sys files laid out in a temporary directory and
// read through the real file seam; container cgroups are in sampler.root.test.ts.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostCgroupFs } from '@berth/runtime/cgroup';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { parsePrometheus } from '../../test/prometheus.ts';
import { prometheusText } from './prometheus.ts';
import { MetricsSampler } from './sampler.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-metrics-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function put(path: string, content: string) {
  mkdirSync(join(dir, path, '..'), { recursive: true });
  writeFileSync(join(dir, path), content);
}

function proc(v: { busy: number; idle: number; rx: number; read: number; avail: number }) {
  put(
    'proc/stat',
    `cpu  ${v.busy} 0 0 ${v.idle} 0 0 0 0 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\ncpu1 1 0 0 1 0 0 0 0 0 0\nintr 1\n`,
  );
  put('proc/meminfo', `MemTotal:        1000 kB\nMemFree:          100 kB\nMemAvailable:     400 kB\n`);
  put('proc/loadavg', '0.50 0.40 0.30 2/321 4567\n');
  put(
    'proc/net/dev',
    [
      'Inter-|   Receive                                                |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
      `    lo: 999999 1 0 0 0 0 0 0 999999 1 0 0 0 0 0 0`,
      `  eth0: ${v.rx} 10 0 0 0 0 0 0 ${v.rx / 2} 5 0 0 0 0 0 0`,
      `veth1a: 555555 1 0 0 0 0 0 0 555555 1 0 0 0 0 0 0`,
      // Berth's own links (a container's veth end, a network's bridge): not the host's traffic.
      `vb0123abcd: 777777 1 0 0 0 0 0 0 777777 1 0 0 0 0 0 0`,
      `br-0123456789: 888888 1 0 0 0 0 0 0 888888 1 0 0 0 0 0 0`,
      '',
    ].join('\n'),
  );
  put(
    'proc/diskstats',
    `   7       0 loop0 1 0 8888 0 0 0 0 0 0 0 0\n 254       0 vda 10 0 ${v.read / 512} 0 5 0 ${v.read / 1024} 0 0 0 0\n 254       1 vda1 10 0 ${v.read / 512} 0 5 0 0 0 0 0 0\n`,
  );
  put(
    'proc/pressure/cpu',
    'some avg10=12.50 avg60=1.00 avg300=0.10 total=5\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n',
  );
  put('proc/pressure/memory', 'some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n');
  mkdirSync(join(dir, 'sys/block/vda'), { recursive: true });
  mkdirSync(join(dir, 'sys/block/loop0'), { recursive: true });
}

type Proc = Parameters<typeof proc>[0];

/** A sampler over the fake tree, sampled at `first` and `seconds` later at `second`. */
async function sampledTwice(first: Proc, second: Proc, seconds: number): Promise<MetricsSampler> {
  const sampler = new MetricsSampler({
    fs: hostCgroupFs(),
    procRoot: join(dir, 'proc'),
    sysRoot: join(dir, 'sys'),
    isBerthLink: (name) => name.startsWith('vb') || name.startsWith('br-'),
  });
  proc(first);
  await sampler.sample(1_000_000);
  proc(second);
  await sampler.sample(1_000_000 + seconds * 1000);
  return sampler;
}

it('samples the host from /proc: CPU % of all cores, memory in use, rates, pressure where the kernel has it', async () => {
  // Busy 300 of 400 ticks over 2 CPUs: 150 % (1.5 cores); 20 kB received, 512 kB read in 2 s.
  const sampler = await sampledTwice(
    { busy: 1000, idle: 1000, rx: 10_000, read: 1_048_576, avail: 400 },
    { busy: 1300, idle: 1100, rx: 30_000, read: 2_097_152, avail: 400 },
    2,
  );
  const host = sampler.sampleOf(sampler.get('host')!);
  expect(host).toMatchObject({
    target: 'host',
    cpuPercent: 150,
    memoryBytes: 600 * 1024,
    memoryLimitBytes: 1000 * 1024,
    pids: 321,
    netRxBps: 10_000,
    netTxBps: 5_000,
    blockReadBps: 524_288,
    psi: { cpu: 12.5, memory: 0, io: null },
  });
});

it('writes Prometheus text that a parser reads back: HELP and TYPE per family, escaped labels, counters', async () => {
  const sampler = await sampledTwice(
    { busy: 1000, idle: 1000, rx: 10_000, read: 1_048_576, avail: 400 },
    { busy: 1100, idle: 1100, rx: 20_000, read: 1_048_576, avail: 400 },
    1,
  );
  const text = prometheusText(sampler);
  const series = parsePrometheus(text);
  expect(series.get('berth_cpu_usage_percent{id="host",name="host",kind="host"}')).toBe(100);
  expect(series.get('berth_network_receive_bytes_total{id="host",name="host",kind="host"}')).toBe(20_000);
  expect(
    series.get('berth_pressure_some_avg10_percent{id="host",name="host",kind="host",resource="cpu"}'),
  ).toBe(12.5);
  expect(text).toContain('# TYPE berth_cpu_seconds_total counter\n');
  expect(text.endsWith('\n')).toBe(true);
});

it("counts a container's network bytes and packets from its veth's host end, crossed (host rx = container tx)", async () => {
  const manager = {
    stats: async () => ({ cpu: { usageUsec: 0 }, memory: { usage: 1 }, pids: { current: 1 } }),
    procsFiles: () => [],
  };
  const sampler = new MetricsSampler({
    fs: hostCgroupFs(),
    procRoot: join(dir, 'proc'),
    sysRoot: join(dir, 'sys'),
    fullEvery: 1,
    managerFor: () => manager as never,
  });
  sampler.register({ id: 'c1', name: 'web', cgroupPath: '/berth/c1', netDevice: 'vbtest' });
  const veth = (hostRx: number, hostTx: number, rxp: number, txp: number) => {
    const s = 'sys/class/net/vbtest/statistics';
    put(`${s}/rx_bytes`, `${hostRx}\n`);
    put(`${s}/tx_bytes`, `${hostTx}\n`);
    put(`${s}/rx_packets`, `${rxp}\n`);
    put(`${s}/tx_packets`, `${txp}\n`);
  };
  proc({ busy: 1000, idle: 1000, rx: 0, read: 0, avail: 400 });
  veth(1000, 5000, 10, 50);
  await sampler.sample(1_000_000);
  veth(3000, 9000, 30, 90);
  await sampler.sample(1_002_000);
  const c = sampler.sampleOf(sampler.get('c1')!);
  expect(c).toMatchObject({ netRxBps: 2000, netTxBps: 1000 });
  expect(c.net).toEqual({ rxBytes: 9000, txBytes: 3000, rxPackets: 90, txPackets: 30 });
  const series = parsePrometheus(prometheusText(sampler));
  expect(series.get('berth_network_receive_packets_total{id="c1",name="web",kind="container"}')).toBe(90);
  expect(series.get('berth_network_transmit_packets_total{id="c1",name="web",kind="container"}')).toBe(30);
  // Without a veth (network none, or detached): no counters at all, not zeros.
  sampler.register({ id: 'c1', name: 'web', cgroupPath: '/berth/c1' });
  await sampler.sample(1_003_000);
  expect(sampler.sampleOf(sampler.get('c1')!).net).toBeUndefined();
});
