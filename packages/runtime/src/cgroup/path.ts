import { CgroupError } from './errors.ts';
import type { CgroupPath } from './manager.ts';

// Where a container's cgroup goes, as a path from the root of every hierarchy. Berth never
// places a container under the caller's own cgroup (runc and crun do that for a relative
// path; on this kind of host the caller's cgroup belongs to someone else's machinery).

export const DEFAULT_CGROUP_PARENT = '/berth';

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Berth's default layout: `/berth/<container-id>` from the root of each hierarchy. */
export function defaultCgroupPath(containerId: string, parent: string = DEFAULT_CGROUP_PARENT): CgroupPath {
  if (!ID.test(containerId) || containerId === '.' || containerId === '..') {
    throw new CgroupError(
      'CGROUP_INVALID_PATH',
      `container id ${JSON.stringify(containerId)} cannot name a cgroup (letters, digits, "_", ".", "-"; at most 128)`,
      'id',
    );
  }
  return `${normaliseCgroupPath(parent, 'cgroupParent')}/${containerId}`;
}

/**
 * Resolve OCI `linux.cgroupsPath`: absolute → that path from each hierarchy's root; relative →
 * under Berth's parent; absent → the default layout. systemd's "slice:prefix:name" form is
 * refused (Berth has no systemd driver yet) rather than misread as a directory name.
 */
export function resolveCgroupPath(
  cgroupsPath: string | undefined,
  opts: { containerId: string; parent?: string },
): CgroupPath {
  const parent = opts.parent ?? DEFAULT_CGROUP_PARENT;
  if (cgroupsPath === undefined || cgroupsPath === '') return defaultCgroupPath(opts.containerId, parent);
  if (/^[^/:]*:[^/:]*:[^/:]*$/.test(cgroupsPath)) {
    throw new CgroupError(
      'CGROUP_INVALID_PATH',
      `linux.cgroupsPath: ${JSON.stringify(cgroupsPath)} is a systemd "slice:prefix:name" path; Berth manages cgroupfs paths only`,
      'linux.cgroupsPath',
    );
  }
  if (cgroupsPath.startsWith('/')) return normaliseCgroupPath(cgroupsPath, 'linux.cgroupsPath');
  return normaliseCgroupPath(
    `${normaliseCgroupPath(parent, 'cgroupParent')}/${cgroupsPath}`,
    'linux.cgroupsPath',
  );
}

/** "/a//b/" → "/a/b"; refuses "..", ".", the root itself and control characters. */
export function normaliseCgroupPath(path: string, field: string): CgroupPath {
  const parts = path.split('/').filter((p) => p !== '');
  const bad = (why: string) =>
    new CgroupError('CGROUP_INVALID_PATH', `${field}: ${JSON.stringify(path)} ${why}`, field);
  if (!path.startsWith('/')) throw bad('must be absolute');
  if (parts.length === 0) throw bad('is the root of the hierarchy, which Berth never manages');
  for (const p of parts) {
    if (p === '.' || p === '..') throw bad('may not contain "." or ".." components');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
    if (/[\x00-\x1f\x7f]/.test(p)) throw bad('may not contain control characters');
    if (p.length > 255) throw bad('has a component longer than 255 bytes');
  }
  return `/${parts.join('/')}`;
}
