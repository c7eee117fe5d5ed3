// Needs root: drives the bundled `berth-runtime` (dist/, built by the package's build) the way
// runc's users do, and the monitor's console over its socket.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { attach } from '../src/container/monitor-client.ts';
import { Runtime } from '../src/container/runtime.ts';
import type { OciConfig } from '../src/spec/config.ts';
import { busyboxRootfs, deleteAll, makeBundle, removeScratch, scratch } from './fixtures.ts';

const CLI = fileURLToPath(new URL('../dist/berth-runtime.js', import.meta.url));
let base: string;
let rootfs: string;
let state: string;
let rt: Runtime;
let n = 0;
const id = () => `berth-test-cli-${process.pid}-${++n}`;
const children: ChildProcess[] = [];

// A created container keeps the stdio of `create` (as with runc): give it files, not pipes,
// or spawnSync would wait for the container to close them.
const cli = (args: string[], opts: { stdout?: number; stderr?: number } = {}) =>
  spawnSync('node', [CLI, '--root', state, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', opts.stdout ?? 'pipe', opts.stderr ?? 'pipe'],
    timeout: 30_000,
  });

beforeAll(() => {
  base = scratch();
  rootfs = busyboxRootfs(base);
  state = join(base, 'state');
  rt = new Runtime({ root: state });
});
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await deleteAll(rt);
});
afterAll(() => removeScratch(base));

const script = (s: string, f?: (c: OciConfig) => void) => (c: OciConfig) => {
  c.process!.args = ['sh', '-c', s];
  f?.(c);
};

test("spec prints Berth's secure defaults", () => {
  const r = cli(['spec', '--stdout']);
  expect(r.status).toBe(0);
  const c = JSON.parse(r.stdout) as OciConfig;
  expect(c.process!.noNewPrivileges).toBe(true);
  expect(c.process!.capabilities!.bounding).toHaveLength(14);
  expect(c.process!.capabilities!.bounding).not.toContain('CAP_SYS_ADMIN');
  expect((c.linux!.seccomp as { defaultAction: string }).defaultAction).toBe('SCMP_ACT_ERRNO');
  expect(c.linux!.maskedPaths).toContain('/proc/kcore');
  expect(c.linux!.readonlyPaths).toContain('/proc/sys');
  expect(c.linux!.resources!.pids!.limit).toBeGreaterThan(0);
});

test('create, start, state, kill, delete; the container inherits the stdio of create', () => {
  const bundle = makeBundle(base, 'life', rootfs, script('echo out-from-init; sleep 30'));
  const cid = id();
  const outFile = join(base, 'life.out');
  const fd = openSync(outFile, 'w');
  const created = cli(['create', '--bundle', bundle, '--pid-file', join(base, 'life.pid'), cid], {
    stdout: fd,
    stderr: fd,
  });
  closeSync(fd);
  expect(created.status).toBe(0);
  const pid = Number(readFileSync(join(base, 'life.pid'), 'utf8'));
  const s1 = JSON.parse(cli(['state', cid]).stdout);
  expect(s1).toMatchObject({ ociVersion: '1.2.0', id: cid, status: 'created', pid, bundle });
  expect(cli(['start', cid]).status).toBe(0);
  expect(JSON.parse(cli(['state', cid]).stdout).status).toBe('running');
  const again = cli(['start', cid]);
  expect(again.status).toBe(1);
  expect(again.stderr).toMatch(/cannot start .* it is running/);
  const del = cli(['delete', cid]);
  expect(del.status).toBe(1);
  expect(del.stderr).toMatch(/running/);
  expect(cli(['kill', cid, 'KILL']).status).toBe(0);
  for (let i = 0; i < 100 && JSON.parse(cli(['state', cid]).stdout).status !== 'stopped'; i++)
    spawnSync('sleep', ['0.05']);
  expect(JSON.parse(cli(['state', cid]).stdout).status).toBe('stopped');
  expect(cli(['delete', cid]).status).toBe(0);
  expect(cli(['state', cid]).stderr).toMatch(/does not exist/);
  expect(readFileSync(outFile, 'utf8')).toBe('out-from-init\n');
});

