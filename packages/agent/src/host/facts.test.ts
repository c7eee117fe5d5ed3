import { expect, it } from 'vitest';
import { countOnlineCpus, namespacesOffered, parseMeminfo } from './facts.ts';

// The cgroup-mode detection's fixture tests (pure v1, pure v2, hybrid) live with the detector:
// packages/runtime/src/cgroup/detect.test.ts.

it('lists the namespace kinds of /proc/self/ns, folding the *_for_children views', () => {
  const entries = [
    'cgroup',
    'ipc',
    'mnt',
    'net',
    'pid',
    'pid_for_children',
    'time',
    'time_for_children',
    'user',
    'uts',
  ];
  expect(namespacesOffered(entries, 96365)).toEqual([
    'cgroup',
    'ipc',
    'mnt',
    'net',
    'pid',
    'time',
    'user',
    'uts',
  ]);
});

it('leaves out kinds the kernel lacks, and user when max_user_namespaces is 0', () => {
  // A 4.x kernel: no time namespace.
  const entries = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'pid_for_children', 'user', 'uts'];
  expect(namespacesOffered(entries, 0)).toEqual(['cgroup', 'ipc', 'mnt', 'net', 'pid', 'uts']);
});

it('reads MemTotal and MemAvailable in bytes', () => {
  const meminfo =
    'MemTotal:       24578440 kB\nMemFree:         1000000 kB\nMemAvailable:   20000000 kB\nBuffers: 1 kB\n';
  expect(parseMeminfo(meminfo)).toEqual({ totalBytes: 24578440 * 1024, availableBytes: 20000000 * 1024 });
});

it('falls back to MemFree on kernels without MemAvailable, and names a missing MemTotal', () => {
  expect(parseMeminfo('MemTotal: 2048 kB\nMemFree: 1024 kB\n')).toEqual({
    totalBytes: 2097152,
    availableBytes: 1048576,
  });
  expect(() => parseMeminfo('MemFree: 1024 kB\n')).toThrow('/proc/meminfo has no MemTotal line');
});

it('counts online CPUs from /proc/stat', () => {
  const stat = 'cpu  1 2 3\ncpu0 1 2 3\ncpu1 4 5 6\nintr 1\nctxt 2\n';
  expect(countOnlineCpus(stat)).toBe(2);
});
