// `pnpm bench runtime [rounds]` (root): start-to-exit of /bin/true in a container, side by
// side in one interleaved run on the same busybox bundle:
//   floor      a minimal C program (bench/runtime-floor.c): clone with five namespaces,
//              pivot_root, mount /proc, exec: the physical limit on this machine
//   (a) lib    Berth's runtime library from a warm Node process, through the native spawner
//              (berth-helper zygote), as berthd calls it; without and with cgroup limits, the
//              limits both in a cgroup from Berth's pool (made and pre-limited ahead of time,
//              removed in the background after the exit: berthd's path) and in a cgroup made,
//              limited and removed within the run (the path of a one-shot caller)
//   (b) cli    `berth-runtime run` (a fresh Node process each time); `node -e 0` beside it
//              shows how much of that is Node's own start-up
//   (c) crun   `crun run` (in a private mount namespace with a tmpfs over the unified mount:
//              crun 1.8 refuses this hybrid host otherwise, see ENVIRONMENT.md)
//   (d) runc   `runc run`
// Every command except (a) is fork+exec'd by a small C driver (bench/runtime-timer.c), so
// none pays Node's spawn cost; (a) is timed inside Node around Runtime.run(). Medians.
// Every run starts after an idle gap of IDLE_MS and once the pool has done its background work
// (the next cgroups, the removal of the last one), the same for all: the pool works in such
// gaps, off the measured path, as it would between two container starts in berthd. ×crun compares each row with crun doing the
// same work (the same bundle, the same limits).
// Then the library's create phases for the minimal rows (Runtime.create's trace), and the private
// memory (USS) of one idle container's monitor.
// Berth's default bundle carries its security defaults (seccomp, masked and read-only paths,
// devices, read-only root); the minimal one does only the floor's work, for both Berth and crun.
// Everything lives under /run/berth-bench-* (a tmpfs) and /berth-bench-* cgroups, removed at the end.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { detectHostCgroupLayout } from '../packages/runtime/src/cgroup/detect.ts';
import { openCgroupPool } from '../packages/runtime/src/cgroup/index.ts';
import { removeTestTree } from '../packages/runtime/src/cgroup/testing.ts';
import { Runtime } from '../packages/runtime/src/container/runtime.ts';
import { Spawner } from '../packages/runtime/src/container/spawner.ts';
import { parseConfig } from '../packages/runtime/src/spec/config.ts';
import { compilePlan } from '../packages/runtime/src/spec/plan.ts';
import { busyboxBundle, compilePeers, sh, Timer } from './lib/peers.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const pkg = join(here, '../packages/runtime');
const rounds = Number(process.argv[2] ?? 30);
const tag = randomBytes(4).toString('hex');
const base = mkdtempSync('/run/berth-bench-');
// State dirs and bundles on a tmpfs of the bench's own, as /run is on most hosts (here /run is
// ext4, where creating and removing a state dir alone costs milliseconds for every runtime).
execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=128m,mode=700', 'berth-bench', base]);
const cgroupParent = `/berth-bench-${tag}`;

// Build what we measure.
if (!existsSync(join(pkg, 'dist/berth-helper')) || !existsSync(join(pkg, 'dist/berth-runtime.js')))
  sh('pnpm', ['--filter', '@berth/runtime', 'build']);
const { floorBin, timerBin } = compilePeers(base);

// One bundle for everyone: a busybox rootfs and Berth's default config (seccomp, masks,
// devices, read-only root), five namespaces like the floor, /bin/true.
const { bundle, rootfs, config } = busyboxBundle(base, `${cgroupParent}/c`);
// The same work as the floor and nothing more (five namespaces, /proc): what the runtime's
// own machinery costs, apart from Berth's security defaults.
const minimal = structuredClone(config);
minimal.mounts = [{ destination: '/proc', type: 'proc', source: 'proc' }];
minimal.linux = { namespaces: config.linux!.namespaces };
minimal.process!.capabilities = undefined;
minimal.process!.noNewPrivileges = false;
minimal.root.readonly = false;
const minimalBundle = join(base, 'minimal');
mkdirSync(minimalBundle);
symlinkSync(rootfs, join(minimalBundle, 'rootfs'));
writeFileSync(join(minimalBundle, 'config.json'), JSON.stringify(minimal));
const LIMITS = { memory: { limit: 256 << 20 }, pids: { limit: 512 } };
const limited = structuredClone(config);
limited.linux!.resources = { ...limited.linux!.resources, ...LIMITS };
writeFileSync(join(bundle, 'config.json'), JSON.stringify(limited));
// The minimal bundle with the same limits, for crun (in its own cgroup) and for Berth.
const minimalLimited = structuredClone(minimal);
minimalLimited.linux!.resources = LIMITS;
minimalLimited.linux!.cgroupsPath = `${cgroupParent}/m`;
const minimalLimitedBundle = join(base, 'minimal-limits');
mkdirSync(minimalLimitedBundle);
symlinkSync(rootfs, join(minimalLimitedBundle, 'rootfs'));
writeFileSync(join(minimalLimitedBundle, 'config.json'), JSON.stringify(minimalLimited));
const IDLE_MS = 30;

