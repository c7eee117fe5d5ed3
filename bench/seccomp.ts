// `pnpm bench seccomp`: Berth's seccomp compiler against libseccomp 2.5 (what runc and crun
// use), on Berth's default profile for this host.
//  1. Static: program length, and instructions executed per syscall (every x86_64 syscall
//     number 0..450, run in the test suite's BPF interpreter), for Berth and for libseccomp with
//     its default optimizer (runc's) and with its binary-tree optimizer (level 2).
//  2. Kernel: ns per syscall with each filter installed (the fastest of 10 batches in a process),
//     interleaved rounds, medians, and ratios to no filter and to libseccomp's default.
// Options: --rounds N (default 7), --iterations N (default 200000).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  compileSeccomp,
  decodeFilter,
  defaultSeccompProfile,
  hostSeccompArch,
} from '../packages/runtime/src/seccomp/index.ts';
import { ABIS } from '../packages/runtime/src/seccomp/syscalls.ts';
import { run } from '../packages/runtime/test/seccomp/bpf-interpreter.ts';
import { buildExporter, libseccompFilter } from '../packages/runtime/test/seccomp/libseccomp.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const rounds = arg('rounds', 7);
const iterations = arg('iterations', 200_000);
const arch = hostSeccompArch();
if (arch !== 'x86_64') {
  console.error('this benchmark compares on x86_64 only');
  process.exit(2);
}

const here = dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'berth-bench-seccomp-'));
try {
  const profile = defaultSeccompProfile({ arch });
  const t0 = performance.now();
  const N = 50;
  let berth = Buffer.alloc(0);
  for (let i = 0; i < N; i++) berth = compileSeccomp(profile, arch);
  const compileMs = (performance.now() - t0) / N;
  const exporter = buildExporter(dir);
  const filters: Record<string, Buffer> = {
    berth,
    'libseccomp (default, runc)': libseccompFilter(exporter, profile, 1),
    'libseccomp (tree, level 2)': libseccompFilter(exporter, profile, 2),
  };

  console.log(
    `Berth default seccomp profile, x86_64 (+x86, x32); Berth compiles it in ${compileMs.toFixed(2)} ms\n`,
  );
  console.log('filter                        insns  executed per syscall (x86_64 0..450): mean  median  max');
  const nrs = [...new Set(ABIS.x86_64.table.values())].filter((n) => n <= 450);
  for (const [name, f] of Object.entries(filters)) {
    const program = decodeFilter(f);
    const steps = nrs
      .map((nr) => run(program, { nr, arch: 0xc000003e, args: [0x40000] }).steps)
      .sort((a, b) => a - b);
    const mean = steps.reduce((a, b) => a + b, 0) / steps.length;
    console.log(
      `${name.padEnd(28)} ${String(program.length).padStart(6)}  ${' '.repeat(35)}${mean.toFixed(1).padStart(5)}  ${String(steps[steps.length >> 1]).padStart(6)}  ${String(steps.at(-1)).padStart(4)}`,
    );
  }

  const bench = join(dir, 'seccomp-bench');
  const cc = spawnSync('cc', ['-O2', '-o', bench, join(here, 'seccomp', 'seccomp-bench.c')], {
    encoding: 'utf8',
  });
  if (cc.status !== 0) throw new Error(cc.stderr);
  const variants: Record<string, string> = { 'no filter': 'none' };
  for (const [name, f] of Object.entries(filters)) {
    const file = join(dir, `${name.replace(/\W+/g, '-')}.bpf`);
    writeFileSync(file, f);
    variants[name] = file;
  }
  const samples = new Map<string, Map<string, number[]>>();
  for (let r = 0; r < rounds; r++) {
    for (const [name, file] of Object.entries(variants)) {
      const out = spawnSync(bench, [file, String(iterations)], { encoding: 'utf8' });
      if (out.status !== 0) throw new Error(`${name}: ${out.stderr}`);
      for (const line of out.stdout.trim().split('\n')) {
        const [probe, ns] = line.split(' ');
        if (!samples.has(probe!)) samples.set(probe!, new Map());
        const byVariant = samples.get(probe!)!;
        byVariant.set(name, [...(byVariant.get(name) ?? []), Number(ns)]);
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  console.log(
    `\nns per syscall: median over ${rounds} interleaved rounds of the fastest of 10 batches of ${iterations / 10} calls`,
  );
  const names = Object.keys(variants);
  console.log(['probe'.padEnd(32), ...names.map((n) => n.padStart(28))].join(''));
  for (const [probe, byVariant] of samples) {
    const base = median(byVariant.get('no filter')!);
    const lib = median(byVariant.get('libseccomp (default, runc)')!);
    const cells = names.map((n) => {
      const m = median(byVariant.get(n)!);
      const ratio = n === 'no filter' ? '' : ` ${(m / base).toFixed(2)}x/${(m / lib).toFixed(2)}L`;
      return `${m.toFixed(1)}${ratio}`.padStart(28);
    });
    console.log([probe.padEnd(32), ...cells].join(''));
  }
  console.log('\n(Nx: ratio to no filter; NL: ratio to libseccomp default)');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
