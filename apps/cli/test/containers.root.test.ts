// Containers end to end as root: the real bundled berthd (real runtime, real cgroups, real
// overlay roots, user namespaces) on a temporary socket and state dir, driven through the
// bundled `berth` CLI. Everything it makes lives under names containing "berth-test" and is
// removed in afterAll, even when a test fails.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BerthdProcess, startBerthd } from '@berth/agent/testing';
import type { AgentEventInfo, ContainerInfo } from '@berth/contracts';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BerthRun,
  berthdArgs,
  CLI_BUNDLE,
  cleanupTestHost,
  runBerth,
  testDir,
  until,
} from './harness.ts';

const TAG = `berth-test-cli-${process.pid}`;
const CGROUP_PARENT = `/${TAG}`;

let dir: string;
let berthd: BerthdProcess | undefined;
const args = () => berthdArgs(dir);

beforeAll(async () => {
  dir = testDir(TAG, (d) => ({
    cgroupParent: CGROUP_PARENT,
    bindMountAllowlist: [join(d, 'shared')],
    maxLimits: { memoryBytes: 8 * 2 ** 30 },
    stopTimeoutSec: 2,
  }));
  mkdirSync(join(dir, 'shared'));
  writeFileSync(join(dir, 'shared', 'hello.txt'), 'from the host\n');
  writeFileSync(join(dir, 'secret'), 'host secret\n');
  berthd = await startBerthd(args());
}, 60_000);

afterAll(async () => {
  try {
    if (berthd && berthd.child.exitCode === null) {
      const list = await berth('ls', '--format', 'json');
      for (const c of JSON.parse(list.stdout || '[]') as ContainerInfo[]) await berth('rm', '-f', c.name);
      for (const g of ['team-a', 'user-1']) await berth('group', 'rm', g);
      await berthd.stop();
    }
  } finally {
    cleanupTestHost(dir, TAG);
  }
}, 120_000);

const berth = (...argv: string[]): Promise<BerthRun> => runBerth(args().socketPath, argv);

async function ok(...argv: string[]): Promise<string> {
  const r = await berth(...argv);
  if (r.code !== 0)
    throw new Error(
      `berth ${argv.join(' ')} exited ${r.code}: ${r.stderr}\nberthd said:\n${berthd?.stderr()}`,
    );
  return r.stdout;
}

async function inspect(name: string): Promise<ContainerInfo> {
  return JSON.parse(await ok('inspect', name)) as ContainerInfo;
}

const cgroupDir = (controller: string, c: ContainerInfo) =>
  join('/sys/fs/cgroup', controller, CGROUP_PARENT.slice(1), ...(c.group ? [`g.${c.group}`] : []), c.id);