test('run exits with the container exit code; bad config names the field and leaves nothing', () => {
  const ok = cli(['run', '--bundle', makeBundle(base, 'run', rootfs, script('echo hi; exit 3')), id()]);
  expect(ok.stdout).toBe('hi\n');
  expect(ok.status).toBe(3);
  const cid = id();
  const bad = cli([
    'run',
    '--bundle',
    makeBundle(base, 'bad', rootfs, (c) => c.process!.capabilities!.permitted!.push('CAP_BOGUS')),
    cid,
  ]);
  expect(bad.status).toBe(1);
  expect(bad.stderr).toMatch(/process\.capabilities\.permitted\[14\]: unknown capability "CAP_BOGUS"/);
  expect(existsSync(join(state, cid))).toBe(false);
  const dup = makeBundle(base, 'dup', rootfs, script('sleep 30'));
  const d = id();
  const devnull = openSync('/dev/null', 'w');
  expect(cli(['create', '--bundle', dup, d], { stdout: devnull, stderr: devnull }).status).toBe(0);
  closeSync(devnull);
  const twice = cli(['create', '--bundle', dup, d]);
  expect(twice.status).toBe(1);
  expect(twice.stderr).toMatch(/already exists/);
});

test('exec runs a command in a running container and exits with its code', () => {
  const bundle = makeBundle(base, 'cli-exec', rootfs, script('sleep 30'));
  const cid = id();
  const devnull = openSync('/dev/null', 'w');
  expect(cli(['create', '--bundle', bundle, cid], { stdout: devnull, stderr: devnull }).status).toBe(0);
  closeSync(devnull);
  expect(cli(['start', cid]).status).toBe(0);
  const r = cli(['exec', '--env', 'X=42', cid, 'sh', '-c', 'echo $X $(hostname); exit 4']);
  expect(r.stdout).toBe('42 berth\n');
  expect(r.status).toBe(4);
  const missing = cli(['exec', cid, '/nope']);
  expect(missing.status).toBe(1);
  expect(missing.stderr).toMatch(/exec \/nope/);
});

test('hooks run with the state on stdin: prestart, poststart, poststop', async () => {
  const log = join(base, 'hooks.log');
  const hook = (name: string) => ({
    path: '/bin/sh',
    args: ['sh', '-c', `printf '${name} ' >> ${log}; cat >> ${log}; echo >> ${log}`],
  });
  const bundle = makeBundle(
    base,
    'hooks',
    rootfs,
    script('true', (c) => {
      c.hooks = {
        prestart: [hook('prestart')],
        poststart: [hook('poststart')],
        poststop: [hook('poststop')],
      };
    }),
  );
  const cid = id();
  expect(cli(['run', '--bundle', bundle, cid]).status).toBe(0);
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  expect(lines.map((l) => l.split(' ')[0])).toEqual(['prestart', 'poststart', 'poststop']);
  const st = JSON.parse(lines[0]!.slice('prestart '.length));
  expect(st).toMatchObject({ id: cid, status: 'created', bundle });
  expect(st.pid).toBeGreaterThan(0);
});