const host = new Timer(timerBin, false);
const crunHost = new Timer(timerBin, true);
const spawner = new Spawner();
const stateRoot = join(base, 'state');
const lib = new Runtime({ root: stateRoot, cgroups: false, spawner });
const libCg = new Runtime({ root: stateRoot, spawner });
const pool = await openCgroupPool({ parent: `${cgroupParent}/pool`, size: 2, cells: spawner });
const libPool = new Runtime({ root: stateRoot, spawner, cgroupPool: pool });
const plainConfig = parseConfig(JSON.parse(JSON.stringify(config)));
const limitedConfig = parseConfig(JSON.parse(JSON.stringify(limited)));
const minimalConfig = parseConfig(JSON.parse(JSON.stringify(minimal)));
// Without cgroupsPath: the pool's cgroups.
const unplaced = (c: typeof limited) => {
  const u = structuredClone(c);
  u.linux!.cgroupsPath = undefined;
  return parseConfig(JSON.parse(JSON.stringify(u)));
};
const limitedPoolConfig = unplaced(limited);
const minimalPoolConfig = unplaced(minimalLimited);
const minimalPlan = compilePlan(minimalConfig, { bundle: minimalBundle });
/** The library's create phases (Runtime.create's trace marks) and the rest of each run, per variant. */
const phases = new Map<string, Map<string, number[]>>();
const libRun = (rt: Runtime, b: string, c: typeof plainConfig, phaseKey?: string) => async () => {
  const t = process.hrtime.bigint();
  let last = t;
  const marks: Array<[string, number]> = [];
  const mark = (phase: string) => {
    const now = process.hrtime.bigint();
    marks.push([phase, Number(now - last) / 1e6]);
    last = now;
  };
  const r = await rt.run(id(), { bundle: b, config: c, trace: { mark } });
  if (r.code !== 0) throw new Error(`library run: exit ${r.code}`);
  mark('rest');
  if (phaseKey) {
    const m = phases.get(phaseKey) ?? new Map<string, number[]>();
    phases.set(phaseKey, m);
    for (const [k, v] of marks) m.set(k, [...(m.get(k) ?? []), v]);
  }
  return Number(process.hrtime.bigint() - t) / 1e6;
};
const cli = join(pkg, 'dist/berth-runtime.js');
let seq = 0;
const id = () => `bench-${tag}-${++seq}`;

const variants: Array<[string, () => Promise<number>]> = [
  ['floor (C: clone+pivot_root+/proc+exec)', () => host.time([floorBin, rootfs, '/bin/true'])],
  [
    '    spawner alone, minimal plan (no state dir)',
    async () => {
      const t = process.hrtime.bigint();
      const r = await spawner.spawn({ ...minimalPlan, autostart: true }).exited;
      if (r.code !== 0) throw new Error(`spawner: exit ${r.code}`);
      return Number(process.hrtime.bigint() - t) / 1e6;
    },
  ],
  ['(a) library, minimal bundle (= floor work)', libRun(lib, minimalBundle, minimalConfig, 'minimal')],
  [
    '(a) library, minimal + cgroup limits (pool)',
    libRun(libPool, minimalLimitedBundle, minimalPoolConfig, 'minimal + limits (pool)'),
  ],
  ['(a) library, Berth defaults', libRun(lib, bundle, plainConfig)],
  ['(a) library, defaults + cgroup limits (pool)', libRun(libPool, bundle, limitedPoolConfig)],
  ['(a) library, defaults + limits, cgroup per run', libRun(libCg, bundle, limitedConfig)],
  [
    '(c) crun run, minimal bundle',
    () => crunHost.time(['crun', '--root', join(base, 'crun'), 'run', '--bundle', minimalBundle, id()]),
  ],
  [
    '(c) crun run, minimal + cgroup limits',
    () =>
      crunHost.time(['crun', '--root', join(base, 'crun'), 'run', '--bundle', minimalLimitedBundle, id()]),
  ],
  [
    '(b) berth-runtime run',
    () => host.time(['node', cli, '--root', stateRoot, 'run', '--bundle', bundle, id()]),
  ],
  ['    of which node start-up (node -e 0)', () => host.time(['node', '-e', '0'])],
  [
    '(c) crun run, Berth defaults + cgroup limits',
    () => crunHost.time(['crun', '--root', join(base, 'crun'), 'run', '--bundle', bundle, id()]),
  ],
  ['(d) runc run', () => host.time(['runc', '--root', join(base, 'runc'), 'run', '--bundle', bundle, id()])],
];

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function uss(pid: number): number {
  const r = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(r)?.[1] ?? 0);
  return kb('Private_Clean') + kb('Private_Dirty');
}