describe('an app container', () => {
  it("logs -f follows a terminal container's console across a restart", async () => {
    await ok(
      'launch',
      '-t',
      'busybox',
      'tail',
      '--',
      'sh',
      '-c',
      'echo "run $(cat /proc/uptime)"; exec sleep 1000',
    );
    const follow = spawn(process.execPath, [CLI_BUNDLE, '--socket', args().socketPath, 'logs', '-f', 'tail']);
    let out = '';
    follow.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
    });
    const runs = () => out.match(/run \d/g)?.length ?? 0;
    try {
      await until('the first run in the followed log', async () => runs() === 1);
      await ok('restart', 'tail');
      await until('the second run in the followed log', async () => runs() === 2);
    } finally {
      follow.kill('SIGKILL');
      await ok('rm', '-f', 'tail');
    }
  });

  it('goes through its whole lifecycle, with exec exit codes, logs and live limits', async () => {
    await ok('launch', 'busybox', 'web', '--', 'sh', '-c', 'echo started; exec sleep 1000');
    let c = await inspect('web');
    expect(c.state).toBe('running');
    expect(c.pid).toBeGreaterThan(1);
    // Unprivileged: root in the container is an unprivileged host uid.
    const uidMap = readFileSync(`/proc/${c.pid}/uid_map`, 'utf8').trim().split(/\s+/);
    expect(uidMap[0]).toBe('0');
    expect(Number(uidMap[1])).toBeGreaterThanOrEqual(1_000_000_000);

    const exec = await berth('exec', 'web', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7');
    expect(exec).toEqual({ code: 7, stdout: 'out\n', stderr: 'err\n' });
    expect((await berth('exec', 'web', '--', 'true')).code).toBe(0);

    await until('the log', async () => (await ok('logs', 'web')).includes('started'));
    expect(await ok('logs', 'web', '--tail', '1')).toBe('started\n');

    await ok('limits', 'web', '--memory', '64M', '--pids', '50', '--cpus', '0.5');
    expect(readFileSync(join(cgroupDir('memory', c), 'memory.limit_in_bytes'), 'utf8').trim()).toBe(
      String(64 * 2 ** 20),
    );
    expect(readFileSync(join(cgroupDir('pids', c), 'pids.max'), 'utf8').trim()).toBe('50');
    expect(readFileSync(join(cgroupDir('cpu', c), 'cpu.cfs_quota_us'), 'utf8').trim()).toBe('50000');
    expect((await inspect('web')).config.limits).toMatchObject({
      memoryBytes: 64 * 2 ** 20,
      pids: 50,
      cpus: 0.5,
    });

    await ok('freeze', 'web');
    expect((await inspect('web')).state).toBe('paused');
    // Hybrid hosts freeze through cgroup v2's core (cgroup.freeze); v1 hosts through the freezer.
    const unified = cgroupDir('unified', c);
    if (existsSync(join(unified, 'cgroup.events')))
      expect(readFileSync(join(unified, 'cgroup.events'), 'utf8')).toMatch(/^frozen 1$/m);
    else expect(readFileSync(join(cgroupDir('freezer', c), 'freezer.state'), 'utf8').trim()).toBe('FROZEN');
    await ok('unfreeze', 'web');
    expect((await inspect('web')).state).toBe('running');

    await ok('rename', 'web', 'web2');
    await ok('stop', 'web2');
    c = await inspect('web2');
    expect(c.state).toBe('stopped');
    // PID 1 of a namespace ignores a SIGTERM it has no handler for: killed after the timeout.
    expect(c.exitCode).toBe(137);
    expect(existsSync(cgroupDir('memory', c))).toBe(true);
    await ok('start', 'web2');
    expect((await inspect('web2')).state).toBe('running');
    await ok('rm', '-f', 'web2');
    expect(existsSync(cgroupDir('memory', c))).toBe(false);
    expect(JSON.parse(await ok('ls', '--format', 'json'))).toEqual([]);
  });

  it('refuses bad input with a clear error, a reliable exit code, and no change', async () => {
    await ok('create', 'busybox', 'keep', '--', 'sleep', '1000');
    const before = await ok('ls', '--format', 'json');
    const cases: Array<[string[], number, RegExp]> = [
      [['create', 'busybox', 'a/b'], 2, /invalid config\.name: use letters/],
      [['create', 'busybox', 'a..b'], 2, /invalid config\.name: must not contain "\.\."/],
      [['create', 'busybox', 'x'.repeat(300)], 2, /invalid config\.name: must be at most 63 characters/],
      [['create', 'busybox', 'neg', '--memory', '-5'], 2, /invalid memory/],
      [['create', 'busybox', 'neg', '--pids', '-1'], 2, /invalid config\.limits\.pids: must be at least 1/],
      [['create', 'busybox', 'bind', '-v', '/etc:/host-etc'], 6, /outside the agent's allowlist/],
      [['create', 'busybox', 'priv', '--privileged'], 6, /privileged containers are not allowed/],
      [['create', 'busybox', 'keep'], 5, /a container named keep already exists/],
      [['start', 'kep'], 4, /no container named kep; did you mean keep\?/],
      [['unfreeze', 'keep'], 5, /cannot unfreeze container "keep": it is created/],
      [['exec', 'keep', '--', 'true'], 5, /it is created \(exec needs running\)/],
    ];
    for (const [argv, code, message] of cases) {
      const r = await berth(...argv);
      expect({ argv, code: r.code }).toEqual({ argv, code });
      expect(r.stderr).toMatch(message);
    }
    expect(await ok('ls', '--format', 'json')).toBe(before);
    await ok('start', 'keep');
    const refused = await berth('rm', 'keep');
    expect(refused.code).toBe(5);
    expect(refused.stderr).toMatch(/cannot delete container "keep": it is running/);
    expect((await inspect('keep')).state).toBe('running');
    await ok('rm', '-f', 'keep');
  });
});

