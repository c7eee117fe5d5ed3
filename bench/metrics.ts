// `pnpm bench metrics` (root): CPU cost of berthd's metrics sampling at 1 Hz for N = 10, 100
// and 500 cgroups (plus the host), side by side with two peers in the same run:
//   full  the same sampler calling the cgroup library's full stats() every second
//         (instead of 4 counters each second and stats() every 10 s);
//   open  the same sampler on a file seam that opens, reads and closes every file each time
//         (instead of re-reading open files with pread).
// Reported per N: CPU time per sampling pass (median of the rounds), that as % of one core at
// 1 Hz, and the ratios peer / Berth (> 1: Berth is cheaper).
// Cgroups are created empty under a unique /berth-test-bench-* parent and removed at the end.
// Options: --rounds N (default 5), --passes N per round (default 20), --sizes 10,100,500.
import { readFileSync } from 'node:fs';
import { MetricsSampler } from '../packages/agent/src/metrics/sampler.ts';
import {
  type CgroupFs,
  createCgroupManager,
  detectHostCgroupLayout,
  hostCgroupFs,
} from '../packages/runtime/src/cgroup/index.ts';
import { removeTestTree } from '../packages/runtime/src/cgroup/testing.ts';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
};
const ROUNDS = Number(arg('rounds', '5'));
const PASSES = Number(arg('passes', '20'));
const SIZES = arg('sizes', '10,100,500').split(',').map(Number);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const layout = detectHostCgroupLayout();
const parent = `/berth-test-bench-metrics-${process.pid}`;

/** The peer's seam: open + read + close on every read. */
function naiveFs(inner: CgroupFs): CgroupFs {
  return { ...inner, read: (p) => readFileSync(p, 'latin1') };
}

async function cpuMsPerPass(sampler: MetricsSampler): Promise<number> {
  let t = Date.now();
  for (let i = 0; i < 3; i++) {
    t += 1000;
    await sampler.sample(t); // warm: files opened, JIT
  }
  const before = process.cpuUsage();
  for (let i = 0; i < PASSES; i++) {
    t += 1000;
    await sampler.sample(t);
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / PASSES;
}

function samplerFor(n: number, fs: CgroupFs, fullEvery?: number): MetricsSampler {
  const s = new MetricsSampler({ fs, layout, ...(fullEvery ? { fullEvery } : {}) });
  for (let i = 0; i < n; i++)
    s.register({ id: `bench-${i}`, name: `c${i}`, cgroupPath: `${parent}/c${i}`, group: `g${i % 10}` });
  return s;
}

try {
  const made = new Set<number>();
  console.log(`metrics sampling cost, ${layout.mode} cgroups, ${ROUNDS} rounds × ${PASSES} passes, medians`);
  console.log(
    'N      berth ms/pass   % of a core at 1 Hz   full ms/pass  full/berth   open ms/pass  open/berth',
  );
  for (const n of SIZES) {
    for (let i = 0; i < n; i++) {
      if (made.has(i)) continue;
      await createCgroupManager({ path: `${parent}/c${i}`, layout }).create();
      made.add(i);
    }
    const berth: number[] = [];
    const full: number[] = [];
    const open: number[] = [];
    const fast = hostCgroupFs();
    for (let r = 0; r < ROUNDS; r++) {
      berth.push(await cpuMsPerPass(samplerFor(n, fast)));
      full.push(await cpuMsPerPass(samplerFor(n, fast, 1)));
      open.push(await cpuMsPerPass(samplerFor(n, naiveFs(fast))));
    }
    fast.close();
    const b = median(berth);
    const f = median(full);
    const o = median(open);
    const col = (v: number, w: number) => v.toFixed(2).padStart(w);
    console.log(
      `${String(n).padEnd(6)} ${col(b, 13)}   ${((b / 1000) * 100).toFixed(3).padStart(18)} %   ${col(f, 12)}  ${col(f / b, 10)}   ${col(o, 12)}  ${col(o / b, 10)}`,
    );
  }
} finally {
  const left = removeTestTree(layout, parent);
  if (left.length) console.error(`not removed: ${left.join(', ')}`);
}
