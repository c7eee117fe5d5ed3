import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CgroupLayout } from '../detect.ts';
import { type CgroupFs, hostCgroupFs, type RecordedWrite } from '../fs.ts';

// A temporary directory laid out like a cgroup2 mount, for the v2 controller tests. Its seam
// does what the kernel does around the plain files: mkdir fills a new cgroup with its interface
// files (defaults as in Documentation/admin-guide/cgroup-v2.rst), rmdir takes them away, and a
// test can make chosen writes fail as the kernel would refuse them. Injected explicitly.

export const CONTROLLERS = ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids'];

const DEFAULTS: Record<string, string> = {
  'cgroup.procs': '',
  'cgroup.controllers': CONTROLLERS.join(' '),
  'cgroup.subtree_control': '',
  'cgroup.events': 'populated 0\nfrozen 0\n',
  'cgroup.freeze': '0',
  'cgroup.kill': '',
  'cgroup.type': 'domain',
  'cpu.pressure':
    'some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n',
  'memory.pressure':
    'some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n',
  'io.pressure':
    'some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n',
  'cpu.stat':
    'usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\nnr_bursts 0\nburst_usec 0\n',
  'cpu.weight': '100',
  'cpu.max': 'max 100000',
  'cpu.max.burst': '0',
  'cpu.idle': '0',
  'cpuset.cpus': '',
  'cpuset.mems': '',
  'memory.current': '0',
  'memory.peak': '0',
  'memory.min': '0',
  'memory.low': '0',
  'memory.high': 'max',
  'memory.max': 'max',
  'memory.swap.max': 'max',
  'memory.stat': 'anon 0\nfile 0\nkernel 0\nsock 0\nshmem 0\n',
  'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n',
  'io.weight': 'default 100\n',
  'io.max': '',
  'io.stat': '',
  'pids.max': 'max',
  'pids.current': '0',
  'hugetlb.2MB.max': 'max',
  'hugetlb.1GB.max': 'max',
};

export interface FakeCgroup2 {
  root: string;
  /** The cgroup2 mount point inside root. */
  mount: string;
  layout: CgroupLayout;
  fs: CgroupFs & { writes: RecordedWrite[] };
  /** Make writes for which `refuse` returns an errno code fail with it (as the kernel would). */
  refuse: (rule: ((path: string, value: string) => string | undefined) | undefined) => void;
  file(cgroupPath: string, name: string): string;
  cleanup(): void;
}

export function fakeCgroup2(extraFiles: Record<string, string> = {}): FakeCgroup2 {
  const root = mkdtempSync(join(tmpdir(), 'berth-cgroup2-'));
  const mount = join(root, 'sys/fs/cgroup');
  mkdirSync(mount, { recursive: true });
  const files = { ...DEFAULTS, ...extraFiles };
  const populate = (dir: string) => {
    for (const [name, value] of Object.entries(files)) writeFileSync(join(dir, name), value);
  };
  populate(mount);
  const host = hostCgroupFs();
  let refuse: ((path: string, value: string) => string | undefined) | undefined;
  const writes: RecordedWrite[] = [];
  const fs: CgroupFs & { writes: RecordedWrite[] } = {
    writes,
    read: (p) => host.read(p),
    write(path, value) {
      const code = refuse?.(path, value);
      if (code) throw Object.assign(new Error(`${code}: write ${path}`), { code });
      host.write(path, value);
      writes.push({ path, value });
    },
    exists: (p) => host.exists(p),
    mkdir(path) {
      if (host.exists(path)) return;
      host.mkdir(path);
      populate(path);
    },
    rmdir(path) {
      host.rmdir(path);
    },
    listDirs: (p) => host.listDirs(p),
    watch: (p, cb) => host.watch(p, cb),
  };
  // A plain directory with files cannot be rmdir'ed: let rmdir remove the files first, as the
  // kernel does for a cgroup's interface files.
  fs.rmdir = (path) => {
    host.close();
    rmSync(path, { recursive: true });
  };
  return {
    root,
    mount,
    layout: { mode: 'v2', v2: { mountPoint: '/sys/fs/cgroup', controllers: CONTROLLERS }, v1: {} },
    fs,
    refuse: (rule) => {
      refuse = rule;
    },
    file: (cgroupPath, name) => join(mount, cgroupPath, name),
    cleanup: () => {
      host.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
