import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The OCI runtimes the conformance suite drives, each through its command line exactly as
// runtime-tools' validation/util/container.go does (`create [--pid-file F] --bundle DIR ID`,
// `start ID`, `state ID`, `kill ID SIG`, `delete [--force] ID`).
//
// Every invocation runs from a small shell that first moves itself into the suite's own cgroup
// (so a relative cgroupsPath lands under a cgroup the suite created, never under the caller's
// `process_api` cgroup). crun 1.8 also refuses this hybrid host ("cgroups in hybrid mode not
// supported"): its shell runs in a private mount namespace with an empty tmpfs over
// /sys/fs/cgroup/unified (ENVIRONMENT.md), so the host's mounts stay untouched.

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RuntimeDriver {
  name: string;
  /** Runs `<runtime> --root <state> ARGS`; stdout/stderr are captured unless given as fds. */
  run(args: string[], stdio?: { stdout: number; stderr: number }): Promise<RunResult>;
}

const V1_CONTROLLERS = ['blkio', 'cpu', 'cpuacct', 'cpuset', 'devices', 'freezer', 'memory', 'pids'];
const CGROUP_ROOT = '/sys/fs/cgroup';

/** A cgroup of the suite's own in every v1 hierarchy; relative cgroupsPaths resolve under it. */
export class CgroupSandbox {
  readonly name: string;
  constructor(tag: string) {
    this.name = `berth-test-oci-${tag}`;
  }

  controllers(): string[] {
    return V1_CONTROLLERS.filter((c) => existsSync(join(CGROUP_ROOT, c, 'cgroup.procs')));
  }

  /** Every mounted hierarchy (v1 controllers, name=systemd, unified): runtimes may create
   * a container's cgroup path in each, so teardown looks in each. */
  hierarchies(): string[] {
    return readdirSync(CGROUP_ROOT).filter((h) => existsSync(join(CGROUP_ROOT, h, 'cgroup.procs')));
  }

  create(): void {
    for (const c of this.controllers()) {
      const dir = join(CGROUP_ROOT, c, this.name);
      mkdirSync(dir, { recursive: true });
      if (c === 'cpuset') {
        // a new cpuset is empty: give it its parent's cpus and mems so tasks may join it
        for (const f of ['cpuset.cpus', 'cpuset.mems'])
          writeFileSync(join(dir, f), readFileSync(join(CGROUP_ROOT, c, f), 'utf8').trim());
      }
    }
  }

  /** Shell lines that move the running shell into the sandbox. */
  joinScript(): string {
    return this.controllers()
      .map((c) => `echo $$ > ${join(CGROUP_ROOT, c, this.name, 'cgroup.procs')}`)
      .join('\n');
  }

  /** Removes the sandbox and everything the runtimes left under it (deepest first). */
  destroy(): string[] {
    const left: string[] = [];
    for (const c of this.hierarchies()) {
      const top = join(CGROUP_ROOT, c, this.name);
      if (!existsSync(top)) continue;
      const dirs: string[] = [];
      const walk = (d: string) => {
        dirs.push(d);
        for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
      };
      walk(top);
      for (const d of dirs.reverse()) {
        try {
          rmdirSync(d);
        } catch {
          left.push(d);
        }
      }
    }
    // relative cgroupsPaths berth-runtime put under its own /berth (cases remove them)
    for (const c of this.hierarchies()) {
      const berth = join(CGROUP_ROOT, c, 'berth');
      if (existsSync(berth))
        for (const e of readdirSync(berth)) if (e.startsWith('berth-test-rel-')) left.push(join(berth, e));
    }
    return left;
  }
}

function runShell(
  script: string,
  args: string[],
  stdio?: { stdout: number; stderr: number },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', script, 'sh', ...args], {
      stdio: ['ignore', stdio?.stdout ?? 'pipe', stdio?.stderr ?? 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.on('error', reject);
    // 'exit', not 'close': with stdio inherited, the container may hold the pipes open.
    child.on('exit', (code, signal) => {
      // let the pipes drain what the runtime itself wrote
      setImmediate(() => resolve({ code: code ?? 128 + (signal ? 9 : 0), stdout, stderr }));
    });
  });
}

const here = dirname(fileURLToPath(import.meta.url));
/** The bundled berth-runtime (built by the package's build, as install.sh does). */
export const BERTH_RUNTIME_JS = join(here, '../../dist/berth-runtime.js');

export function crunDriver(stateRoot: string, sandbox: CgroupSandbox): RuntimeDriver {
  const script = [
    'set -e',
    'mount -t tmpfs berth-test-crun-unified /sys/fs/cgroup/unified',
    sandbox.joinScript(),
    `exec crun --root ${stateRoot} "$@"`,
  ].join('\n');
  return {
    name: 'crun',
    run: (args, stdio) => runShell(`exec unshare -m sh -c '${script}' sh "$@"`, args, stdio),
  };
}

export function berthDriver(stateRoot: string, sandbox: CgroupSandbox): RuntimeDriver {
  const script = [
    'set -e',
    sandbox.joinScript(),
    `exec ${process.execPath} ${BERTH_RUNTIME_JS} --root ${stateRoot} "$@"`,
  ].join('\n');
  return { name: 'berth', run: (args, stdio) => runShell(script, args, stdio) };
}
