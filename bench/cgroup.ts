// `pnpm bench cgroup` (root): what Berth's cgroup layer costs on this host, side by side with
// a peer.
//  1. Stats sampling: CPU time of one round of stats() over N live cgroups (one sleeping process
//     each), N = 10, 100, 200, 500; the same rounds with the open-file cache switched off
//     (readFileSync per file) as the naive peer. Medians over rounds.
//  2. Setup: Berth's create + apply(limits) + destroy of a container cgroup (wall time), and
//     what of it is left on a container's path with the pool (take + release), beside
//     crun 1.8 starting /bin/true with cgroups disabled, with a cgroup and no limits, and with
//     the same limits (interleaved runs, medians). crun refuses this hybrid host as is, so it runs in a
//     private mount namespace with a tmpfs over the unified mount (see ENVIRONMENT.md).
// Everything is created under /berth-bench-<random> and removed at the end.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CgroupFs } from '../packages/runtime/src/cgroup/fs.ts';
import {
  type CgroupManager,
  createCgroupManager,
  detectHostCgroupLayout,
  hostCgroupFs,
  type LinuxResources,
  openCgroupPool,
  type StatsOptions,
} from '../packages/runtime/src/cgroup/index.ts';
import { removeTestTree } from '../packages/runtime/src/cgroup/testing.ts';

const quick = process.argv.includes('--quick');
const SIZES = quick ? [10, 100] : [10, 100, 200, 500];
const ROUNDS = quick ? 5 : 15;
const SETUP_RUNS = quick ? 10 : 40;
const parent = `/berth-bench-${randomBytes(4).toString('hex')}`;
const layout = detectHostCgroupLayout();
const RESOURCES: LinuxResources = {
  memory: { limit: 256 << 20, swap: 256 << 20 },
  cpu: { shares: 512, quota: 50_000, period: 100_000 },
  pids: { limit: 100 },
};

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** A seam without the open-file cache: every read is open + read + close. */
const uncachedFs = (): CgroupFs => {
  const inner = hostCgroupFs({ maxOpenFiles: 0 });
  return { ...inner, read: (p) => readFileSync(p, 'latin1') };
};

async function sampling() {
  console.log(
    '\n== stats sampling: CPU time per round of stats() over N live cgroups (median of %d rounds)',
    ROUNDS,
  );
  console.log(
    '   N | full stats: berth ms/round  µs/cgroup  %core@1Hz  naive ms/round  naive/berth | cpu+memory+pids: ms/round  %core@1Hz',
  );
  const max = SIZES[SIZES.length - 1]!;
  const cached: CgroupManager[] = [];
  const naive: CgroupManager[] = [];
  const fsNaive = uncachedFs();
  for (let i = 0; i < max; i++) {
    const path = `${parent}/s${i}`;
    const m = createCgroupManager({ path, layout });
    await m.create();
    cached.push(m);
    naive.push(createCgroupManager({ path, layout, fs: fsNaive }));
  }
  // One shell forks a sleeper per cgroup and writes it into every hierarchy.
  const script = cached
    .map(
      (m) =>
        `sleep 600 & p=$!; ${m
          .procsFiles()
          .map((f) => `echo $p > ${f}`)
          .join('; ')}`,
    )
    .join('\n');
  // The script goes in on stdin: for 500 cgroups it is longer than one argument may be.
  const sh = spawn('/bin/busybox', ['sh', '-s'], { stdio: ['pipe', 'pipe', 'inherit'] });
  sh.stdin.end(`${script}\necho ready; wait\n`);
  await new Promise<void>((resolve) => sh.stdout.on('data', (d) => String(d).includes('ready') && resolve()));
  const results: Record<number, { berth: number; naive: number; light: number }> = {};
  try {
    for (const n of SIZES) {
      const round = async (set: CgroupManager[], options?: StatsOptions) => {
        const t = cpuMs();
        for (let i = 0; i < n; i++) await set[i]!.stats(options);
        return cpuMs() - t;
      };
      const light: StatsOptions = { only: ['cpu', 'memory', 'pids'] };
      for (let w = 0; w < 2; w++) {
        await round(cached);
        await round(naive);
        await round(cached, light);
      }
      const a: number[] = [];
      const b: number[] = [];
      const c: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        a.push(await round(cached));
        b.push(await round(naive));
        c.push(await round(cached, light));
      }
      const berth = median(a);
      const nv = median(b);
      const lt = median(c);
      results[n] = { berth, naive: nv, light: lt };
      console.log(
        `${String(n).padStart(4)} | ${berth.toFixed(2).padStart(25)} ${((berth * 1000) / n).toFixed(1).padStart(10)} ${((berth / 1000) * 100).toFixed(2).padStart(10)} ${nv.toFixed(2).padStart(15)} ${(nv / berth).toFixed(2).padStart(12)} | ${lt.toFixed(2).padStart(25)} ${((lt / 1000) * 100).toFixed(2).padStart(10)}`,
      );
    }
  } finally {
    sh.kill('SIGKILL');
    for (const m of cached) await m.destroy().catch((e: unknown) => console.error(String(e)));
  }
  return results;
}

