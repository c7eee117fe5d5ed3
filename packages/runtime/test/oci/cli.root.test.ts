// Needs root: drives the bundled `berth-runtime` (dist/) the way runc's callers do and checks
// the conventions they rely on (features, state, --log-format json, exit codes), and that
// the cgroup parents a nested cgroupsPath made are removed again by delete.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { Runtime } from '../../src/container/runtime.ts';
import { busyboxRootfs, deleteAll, makeBundle, removeScratch, scratch } from '../fixtures.ts';

const CLI = fileURLToPath(new URL('../../dist/berth-runtime.js', import.meta.url));
const CGROUPS = '/sys/fs/cgroup';
let base: string;
let rootfs: string;
let state: string;
let rt: Runtime;
let n = 0;
const id = () => `berth-test-oci-${process.pid}-${++n}`;
const cgroupTop = `berth-test-oci-cg-${process.pid}`;

// A created container keeps the stdio of `create` (as with runc): `quiet` gives it none, or
// spawnSync would wait for the container to close its pipes.
const cli = (args: string[], quiet = false) =>
  spawnSync('node', [CLI, '--root', state, ...args], {
    encoding: 'utf8',
    stdio: quiet ? 'ignore' : ['ignore', 'pipe', 'pipe'],
    timeout: 30_000,
  });

/** Every directory named `cgroupTop` in the host's hierarchies, deepest first (teardown). */
function cgroupLeftovers(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    out.push(d);
  };
  for (const h of readdirSync(CGROUPS)) {
    const top = join(CGROUPS, h, cgroupTop);
    if (existsSync(top)) walk(top);
  }
  return out;
}

beforeAll(() => {
  base = scratch();
  rootfs = busyboxRootfs(base);
  state = join(base, 'state');
  rt = new Runtime({ root: state });
});
afterEach(async () => {
  await deleteAll(rt);
  for (const d of cgroupLeftovers()) rmdirSync(d);
});
afterAll(() => removeScratch(base));

test('features prints the runtime-spec features document', () => {
  const r = cli(['features']);
  expect(r.status).toBe(0);
  const f = JSON.parse(r.stdout);
  expect(f.ociVersionMin).toBe('1.0.0');
  expect(f.hooks).toEqual(expect.arrayContaining(['prestart', 'poststop']));
  expect(f.linux.namespaces).toContain('user');
  expect(f.linux.seccomp.enabled).toBe(true);
});

test("state prints runc's fields; errors go to --log as JSON lines and exit 1", () => {
  const bundle = makeBundle(base, 'state', rootfs, (c) => {
    c.process!.args = ['sleep', '30'];
  });
  const cid = id();
  expect(cli(['create', '--bundle', bundle, cid], true).status).toBe(0);
  const s = JSON.parse(cli(['state', cid]).stdout);
  expect(s).toMatchObject({ ociVersion: '1.2.0', id: cid, status: 'created', bundle, rootfs, owner: '' });
  expect(s.pid).toBeGreaterThan(0);
  expect(Date.parse(s.created)).toBeGreaterThan(0);

  const log = join(base, 'log.json');
  const bad = spawnSync(
    'node',
    [CLI, '--root', state, '--log', log, '--log-format', 'json', 'start', 'nope'],
    {
      encoding: 'utf8',
    },
  );
  expect(bad.status).toBe(1);
  expect(bad.stderr).toMatch(/does not exist/);
  const line = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').at(-1)!);
  expect(line).toMatchObject({ level: 'error', msg: expect.stringMatching(/does not exist/) });
  expect(Date.parse(line.time)).toBeGreaterThan(0);
  const format = cli(['--log-format', 'xml', 'state', cid]);
  expect(format.status).toBe(1);
  expect(format.stderr).toMatch(/--log-format: "xml"/);
});

