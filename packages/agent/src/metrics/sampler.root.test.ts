// Root: the sampler on real cgroups (created under a unique /berth-test-* parent in every
// hierarchy, removed afterwards): a busy process shows CPU use, its group the sum.

import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createCgroupManager, detectHostCgroupLayout, hostCgroupFs } from '@berth/runtime/cgroup';
import { removeTestTree, spawnInCgroup, testParent, waitUntil } from '@berth/runtime/testing/cgroup';
import { afterEach, expect, it } from 'vitest';
import { MetricsSampler } from './sampler.ts';

const layout = detectHostCgroupLayout();
const parent = testParent();
const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  expect(removeTestTree(layout, parent)).toEqual([]);
});

it('samples containers through their cgroups and sums a group of them', async () => {
  const busy = createCgroupManager({ path: `${parent}/busy`, layout });
  const idle = createCgroupManager({ path: `${parent}/idle`, layout });
  await busy.create();
  await idle.create();
  const b1 = spawnInCgroup(busy.procsFiles(), 'while :; do :; done');
  const i1 = spawnInCgroup(idle.procsFiles(), 'sleep 1000');
  children.push(b1, i1);
  const inside = (cg: typeof busy, pid = 0) =>
    readFileSync(cg.procsFiles()[0]!, 'utf8').includes(String(pid));
  await waitUntil('the processes in their cgroups', () => inside(busy, b1.pid) && inside(idle, i1.pid));
  const sampler = new MetricsSampler({ fs: hostCgroupFs(), layout });
  sampler.register({ id: 'berth-test-busy', name: 'busy', cgroupPath: `${parent}/busy`, group: 'team' });
  sampler.register({ id: 'berth-test-idle', name: 'idle', cgroupPath: `${parent}/idle`, group: 'team' });
  await sampler.sample();
  await new Promise((r) => setTimeout(r, 1000));
  await sampler.sample();

  const b = sampler.sampleOf(sampler.find('busy')!);
  const i = sampler.sampleOf(sampler.find('idle')!);
  // The busy loop gets some CPU even on a loaded 2-core VM; the sleeper next to none.
  expect(b.cpuPercent).toBeGreaterThan(5);
  expect(i.cpuPercent).toBeLessThan(b.cpuPercent);
  expect(b.pids).toBe(1);
  expect(b.memoryBytes).toBeGreaterThan(0);
  const g = sampler.sampleOf(sampler.get('group:team')!);
  expect(g.cpuPercent).toBeCloseTo(b.cpuPercent + i.cpuPercent, 5);
  expect(g.pids).toBe(b.pids + i.pids);

  sampler.unregister('berth-test-busy');
  expect(sampler.find('busy')).toBeUndefined();
});
