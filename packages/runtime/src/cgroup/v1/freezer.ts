import { join } from 'node:path';
import { type CgroupCore, type FreezeState, killPids, waitFor } from '../core.ts';
import { CgroupError } from '../errors.ts';
import type { CgroupFs } from '../fs.ts';
import { parsePids } from '../parse.ts';

// The v1 core: membership from any v1 hierarchy, freezing from the freezer hierarchy
// (Documentation/admin-guide/cgroup-v1/freezer-subsystem.rst). Kill-all is freeze → SIGKILL
// every task → thaw, so nothing can fork between listing and killing.

export function v1Core(fs: CgroupFs, procsDir: string, freezerDir: string | undefined): CgroupCore {
  const stateFile = freezerDir && join(freezerDir, 'freezer.state');
  const state = (): FreezeState => {
    if (!stateFile) return 'thawed';
    const s = fs.read(stateFile).trim();
    return s === 'FROZEN' ? 'frozen' : s === 'FREEZING' ? 'freezing' : 'thawed';
  };
  const core: CgroupCore = {
    dir: procsDir,
    kind: 'v1',
    canFreeze: stateFile !== undefined,
    freezeState: state,
    async freeze(timeoutMs) {
      if (!stateFile)
        throw new CgroupError('CGROUP_UNSUPPORTED', 'freeze: no v1 freezer hierarchy is mounted');
      // Re-writing FROZEN nudges tasks that were busy in the kernel when the first write came.
      const ok = await waitFor(() => {
        if (state() === 'frozen') return true;
        fs.write(stateFile, 'FROZEN');
        return state() === 'frozen';
      }, timeoutMs);
      if (!ok) {
        fs.write(stateFile, 'THAWED');
        throw new CgroupError(
          'CGROUP_TIMEOUT',
          `freeze: ${freezerDir} did not reach FROZEN within ${timeoutMs} ms (left thawed)`,
        );
      }
    },
    async thaw(timeoutMs) {
      if (!stateFile) throw new CgroupError('CGROUP_UNSUPPORTED', 'thaw: no v1 freezer hierarchy is mounted');
      fs.write(stateFile, 'THAWED');
      if (!(await waitFor(() => state() === 'thawed', timeoutMs))) {
        throw new CgroupError(
          'CGROUP_TIMEOUT',
          `thaw: ${freezerDir} did not reach THAWED within ${timeoutMs} ms`,
        );
      }
    },
    async kill(timeoutMs) {
      const frozen =
        stateFile !== undefined &&
        (await core.freeze(timeoutMs).then(
          () => true,
          () => false,
        ));
      try {
        killPids(parsePids(fs.read(join(procsDir, 'cgroup.procs'))));
      } finally {
        // SIGKILL is delivered to frozen tasks once they thaw.
        if (frozen) await core.thaw(timeoutMs);
      }
    },
  };
  return core;
}
