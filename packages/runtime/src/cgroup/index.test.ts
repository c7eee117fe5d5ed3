import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CgroupLayout } from './detect.ts';
import { createCgroupManager } from './index.ts';
import { fakeCgroup2 } from './v2/testing.ts';

// Which driver pieces createCgroupManager binds, on a hybrid layout laid out in a temp tree: v1
// controllers from their hierarchies, a controller only v2 has (hugetlb) when the host enabled
// it at the unified root, the v2 core, and no write to the unified root's subtree_control.

const host = { onlineCpus: '0-1', onlineMems: '0', hugePageSizes: ['2MB'] };

describe('createCgroupManager on a hybrid layout', () => {
  it('uses v1 for v1 controllers and v2 for what only v2 has, leaving the host-owned root alone', async () => {
    const f = fakeCgroup2();
    try {
      const pidsMount = join(f.root, 'sys/fs/cgroup/pids');
      mkdirSync(pidsMount, { recursive: true });
      writeFileSync(join(pidsMount, 'cgroup.procs'), '');
      const layout: CgroupLayout = {
        mode: 'hybrid',
        v1: { pids: '/sys/fs/cgroup/pids' },
        v2: { mountPoint: '/sys/fs/cgroup/unified', controllers: ['hugetlb', 'pids'] },
      };
      // The fake's cgroup2 tree is at sys/fs/cgroup; put the unified mount there for this layout.
      mkdirSync(join(f.root, 'sys/fs/cgroup/unified'), { recursive: true });
      for (const name of ['cgroup.controllers', 'cgroup.subtree_control', 'cgroup.procs']) {
        writeFileSync(
          join(f.root, 'sys/fs/cgroup/unified', name),
          name === 'cgroup.procs' ? '' : name === 'cgroup.controllers' ? 'hugetlb pids' : 'hugetlb',
        );
      }
      const cg = createCgroupManager({ path: '/berth/c1', layout, root: f.root, fs: f.fs, host });
      await cg.create();
      expect(cg.mode).toBe('hybrid');
      expect(cg.procsFiles()).toEqual([
        join(pidsMount, 'berth/c1/cgroup.procs'),
        join(f.root, 'sys/fs/cgroup/unified/berth/c1/cgroup.procs'),
      ]);
      // Only /berth's subtree_control is written, and only hugetlb (pids lives on v1 here).
      expect(f.fs.writes.map((w) => [w.path.slice(f.root.length), w.value])).toEqual([
        ['/sys/fs/cgroup/unified/berth/cgroup.subtree_control', '+hugetlb'],
      ]);
      f.fs.writes.length = 0;
      await cg.apply({ pids: { limit: 9 }, hugepageLimits: [{ pageSize: '2MB', limit: 2 << 21 }] });
      expect(f.fs.writes.map((w) => [w.path.slice(f.root.length), w.value])).toEqual([
        ['/sys/fs/cgroup/pids/berth/c1/pids.max', '9'],
        ['/sys/fs/cgroup/unified/berth/c1/hugetlb.2MB.max', String(2 << 21)],
      ]);
      // Freeze goes to the v2 core on the unified mount.
      await expect(cg.freezeState()).resolves.toBe('thawed');
    } finally {
      f.cleanup();
    }
  });

  it('refuses hugetlb when the host did not enable it below the unified root', async () => {
    const f = fakeCgroup2();
    try {
      const layout: CgroupLayout = {
        mode: 'hybrid',
        v1: {},
        v2: { mountPoint: '/sys/fs/cgroup', controllers: ['hugetlb'] },
      };
      const cg = createCgroupManager({ path: '/berth/c1', layout, root: f.root, fs: f.fs, host });
      await expect(cg.apply({ hugepageLimits: [{ pageSize: '2MB', limit: 0 }] })).rejects.toThrow(
        /hugepageLimits: the hugetlb controller is not available to Berth's cgroups on this hybrid host/,
      );
    } finally {
      f.cleanup();
    }
  });
});
