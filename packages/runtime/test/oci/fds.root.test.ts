// Needs root: real containers through the bundled `berth-runtime` (dist/), given file
// descriptors the way runc's callers give them (--preserve-fds, systemd's LISTEN_FDS).
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { Runtime } from '../../src/container/runtime.ts';
import { busyboxRootfs, deleteAll, makeBundle, removeScratch, scratch } from '../fixtures.ts';

const CLI = fileURLToPath(new URL('../../dist/berth-runtime.js', import.meta.url));
let base: string;
let rootfs: string;
let state: string;
let rt: Runtime;
let n = 0;
const id = () => `berth-test-fds-${process.pid}-${++n}`;

beforeAll(() => {
  base = scratch();
  rootfs = busyboxRootfs(base);
  state = join(base, 'state');
  rt = new Runtime({ root: state });
});
afterEach(() => deleteAll(rt));
afterAll(() => removeScratch(base));

/**
 * Runs berth-runtime with files at fds 3.. (opened for append), stdout and stderr to files (a
 * created container keeps them, as with runc: pipes would keep spawnSync waiting).
 */
function withFds(args: string[], files: string[], env: NodeJS.ProcessEnv = process.env, shell = false) {
  const out = join(base, `out-${++n}`);
  const err = join(base, `err-${n}`);
  const fds = [openSync(out, 'w'), openSync(err, 'w'), ...files.map((f) => openSync(f, 'a'))];
  try {
    const cmd = ['node', CLI, '--root', state, ...args];
    const r = shell
      ? spawnSync('sh', ['-c', 'LISTEN_PID=$$ exec "$@"', 'sh', ...cmd], {
          stdio: ['ignore', fds[0]!, fds[1]!, ...fds.slice(2)],
          env,
          timeout: 30_000,
        })
      : spawnSync(cmd[0]!, cmd.slice(1), {
          stdio: ['ignore', fds[0]!, fds[1]!, ...fds.slice(2)],
          env,
          timeout: 30_000,
        });
    return { status: r.status, stderr: readFileSync(err, 'utf8'), out: readFileSync(out, 'utf8') };
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}

const script = (s: string) =>
  makeBundle(base, `b${++n}`, rootfs, (c) => {
    c.process!.args = ['sh', '-c', s];
  });

test('run --preserve-fds N: the caller fds 3..3+N-1 are the process fds 3..3+N-1, and no others', () => {
  const a = join(base, 'a.txt');
  const b = join(base, 'b.txt');
  const r = withFds(
    [
      'run',
      '--preserve-fds',
      '2',
      '--bundle',
      script('echo three >&3; echo four >&4; ls /proc/self/fd'),
      id(),
    ],
    [a, b],
  );
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(readFileSync(a, 'utf8')).toBe('three\n');
  expect(readFileSync(b, 'utf8')).toBe('four\n');
  // ls's own directory fd is the 5th
  expect(r.out.trim().split(/\s+/).sort()).toEqual(['0', '1', '2', '3', '4', '5']);

  const none = withFds(['run', '--bundle', script('ls /proc/self/fd'), id()], [a, b]);
  expect(none.out.trim().split(/\s+/).sort()).toEqual(['0', '1', '2', '3']);
});

test('LISTEN_FDS from systemd come first, with LISTEN_FDS and LISTEN_PID=1 in init', () => {
  const listen = join(base, 'listen.txt');
  const extra = join(base, 'extra.txt');
  const r = withFds(
    [
      'run',
      '--preserve-fds',
      '1',
      '--bundle',
      script('echo $LISTEN_FDS $LISTEN_PID; echo sock >&3; echo more >&4'),
      id(),
    ],
    [listen, extra],
    { ...process.env, LISTEN_FDS: '1' },
    true,
  );
  expect(r.stderr).toBe('');
  expect(r.out).toBe('1 1\n');
  expect(readFileSync(listen, 'utf8')).toBe('sock\n');
  expect(readFileSync(extra, 'utf8')).toBe('more\n');
});

test('create --preserve-fds hands the fd to init, which uses it after start; exec --preserve-fds too', async () => {
  const f = join(base, 'created.txt');
  const cid = id();
  const bundle = script('echo from-init >&3; exec sleep 30');
  const created = withFds(['create', '--preserve-fds', '1', '--bundle', bundle, cid], [f]);
  expect(created.status).toBe(0);
  expect(readFileSync(f, 'utf8')).toBe('');
  await rt.start(cid);
  for (let i = 0; i < 200 && readFileSync(f, 'utf8') === ''; i++) await new Promise((r) => setTimeout(r, 25));
  expect(readFileSync(f, 'utf8')).toBe('from-init\n');
  // The monitor, which outlives everything, keeps no copy (a pipe would never see EOF).
  const { monitorPid } = JSON.parse(readFileSync(join(state, cid, 'state.json'), 'utf8'));
  const held = readdirSync(`/proc/${monitorPid}/fd`).map((fd) =>
    readlinkSync(`/proc/${monitorPid}/fd/${fd}`),
  );
  expect(held.length).toBeGreaterThan(0);
  expect(held).not.toContain(f);
  const e = join(base, 'exec.txt');
  const ex = withFds(['exec', '--preserve-fds', '1', cid, 'sh', '-c', 'echo from-exec >&3'], [e]);
  expect(ex.status).toBe(0);
  expect(readFileSync(e, 'utf8')).toBe('from-exec\n');
});

test('an fd that is not open is refused by name and nothing is left', () => {
  const cid = id();
  const r = withFds(['run', '--preserve-fds', '3', '--bundle', script('true'), cid], [join(base, 'one.txt')]);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/preserve-fds: fd 4 is not open/);
  expect(rt.list()).toEqual([]);
  const bad = withFds(['run', '--preserve-fds', 'x', '--bundle', script('true'), cid], []);
  expect(bad.stderr).toMatch(/--preserve-fds: "x"/);
});
