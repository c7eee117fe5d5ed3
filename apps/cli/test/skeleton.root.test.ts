// The walking skeleton's agent half, end to end as root: the real bundled berthd on a
// temporary socket and state dir, called through the tRPC client and the bundled `berth`
// CLI, its answer checked against /proc; the socket's group decides who may call it.
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentUnreachableError, createAgentClient } from '@berth/agent/client';
import { type BerthdProcess, startBerthd } from '@berth/agent/testing';
import { HostFacts } from '@berth/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BerthRun, type CliOptions, runCli } from './harness.ts';

const CLI_BUNDLE = fileURLToPath(new URL('../dist/berth.js', import.meta.url));
const AGENT_PACKAGE = fileURLToPath(new URL('../../../packages/agent/package.json', import.meta.url));
// The socket's group: any gid nobody has (nothing is created on the host for it).
const SOCKET_GID = 47312;
const NOBODY = 65534;

let dir: string;
let socketPath: string;
let cli: string;
let berthd: BerthdProcess | undefined;

beforeEach(async () => {
  // World-traversable, so only the socket's own mode and group decide who may connect.
  dir = mkdtempSync('/tmp/berth-test-skeleton-');
  chmodSync(dir, 0o755);
  socketPath = join(dir, 'berthd.sock');
  // The CLI bundle is self-contained; a copy here is readable by `nobody` wherever the
  // repository was cloned.
  cli = join(dir, 'berth.js');
  copyFileSync(CLI_BUNDLE, cli);
  chmodSync(cli, 0o755);
  berthd = await startBerthd({ socketPath, stateDir: join(dir, 'state'), socketGroup: String(SOCKET_GID) });
});
afterEach(async () => {
  await berthd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const berth = (args: string[], opts: CliOptions = {}): Promise<BerthRun> =>
  runCli(args, { bundle: cli, cwd: dir, timeoutMs: 30_000, ...opts });

/** What /proc says, read here independently of the agent's code. */
function procTruth() {
  const read = (p: string) => readFileSync(p, 'utf8');
  const meminfo = read('/proc/meminfo');
  const kib = (f: string) => Number(new RegExp(`^${f}:\\s+(\\d+) kB`, 'm').exec(meminfo)![1]) * 1024;
  const mounts = read('/proc/self/mountinfo')
    .trim()
    .split('\n')
    .map((l) => {
      const [pre, post] = l.split(' - ');
      const [fsType, , superOpts] = post!.split(' ');
      return { mountPoint: pre!.split(' ')[4]!, fsType: fsType!, superOpts: superOpts!.split(',') };
    });
  const v2 = mounts.find((m) => m.fsType === 'cgroup2');
  const v1 = mounts.filter(
    (m) => m.fsType === 'cgroup' && m.superOpts.some((o) => !/^(rw|ro|name=.*|.*=.*)$/.test(o)),
  );
  return {
    hostname: read('/proc/sys/kernel/hostname').trim(),
    kernelRelease: read('/proc/sys/kernel/osrelease').trim(),
    cpus: read('/proc/stat')
      .split('\n')
      .filter((l) => /^cpu\d+ /.test(l)).length,
    memTotal: kib('MemTotal'),
    cgroupMode: v2 && v1.length > 0 ? 'hybrid' : v2 ? 'v2' : 'v1',
    v2MountPoint: v2?.mountPoint,
    namespaces: [...new Set(readdirSync('/proc/self/ns').map((n) => n.replace(/_for_children$/, '')))].sort(),
    maxUserNamespaces: Number(read('/proc/sys/user/max_user_namespaces')),
    agentVersion: (JSON.parse(read(AGENT_PACKAGE)) as { version: string }).version,
  };
}

describe('berthd answers host.facts', () => {
  it('through the tRPC client, matching /proc', async () => {
    const facts = HostFacts.parse(await createAgentClient({ socketPath }).host.facts.query());
    const truth = procTruth();
    expect(facts.hostname).toBe(truth.hostname);
    expect(facts.kernelRelease).toBe(truth.kernelRelease);
    expect(facts.cpus).toBe(truth.cpus);
    expect(facts.memory.totalBytes).toBe(truth.memTotal);
    expect(facts.memory.availableBytes).toBeGreaterThan(0);
    expect(facts.memory.availableBytes).toBeLessThanOrEqual(truth.memTotal);
    expect(facts.cgroup.mode).toBe(truth.cgroupMode);
    expect(facts.cgroup.v2?.mountPoint).toBe(truth.v2MountPoint);
    for (const mount of Object.values(facts.cgroup.v1)) expect(mount).toMatch(/^\//);
    expect(facts.maxUserNamespaces).toBe(truth.maxUserNamespaces);
    expect([...facts.namespaces].sort()).toEqual(
      truth.maxUserNamespaces > 0 ? truth.namespaces : truth.namespaces.filter((n) => n !== 'user'),
    );
    expect(facts.agent.version).toBe(truth.agentVersion);
    expect(facts.agent.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect(facts.agent.uptimeSeconds).toBeLessThan(600);
  });

  it('through `berth info --format json`, the same as through the client', async () => {
    const viaClient = await createAgentClient({ socketPath }).host.facts.query();
    const run = await berth(['info', '--format', 'json', '--socket', socketPath]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const viaCli = HostFacts.parse(JSON.parse(run.stdout));
    // Only what moves on its own between the two calls may differ.
    const steady = (f: HostFacts) => ({
      ...f,
      memory: { totalBytes: f.memory.totalBytes },
      agent: { version: f.agent.version },
    });
    expect(steady(viaCli)).toEqual(steady(viaClient));
  });

  it('through `berth info` for a person, the socket taken from BERTH_SOCKET', async () => {
    const truth = procTruth();
    const run = await berth(['info'], { env: { BERTH_SOCKET: socketPath } });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`\nKernel      ${truth.kernelRelease}\n`);
    expect(run.stdout).toContain(`\nCgroups     ${truth.cgroupMode}\n`);
    expect(run.stdout).toContain(`\nCPUs        ${truth.cpus}\n`);
    expect(run.stdout).toMatch(/\nAgent {7}berthd \d+\.\d+\.\d+, up \d+s\n$/);
  });
});

describe('the socket group', () => {
  it('refuses a user outside it: the CLI as nobody says the agent is unreachable', async () => {
    const run = await berth(['info', '--socket', socketPath], { uid: NOBODY, gid: NOBODY });
    expect(run.stderr).toBe(`agent unreachable at ${socketPath}\n`);
    expect(run.code).toBe(3);
    expect(run.stdout).toBe('');
  });

  it('serves a user in it: the CLI as nobody with the socket group works', async () => {
    const run = await berth(['info', '--format', 'json', '--socket', socketPath], {
      uid: NOBODY,
      gid: SOCKET_GID,
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(HostFacts.parse(JSON.parse(run.stdout)).kernelRelease).toBe(procTruth().kernelRelease);
  });
});

describe('when berthd is not running', () => {
  beforeEach(async () => {
    expect(await berthd!.stop()).toBe(0);
  });

  it('the client rejects with AgentUnreachableError', async () => {
    const err = await createAgentClient({ socketPath })
      .host.facts.query()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentUnreachableError);
    expect((err as Error).message).toBe(`agent unreachable at ${socketPath}`);
  });

  it('`berth info` prints the sentence to stderr and exits 3', async () => {
    const run = await berth(['info', '--socket', socketPath]);
    expect(run).toEqual({ code: 3, stdout: '', stderr: `agent unreachable at ${socketPath}\n` });
  });
});
