import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectCgroupLayout, parseMountInfo, unescapeMountInfo } from './detect.ts';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'testdata', name), 'utf8');

describe('parseMountInfo', () => {
  it('splits the fields around the optional fields and the separator', () => {
    const [e] = parseMountInfo(
      '36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue\n',
    );
    expect(e).toEqual({
      mountId: 36,
      parentId: 35,
      dev: '98:0',
      root: '/mnt1',
      mountPoint: '/mnt2',
      mountOptions: ['rw', 'noatime'],
      optionalFields: ['master:1', 'shared:7'],
      fsType: 'ext3',
      source: '/dev/root',
      superOptions: ['rw', 'errors=continue'],
    });
  });

  it('decodes octal escapes in paths', () => {
    expect(unescapeMountInfo('/a\\040b\\011c\\012d\\134e')).toBe('/a b\tc\nd\\e');
    const [e] = parseMountInfo('40 31 0:37 /x\\040y /sys/fs/cgroup/my\\040mem rw - cgroup cgroup rw,memory');
    expect(e!.root).toBe('/x y');
    expect(e!.mountPoint).toBe('/sys/fs/cgroup/my mem');
  });

  it('names the malformed line', () => {
    expect(() =>
      parseMountInfo('22 27 0:21 / /proc rw,relatime - proc proc rw\nnot a mountinfo line\n'),
    ).toThrow(/mountinfo line 2: malformed/);
  });
});

describe('detectCgroupLayout', () => {
  it('pure v2 (systemd unified): the cgroup2 mount and its controllers, no v1', () => {
    const layout = detectCgroupLayout(fixture('v2-systemd.mountinfo'), {
      v2Controllers: 'cpuset cpu io memory hugetlb pids rdma misc\n',
    });
    expect(layout).toEqual({
      mode: 'v2',
      v2: {
        mountPoint: '/sys/fs/cgroup',
        controllers: ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'],
      },
      v1: {},
    });
  });

  it('pure v1: every controller to its hierarchy, comounted ones share one, options are not controllers', () => {
    const layout = detectCgroupLayout(fixture('v1-legacy.mountinfo'));
    expect(layout.mode).toBe('v1');
    expect(layout.v2).toBeUndefined();
    expect(layout.v1).toEqual({
      cpu: '/sys/fs/cgroup/cpu,cpuacct',
      cpuacct: '/sys/fs/cgroup/cpu,cpuacct',
      net_cls: '/sys/fs/cgroup/net_cls,net_prio',
      net_prio: '/sys/fs/cgroup/net_cls,net_prio',
      memory: '/sys/fs/cgroup/memory',
      pids: '/sys/fs/cgroup/pids',
      cpuset: '/sys/fs/cgroup/cpuset',
      blkio: '/sys/fs/cgroup/blkio',
      devices: '/sys/fs/cgroup/devices',
      freezer: '/sys/fs/cgroup/freezer',
      hugetlb: '/sys/fs/cgroup/hugetlb',
      perf_event: '/sys/fs/cgroup/perf_event',
    });
    expect(layout.v1Named).toEqual({ systemd: '/sys/fs/cgroup/systemd' });
  });

  it('a second mount of a hierarchy at an escaped path does not replace the first', () => {
    // v1-legacy.mountinfo mounts cpu,cpuacct again at "/sys/fs/cgroup/cpu and acct".
    const layout = detectCgroupLayout(fixture('v1-legacy.mountinfo'));
    expect(layout.v1.cpu).toBe('/sys/fs/cgroup/cpu,cpuacct');
  });

  it('hybrid (systemd style): v1 controllers plus the unified mount', () => {
    const layout = detectCgroupLayout(fixture('hybrid-systemd.mountinfo'), { v2Controllers: '' });
    expect(layout).toEqual({
      mode: 'hybrid',
      v2: { mountPoint: '/sys/fs/cgroup/unified', controllers: [] },
      v1: {
        cpu: '/sys/fs/cgroup/cpu,cpuacct',
        cpuacct: '/sys/fs/cgroup/cpu,cpuacct',
        memory: '/sys/fs/cgroup/memory',
        pids: '/sys/fs/cgroup/pids',
      },
      v1Named: { systemd: '/sys/fs/cgroup/systemd' },
    });
  });

  it("hybrid (Berth's build VM): each controller separately mounted, hugetlb left to v2", () => {
    const layout = detectCgroupLayout(fixture('hybrid-berth-vm.mountinfo'), { v2Controllers: 'hugetlb\n' });
    expect(layout.mode).toBe('hybrid');
    expect(layout.v2).toEqual({ mountPoint: '/sys/fs/cgroup/unified', controllers: ['hugetlb'] });
    expect(Object.keys(layout.v1).sort()).toEqual([
      'blkio',
      'cpu',
      'cpuacct',
      'cpuset',
      'devices',
      'freezer',
      'memory',
      'pids',
    ]);
    expect(layout.v1.cpuacct).toBe('/sys/fs/cgroup/cpuacct');
  });

  it('a mount over the unified point hides cgroup2 (the private-namespace trick for crun)', () => {
    const text = `${fixture('hybrid-berth-vm.mountinfo')}900 41 0:99 / /sys/fs/cgroup/unified rw,relatime - tmpfs tmpfs rw\n`;
    const layout = detectCgroupLayout(text);
    expect(layout.mode).toBe('v1');
    expect(layout.v2).toBeUndefined();
  });

  it('a mount over a parent directory hides the hierarchies mounted below it', () => {
    const text = `${fixture('hybrid-systemd.mountinfo')}900 25 0:99 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n901 900 0:22 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n`;
    const layout = detectCgroupLayout(text);
    expect(layout).toEqual({
      mode: 'v2',
      v2: { mountPoint: '/sys/fs/cgroup/unified', controllers: [] },
      v1: {},
    });
  });

  it('a sub-tree mount is used only when the hierarchy has no whole mount', () => {
    const text = [
      '24 0 8:1 / / rw - ext4 /dev/sda1 rw',
      '50 24 0:40 /lxc/c1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw',
      '51 24 0:41 / /mnt/whole rw - cgroup2 cgroup2 rw',
    ].join('\n');
    expect(detectCgroupLayout(text).v2!.mountPoint).toBe('/mnt/whole');
  });

  it('refuses a host without cgroups', () => {
    expect(() => detectCgroupLayout('24 0 8:1 / / rw - ext4 /dev/sda1 rw\n')).toThrow(/no cgroup hierarchy/);
  });
});