describe('files, snapshots and clones', () => {
  it('pushes and pulls files without following symlinks out of the root', async () => {
    await ok('launch', 'busybox', 'files', '--', 'sleep', '1000');
    writeFileSync(join(dir, 'in.txt'), 'pushed\n');
    await ok(
      'push',
      join(dir, 'in.txt'),
      'files:/root/in.txt',
      '--mode',
      '600',
      '--uid',
      '1000',
      '--gid',
      '1000',
    );
    expect(await ok('exec', 'files', '--', 'stat', '-c', '%a %u %g', '/root/in.txt')).toBe('600 1000 1000\n');
    expect(await ok('pull', 'files:/root/in.txt')).toBe('pushed\n');

    // Links the container made, pointing at the host's paths: they resolve inside its root.
    await ok('exec', 'files', '--', 'ln', '-s', `${dir}/secret`, '/secret-link');
    await ok('exec', 'files', '--', 'ln', '-s', `../../../../../../../../${dir.slice(1)}`, '/escape');
    await ok('exec', 'files', '--', 'ln', '-s', '/etc/passwd', '/passwd-link');
    const pull = await berth('pull', 'files:/secret-link');
    expect(pull.code).toBe(4);
    expect(pull.stdout).not.toContain('host secret');
    const through = await berth('push', join(dir, 'in.txt'), 'files:/escape/pwned');
    expect(through.code).toBe(4);
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
    const onto = await berth('push', join(dir, 'in.txt'), 'files:/passwd-link');
    expect(onto.code).toBe(5);
    expect(onto.stderr).toMatch(/is a symbolic link/);
    expect(await ok('exec', 'files', '--', 'head', '-1', '/etc/passwd')).toMatch(/^root:/);

    // A directory comes out as a tar that keeps links as links.
    await ok('exec', 'files', '--', 'sh', '-c', 'mkdir -p /d/sub && echo x > /d/sub/f && ln -s /etc /d/l');
    const tar = await berth('pull', 'files:/d', join(dir, 'd.tar'));
    expect(tar.code).toBe(0);
    const listing = await new Promise<string>((resolve) => {
      const t = spawn('tar', ['-tvf', join(dir, 'd.tar')]);
      let out = '';
      t.stdout.on('data', (b: Buffer) => {
        out += b;
      });
      t.on('close', () => resolve(out));
    });
    expect(listing).toMatch(/\.\/sub\/f/);
    expect(listing).toMatch(/\.\/l -> \/etc/);
    await ok('rm', '-f', 'files');
  });

  it('snapshots, restores and clones a container', async () => {
    await ok('launch', 'busybox', 'snap', '--', 'sleep', '1000');
    await ok('exec', 'snap', '--', 'sh', '-c', 'echo one > /state.txt');
    await ok('stop', 'snap');
    expect((await berth('snapshot', 'create', 'snap', 's1')).code).toBe(0);
    await ok('start', 'snap');
    await ok('exec', 'snap', '--', 'sh', '-c', 'echo two > /state.txt; touch /later');
    expect(await ok('exec', 'snap', '--', 'cat', '/state.txt')).toBe('two\n');
    const refused = await berth('restore', 'snap', 's1');
    expect(refused.code).toBe(5);
    await ok('stop', 'snap');
    await ok('restore', 'snap', 's1');
    await ok('start', 'snap');
    expect(await ok('exec', 'snap', '--', 'cat', '/state.txt')).toBe('one\n');
    expect((await berth('exec', 'snap', '--', 'test', '-e', '/later')).code).toBe(1);
    expect(JSON.parse(await ok('snapshot', 'ls', 'snap', '--format', 'json'))).toEqual([
      expect.objectContaining({ name: 's1' }),
    ]);

    await ok('clone', 'snap', 'snap-clone', '--snapshot', 's1');
    await ok('start', 'snap-clone');
    expect(await ok('exec', 'snap-clone', '--', 'cat', '/state.txt')).toBe('one\n');
    const a = await inspect('snap');
    const b = await inspect('snap-clone');
    expect(b.id).not.toBe(a.id);
    expect(b.config.command).toEqual(a.config.command);
    await ok('rm', '-f', 'snap', 'snap-clone');
  });
});

