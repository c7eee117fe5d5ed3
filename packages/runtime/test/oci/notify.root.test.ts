// Needs root: seccomp SCMP_ACT_NOTIFY end to end. The runtime sends the filter's listener fd
// over SCM_RIGHTS to linux.seccomp.listenerPath with the container process state
// (runtime-spec runtime.md); a small agent (notify-listener.c, built here with cc) answers
// the container's notified syscalls with the seccomp user-notification ioctls.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { Runtime } from '../../src/container/runtime.ts';
import type { OciConfig } from '../../src/spec/config.ts';
import { busyboxRootfs, deleteAll, makeBundle, removeScratch, runCaptured, scratch } from '../fixtures.ts';

const SOURCE = fileURLToPath(new URL('./notify-listener.c', import.meta.url));
let base: string;
let rootfs: string;
let agent: string;
let rt: Runtime;
let n = 0;
const id = () => `berth-test-notify-${process.pid}-${++n}`;
const agents: ChildProcess[] = [];

beforeAll(() => {
  base = scratch();
  rootfs = busyboxRootfs(base);
  agent = join(base, 'notify-listener');
  execFileSync('cc', ['-O1', '-Wall', '-o', agent, SOURCE]);
  rt = new Runtime({ root: join(base, 'state') });
});
afterEach(async () => {
  await deleteAll(rt);
  for (const a of agents.splice(0)) a.kill('SIGKILL');
});
afterAll(() => removeScratch(base));

/** Starts an agent; resolves with its socket, the file it writes the state to, and "got the fd". */
async function startAgent() {
  const sock = join(base, `agent-${++n}.sock`);
  const stateFile = join(base, `agent-${n}.json`);
  const a = spawn(agent, [sock, stateFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  agents.push(a);
  let out = '';
  const saw = (word: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => out.includes(`${word}\n`) && resolve();
      a.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        check();
      });
      a.once('exit', (code) => reject(new Error(`agent exited (${code}) before "${word}"`)));
      check();
    });
  const gotFd = saw('fd');
  gotFd.catch(() => {});
  await saw('ready');
  return { sock, stateFile, gotFd };
}

const notifying = (listenerPath: string, edit?: (c: OciConfig) => void) => (c: OciConfig) => {
  c.linux!.seccomp = {
    defaultAction: 'SCMP_ACT_ALLOW',
    listenerPath,
    listenerMetadata: 'berth-test-metadata',
    syscalls: [{ names: ['mkdir', 'mkdirat', 'getppid'], action: 'SCMP_ACT_NOTIFY' }],
  };
  edit?.(c);
};

const script = 'echo ppid=$PPID; mkdir /tmp/made 2>&1; echo rc=$?';

test('the listener reaches listenerPath with the process state, and the agent answers the syscalls', async () => {
  const { sock, stateFile, gotFd } = await startAgent();
  const bundle = makeBundle(
    base,
    'nnp',
    rootfs,
    notifying(sock, (c) => {
      c.process!.args = ['sh', '-c', script];
    }),
  );
  const cid = id();
  const r = await runCaptured(rt, cid, bundle);
  await gotFd;
  expect(r.out).toMatch(/^ppid=4242\n/); // a value the agent returned
  expect(r.out).toMatch(/Invalid cross-device link\nrc=1\n$/); // an errno the agent returned
  const st = JSON.parse(readFileSync(stateFile, 'utf8'));
  expect(st).toMatchObject({
    ociVersion: '1.2.0',
    fds: ['seccompFd'],
    metadata: 'berth-test-metadata',
    state: { ociVersion: '1.2.0', id: cid, status: 'creating', bundle },
  });
  expect(st.pid).toBeGreaterThan(1);
  expect(st.state.pid).toBe(st.pid);
});

test('without no_new_privs the filter goes in before start; exec gets a listener of its own', async () => {
  const first = await startAgent();
  const cid = id();
  await rt.create(cid, {
    bundle: makeBundle(
      base,
      'privs',
      rootfs,
      notifying(first.sock, (c) => {
        c.process!.args = ['sleep', '30'];
        c.process!.noNewPrivileges = false;
      }),
    ),
    stdio: 'ignore',
  });
  await first.gotFd; // delivered during create, before start
  await rt.start(cid);
  const init = rt.state(cid).pid!;

  // The first agent took its one connection: exec's process gets a second agent, through the
  // config in the container's state dir that exec compiles its filter from.
  const second = await startAgent();
  const stateConfig = join(base, 'state', cid, 'config.json');
  const cfg = JSON.parse(readFileSync(stateConfig, 'utf8')) as OciConfig;
  (cfg.linux!.seccomp as { listenerPath: string }).listenerPath = second.sock;
  writeFileSync(stateConfig, JSON.stringify(cfg));
  const out = join(base, 'exec-out');
  const fd = openSync(out, 'w');
  const ex = await rt.exec(cid, {
    process: { ...cfg.process!, args: ['sh', '-c', script] },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  expect(await ex.exit).toBe(0);
  await second.gotFd;
  expect(readFileSync(out, 'utf8')).toMatch(/^ppid=4242\n.*Invalid cross-device link\nrc=1\n$/s);
  const st = JSON.parse(readFileSync(second.stateFile, 'utf8'));
  expect(st.pid).toBe(ex.pid);
  expect(st.state).toMatchObject({ id: cid, status: 'running', pid: init });
});

test('a listenerPath nobody listens on fails create by name and leaves nothing', async () => {
  const cid = id();
  const missing = join(base, 'nobody.sock');
  const bundle = makeBundle(base, 'missing', rootfs, notifying(missing));
  await expect(rt.create(cid, { bundle, stdio: 'ignore' })).rejects.toThrow(
    /linux\.seccomp\.listenerPath: connect to .*nobody\.sock: No such file/,
  );
  expect(rt.list()).toEqual([]);
  expect(existsSync(join(base, 'state', cid))).toBe(false);
  const relative = makeBundle(base, 'relative', rootfs, notifying('agent.sock'));
  await expect(rt.create(cid, { bundle: relative, stdio: 'ignore' })).rejects.toThrow(
    /^linux\.seccomp\.listenerPath: must be an absolute path/,
  );
});
