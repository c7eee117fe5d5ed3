// Needs root to set up: drops to an unprivileged user (nobody) and runs `berth-runtime` as it,
// as runc --rootless runs: a user namespace mapping only that user's own uid and gid, no
// cgroup, state in a directory of the user's own.
import { execFileSync, type SpawnSyncOptions, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import type { OciConfig } from '../../src/spec/config.ts';
import { busyboxRootfs, removeScratch, scratch } from '../fixtures.ts';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const NOBODY = 65534;
let base: string;
let CLI: string;
let rootfs: string;
let state: string;
let n = 0;
const id = () => `berth-test-rootless-${process.pid}-${++n}`;

/** berth-runtime as nobody; a created container keeps create's stdio, so files, not pipes. */
function asNobody(args: string[], opts: SpawnSyncOptions = {}) {
  return asUser(NOBODY, NOBODY, args, opts);
}

function asUser(uid: number, gid: number, args: string[], opts: SpawnSyncOptions = {}) {
  const out = join(base, `out-${++n}`);
  writeFileSync(out, '');
  chownSync(out, uid, gid);
  const r = spawnSync('sh', ['-c', 'exec node "$@" >"$OUT" 2>&1', 'sh', CLI, ...args], {
    uid,
    gid,
    env: { PATH: process.env.PATH, OUT: out, HOME: '/' },
    cwd: base,
    timeout: 30_000,
    ...opts,
  });
  return { status: r.status, out: readFileSync(out, 'utf8') };
}

beforeAll(() => {
  base = scratch();
  chmodSync(base, 0o755); // the unprivileged user reaches the rootfs and its bundles
  // ...and the runtime: a copy, since the checkout may sit where nobody cannot read
  const cli = join(base, 'cli');
  for (const f of ['berth-runtime.js', 'berth-helper']) cpSync(join(DIST, f), join(cli, f));
  // koffi with its native package beside it (pnpm keeps both in koffi's node_modules)
  const koffi = realpathSync(fileURLToPath(new URL('../../node_modules/koffi', import.meta.url)));
  cpSync(dirname(koffi), join(cli, 'node_modules'), { recursive: true, dereference: true });
  CLI = join(cli, 'berth-runtime.js');
  rootfs = busyboxRootfs(base);
  state = join(base, 'state');
  mkdirSync(state);
  chownSync(state, NOBODY, NOBODY);
});
afterEach(() => {
  // as the user: what it made is its own to remove
  for (const cid of existsSync(state) ? readdirSync(state) : [])
    asNobody(['--root', state, 'delete', '--force', cid]);
});
afterAll(() => removeScratch(base));

/** A bundle from `spec --rootless`, run by the user itself, with a command and the rootfs. */
function bundle(name: string, edit: (c: OciConfig) => void, uid = NOBODY, gid = NOBODY): string {
  const dir = join(base, name);
  mkdirSync(dir);
  chownSync(dir, uid, gid);
  const r = asUser(uid, gid, ['spec', '--rootless', '--bundle', dir]);
  expect(r.status, r.out).toBe(0);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as OciConfig;
  config.root.path = rootfs;
  edit(config);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

test('spec --rootless maps only the caller; run works as an unprivileged user, without a cgroup', () => {
  const b = bundle('run', (c) => {
    expect(c.linux!.uidMappings).toEqual([{ containerID: 0, hostID: NOBODY, size: 1 }]);
    expect(c.linux!.gidMappings).toEqual([{ containerID: 0, hostID: NOBODY, size: 1 }]);
    expect(c.linux!.resources).toBeUndefined();
    c.process!.args = [
      'sh',
      '-c',
      'id -u; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; echo pid=$$; hostname; ' +
        'ls /sys/class/net; grep -c " /proc " /proc/self/mounts; grep ^CapEff /proc/self/status; exit 7',
    ];
  });
  const cid = id();
  const r = asNobody(['--root', state, 'run', '--bundle', b, cid]);
  expect(r.status, r.out).toBe(7);
  const lines = r.out.split('\n').map((l) => l.trim().replace(/\s+/g, ' '));
  expect(lines.slice(0, 9)).toEqual([
    '0',
    `0 ${NOBODY} 1`,
    `0 ${NOBODY} 1`,
    'deny',
    'pid=1',
    'berth',
    'lo',
    '1',
    'CapEff: 00000000a80425fb',
  ]);
  expect(existsSync(join('/sys/fs/cgroup/pids/berth', cid))).toBe(false);
  expect(readdirSync(state)).toEqual([]);
});

test('create, state, kill and delete as the user; the container runs as its uid on the host', async () => {
  const b = bundle('life', (c) => {
    c.process!.args = ['sleep', '60'];
  });
  const cid = id();
  expect(asNobody(['--root', state, 'create', '--bundle', b, cid]).status).toBe(0);
  const s = JSON.parse(asNobody(['--root', state, 'state', cid]).out);
  expect(s.status).toBe('created');
  expect(asNobody(['--root', state, 'start', cid]).status).toBe(0);
  const status = readFileSync(`/proc/${s.pid}/status`, 'utf8');
  expect(status).toMatch(new RegExp(`^Uid:\\s+${NOBODY}\\s+${NOBODY}`, 'm'));
  const ex = asNobody(['--root', state, 'exec', cid, 'sh', '-c', 'id -u; cat /proc/self/uid_map; exit 3']);
  expect(ex.status).toBe(3);
  expect(ex.out.split('\n').map((l) => l.trim().replace(/\s+/g, ' '))).toEqual(['0', `0 ${NOBODY} 1`, '']);
  expect(asNobody(['--root', state, 'kill', cid, 'KILL']).status).toBe(0);
  for (let i = 0; i < 100 && existsSync(`/proc/${s.pid}`); i++) await new Promise((r) => setTimeout(r, 20));
  expect(asNobody(['--root', state, 'delete', cid]).status).toBe(0);
  expect(readdirSync(state)).toEqual([]);
});

test("mapping ids that are not the user's is refused by field, and nothing is left", () => {
  const b = bundle('bad', (c) => {
    c.linux!.uidMappings = [{ containerID: 0, hostID: 0, size: 1 }];
  });
  const r = asNobody(['--root', state, 'run', '--bundle', b, id()]);
  expect(r.status).toBe(1);
  expect(r.out).toMatch(/linux\.uidMappings: a rootless container can map only its own id 65534 \(size 1\)/);
  expect(readdirSync(state)).toEqual([]);
  const flag = asNobody(['--rootless', 'maybe', '--root', state, 'list']);
  expect(flag.out).toMatch(/--rootless: "maybe"/);
});

test('ids /etc/subuid and /etc/subgid give the user are mapped through newuidmap and newgidmap', () => {
  // a user of the test's own, with subordinate ids, removed again whatever happens
  const name = `berth-test-${process.pid}`;
  const sub = '420000-485535';
  execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  try {
    execFileSync('usermod', ['--add-subuids', sub, '--add-subgids', sub, name]);
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }));
    const own = join(base, 'state-sub');
    mkdirSync(own);
    chownSync(own, uid, gid);
    const b = bundle(
      'sub',
      (c) => {
        c.linux!.uidMappings!.push({ containerID: 1, hostID: 420000, size: 65536 });
        c.linux!.gidMappings!.push({ containerID: 1, hostID: 420000, size: 65536 });
        c.process!.args = [
          'sh',
          '-c',
          'cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; touch /tmp/f; ' +
            'chown 1000:1000 /tmp/f && stat -c "%u %g" /tmp/f',
        ];
      },
      uid,
      gid,
    );
    const r = asUser(uid, gid, ['--root', own, 'run', '--bundle', b, `berth-test-sub-${process.pid}`]);
    expect(r.status, r.out).toBe(0);
    expect(r.out.split('\n').map((l) => l.trim().replace(/\s+/g, ' '))).toEqual([
      `0 ${uid} 1`,
      '1 420000 65536',
      `0 ${gid} 1`,
      '1 420000 65536',
      'allow',
      '1000 1000',
      '',
    ]);
    // a range the user was not given is refused by field
    const beyond = bundle(
      'beyond',
      (c) => {
        c.linux!.uidMappings!.push({ containerID: 1, hostID: 500000, size: 10 });
      },
      uid,
      gid,
    );
    const refused = asUser(uid, gid, ['--root', own, 'run', '--bundle', beyond, 'berth-test-beyond']);
    expect(refused.status).toBe(1);
    expect(refused.out).toMatch(/linux\.uidMappings: a rootless container can map only its own id/);
    expect(readdirSync(own)).toEqual([]);
  } finally {
    spawnSync('usermod', ['--del-subuids', sub, '--del-subgids', sub, name]);
    spawnSync('userdel', [name]);
  }
});
