import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupMode } from './manager.ts';

// Which cgroup hierarchies the host has mounted, and where: read from /proc/self/mountinfo
// (proc(5)), the one place that names both the v1 controllers of each hierarchy (its super
// options) and the cgroup2 mount. Pure: the host's files are read by `detectHostCgroupLayout`.

export interface CgroupLayout {
  /** v2: only cgroup2 (plus at most named v1 hierarchies); v1: no cgroup2; hybrid: both. */
  mode: CgroupMode;
  /** The cgroup2 mount and the controllers available to it (its root's cgroup.controllers). */
  v2?: { mountPoint: string; controllers: string[] };
  /** Each v1 controller → the mount point of its hierarchy (comounted ones share a point). */
  v1: Record<string, string>;
  /** Named v1 hierarchies without controllers (e.g. "systemd" for name=systemd) → mount point. */
  v1Named?: Record<string, string>;
}

export interface MountInfoEntry {
  mountId: number;
  parentId: number;
  /** "major:minor" of the filesystem. */
  dev: string;
  /** The path inside the filesystem that is mounted here ("/" for a whole hierarchy). */
  root: string;
  mountPoint: string;
  mountOptions: string[];
  optionalFields: string[];
  fsType: string;
  source: string;
  superOptions: string[];
}

/** Undo the kernel's octal escapes in mountinfo paths (`\040` space, `\011` tab, `\012` newline, `\134` backslash). */
export function unescapeMountInfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

/** Parse /proc/<pid>/mountinfo text; throws naming the line on a malformed one. */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const entries: MountInfoEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    // Fields are separated by single spaces; paths never contain a raw space (it is \040).
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (f.length < 10 || sep < 0 || f.length < sep + 4) {
      throw new Error(`mountinfo line ${i + 1}: malformed: ${JSON.stringify(line)}`);
    }
    entries.push({
      mountId: Number(f[0]),
      parentId: Number(f[1]),
      dev: f[2]!,
      root: unescapeMountInfo(f[3]!),
      mountPoint: unescapeMountInfo(f[4]!),
      mountOptions: f[5]!.split(','),
      optionalFields: f.slice(6, sep),
      fsType: f[sep + 1]!,
      source: unescapeMountInfo(f[sep + 2]!),
      superOptions: f
        .slice(sep + 3)
        .join(' ')
        .split(','),
    });
  }
  return entries;
}

// Super options of a v1 cgroup mount that are not controller names (kernel/cgroup/cgroup-v1.c).
const V1_NON_CONTROLLER_OPTIONS = new Set([
  'rw',
  'ro',
  'noprefix',
  'clone_children',
  'xattr',
  'cpuset_v2_mode',
  'favordynmods',
  'nofavordynmods',
  'all',
  'none',
]);

/**
 * Work out the host's cgroup layout from mountinfo text. `v2Controllers` is the content of the
 * cgroup2 root's `cgroup.controllers` (mountinfo cannot tell which controllers v2 has); without
 * it the v2 controller list is empty.
 */
export function detectCgroupLayout(
  mountinfoText: string,
  opts: { v2Controllers?: string } = {},
): CgroupLayout {
  const entries = parseMountInfo(mountinfoText);
  // A mount over the same point hides the one below it (its parent is the hidden mount), and so
  // does anything hidden above; a mount of a sub-tree (root != "/") is used only when the
  // hierarchy has no whole mount.
  const visible = visibleMounts(entries);
  const mounts = visible.filter((e) => e.fsType === 'cgroup' || e.fsType === 'cgroup2');
  mounts.sort((a, b) => Number(b.root === '/') - Number(a.root === '/'));

  const v1: Record<string, string> = {};
  const v1Named: Record<string, string> = {};
  let v2: CgroupLayout['v2'];
  for (const m of mounts) {
    if (m.fsType === 'cgroup2') {
      if (!v2) {
        const controllers = (opts.v2Controllers ?? '').split(/\s+/).filter(Boolean);
        v2 = { mountPoint: m.mountPoint, controllers };
      }
      continue;
    }
    for (const opt of m.superOptions) {
      if (opt.startsWith('name=')) {
        const name = opt.slice(5);
        v1Named[name] ??= m.mountPoint;
      } else if (!V1_NON_CONTROLLER_OPTIONS.has(opt) && !opt.includes('=')) {
        v1[opt] ??= m.mountPoint;
      }
    }
  }
  const hasV1 = Object.keys(v1).length > 0;
  let mode: CgroupMode;
  if (v2 && hasV1) mode = 'hybrid';
  else if (v2) mode = 'v2';
  else if (hasV1) mode = 'v1';
  else throw new Error('no cgroup hierarchy is mounted (neither cgroup2 nor a v1 controller in mountinfo)');
  const layout: CgroupLayout = { mode, v1 };
  if (v2) layout.v2 = v2;
  if (Object.keys(v1Named).length > 0) layout.v1Named = v1Named;
  return layout;
}

function visibleMounts(entries: MountInfoEntry[]): MountInfoEntry[] {
  const byId = new Map(entries.map((e) => [e.mountId, e]));
  const covered = new Set<number>();
  for (const e of entries) {
    const parent = byId.get(e.parentId);
    if (parent && parent.mountPoint === e.mountPoint) covered.add(parent.mountId);
  }
  // Visible: not covered, and the mount it sits on is visible (or is the mount it covers, whose
  // own place then decides).
  const ancestorsVisible = (e: MountInfoEntry, depth: number): boolean => {
    const parent = byId.get(e.parentId);
    if (!parent || parent === e || depth > 1000) return true;
    if (parent.mountPoint === e.mountPoint) return ancestorsVisible(parent, depth + 1);
    return !covered.has(parent.mountId) && ancestorsVisible(parent, depth + 1);
  };
  const isVisible = (e: MountInfoEntry): boolean => !covered.has(e.mountId) && ancestorsVisible(e, 0);
  return entries.filter((e) => isVisible(e));
}

/** The running host's layout: /proc/self/mountinfo plus the cgroup2 root's controllers. */
export function detectHostCgroupLayout(procRoot = '/proc'): CgroupLayout {
  const text = readFileSync(join(procRoot, 'self/mountinfo'), 'utf8');
  const first = detectCgroupLayout(text);
  if (!first.v2) return first;
  let v2Controllers = '';
  try {
    v2Controllers = readFileSync(join(first.v2.mountPoint, 'cgroup.controllers'), 'utf8');
  } catch {
    // An unreadable controllers file means v2 offers none here.
  }
  return detectCgroupLayout(text, { v2Controllers });
}