test("runc's conventions for cleanup and listing: delete --force of a missing container, list formats, --version", () => {
  expect(cli(['delete', 'berth-test-missing']).status).toBe(1);
  expect(cli(['delete', '--force', 'berth-test-missing']).status).toBe(0);
  // an aborted create's directory without state.json is cleaned up by delete --force too
  mkdirSync(join(state, 'berth-test-aborted'), { recursive: true });
  expect(cli(['delete', '--force', 'berth-test-aborted']).status).toBe(0);
  expect(existsSync(join(state, 'berth-test-aborted'))).toBe(false);

  const bundle = makeBundle(base, 'list', rootfs, (c) => {
    c.process!.args = ['sleep', '30'];
  });
  const cid = id();
  expect(cli(['create', '--bundle', bundle, cid], true).status).toBe(0);
  expect(cli(['list', '-q']).stdout).toBe(`${cid}\n`);
  const listed = JSON.parse(cli(['list', '--format', 'json']).stdout);
  expect(listed).toEqual([expect.objectContaining({ id: cid, status: 'created', bundle, rootfs })]);
  const table = cli(['list']).stdout.split('\n');
  expect(table[0]).toBe('ID\tPID\tSTATUS\tBUNDLE');
  expect(table[1]!.split('\t')).toEqual([cid, String(listed[0].pid), 'created', bundle]);
  expect(cli(['--version']).stdout).toMatch(/^berth-runtime version \d+\.\d+\.\d+\nspec: 1\.\d+\.\d+\n$/);

  const log = join(base, 'log.txt');
  expect(spawnSync('node', [CLI, '--root', state, '--log', log, 'kill', 'nope']).status).toBe(1);
  expect(readFileSync(log, 'utf8')).toMatch(/^time="[^"]+" level=error msg=".*does not exist"\n$/);
});

test('delete removes the cgroup parents create made for a nested cgroupsPath, and no others', async () => {
  // An ancestor that exists before create is not the container's to remove.
  const pre = join(CGROUPS, 'pids', cgroupTop, 'pre');
  mkdirSync(pre, { recursive: true });
  const mk = (name: string, path: string) =>
    makeBundle(base, name, rootfs, (c) => {
      c.process!.args = ['sleep', '30'];
      c.linux!.cgroupsPath = path;
    });
  // Alone: every parent the container made goes with it; what existed before stays.
  const cid = id();
  await rt.create(cid, { bundle: mk('nested', `/${cgroupTop}/pre/a/b/c`), stdio: 'ignore' });
  const rec = JSON.parse(readFileSync(join(state, cid, 'state.json'), 'utf8'));
  const pidsDirs = rec.cgroupParents.filter((d: string) => d.startsWith(`${CGROUPS}/pids/`));
  expect(pidsDirs.sort()).toEqual([join(pre, 'a'), join(pre, 'a/b')]);
  expect(rec.cgroupParents).toContain(join(CGROUPS, 'memory', cgroupTop));
  for (const d of rec.cgroupParents) expect(existsSync(d), d).toBe(true);
  expect(existsSync(join(pre, 'a/b/c/cgroup.procs'))).toBe(true);
  await rt.delete(cid, true);
  expect(existsSync(pre)).toBe(true);
  expect(readdirSync(pre, { withFileTypes: true }).filter((e) => e.isDirectory())).toEqual([]);
  expect(existsSync(join(CGROUPS, 'memory', cgroupTop))).toBe(false);

  // A sibling under the same parents keeps them while it lives: they are removed only if empty.
  const first = id();
  const sib = id();
  await rt.create(first, { bundle: mk('first', `/${cgroupTop}/pre/a/b/c`), stdio: 'ignore' });
  await rt.create(sib, { bundle: mk('sibling', `/${cgroupTop}/pre/a/b/d`), stdio: 'ignore' });
  await rt.delete(first, true);
  expect(existsSync(join(pre, 'a/b/c'))).toBe(false);
  expect(existsSync(join(pre, 'a/b/d/cgroup.procs'))).toBe(true);
  await rt.delete(sib, true);
  expect(existsSync(join(pre, 'a/b/d'))).toBe(false);
});

test('a create that fails half-way removes the cgroup parents it made', async () => {
  const bundle = makeBundle(base, 'fails', rootfs, (c) => {
    c.process!.args = ['/does-not-exist'];
    c.linux!.cgroupsPath = `/${cgroupTop}/x/y`;
    c.mounts!.push({ destination: '/mnt', type: 'bogusfs', source: 'none' });
  });
  await expect(rt.create(id(), { bundle, stdio: 'ignore' })).rejects.toThrow(/bogusfs/);
  expect(cgroupLeftovers()).toEqual([]);
});
