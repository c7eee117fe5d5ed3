import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Runtime } from '../src/container/runtime.ts';
import type { OciConfig } from '../src/spec/config.ts';
import { defaultConfig } from '../src/spec/defaults.ts';

// Shared by the root tests: a busybox-static root filesystem, bundles around it, and a
// scratch directory whose name contains "berth-test" that each test removes.

export const BUSYBOX = '/bin/busybox';

/** A busybox rootfs (read-only in every container, so one per test file can be shared). */
export function busyboxRootfs(base: string, name = 'rootfs'): string {
  const rootfs = join(base, name);
  if (existsSync(join(rootfs, 'bin/busybox'))) return rootfs;
  for (const d of ['bin', 'proc', 'sys', 'dev', 'etc', 'tmp', 'root'])
    mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
  chmodSync(join(rootfs, 'bin/busybox'), 0o755);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) if (a !== 'busybox') symlinkSync('busybox', join(rootfs, 'bin', a));
  writeFileSync(
    join(rootfs, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n',
  );
  writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\ntty:x:5:\nnobody:x:65534:\n');
  return rootfs;
}

export function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'berth-test-'));
}

export function removeScratch(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A bundle dir with config.json; `edit` changes Berth's default config. */
export function makeBundle(
  base: string,
  name: string,
  rootfs: string,
  edit?: (c: OciConfig) => void,
): string {
  const bundle = join(base, name);
  mkdirSync(bundle, { recursive: true });
  const config = defaultConfig({ args: ['true'], rootfs });
  config.root.readonly = true;
  edit?.(config);
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(config, null, 2));
  return bundle;
}

export function readOut(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

/** Runs a container to completion with its stdout and stderr in a file; returns both. */
export async function runCaptured(
  rt: Runtime,
  id: string,
  bundle: string,
): Promise<{ out: string; code: number; signal: number }> {
  const file = join(bundle, `${id}.out`);
  const fd = openSync(file, 'w');
  try {
    const exit = await rt.run(id, { bundle, stdio: ['ignore', fd, fd] });
    return { out: readOut(file), ...exit };
  } finally {
    closeSync(fd);
  }
}

/** Force-deletes every container under a state root (test teardown). */
export async function deleteAll(rt: Runtime): Promise<void> {
  for (const s of rt.list()) await rt.delete(s.id, true).catch(() => {});
}

/** Host mount points under a path (to prove nothing leaked onto the host). */
export function hostMountsUnder(path: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(path));
}

/** Processes whose open files or cwd point into a directory. */
export function processesUsing(dir: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const links = [
        readlinkSync(`/proc/${p}/cwd`),
        ...readdirSync(`/proc/${p}/fd`).map((f) => readlinkSync(`/proc/${p}/fd/${f}`)),
      ];
      if (links.some((l) => l.startsWith(dir))) out.push(Number(p));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}