test('the console survives the death of the process that created the container; many clients attach and resize', async () => {
  const bundle = makeBundle(base, 'console', rootfs, (c) => {
    c.process!.args = ['sh'];
    c.process!.terminal = true;
    c.root.readonly = true;
  });
  const cid = id();
  const creatorLog = join(base, 'creator.log');
  const logFd = openSync(creatorLog, 'w');
  const creator = spawn('node', [CLI, '--root', state, 'run', '--bundle', bundle, cid], {
    stdio: ['pipe', logFd, logFd],
  });
  closeSync(logFd);
  children.push(creator);
  const running = () =>
    existsSync(join(state, cid, 'state.json')) &&
    rt.list().some((s) => s.id === cid && s.status === 'running');
  for (let i = 0; i < 200 && !running(); i++) await new Promise((r) => setTimeout(r, 25));
  expect(rt.state(cid).status, readFileSync(creatorLog, 'utf8')).toBe('running');
  creator.kill('SIGKILL');
  await new Promise((r) => creator.once('exit', r));
  expect(rt.state(cid).status).toBe('running');

  const sock = join(state, cid, 'monitor.sock');
  const a = await attach(sock);
  const b = await attach(sock);
  const seen = { a: '', b: '' };
  a.socket.on('data', (d: Buffer) => (seen.a += d.toString()));
  b.socket.on('data', (d: Buffer) => (seen.b += d.toString()));
  const until = async (re: RegExp, who: 'a' | 'b' = 'a') => {
    for (let i = 0; i < 200 && !re.test(seen[who]); i++) await new Promise((r) => setTimeout(r, 25));
    expect(seen[who]).toMatch(re);
  };
  a.write('echo hello-$((6*7))\n');
  await until(/hello-42/);
  await until(/hello-42/, 'b');
  b.resize(33, 99);
  b.write('stty size; tty\n');
  await until(/33 99/);
  await until(/\/dev\/console/);
  expect(readFileSync(join(state, cid, 'console.log'), 'utf8')).toContain('hello-42');
  const waiting = rt.wait(cid);
  a.write('exit 5\n');
  expect(await waiting).toEqual({ code: 5, signal: 0 });
  a.close();
  b.close();
  expect(JSON.parse(readFileSync(join(state, cid, 'exit'), 'utf8'))).toMatchObject({
    exitCode: 5,
    signal: 0,
  });
});

test('the console log stays bounded', async () => {
  const bundle = makeBundle(base, 'log', rootfs, (c) => {
    c.process!.args = [
      'sh',
      '-c',
      'for i in $(seq 1 400); do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done',
    ];
    c.process!.terminal = true;
  });
  const cid = id();
  await rt.create(cid, { bundle, consoleLogMax: 4096 });
  const waiting = rt.wait(cid);
  await rt.start(cid);
  await waiting;
  const log = readFileSync(join(state, cid, 'console.log'), 'utf8');
  const older = readFileSync(join(state, cid, 'console.log.1'), 'utf8');
  expect(log.length).toBeLessThanOrEqual(4096);
  expect(older.length).toBeLessThanOrEqual(4096);
  expect(log).toContain('line-400-');
});

test('exec with a pty: attach, resize, exit code', async () => {
  const bundle = makeBundle(base, 'exec-tty', rootfs, script('sleep 30'));
  const cid = id();
  await rt.create(cid, { bundle, stdio: 'ignore' });
  await rt.start(cid);
  const sock = join(base, 'exec-tty.sock');
  const r = await rt.exec(cid, {
    process: {
      args: ['sh'],
      cwd: '/',
      user: { uid: 0, gid: 0 },
      terminal: true,
      consoleSize: { height: 10, width: 40 },
      env: ['PATH=/bin'],
    },
    attachSocket: sock,
  });
  const a = await attach(sock);
  let seen = '';
  a.socket.on('data', (d: Buffer) => (seen += d.toString()));
  a.write('stty size; tty\n');
  for (let i = 0; i < 200 && !/10 40/.test(seen); i++) await new Promise((res) => setTimeout(res, 25));
  expect(seen).toMatch(/10 40/);
  a.resize(50, 120);
  a.write('stty size; exit 9\n');
  expect(await r.exit).toBe(9);
  expect(seen).toMatch(/50 120/);
  expect(seen).toMatch(/\/dev\/pts\/\d+/);
  writeFileSync(join(base, 'done'), '');
});
