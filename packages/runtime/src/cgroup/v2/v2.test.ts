import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HostFacts } from '../controller.ts';
import { type CgroupManager, createCgroupManager, type OomEvent } from '../index.ts';
import { type FakeCgroup2, fakeCgroup2 } from './testing.ts';

// The v2 driver's controller logic against a temporary directory laid out like a cgroup2 mount:
// exactly what is written where, and what is parsed from the kernel's formats.

const host: HostFacts = { onlineCpus: '0-3', onlineMems: '0', hugePageSizes: ['2MB', '1GB'] };
let fake: FakeCgroup2;
let cg: CgroupManager;

beforeEach(async () => {
  fake = fakeCgroup2();
  cg = createCgroupManager({ path: '/berth/c1', layout: fake.layout, root: fake.root, fs: fake.fs, host });
  await cg.create();
  fake.fs.writes.length = 0;
});
afterEach(() => fake.cleanup());

const written = () => fake.fs.writes.map((w) => [w.path.slice(fake.mount.length), w.value]);
const read = (name: string) => readFileSync(fake.file('/berth/c1', name), 'utf8').trim();

describe('v2 driver on a cgroup2-like tree', () => {
  it('creates the path, enabling the controllers in each ancestor first (pure v2: the root too)', async () => {
    const f = fakeCgroup2();
    try {
      const m = createCgroupManager({ path: '/berth/c2', layout: f.layout, root: f.root, fs: f.fs, host });
      await m.create();
      expect(f.fs.writes.map((w) => [w.path.slice(f.mount.length), w.value])).toEqual([
        ['/cgroup.subtree_control', '+cpuset +cpu +memory +pids +io +hugetlb'],
        ['/berth/cgroup.subtree_control', '+cpuset +cpu +memory +pids +io +hugetlb'],
      ]);
      expect(m.procsFiles()).toEqual([join(f.mount, 'berth/c2/cgroup.procs')]);
      expect(m.mode).toBe('v2');
    } finally {
      f.cleanup();
    }
  });

  it('translates every OCI limit into v2 files and units', async () => {
    await cg.apply({
      memory: { limit: 256 << 20, reservation: 128 << 20, swap: 512 << 20 },
      cpu: { shares: 1024, quota: 50_000, period: 100_000, burst: 10_000, cpus: '1-2', mems: '0', idle: 0 },
      pids: { limit: 100 },
      blockIO: {
        weight: 500,
        weightDevice: [{ major: 8, minor: 0, weight: 1000 }],
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
        throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 100 }],
      },
      hugepageLimits: [{ pageSize: '2MB', limit: 4 << 21 }],
    });
    expect(written()).toEqual([
      ['/berth/c1/cpuset.cpus', '1-2'],
      ['/berth/c1/cpuset.mems', '0'],
      ['/berth/c1/cpu.weight', '100'],
      ['/berth/c1/cpu.idle', '0'],
      ['/berth/c1/cpu.max', '50000 100000'],
      ['/berth/c1/cpu.max.burst', '10000'],
      ['/berth/c1/memory.max', String(256 << 20)],
      ['/berth/c1/memory.low', String(128 << 20)],
      ['/berth/c1/memory.swap.max', String(256 << 20)],
      ['/berth/c1/pids.max', '100'],
      ['/berth/c1/io.weight', 'default 4950'],
      ['/berth/c1/io.weight', '8:0 10000'],
      ['/berth/c1/io.max', '8:0 rbps=1048576 wiops=100'],
      ['/berth/c1/hugetlb.2MB.max', String(4 << 21)],
    ]);
  });

  it('uses io.bfq.weight on the v1 scale when BFQ is there', async () => {
    const f = fakeCgroup2({ 'io.bfq.weight': 'default 100\n' });
    try {
      const m = createCgroupManager({ path: '/c', layout: f.layout, root: f.root, fs: f.fs, host });
      await m.create();
      f.fs.writes.length = 0;
      await m.apply({ blockIO: { weight: 500 } });
      expect(f.fs.writes.map((w) => [w.path.slice(f.mount.length), w.value])).toEqual([
        ['/c/io.bfq.weight', 'default 500'],
      ]);
    } finally {
      f.cleanup();
    }
  });

  it('writes "max" for unlimited values and keeps the other half of cpu.max', async () => {
    writeFileSync(fake.file('/berth/c1', 'cpu.max'), '20000 50000\n');
    await cg.apply({ memory: { limit: -1, swap: -1 }, pids: { limit: -1 }, cpu: { period: 200_000 } });
    await cg.update({ cpu: { quota: -1 } });
    expect(written()).toEqual([
      ['/berth/c1/cpu.max', '20000 200000'],
      ['/berth/c1/memory.max', 'max'],
      ['/berth/c1/memory.swap.max', 'max'],
      ['/berth/c1/pids.max', 'max'],
      ['/berth/c1/cpu.max', 'max 200000'],
    ]);
  });

  it('refuses v1-only settings and bad values naming the field, writing nothing', async () => {
    const cases: Array<[object, RegExp]> = [
      [{ memory: { kernel: 1 << 20 } }, /^memory.kernel: kernel memory limits exist only in cgroup v1/],
      [{ memory: { swappiness: 10 } }, /^memory.swappiness: cgroup v2 has no per-cgroup swappiness/],
      [{ cpu: { realtimeRuntime: 1000 } }, /^cpu.realtimeRuntime: cgroup v2 has no real-time/],
      [{ pids: { limit: 10 }, cpu: { shares: 1 } }, /^cpu.shares: must be between 2 and 262144, got 1/],
      [{ cpu: { quota: 500 } }, /^cpu.quota: must be between 1000/],
      [{ cpu: { period: 2_000_000 } }, /^cpu.period: must be between 1000 and 1000000/],
      [{ cpu: { quota: 10_000, burst: 20_000 } }, /^cpu.burst: burst \(20000\) must not exceed quota/],
      [{ cpu: { cpus: '0-7' } }, /^cpu.cpus: CPUs 4,5,6,7 not online \(online: 0-3\)/],
      [{ cpu: { cpus: '3-1' } }, /^cpu.cpus: .* runs backwards/],
      [{ cpu: { mems: '1' } }, /^cpu.mems: memory nodes 1 not online/],
      [{ memory: { limit: 1 << 30, swap: 1 << 29 } }, /^memory.swap: memory\+swap .* must not be below/],
      [{ memory: { swap: 1 << 30 } }, /^memory.swap: memory\+swap needs a memory limit/],
      [{ memory: { limit: 1.5 } }, /^memory.limit: must be an integer/],
      [{ blockIO: { weight: 5 } }, /^blockIO.weight: must be between 10 and 1000/],
      [{ blockIO: { leafWeight: 500 } }, /^blockIO.leafWeight: leaf weights went with the CFQ scheduler/],
      [
        { blockIO: { throttleReadBpsDevice: [{ major: 8, minor: 0, rate: -1 }] } },
        /^blockIO.throttleReadBpsDevice\[0\].rate/,
      ],
      [
        { hugepageLimits: [{ pageSize: '4MB', limit: 0 }] },
        /^hugepageLimits\[0\].pageSize: 4MB pages are not offered/,
      ],
      [
        { hugepageLimits: [{ pageSize: '2M', limit: 0 }] },
        /^hugepageLimits\[0\].pageSize: "2M" is not a page size/,
      ],
      [{ devices: [{ allow: true, type: 'x' }] }, /^devices\[0\].type: must be "a", "b" or "c"/],
      [
        { devices: [{ allow: true, type: 'c', access: 'rwx' }] },
        /^devices\[0\].access: must be a non-empty subset of "rwm"/,
      ],
      [{ unified: { 'cgroup.kill': '1' } }, /^unified.cgroup.kill: not a controller interface file name/],
      [
        { unified: { 'memory.nonexistent': '1' } },
        /^unified.memory.nonexistent: memory.nonexistent does not exist/,
      ],
    ];
    for (const [r, msg] of cases) {
      await expect(cg.apply({ pids: { limit: 5 }, ...r }), JSON.stringify(r)).rejects.toThrow(msg);
    }
    expect(written()).toEqual([]);
    expect(read('pids.max')).toBe('max');
  });

  it('undoes earlier writes, in reverse, when the kernel refuses a later one', async () => {
    writeFileSync(fake.file('/berth/c1', 'io.max'), '8:0 rbps=100 wbps=max riops=max wiops=max\n');
    fake.refuse((path) => (path.endsWith('hugetlb.2MB.max') ? 'EINVAL' : undefined));
    const err = await cg
      .apply({
        memory: { limit: 64 << 20 },
        pids: { limit: 7 },
        blockIO: { throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 5000 }] },
        hugepageLimits: [{ pageSize: '2MB', limit: 0 }],
      })
      .then(
        () => undefined,
        (e: unknown) => e as { code: string; field: string; message: string },
      );
    expect(err).toMatchObject({ code: 'CGROUP_KERNEL_REJECTED', field: 'hugepageLimits[0]' });
    expect(err!.message).toMatch(/earlier writes were undone/);
    expect(written()).toEqual([
      ['/berth/c1/memory.max', String(64 << 20)],
      ['/berth/c1/pids.max', '7'],
      ['/berth/c1/io.max', '8:0 rbps=5000'],
      ['/berth/c1/io.max', '8:0 rbps=100 wbps=max riops=max wiops=max'],
      ['/berth/c1/pids.max', 'max'],
      ['/berth/c1/memory.max', 'max'],
    ]);
  });

  it('passes OCI unified keys through to existing v2 files', async () => {
    await cg.apply({ unified: { 'memory.high': '1073741824' } });
    expect(read('memory.high')).toBe('1073741824');
  });

  it('parses stats from the kernel formats, leaving absent what the files do not say', async () => {
    const w = (name: string, text: string) => writeFileSync(fake.file('/berth/c1', name), text);
    w(
      'cpu.stat',
      'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\nnr_throttled 4\nthrottled_usec 777\n',
    );
    w('memory.current', '1048576\n');
    w('memory.peak', '2097152\n');
    w('memory.max', '4194304\n');
    w('memory.stat', 'anon 524288\nfile 262144\nkernel 1\n');
    w('memory.events', 'low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\noom_group_kill 0\n');
    w('pids.current', '3\n');
    w('pids.max', 'max\n');
    w(
      'io.stat',
      '8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n253:1 rbytes=1 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n',
    );
    w(
      'cpu.pressure',
      'some avg10=1.50 avg60=0.25 avg300=0.05 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n',
    );
    w(
      'memory.pressure',
      'some avg10=0.00 avg60=0.00 avg300=0.00 total=7\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=3\n',
    );
    w('io.pressure', 'some avg10=0.00 avg60=0.00 avg300=0.00 total=9\n');
    expect(await cg.stats()).toEqual({
      cpu: {
        usageUsec: 1500,
        userUsec: 1000,
        systemUsec: 500,
        nrPeriods: 10,
        nrThrottled: 4,
        throttledUsec: 777,
      },
      memory: {
        usage: 1048576,
        peak: 2097152,
        limit: 4194304,
        anon: 524288,
        file: 262144,
        oom: 2,
        oomKill: 1,
      },
      pids: { current: 3 },
      io: {
        devices: [
          { major: 8, minor: 0, rbytes: 4096, wbytes: 8192, rios: 1, wios: 2 },
          { major: 253, minor: 1, rbytes: 1, wbytes: 0, rios: 1, wios: 0 },
        ],
      },
      pressure: {
        cpu: {
          some: { avg10: 1.5, avg60: 0.25, avg300: 0.05, total: 123456 },
          full: { avg10: 0, avg60: 0, avg300: 0, total: 0 },
        },
        memory: {
          some: { avg10: 0, avg60: 0, avg300: 0, total: 7 },
          full: { avg10: 0, avg60: 0, avg300: 0, total: 3 },
        },
        io: { some: { avg10: 0, avg60: 0, avg300: 0, total: 9 } },
      },
    });
  });

  it('samples only the sections asked for', async () => {
    expect(Object.keys(await cg.stats({ only: ['memory', 'pids'] })).sort()).toEqual(['memory', 'pids']);
    expect(Object.keys(await cg.stats({ only: ['pressure'] }))).toEqual(['pressure']);
    expect(Object.keys(await cg.stats()).sort()).toEqual(['cpu', 'io', 'memory', 'pids', 'pressure']);
  });

  it('re-reads a limit for stats after update() changed it', async () => {
    await cg.apply({ memory: { limit: 64 << 20 } });
    expect((await cg.stats({ only: ['memory'] })).memory!.limit).toBe(64 << 20);
    await cg.update({ memory: { limit: 32 << 20 } });
    expect((await cg.stats({ only: ['memory'] })).memory!.limit).toBe(32 << 20);
  });

  it('reports OOM kills from memory.events through inotify', async () => {
    const events: OomEvent[] = [];
    const stop = cg.onOom((e) => events.push(e));
    try {
      writeFileSync(
        fake.file('/berth/c1', 'memory.events'),
        'low 0\nhigh 0\nmax 1\noom 1\noom_kill 2\noom_group_kill 0\n',
      );
      const deadline = Date.now() + 5000;
      while (events.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(events).toMatchObject([{ kind: 'oom-kill', count: 2, delta: 2 }]);
    } finally {
      stop();
    }
  });

  it('destroys the cgroup (children first) and leaves the parent', async () => {
    fake.fs.mkdir(fake.file('/berth/c1', 'inner'));
    await cg.destroy();
    expect(fake.fs.exists(join(fake.mount, 'berth/c1'))).toBe(false);
    expect(fake.fs.exists(join(fake.mount, 'berth'))).toBe(true);
  });
});
