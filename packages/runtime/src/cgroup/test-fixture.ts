import type { ChildProcess } from 'node:child_process';
import { afterEach, beforeEach, expect } from 'vitest';
import { type CgroupLayout, detectHostCgroupLayout } from './detect.ts';
import { createCgroupManager } from './index.ts';
import type { CgroupManager } from './manager.ts';
import { removeTestTree, testParent } from './testing.ts';

/**
 * The shared fixture of the root tests: a fresh manager at `<parent>/c1` under a unique test
 * parent before each test; afterwards its children killed, the cgroup destroyed and the whole
 * test tree removed from every hierarchy of the host, even when the test failed.
 */
export function useTestCgroup(layout: CgroupLayout): {
  readonly cg: CgroupManager;
  readonly parent: string;
  readonly children: ChildProcess[];
} {
  const state = { cg: undefined as unknown as CgroupManager, parent: '', children: [] as ChildProcess[] };
  const hostLayout = detectHostCgroupLayout();
  beforeEach(async () => {
    state.parent = testParent();
    state.cg = createCgroupManager({ path: `${state.parent}/c1`, layout });
    await state.cg.create();
  });
  afterEach(async () => {
    for (const c of state.children.splice(0)) c.kill('SIGKILL');
    try {
      await state.cg.destroy();
    } finally {
      expect(removeTestTree(hostLayout, state.parent)).toEqual([]);
    }
  });
  return state;
}