try {
  const times = new Map<string, number[]>(variants.map(([n]) => [n, []]));
  const pause = () => new Promise((r) => setTimeout(r, IDLE_MS));
  for (let i = 0; i < 3; i++) for (const [, f] of variants) await pause().then(f); // warm-up
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [...variants].reverse() : variants;
    for (const [name, f] of order) {
      await pause();
      await pool.settled();
      times.get(name)!.push(await f());
    }
  }
  const med = (name: string) => median(times.get(name)!);
  const floor = med(variants[0]![0]);
  // The crun row doing the same work as each row (same bundle, same limits).
  const crunMinimal = med('(c) crun run, minimal bundle');
  const crunMinimalLimits = med('(c) crun run, minimal + cgroup limits');
  const crunDefaults = med('(c) crun run, Berth defaults + cgroup limits');
  const peer = (name: string) =>
    name.includes('minimal +')
      ? crunMinimalLimits
      : name.includes('minimal') || name.startsWith('floor') || name.includes('spawner')
        ? crunMinimal
        : crunDefaults;
  console.log(
    `\nstart-to-exit of /bin/true, ${rounds} interleaved rounds, ${IDLE_MS} ms idle before each run, medians (ms)\n`,
  );
  console.log(
    `${'variant'.padEnd(48)}${'median'.padStart(9)}${'×floor'.padStart(9)}${'×crun'.padStart(9)}  (×crun: crun doing the same work)`,
  );
  for (const [name] of variants) {
    const m = med(name);
    console.log(
      `${name.padEnd(48)}${m.toFixed(2).padStart(9)}${(m / floor).toFixed(2).padStart(9)}${(m / peer(name)).toFixed(2).padStart(9)}`,
    );
  }
  console.log(
    '\n(crun and runc run Berth defaults with the same limits; crun minimal rows: the minimal bundle)',
  );
  console.log(
    "\nthe library's phases (medians, ms; launch: until the monitor's ok, exited: until its exit report)",
  );
  for (const [key, m] of phases)
    console.log(
      `  ${key.padEnd(24)}${[...m].map(([k, v]) => `${k} ${median(v.slice(-rounds)).toFixed(2)}`).join('  ')}`,
    );
  const c = pool.counts;
  console.log(
    `pool: ${c.takes} takes, ${c.preWritten} with the limits written ahead, ${c.withCell} born in the cgroup (warm cell)`,
  );

  // The monitor's private memory with one idle container.
  const idle = id();
  const idleConfig = parseConfig({
    ...JSON.parse(JSON.stringify(config)),
    process: { ...config.process, args: ['sleep', '60'] },
  });
  const rt = new Runtime({ root: stateRoot, cgroups: false });
  await rt.create(idle, { bundle, config: idleConfig, stdio: 'ignore' });
  await rt.start(idle);
  await new Promise((r) => setTimeout(r, 300));
  const rec = JSON.parse(readFileSync(join(stateRoot, idle, 'state.json'), 'utf8'));
  const monitorUss = uss(rec.monitorPid);
  await rt.delete(idle, true);
  console.log(`\nidle container monitor, private memory (USS): ${monitorUss} kB  (target ≤ 300 kB;`);
  console.log('  peers measured on this host in ENVIRONMENT.md: conmon ≈ 330 kB, LXC monitor ≈ 354 kB)');
} finally {
  spawner.close();
  host.close();
  crunHost.close();
  for (const s of lib.list()) await libCg.delete(s.id, true).catch(() => {});
  await pool.close();
  const left = removeTestTree(detectHostCgroupLayout(), cgroupParent);
  if (left.length) console.error('could not remove:', left.join(', '));
  spawnSync('umount', ['-l', base]);
  rmSync(base, { recursive: true, force: true });
}
