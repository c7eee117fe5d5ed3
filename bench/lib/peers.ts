// What the runtime and agent benchmarks share: the C floor and timer compiled once, one busybox
// bundle with Berth's default config, and a Timer that fork+execs commands from a small C driver
// (bench/runtime-timer.c) so that no measured command pays Node's spawn cost.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { defaultConfig } from '../../packages/runtime/src/spec/defaults.ts';

const benchDir = fileURLToPath(new URL('..', import.meta.url));

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

/** Compiles the floor (clone + pivot_root + /proc + exec) and the timer driver into `base`. */
export function compilePeers(base: string): { floorBin: string; timerBin: string } {
  const floorBin = join(base, 'floor');
  const timerBin = join(base, 'timer');
  sh('cc', ['-O2', '-Wall', '-Werror', '-o', floorBin, join(benchDir, 'runtime-floor.c')]);
  sh('cc', ['-O2', '-Wall', '-Werror', '-o', timerBin, join(benchDir, 'runtime-timer.c')]);
  return { floorBin, timerBin };
}

/**
 * Writes `base/bundle`: a busybox-static rootfs and Berth's default config running /bin/true,
 * with the five namespaces of the floor (no cgroup namespace) and the given cgroupsPath.
 */
export function busyboxBundle(base: string, cgroupsPath: string) {
  const bundle = join(base, 'bundle');
  const rootfs = join(bundle, 'rootfs');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'));
  chmodSync(join(rootfs, 'bin/busybox'), 0o755);
  for (const a of ['true', 'sh', 'sleep']) symlinkSync('busybox', join(rootfs, 'bin', a));
  const config = defaultConfig({ args: ['/bin/true'], rootfs: 'rootfs' });
  config.linux!.namespaces = config.linux!.namespaces!.filter((n) => n.type !== 'cgroup');
  config.linux!.cgroupsPath = cgroupsPath;
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
  return { bundle, rootfs, config };
}

/** Times commands run by the C driver; `crunHost` runs them where crun accepts this hybrid host. */
export class Timer {
  private child;
  private lines;
  constructor(
    timerBin: string,
    private crunHost: boolean,
  ) {
    this.child = spawn(timerBin, crunHost ? ['--crun-host'] : [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = createInterface({ input: this.child.stdout! })[Symbol.asyncIterator]();
  }
  /** Milliseconds from fork to the command's exit; throws with the command's stderr if it failed. */
  async time(argv: string[]): Promise<number> {
    this.child.stdin!.write(`${argv.join('\t')}\n`);
    const { value } = await this.lines.next();
    const [ns, status] = String(value).split(' ');
    if (status !== '0') {
      // Run it again where we can see why.
      const [cmd, args] = this.crunHost
        ? [
            'unshare',
            ['-m', 'sh', '-c', 'mount -t tmpfs tmpfs /sys/fs/cgroup/unified && exec "$@"', 'sh', ...argv],
          ]
        : [argv[0]!, argv.slice(1)];
      const again = spawnSync(cmd, args as string[], { encoding: 'utf8' });
      throw new Error(`${argv.join(' ')}: wait status ${status}\n${again.stderr}`);
    }
    return Number(ns) / 1e6;
  }
  close() {
    this.child.stdin!.end();
  }
}