describe('volumes and groups', () => {
  it('keeps a named volume when its container goes, and bind-mounts allowed host dirs', async () => {
    await ok('volume', 'create', 'data');
    await ok(
      'launch',
      'busybox',
      'vol',
      '-v',
      'data:/data',
      '-v',
      `${join(dir, 'shared')}:/shared:ro`,
      '--',
      'sleep',
      '1000',
    );
    await ok('exec', 'vol', '--', 'sh', '-c', 'echo kept > /data/f');
    expect(await ok('exec', 'vol', '--', 'cat', '/shared/hello.txt')).toBe('from the host\n');
    expect((await berth('exec', 'vol', '--', 'touch', '/shared/nope')).code).not.toBe(0);
    const inUse = await berth('volume', 'rm', 'data');
    expect(inUse.code).toBe(5);
    await ok('rm', '-f', 'vol');
    await ok('launch', 'busybox', 'vol2', '-v', 'data:/data', '--', 'sleep', '1000');
    expect(await ok('exec', 'vol2', '--', 'cat', '/data/f')).toBe('kept\n');
    await ok('rm', '-f', 'vol2');
    await ok('volume', 'rm', 'data');
    expect(JSON.parse(await ok('volume', 'ls', '--format', 'json'))).toEqual([]);
  });

  it('puts containers in a group whose cgroup holds the shared limit, nested one level', async () => {
    await ok('group', 'create', 'team-a', '--memory', '512M', '--pids', '200');
    await ok('group', 'create', 'user-1', '--parent', 'team-a', '--memory', '256M');
    const tooDeep = await berth('group', 'create', 'deeper', '--parent', 'user-1');
    expect(tooDeep.code).toBe(2);
    await ok('launch', 'busybox', 'grouped', '--group', 'user-1', '--', 'sleep', '1000');
    const c = await inspect('grouped');
    const groupDir = join('/sys/fs/cgroup/memory', CGROUP_PARENT.slice(1), 'g.team-a', 'g.user-1');
    expect(readFileSync(join(groupDir, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(String(256 * 2 ** 20));
    expect(readFileSync(join(groupDir, c.id, 'cgroup.procs'), 'utf8')).toContain(String(c.pid));
    await ok('group', 'set', 'user-1', '--memory', '128M');
    expect(readFileSync(join(groupDir, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(String(128 * 2 ** 20));
    const groups = JSON.parse(await ok('group', 'ls', '--format', 'json')) as Array<{
      name: string;
      containers: string[];
      stats: { memoryBytes?: number };
    }>;
    const user = groups.find((g) => g.name === 'user-1')!;
    expect(user.containers).toEqual(['grouped']);
    expect(user.stats.memoryBytes).toBeGreaterThan(0);
    expect((await berth('group', 'rm', 'user-1')).code).toBe(5);
    await ok('rm', '-f', 'grouped');
    await ok('group', 'rm', 'user-1');
    await ok('group', 'rm', 'team-a');
    expect(existsSync(groupDir)).toBe(false);
  });
});

describe('events, restart policies and recovery', () => {
  it('lists events in order and resumes after a cursor', async () => {
    const all = (await ok('events', '--since', '0', '--format', 'json'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AgentEventInfo);
    const last = all.at(-1)!.id;
    expect(all.map((e) => e.id)).toEqual([...all.map((e) => e.id)].sort((a, b) => a - b));
    await ok('create', 'busybox', 'evt', '--', 'true');
    await ok('rm', 'evt');
    const after = (await ok('events', '--since', String(last), '--format', 'json'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AgentEventInfo);
    expect(after.map((e) => `${e.kind} ${e.subject}`)).toEqual([
      'container.created evt',
      'container.deleted evt',
    ]);
    expect(after[0]!.actor).toMatch(/^cli:/);
  });

  it('restarts on failure at most the given number of times', async () => {
    await ok('launch', 'busybox', 'flaky', '--restart', 'on-failure:2', '--', 'sh', '-c', 'exit 3');
    await until('two restarts', async () => {
      const c = await inspect('flaky');
      return c.restartCount === 2 && c.state === 'stopped';
    });
    await new Promise((r) => setTimeout(r, 1000));
    const c = await inspect('flaky');
    expect([c.state, c.exitCode, c.restartCount]).toEqual(['stopped', 3, 2]);
    await ok('rm', 'flaky');
  });

  it('keeps 5 containers running through kill -9 of berthd, re-adopts them, autostarts, recovers a crashed create', async () => {
    const names = ['k1', 'k2', 'k3', 'k4', 'k5'];
    for (const n of names) await ok('launch', 'busybox', n, '--', 'sleep', '1000');
    await ok('create', 'busybox', 'auto', '--autostart', '--', 'sleep', '1000');
    const pids = new Map<string, number>();
    for (const n of names) pids.set(n, (await inspect(n)).pid!);

    berthd!.child.kill('SIGKILL');
    await berthd!.exited;
    for (const n of names) expect(existsSync(`/proc/${pids.get(n)}`)).toBe(true);
    // A create that died half-way: its journal entry and record, nothing else.
    const db = new Database(join(args().stateDir, 'agent.db'));
    db.prepare("INSERT INTO Intent (op, containerId, data) VALUES ('create', 'deadbeef0001', '{}')").run();
    db.prepare(
      "INSERT INTO Container (id, name, image, imageDigest, config, state, updatedAt) VALUES ('deadbeef0001', 'half', 'busybox', 'x', '{}', 'creating', 0)",
    ).run();
    db.close();

    berthd = await startBerthd(args());
    for (const n of names) {
      const c = await inspect(n);
      expect([n, c.state, c.pid]).toEqual([n, 'running', pids.get(n)]);
    }
    await until('autostart', async () => (await inspect('auto')).state === 'running');
    expect((await berth('inspect', 'half')).code).toBe(4);
    const events = (await ok('events', '--since', '0', '--format', 'json'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AgentEventInfo);
    expect(events.filter((e) => e.kind === 'container.adopted').map((e) => e.subject)).toEqual(
      expect.arrayContaining(names),
    );
    expect(events.some((e) => e.kind === 'recovery.rolled-back' && e.subject === 'half')).toBe(true);
    // Adopted containers are watched again: an exit is recorded.
    await ok('kill', 'k1');
    await until('k1 exit recorded', async () => (await inspect('k1')).state === 'stopped');
    expect((await inspect('k1')).exitCode).toBe(137);
    await ok('rm', '-f', ...names, 'auto');
  });
});