async function setup() {
  console.log('\n== setup: create + apply + remove one container cgroup (wall ms, median of %d)', SETUP_RUNS);
  const times: number[] = [];
  const times0: number[] = [];
  for (let i = 0; i < SETUP_RUNS + 3; i++) {
    const m = createCgroupManager({ path: `${parent}/setup${i}`, layout });
    const t0 = performance.now();
    await m.create();
    const t1 = performance.now();
    await m.apply(RESOURCES);
    await m.destroy();
    const t2 = performance.now();
    if (i >= 3) {
      times.push(t2 - t0);
      times0.push(t1 - t0);
    }
  }
  const berth = median(times);
  console.log(
    `berth create+apply+destroy: ${berth.toFixed(2)} ms (create alone ${median(times0).toFixed(2)} ms)`,
  );
  // The pool: what is left on a container's path is take() (the slot was made and limited
  // ahead of time) and release() (the removal happens in the background, here in an idle gap).
  const pool = await openCgroupPool({ parent: `${parent}/pool`, size: 2, layout });
  try {
    await pool.take(RESOURCES).then((c) => pool.release(c));
    const pooled: number[] = [];
    for (let i = 0; i < SETUP_RUNS + 3; i++) {
      while (pool.readyFor(RESOURCES).shape < 2) await new Promise((r) => setTimeout(r, 5));
      const t0 = performance.now();
      const c = await pool.take(RESOURCES);
      pool.release(c);
      if (i >= 3) pooled.push(performance.now() - t0);
    }
    console.log(
      `berth pool take+release (same limits; made and removed off the path): ${median(pooled).toFixed(3)} ms`,
    );
  } finally {
    await pool.close();
  }

  // crun, on a tiny busybox bundle, in a private mount namespace.
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-crun-'));
  try {
    const rootfs = join(dir, 'rootfs');
    for (const d of ['bin', 'proc', 'dev', 'sys']) mkdirSync(join(rootfs, d), { recursive: true });
    copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'));
    symlinkSync('busybox', join(rootfs, 'bin/true'));
    execFileSync('crun', ['spec'], { cwd: dir });
    const base = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    base.process.args = ['/bin/true'];
    base.process.terminal = false;
    base.root.path = rootfs;
    const bundle = (name: string, resources: LinuxResources | undefined) => {
      const b = join(dir, name);
      mkdirSync(b);
      const cfg = structuredClone(base);
      cfg.linux.cgroupsPath = `${parent}/crun-${name}`;
      if (resources) cfg.linux.resources = resources;
      else delete cfg.linux.resources;
      writeFileSync(join(b, 'config.json'), JSON.stringify(cfg));
      return b;
    };
    const none = bundle('nocgroup', undefined);
    const plain = bundle('plain', undefined);
    const limited = bundle('limits', RESOURCES);
    // Interleaved (none, plain, limits, none, ...) so the load of this shared VM falls on all
    // three alike; timed by a small node loop inside the private mount namespace.
    const variants = [
      ['--cgroup-manager=disabled', 'run', '--bundle', none, 'bench-none'],
      ['run', '--bundle', plain, 'bench-plain'],
      ['run', '--bundle', limited, 'bench-limits'],
    ];
    const loop = `
      const { spawnSync, execFileSync } = require('node:child_process');
      execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', ${JSON.stringify(layout.v2!.mountPoint)}]);
      const variants = ${JSON.stringify(variants)};
      const times = variants.map(() => []);
      for (let i = 0; i < ${SETUP_RUNS + 3}; i++) {
        variants.forEach((args, v) => {
          const t = process.hrtime.bigint();
          const r = spawnSync('crun', args, { stdio: 'ignore' });
          if (r.status !== 0) throw new Error('crun ' + args.join(' ') + ' exited ' + r.status);
          if (i >= 3) times[v].push(Number(process.hrtime.bigint() - t) / 1e6);
        });
      }
      process.stdout.write(JSON.stringify(times));`;
    const r = spawnSync('unshare', ['-m', process.execPath, '-e', loop], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (r.status !== 0) throw new Error(`crun loop failed (${r.status})`);
    const [tNone, tPlain, tLimits] = (JSON.parse(r.stdout) as number[][]).map(median) as [
      number,
      number,
      number,
    ];
    console.log(`crun run /bin/true, cgroups disabled:      ${tNone.toFixed(2)} ms`);
    console.log(`crun run /bin/true, cgroup, no limits:     ${tPlain.toFixed(2)} ms`);
    console.log(`crun run /bin/true, cgroup + same limits:  ${tLimits.toFixed(2)} ms`);
    const crunCost = tLimits - tNone;
    console.log(`crun's cgroup cost in a start (limits − disabled): ${crunCost.toFixed(2)} ms`);
    console.log(
      crunCost > 0
        ? `berth/crun cgroup cost ratio: ${(berth / crunCost).toFixed(2)}`
        : 'berth/crun cgroup cost ratio: n/a (the host is too noisy: crun variants within noise of each other)',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error('bench cgroup needs root (it creates cgroups)');
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`host: ${layout.mode}, load average ${load} on this 2-core VM; cgroups under ${parent}`);
  try {
    await sampling();
    await setup();
  } finally {
    const left = removeTestTree(layout, parent);
    if (left.length) console.error('could not remove:', left.join(', '));
  }
}

await main();
