import { join } from 'node:path';
import { type CgroupCore, type FreezeState, killPids, waitFor } from '../core.ts';
import { CgroupError } from '../errors.ts';
import type { CgroupFs } from '../fs.ts';
import type { Stats } from '../manager.ts';
import { parseFlatKeyed, parsePids, parsePressure } from '../parse.ts';

// The v2 core (Documentation/admin-guide/cgroup-v2.rst, "Core Interface Files"): cgroup.freeze
// with cgroup.events "frozen", cgroup.kill (Linux 5.14) and the PSI files. It needs no
// controller, so it also works on the unified mount of a hybrid host.

export function v2Core(fs: CgroupFs, dir: string): CgroupCore {
  const events = () => parseFlatKeyed(fs.read(join(dir, 'cgroup.events')));
  const state = (): FreezeState => {
    const wanted = fs.read(join(dir, 'cgroup.freeze')).trim() === '1';
    const frozen = events().get('frozen') === 1;
    return frozen ? 'frozen' : wanted ? 'freezing' : 'thawed';
  };
  const pressureFiles = (['cpu', 'memory', 'io'] as const).map((r) => [r, `${dir}/${r}.pressure`] as const);
  return {
    dir,
    kind: 'v2',
    canFreeze: true,
    freezeState: state,
    async freeze(timeoutMs) {
      fs.write(join(dir, 'cgroup.freeze'), '1');
      if (!(await waitFor(() => events().get('frozen') === 1, timeoutMs))) {
        fs.write(join(dir, 'cgroup.freeze'), '0');
        throw new CgroupError(
          'CGROUP_TIMEOUT',
          `freeze: ${dir} did not report frozen within ${timeoutMs} ms (left thawed)`,
        );
      }
    },
    async thaw(timeoutMs) {
      fs.write(join(dir, 'cgroup.freeze'), '0');
      if (!(await waitFor(() => events().get('frozen') !== 1, timeoutMs))) {
        throw new CgroupError('CGROUP_TIMEOUT', `thaw: ${dir} still reports frozen after ${timeoutMs} ms`);
      }
    },
    async kill(timeoutMs) {
      if (fs.exists(join(dir, 'cgroup.kill'))) {
        // One write kills the whole subtree, forks in flight included.
        fs.write(join(dir, 'cgroup.kill'), '1');
      } else {
        // Before 5.14: freeze, kill what is listed, thaw (as the v1 path does).
        const frozen = await this.freeze(timeoutMs).then(
          () => true,
          () => false,
        );
        killPids(parsePids(fs.read(join(dir, 'cgroup.procs'))));
        if (frozen) await this.thaw(timeoutMs);
      }
      await waitFor(() => events().get('populated') === 0, timeoutMs);
    },
    pressure(stats: Stats) {
      for (const [r, path] of pressureFiles) {
        let text: string;
        try {
          text = fs.read(path);
        } catch {
          continue; // PSI off (psi=0) or not built: absent, not zero.
        }
        const p = parsePressure(text);
        if (!p) continue;
        stats.pressure ??= {};
        stats.pressure[r] = p;
      }
    },
  };
}
