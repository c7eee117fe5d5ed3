import type { HostFacts } from '@berth/contracts';
import { expect, it } from 'vitest';
import { formatHostFacts } from './info-format.ts';

it('prints the facts aligned, v1 comounts on one line, sizes and uptime readable', () => {
  const facts: HostFacts = {
    hostname: 'box',
    kernelRelease: '6.1.0-18-amd64',
    architecture: 'x86_64',
    cgroup: {
      mode: 'hybrid',
      v2: { mountPoint: '/sys/fs/cgroup/unified', controllers: [] },
      v1: {
        cpu: '/sys/fs/cgroup/cpu,cpuacct',
        cpuacct: '/sys/fs/cgroup/cpu,cpuacct',
        memory: '/sys/fs/cgroup/memory',
      },
      v1Named: { systemd: '/sys/fs/cgroup/systemd' },
    },
    namespaces: ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'user', 'uts'],
    maxUserNamespaces: 63704,
    cpus: 8,
    memory: { totalBytes: 16 * 1024 ** 3, availableBytes: 12.5 * 1024 ** 3 },
    agent: { version: '0.1.0', uptimeSeconds: 3725.4 },
  };
  expect(formatHostFacts(facts)).toBe(
    [
      'Host        box (x86_64)',
      'Kernel      6.1.0-18-amd64',
      'Cgroups     hybrid',
      '            v2 at /sys/fs/cgroup/unified (no controllers)',
      '            v1 cpu,cpuacct at /sys/fs/cgroup/cpu,cpuacct',
      '            v1 memory at /sys/fs/cgroup/memory',
      '            v1 name=systemd at /sys/fs/cgroup/systemd',
      'Namespaces  cgroup ipc mnt net pid user uts (up to 63704 user namespaces)',
      'CPUs        8',
      'Memory      12.5 GiB available of 16.0 GiB',
      'Agent       berthd 0.1.0, up 1h 2m',
      '',
    ].join('\n'),
  );
});

it('says when user namespaces are off, and a pure v2 host has no v1 lines', () => {
  const text = formatHostFacts({
    hostname: 'h',
    kernelRelease: '6.8.0',
    architecture: 'aarch64',
    cgroup: {
      mode: 'v2',
      v2: { mountPoint: '/sys/fs/cgroup', controllers: ['cpu', 'memory', 'pids'] },
      v1: {},
    },
    namespaces: ['ipc', 'mnt'],
    maxUserNamespaces: 0,
    cpus: 1,
    memory: { totalBytes: 512, availableBytes: 100 },
    agent: { version: '0.1.0', uptimeSeconds: 0.2 },
  });
  expect(text).toContain('Cgroups     v2\n            v2 at /sys/fs/cgroup (cpu memory pids)\nNamespaces');
  expect(text).toContain('Namespaces  ipc mnt (user namespaces off)\n');
  expect(text).toContain('Memory      100 B available of 512 B\n');
  expect(text).toContain('Agent       berthd 0.1.0, up 0s\n');
});
