import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { check } from './check.ts';
import type { Spec } from './spec.ts';
import type { CaseContext } from './suite.ts';

// The conformance cases. Each reproduces the checks of one test of the OCI runtime-tools
// validation suite (github.com/opencontainers/runtime-tools, validation/<name>/<name>.go, and
// the in-container checks of its cmd/runtimetest), named in `source`. Where runtimetest
// checks something from inside the container, a busybox shell inside does it and prints what
// it saw on the stdio it inherited from `create`, which the case then compares.

export interface ConformanceCase {
  name: string;
  /** The runtime-tools test (or runtime-spec section) the case reproduces. */
  source: string;
  run(c: CaseContext): Promise<void>;
}

const cases: ConformanceCase[] = [];
function add(source: string, name: string, run: (c: CaseContext) => Promise<void>): void {
  cases.push({ name, source, run });
}

const sh =
  (script: string) =>
  (s: Spec): void => {
    s.process.args = ['sh', '-c', script];
  };

/** A hook running the bundle's busybox sh (on the host, as runtime-tools' hooks do). */
function shHook(c: CaseContext, script: string, extra: Record<string, unknown> = {}) {
  return { path: c.path('bin/sh'), args: ['sh', '-c', script], ...extra };
}

async function expectFails(p: Promise<{ code: number }>, msg: string): Promise<void> {
  check((await p).code !== 0, msg);
}

async function expectOk(p: Promise<{ code: number; stderr: string }>, msg: string): Promise<void> {
  const r = await p;
  check(r.code === 0, `${msg}: ${r.stderr.trim()}`);
}

/** Whether a pid is gone (or a zombie nobody has reaped yet), waiting up to 3 s. */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 60; i++) {
    const stat = readIf(`/proc/${pid}/stat`);
    if (stat === undefined || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

function readIf(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}

/**
 * A poststart hook script that first waits (up to 5 s) for the container's process to have
 * logged its line, so that "process before poststart" does not hang on scheduling luck.
 */
function afterProcess(log: string, then: string): string {
  return `i=0; while [ $i -lt 50 ] && ! grep -q '^process$' ${log} 2>/dev/null; do sleep 0.1; i=$((i+1)); done; ${then} >> ${log}`;
}

/** Lines "key=value" printed by a probe script. */
function fields(out: string): Record<string, string> {
  const r: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) r[line.slice(0, i)] = line.slice(i + 1);
  }
  return r;
}

// ---------------------------------------------------------------- lifecycle

add('validation/create/create.go', 'create without an id is an error', async (c) => {
  c.write(c.spec(sh('true')));
  await expectFails(c.create(undefined), 'create without an id succeeded');
});

add('validation/create/create.go', 'create makes a container that state reports', async (c) => {
  c.write(c.spec(sh('true')));
  const id = c.newId();
  await expectOk(c.create(id), 'create failed');
  const st = await c.state(id);
  check(st?.id === id, `state id ${st?.id}, expected ${id}`);
});

add('validation/create/create.go', 'create with a duplicate id is an error', async (c) => {
  c.write(c.spec(sh('true')));
  const id = c.newId();
  await expectOk(c.create(id), 'first create failed');
  await expectFails(c.create(id), 'a second create with the same id succeeded');
  check((await c.state(id))?.status === 'created', 'the first container was disturbed');
});

add('validation/start/start.go', 'start without an id, or of a missing container, is an error', async (c) => {
  await expectFails(c.start(), 'start without an id succeeded');
  await expectFails(c.start(c.newId()), 'start of a container that does not exist succeeded');
});

add(
  'validation/start/start.go',
  'process.args run only at start; start of a stopped container errs without effect',
  async (c) => {
    c.write(c.spec(sh("echo 'process called' >> /output")));
    const id = c.newId();
    await expectOk(c.create(id), 'create failed');
    check(!existsSync(c.path('output')), 'process.args ran before start');
    await expectOk(c.start(id), 'start failed');
    check((await c.waitStatus(id, ['stopped'])) === 'stopped', 'the container did not stop');
    check(
      readIf(c.path('output')) === 'process called\n',
      `output ${JSON.stringify(readIf(c.path('output')))}`,
    );
    await expectFails(c.start(id), 'start of a stopped container succeeded');
    await new Promise((r) => setTimeout(r, 200));
    check(
      readIf(c.path('output')) === 'process called\n',
      'start of a stopped container ran the process again',
    );
    await expectOk(c.delete(id), 'delete of the stopped container failed');
  },
);

add('validation/start/start.go', 'a config without process cannot be run', async (c) => {
  const s = c.spec();
  delete s.process;
  c.write(s);
  const id = c.newId();
  const created = await c.create(id);
  if (created.code !== 0) return; // refused at create: an error, as the spec asks
  await expectFails(c.start(id), 'start of a container without process succeeded');
});

add('validation/state/state.go', 'state without an id, or of a missing container, is an error', async (c) => {
  await expectFails(c.stateRaw(), 'state without an id succeeded');
  await expectFails(c.stateRaw(c.newId()), 'state of a container that does not exist succeeded');
});

add('validation/state/state.go', 'state JSON of a created container', async (c) => {
  c.write(
    c.spec((s) => {
      sh('true')(s);
      s.annotations = { 'org.berth.test': 'state' };
    }),
  );
  const id = c.newId();
  await expectOk(c.create(id), 'create failed');
  const r = await c.stateRaw(id);
  check(r.code === 0, `state failed: ${r.stderr}`);
  const st = JSON.parse(r.stdout);
  check(typeof st.ociVersion === 'string' && st.ociVersion.length > 0, 'ociVersion missing');
  check(st.id === id, `id ${st.id}`);
  check(st.status === 'created', `status ${st.status}`);
  check(Number.isInteger(st.pid) && st.pid > 0, `pid ${st.pid}`);
  check(existsSync(`/proc/${st.pid}`), 'pid is not a live process');
  check(st.bundle === c.bundle.dir, `bundle ${st.bundle}, expected ${c.bundle.dir}`);
  check(st.annotations?.['org.berth.test'] === 'state', `annotations ${JSON.stringify(st.annotations)}`);
});

add('validation/state/state.go', 'state follows created, running, stopped', async (c) => {
  c.write(c.spec(sh('sleep 30')));
  const id = c.newId();
  await expectOk(c.create(id), 'create failed');
  check((await c.state(id))?.status === 'created', 'not created after create');
  await expectOk(c.start(id), 'start failed');
  const st = await c.state(id);
  check(st?.status === 'running', `status ${st?.status} after start`);
  await expectOk(c.kill(id, 'KILL'), 'kill failed');
  check((await c.waitStatus(id, ['stopped'])) === 'stopped', 'never stopped');
});

add('validation/delete/delete.go', 'delete without an id is an error', async (c) => {
  await expectFails(c.delete(), 'delete without an id succeeded');
});

add('validation/delete/delete.go', 'delete of a created container errs and has no effect', async (c) => {
  c.write(c.spec(sh('true')));
  const id = c.newId();
  await expectOk(c.create(id), 'create failed');
  await expectFails(c.delete(id), 'delete of a created container succeeded');
  check((await c.state(id))?.status === 'created', 'delete of a created container had an effect');
});

add('validation/delete/delete.go', 'delete of a running container errs and has no effect', async (c) => {
  c.write(c.spec(sh('sleep 30')));
  const id = c.newId();
  await expectOk(c.create(id), 'create failed');
  await expectOk(c.start(id), 'start failed');
  await expectFails(c.delete(id), 'delete of a running container succeeded');
  check((await c.state(id))?.status === 'running', 'delete of a running container had an effect');
});

add('validation/delete/delete.go', 'delete of a stopped container removes it', async (c) => {
  c.write(c.spec(sh('true')));
  const id = c.newId();
  await expectOk(c.create(id), 'create failed');
  await expectOk(c.start(id), 'start failed');
  check((await c.waitStatus(id, ['stopped'])) === 'stopped', 'never stopped');
  await expectOk(c.delete(id), 'delete failed');
  await expectFails(c.stateRaw(id), 'state still answers after delete');
});

add('validation/delete_resources/delete_resources.go', 'delete removes the cgroup create made', async (c) => {
  const cg = `/${c.sandbox.name}/cgrouptest-${c.newId()}`;
  const s = c.spec((x) => {
    sh('true')(x);
    x.linux.cgroupsPath = cg;
    x.linux.resources.pids = { limit: 1000 };
  });
  c.write(s);
  const id = c.newId();
  await expectOk(c.create(id), 'create failed');
  const limit = readIf(`/sys/fs/cgroup/pids${cg}/pids.max`)?.trim();
  check(limit === '1000', `pids.max ${limit}`);
  await expectOk(c.start(id), 'start failed');
  check((await c.waitStatus(id, ['stopped'])) === 'stopped', 'never stopped');
  await expectOk(c.delete(id), 'delete failed');
  check(!existsSync(`/sys/fs/cgroup/pids${cg}`), `the cgroup ${cg} is still there after delete`);
});

add(
  'validation/util/container.go (Clean: delete --force)',
  'delete --force kills and removes a running container',
  async (c) => {
    c.write(c.spec(sh('sleep 30')));
    const id = c.newId();
    await expectOk(c.create(id), 'create failed');
    await expectOk(c.start(id), 'start failed');
    const pid = (await c.state(id))?.pid;
    await expectOk(c.delete(id, true), 'delete --force failed');
    await expectFails(c.stateRaw(id), 'state still answers after delete --force');
    check(pid && (await gone(pid)), 'the container process outlived delete --force');
  },
);

add('validation/kill/kill.go', 'kill without an id, or of a missing container, is an error', async (c) => {
  await expectFails(c.rt.run(['kill']), 'kill without an id succeeded');
  await expectFails(c.kill(c.newId(), 'KILL'), 'kill of a container that does not exist succeeded');
});

add('validation/kill/kill.go', 'kill KILL of a created container stops it', async (c) => {
  c.write(c.spec(sh('true')));
  const id = c.newId();
  await expectOk(c.create(id), 'create failed');
  await expectOk(c.kill(id, 'KILL'), 'kill failed');
  check((await c.waitStatus(id, ['stopped'])) === 'stopped', 'not stopped after KILL');
  await expectOk(c.delete(id), 'delete after KILL failed');
});

add(
  'validation/kill/kill.go + kill_no_effect',
  'kill of a stopped container errs and has no effect',
  async (c) => {
    c.write(c.spec(sh('true')));
    const id = c.newId();
    await expectOk(c.create(id), 'create failed');
    await expectOk(c.start(id), 'start failed');
    check((await c.waitStatus(id, ['stopped'])) === 'stopped', 'never stopped');
    await expectFails(c.kill(id, 'KILL'), 'kill of a stopped container succeeded');
    check((await c.state(id))?.status === 'stopped', 'kill of a stopped container had an effect');
  },
);

add('validation/kill/kill.go', 'kill KILL of a running container stops it', async (c) => {
  c.write(c.spec(sh('sleep 30')));
  const id = c.newId();
  await expectOk(c.create(id), 'create failed');
  await expectOk(c.start(id), 'start failed');
  await expectOk(c.kill(id, 'KILL'), 'kill failed');
  check((await c.waitStatus(id, ['stopped'])) === 'stopped', 'not stopped after KILL');
});

for (const sig of ['TERM', 'USR1', 'USR2']) {
  add('validation/killsig/killsig.go', `kill ${sig} reaches the container process`, async (c) => {
    c.write(c.spec(sh(`trap 'touch /${sig}' ${sig}; sleep 10 & wait $!`)));
    const id = c.newId();
    await expectOk(c.create(id), 'create failed');
    await expectOk(c.start(id), 'start failed');
    check((await c.waitStatus(id, ['running'])) === 'running', 'not running');
    await new Promise((r) => setTimeout(r, 300)); // let the shell set its trap
    await expectOk(c.kill(id, sig), `kill ${sig} failed`);
    check((await c.waitStatus(id, ['stopped'], 5000)) === 'stopped', `not stopped after ${sig}`);
    check(existsSync(c.path(sig)), `the trap for ${sig} did not run`);
  });
}

add('validation/pidfile/pidfile.go', 'create --pid-file writes the pid state reports', async (c) => {
  c.write(c.spec(sh('true')));
  const pidFile = join(c.scratch, `pidfile-${c.rt.name}`);
  const id = c.newId();
  await expectOk(c.create(id, { pidFile }), 'create --pid-file failed');
  const pid = Number(readIf(pidFile));
  check(pid > 0, `pid file holds ${JSON.stringify(readIf(pidFile))}`);
  check((await c.state(id))?.pid === pid, 'the pid file and state disagree');
});

add(
  'validation/config_updates_without_affect/config_updates_without_affect.go',
  'config.json changed after create has no effect',
  async (c) => {
    c.write(c.spec(sh('echo first > /output')));
    const id = c.newId();
    await expectOk(c.create(id), 'create failed');
    c.write(c.spec(sh('echo second > /output')));
    await expectOk(c.start(id), 'start failed');
    check((await c.waitStatus(id, ['stopped'])) === 'stopped', 'never stopped');
    check(readIf(c.path('output')) === 'first\n', `output ${JSON.stringify(readIf(c.path('output')))}`);
  },
);

// ---------------------------------------------------------------- hooks

add('validation/hooks/hooks.go', 'prestart, poststart and poststop hooks run in order', async (c) => {
  const out = c.path('output');
  const h = (what: string) => shHook(c, `echo '${what} called' >> ${out}`);
  c.write(
    c.spec((s) => {
      sh('true')(s);
      s.hooks = {
        prestart: [h('pre-start1'), h('pre-start2')],
        poststart: [h('post-start1'), h('post-start2')],
        poststop: [h('post-stop1'), h('post-stop2')],
      };
    }),
  );
  const id = c.newId();
  await expectOk(c.create(id), 'create failed');
  await expectOk(c.start(id), 'start failed');
  check((await c.waitStatus(id, ['stopped'])) === 'stopped', 'never stopped');
  await expectOk(c.delete(id), 'delete failed');
  const want = ['pre-start1', 'pre-start2', 'post-start1', 'post-start2', 'post-stop1', 'post-stop2']
    .map((w) => `${w} called\n`)
    .join('');
  check(readIf(out) === want, `hooks ran as ${JSON.stringify(readIf(out))}`);
});

add('validation/hooks_stdin/hooks_stdin.go', 'hooks get the state on stdin', async (c) => {
  const h = (name: string) => shHook(c, `cat > ${c.path(name)}`, { timeout: 1 });
  c.write(
    c.spec((s) => {
      sh('true')(s);
      s.annotations = { 'org.opencontainers.runtime-tools': 'hook stdin test' };
      s.hooks = { prestart: [h('prestart')], poststart: [h('poststart')], poststop: [h('poststop')] };
    }),
  );
  const id = c.newId();
  await expectOk(c.create(id), 'create failed');
  const pid = (await c.state(id))?.pid;
  await expectOk(c.start(id), 'start failed');
  check((await c.waitStatus(id, ['stopped'])) === 'stopped', 'never stopped');
  await expectOk(c.delete(id), 'delete failed');
  const want: Record<string, string | undefined> = {
    prestart: 'created',
    poststart: 'running',
    poststop: undefined,
  };
  for (const [hook, status] of Object.entries(want)) {
    const text = readIf(c.path(hook));
    check(text, `the ${hook} hook got nothing on stdin`);
    const st = JSON.parse(text);
    check(st.id === id, `${hook}: id ${st.id}`);
    check(st.bundle === c.bundle.dir, `${hook}: bundle ${st.bundle}`);
    if (hook !== 'poststop') check(st.pid === pid, `${hook}: pid ${st.pid}, expected ${pid}`);
    check(st.annotations?.['org.opencontainers.runtime-tools'] === 'hook stdin test', `${hook}: annotations`);
    if (status) check(st.status === status, `${hook}: status ${st.status}, expected ${status}`);
    else check(typeof st.status === 'string' && st.status !== '', `${hook}: empty status`);
  }
});

add('validation/prestart/prestart.go', 'prestart hooks run during create, before the process', async (c) => {
  const log = c.path('hooklog');
  c.write(
    c.spec((s) => {
      sh('echo process >> /hooklog')(s);
      s.hooks = { prestart: [shHook(c, `echo prestart >> ${log}`)] };
    }),
  );
  const id = c.newId();
  await expectOk(c.create(id), 'create failed');
  check(readIf(log) === 'prestart\n', `after create: ${JSON.stringify(readIf(log))}`);
  await expectOk(c.start(id), 'start failed');
  check((await c.waitStatus(id, ['stopped'])) === 'stopped', 'never stopped');
  check(readIf(log) === 'prestart\nprocess\n', `after start: ${JSON.stringify(readIf(log))}`);
});

add('validation/poststart/poststart.go', 'poststart hooks run after the process started', async (c) => {
  const log = c.path('hooklog');
  c.write(
    c.spec((s) => {
      sh('echo process >> /hooklog')(s);
      s.hooks = { poststart: [shHook(c, afterProcess(log, 'echo poststart'))] };
    }),
  );
  const id = c.newId();
  await expectOk(c.create(id), 'create failed');
  check(readIf(log) === undefined, 'something ran before start');
  await expectOk(c.start(id), 'start failed');
  check((await c.waitStatus(id, ['stopped'])) === 'stopped', 'never stopped');
  check(readIf(log) === 'process\npoststart\n', `log ${JSON.stringify(readIf(log))}`);
});

add('validation/poststop/poststop.go', 'poststop hooks run at delete, after the process', async (c) => {
  const out = c.path('output');
  c.write(
    c.spec((s) => {
      sh("echo 'process called' >> /output")(s);
      s.hooks = { poststop: [shHook(c, `echo 'post-stop called' >> ${out}`)] };
    }),
  );
  const id = c.newId();
  await expectOk(c.create(id), 'create failed');
  check(readIf(out) === undefined, 'process or poststop ran at create');
  await expectOk(c.start(id), 'start failed');
  check((await c.waitStatus(id, ['stopped'])) === 'stopped', 'never stopped');
  check(readIf(out) === 'process called\n', `before delete: ${JSON.stringify(readIf(out))}`);
  await expectOk(c.delete(id), 'delete failed');
  check(readIf(out) === 'process called\npost-stop called\n', `after delete: ${JSON.stringify(readIf(out))}`);
});

add(
  'validation/prestart_fail/prestart_fail.go',
  'a failing prestart hook fails the lifecycle and the process never runs',
  async (c) => {
    c.write(
      c.spec((s) => {
        sh('touch /output')(s);
        s.hooks = { prestart: [{ path: c.path('bin/false'), args: ['false'] }] };
      }),
    );
    const id = c.newId();
    const created = await c.create(id);
    const started = created.code === 0 ? await c.start(id) : created;
    check(started.code !== 0, 'create and start succeeded despite the failing prestart hook');
    await new Promise((r) => setTimeout(r, 200));
    check(!existsSync(c.path('output')), 'the process ran despite the failing prestart hook');
    await expectFails(c.stateRaw(id), 'the container still exists (lifecycle did not continue at delete)');
  },
);

add(
  'validation/poststart_fail/poststart_fail.go',
  'a failing poststart hook is only a warning',
  async (c) => {
    const out = c.path('output');
    c.write(
      c.spec((s) => {
        sh('true')(s);
        s.hooks = {
          poststart: [
            { path: c.path('bin/false'), args: ['false'] },
            shHook(c, `echo 'post-start called' >> ${out}`),
          ],
        };
      }),
    );
    const id = c.newId();
    await expectOk(c.create(id), 'create failed');
    await expectOk(c.start(id), 'start failed');
    check((await c.waitStatus(id, ['stopped'])) === 'stopped', 'never stopped');
    await expectOk(c.delete(id), 'delete failed');
    check(readIf(out) === 'post-start called\n', `output ${JSON.stringify(readIf(out))}`);
  },
);

add('validation/poststop_fail/poststop_fail.go', 'a failing poststop hook is only a warning', async (c) => {
  const out = c.path('output');
  c.write(
    c.spec((s) => {
      sh('true')(s);
      s.hooks = {
        poststop: [
          { path: c.path('bin/false'), args: ['false'] },
          shHook(c, `echo 'post-stop called' >> ${out}`),
        ],
      };
    }),
  );
  const id = c.newId();
  await expectOk(c.create(id), 'create failed');
  await expectOk(c.start(id), 'start failed');
  check((await c.waitStatus(id, ['stopped'])) === 'stopped', 'never stopped');
  await expectOk(c.delete(id), 'delete failed');
  check(readIf(out) === 'post-stop called\n', `output ${JSON.stringify(readIf(out))}`);
});

add('runtime-spec config.md#posix-platform-hooks', 'hooks get their env and args', async (c) => {
  const out = c.path('output');
  c.write(
    c.spec((s) => {
      sh('true')(s);
      s.hooks = {
        prestart: [
          {
            path: c.path('bin/sh'),
            args: ['sh', '-c', `echo "$0 $1 $BERTH_HOOK_VAR" >> ${out}`, 'zero', 'one'],
            env: ['BERTH_HOOK_VAR=set'],
          },
        ],
      };
    }),
  );
  const id = c.newId();
  await expectOk(c.create(id), 'create failed');
  check(readIf(out) === 'zero one set\n', `output ${JSON.stringify(readIf(out))}`);
});

add(
  'runtime-spec config.md#posix-platform-hooks',
  'a prestart hook past its timeout fails create',
  async (c) => {
    c.write(
      c.spec((s) => {
        sh('touch /output')(s);
        s.hooks = { prestart: [{ path: c.path('bin/sleep'), args: ['sleep', '5'], timeout: 1 }] };
      }),
    );
    const id = c.newId();
    const t0 = Date.now();
    const created = await c.create(id);
    const started = created.code === 0 ? await c.start(id) : created;
    check(started.code !== 0, 'the lifecycle went on despite the timed-out hook');
    check(Date.now() - t0 < 4500, `the hook was not cut at its timeout (${Date.now() - t0} ms)`);
    check(!existsSync(c.path('output')), 'the process ran');
  },
);

/**
 * Runs a container with a hook of each create-time and start-time kind, each appending a
 * line to one log: createRuntime runs in the runtime's namespaces; createContainer runs in
 * the container's namespaces before pivot_root (its path and files still resolve in the
 * runtime's view) and records its mount namespace; startContainer runs in the container
 * after pivot_root, where "/hooklog" is the bundle's file. A startContainer hook that finds
 * no /berth-test-marker is not inside the container, and writes to the host path instead
 * (never to the host's own /).
 */
async function hookPhases(
  c: CaseContext,
): Promise<{ afterCreate: string[]; afterStart: string[]; mnt: string }> {
  const log = c.path('hooklog');
  writeFileSync(c.path('berth-test-marker'), '');
  const startContainer = `if [ -e /berth-test-marker ]; then echo startContainer >> /hooklog; else echo startContainer-outside >> ${log}; fi`;
  c.write(
    c.spec((s) => {
      sh('echo process >> /hooklog')(s);
      s.hooks = {
        prestart: [shHook(c, `echo prestart >> ${log}`)],
        createRuntime: [shHook(c, `echo createRuntime >> ${log}`)],
        createContainer: [shHook(c, `echo createContainer $(readlink /proc/self/ns/mnt) >> ${log}`)],
        startContainer: [{ path: '/bin/sh', args: ['sh', '-c', startContainer] }],
        poststart: [shHook(c, afterProcess(log, 'echo poststart'))],
      };
    }),
  );
  const id = c.newId();
  await expectOk(c.create(id), 'create failed');
  const pid = (await c.state(id))?.pid;
  const mnt = readlinkSync(`/proc/${pid}/ns/mnt`);
  const afterCreate = (readIf(log) ?? '').split('\n').filter(Boolean);
  await expectOk(c.start(id), 'start failed');
  check((await c.waitStatus(id, ['stopped'])) === 'stopped', 'never stopped');
  const afterStart = (readIf(log) ?? '').split('\n').filter(Boolean).slice(afterCreate.length);
  return { afterCreate, afterStart, mnt };
}

add(
  'runtime-spec config.md#posix-platform-hooks (createContainer, startContainer)',
  'createContainer and startContainer hooks run in the container',
  async (c) => {
    const { afterCreate, afterStart, mnt } = await hookPhases(c);
    check(
      [...afterCreate].sort().join() ===
        [`createContainer ${mnt}`, 'createRuntime', 'prestart'].sort().join(),
      `after create: ${JSON.stringify(afterCreate)}; the container's mount namespace is ${mnt}`,
    );
    check(
      afterStart.join() === 'startContainer,process,poststart',
      `after start: ${JSON.stringify(afterStart)}`,
    );
  },
);

add(
  'runtime-spec runtime.md#lifecycle (create steps 4-6, start steps 2-3)',
  'hooks run in lifecycle order: prestart, createRuntime, createContainer; startContainer before the process',
  async (c) => {
    const { afterCreate, afterStart, mnt } = await hookPhases(c);
    check(
      afterCreate.join() === ['prestart', 'createRuntime', `createContainer ${mnt}`].join(),
      `after create: ${JSON.stringify(afterCreate)}`,
    );
    check(
      afterStart.join() === 'startContainer,process,poststart',
      `after start: ${JSON.stringify(afterStart)}`,
    );
  },
);

// ---------------------------------------------------------------- config handling

add('validation/misc_props/misc_props.go', 'an unknown annotation key is not an error', async (c) => {
  c.write(
    c.spec((s) => {
      sh('true')(s);
      s.annotations = { [`org.${c.newId()}`]: '' };
    }),
  );
  const id = c.newId();
  await expectOk(c.create(id), 'create failed');
  await expectOk(c.start(id), 'start failed');
});

add('validation/misc_props/misc_props.go', 'an unknown property is not an error', async (c) => {
  c.write(
    c.spec((s) => {
      sh('true')(s);
      s.unknown = 'unknown';
    }),
  );
  const id = c.newId();
  await expectOk(c.create(id), 'create failed');
  await expectOk(c.start(id), 'start failed');
});

add('validation/misc_props/misc_props.go', 'an invalid ociVersion is an error', async (c) => {
  c.write(
    c.spec((s) => {
      sh('true')(s);
      s.ociVersion = 'invalid';
    }),
  );
  const id = c.newId();
  const created = await c.create(id);
  const started = created.code === 0 ? await c.start(id) : created;
  check(started.code !== 0, 'ociVersion "invalid" was accepted');
});

// ---------------------------------------------------------------- process

add(
  'validation/process/process.go (runtimetest validateGeneralProcess)',
  'process args, cwd and env',
  async (c) => {
    const { stdout } = await c.inside(
      c.spec((s) => {
        s.process.args = [
          'sh',
          '-c',
          'tr "\\0" "|" < /proc/1/cmdline; echo; pwd; echo "foo=$FOO"',
          'zero',
          'a b',
        ];
        s.process.cwd = '/tmp';
        s.process.env.push('FOO=bar baz');
      }),
    );
    const want = `sh|-c|tr "\\0" "|" < /proc/1/cmdline; echo; pwd; echo "foo=$FOO"|zero|a b|\n/tmp\nfoo=bar baz\n`;
    check(stdout === want, `saw ${JSON.stringify(stdout)}`);
  },
);

add(
  'validation/process_user/process_user.go (runtimetest validateLinuxProcess)',
  'process user uid, gid and additionalGids',
  async (c) => {
    const { stdout } = await c.inside(
      c.spec((s) => {
        sh('echo uid=$(id -u); echo gid=$(id -g); grep ^Groups: /proc/self/status | tr -s "\\t " " "')(s);
        s.process.user = { uid: 1, gid: 1, additionalGids: [2, 3] };
      }),
    );
    const f = fields(stdout);
    check(f.uid === '1' && f.gid === '1', `saw ${JSON.stringify(stdout)}`);
    check(
      /^Groups: 2 3 ?$/.test(stdout.split('\n')[2] ?? ''),
      `groups: ${JSON.stringify(stdout.split('\n')[2])}`,
    );
  },
);

add('runtime-spec config.md#user (umask)', 'process user umask', async (c) => {
  const { stdout } = await c.inside(
    c.spec((s) => {
      sh('umask')(s);
      s.process.user = { uid: 0, gid: 0, umask: 0o077 };
    }),
  );
  check(stdout.trim() === '0077', `umask ${JSON.stringify(stdout)}`);
});

add(
  'validation/process_rlimits/process_rlimits.go (runtimetest validateRlimits)',
  'process rlimits',
  async (c) => {
    const { stdout } = await c.inside(
      c.spec((s) => {
        sh('grep -E "^Max (open files|core file size)" /proc/self/limits | tr -s " "')(s);
        s.process.rlimits = [
          { type: 'RLIMIT_NOFILE', soft: 512, hard: 1024 },
          { type: 'RLIMIT_CORE', soft: 4096, hard: 8192 },
        ];
      }),
    );
    check(stdout.includes('Max core file size 4096 8192 bytes'), `limits: ${JSON.stringify(stdout)}`);
    check(stdout.includes('Max open files 512 1024 files'), `limits: ${JSON.stringify(stdout)}`);
  },
);

add(
  'validation/process_rlimits_fail/process_rlimits_fail.go',
  'an unknown rlimit type is an error',
  async (c) => {
    c.write(
      c.spec((s) => {
        sh('true')(s);
        s.process.rlimits = [{ type: 'RLIMIT_TEST', soft: 1024, hard: 1024 }];
      }),
    );
    const id = c.newId();
    const created = await c.create(id);
    const started = created.code === 0 ? await c.start(id) : created;
    check(started.code !== 0, 'RLIMIT_TEST was accepted');
  },
);

const CAP_BIT: Record<string, number> = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_RAW: 13,
  CAP_SYS_CHROOT: 18,
  CAP_MKNOD: 27,
  CAP_AUDIT_WRITE: 29,
  CAP_SETFCAP: 31,
};
const capMask = (caps: string[]) =>
  caps
    .reduce((m, cap) => m | (1n << BigInt(CAP_BIT[cap]!)), 0n)
    .toString(16)
    .padStart(16, '0');

add(
  'validation/process_capabilities/process_capabilities.go (runtimetest validateCapabilities)',
  'process capabilities, all five sets',
  async (c) => {
    // For root, exec makes permitted = effective = bounding | inheritable | ambient, so a
    // config that states exactly that is one every set of which can be checked as given.
    const bounding = [
      'CAP_CHOWN',
      'CAP_DAC_OVERRIDE',
      'CAP_KILL',
      'CAP_NET_BIND_SERVICE',
      'CAP_SETUID',
      'CAP_SETGID',
    ];
    const inheritable = ['CAP_KILL', 'CAP_NET_BIND_SERVICE'];
    const ambient = ['CAP_NET_BIND_SERVICE'];
    const { stdout } = await c.inside(
      c.spec((s) => {
        sh('grep ^Cap /proc/self/status | tr -d "\\t"')(s);
        s.process.capabilities = { bounding, effective: bounding, permitted: bounding, inheritable, ambient };
      }),
    );
    const want = [
      `CapInh:${capMask(inheritable)}`,
      `CapPrm:${capMask(bounding)}`,
      `CapEff:${capMask(bounding)}`,
      `CapBnd:${capMask(bounding)}`,
      `CapAmb:${capMask(ambient)}`,
    ].join('\n');
    check(stdout.trim() === want, `saw ${JSON.stringify(stdout)}, want ${JSON.stringify(want)}`);
  },
);

add(
  'validation/process_capabilities/process_capabilities.go',
  'capabilities of a non-root user (ambient raise)',
  async (c) => {
    const caps = ['CAP_KILL', 'CAP_NET_BIND_SERVICE'];
    const { stdout } = await c.inside(
      c.spec((s) => {
        sh('grep ^Cap /proc/self/status | tr -d "\\t"')(s);
        s.process.user = { uid: 1000, gid: 1000 };
        s.process.capabilities = {
          bounding: caps,
          effective: caps,
          permitted: caps,
          inheritable: caps,
          ambient: caps,
        };
      }),
    );
    const m = capMask(caps);
    const want = [`CapInh:${m}`, `CapPrm:${m}`, `CapEff:${m}`, `CapBnd:${m}`, `CapAmb:${m}`].join('\n');
    check(stdout.trim() === want, `saw ${JSON.stringify(stdout)}, want ${JSON.stringify(want)}`);
  },
);

add(
  'validation/process_capabilities_fail/process_capabilities_fail.go',
  'an unknown capability is an error',
  async (c) => {
    c.write(
      c.spec((s) => {
        sh('true')(s);
        s.process.capabilities.bounding.push('CAP_TEST');
        s.process.capabilities.effective.push('CAP_TEST');
      }),
    );
    const id = c.newId();
    const created = await c.create(id);
    const started = created.code === 0 ? await c.start(id) : created;
    check(started.code !== 0, 'CAP_TEST was accepted');
  },
);

add(
  'validation/linux_process (runtimetest validateLinuxProcess)',
  'noNewPrivileges true and false',
  async (c) => {
    for (const nnp of [true, false]) {
      const { stdout } = await c.inside(
        c.spec((s) => {
          sh('grep ^NoNewPrivs: /proc/self/status | tr -d "\\t"')(s);
          s.process.noNewPrivileges = nnp;
        }),
      );
      check(
        stdout.trim() === `NoNewPrivs:${nnp ? 1 : 0}`,
        `noNewPrivileges ${nnp}: ${JSON.stringify(stdout)}`,
      );
    }
  },
);

add('validation/process_oom_score_adj/process_oom_score_adj.go', 'process oomScoreAdj', async (c) => {
  const { stdout } = await c.inside(
    c.spec((s) => {
      sh('cat /proc/self/oom_score_adj')(s);
      s.process.oomScoreAdj = 500;
    }),
  );
  check(stdout.trim() === '500', `oom_score_adj ${JSON.stringify(stdout)}`);
});

add(
  "validation/util/test.go (RuntimeInsideValidate reads create's stdio)",
  'terminal false: the process inherits the stdio of create',
  async (c) => {
    const out = await c.inside(c.spec(sh('echo to-stdout; echo to-stderr >&2')));
    check(out.stdout === 'to-stdout\n', `stdout ${JSON.stringify(out.stdout)}`);
    check(out.stderr.includes('to-stderr\n'), `stderr ${JSON.stringify(out.stderr)}`);
  },
);

add('validation/hostname/hostname.go', 'hostname', async (c) => {
  const { stdout } = await c.inside(
    c.spec((s) => {
      sh('hostname')(s);
      s.hostname = 'hostname-specific';
    }),
  );
  check(stdout.trim() === 'hostname-specific', `hostname ${JSON.stringify(stdout)}`);
});

add('runtime-spec config.md#domainname', 'domainname', async (c) => {
  const { stdout } = await c.inside(
    c.spec((s) => {
      sh('cat /proc/sys/kernel/domainname')(s);
      s.domainname = 'berth.example';
    }),
  );
  check(stdout.trim() === 'berth.example', `domainname ${JSON.stringify(stdout)}`);
});

// ---------------------------------------------------------------- filesystem

/** mountinfo lines as { mountpoint, options, optional, fstype, source, superOptions }. */
const MOUNTINFO = 'cat /proc/self/mountinfo';
function parseMountinfo(text: string) {
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [pre, post] = l.split(' - ');
      const f = pre!.split(' ');
      const [fstype, source, superOptions] = post!.split(' ');
      return {
        mountpoint: f[4]!,
        options: f[5]!.split(','),
        optional: f.slice(6).join(' '),
        fstype: fstype!,
        source: source!,
        superOptions: superOptions ?? '',
      };
    });
}

add(
  'validation/mounts/mounts.go (runtimetest validateMountsExist, order)',
  'mounts: types, options and order',
  async (c) => {
    const hostDir = join(c.scratch, `bind-${c.rt.name}`);
    mkdirSync(hostDir, { recursive: true });
    writeFileSync(join(hostDir, 'file'), 'from the host\n');
    const { stdout } = await c.inside(
      c.spec((s) => {
        sh(
          `${MOUNTINFO}; echo ===; cat /mnt/bind/file; touch /mnt/bind/new 2>/dev/null && echo bind-writable; touch /mnt/a/b/x && echo nested-writable`,
        )(s);
        s.mounts.push(
          {
            destination: '/mnt/a',
            type: 'tmpfs',
            source: 'tmpfs-a',
            options: ['nosuid', 'nodev', 'noexec', 'size=1m'],
          },
          { destination: '/mnt/a/b', type: 'tmpfs', source: 'tmpfs-b', options: ['size=1m'] },
          { destination: '/mnt/bind', type: 'bind', source: hostDir, options: ['rbind', 'ro'] },
        );
      }),
    );
    const [info, rest] = stdout.split('===\n');
    const mounts = parseMountinfo(info ?? '');
    const a = mounts.findIndex((m) => m.mountpoint === '/mnt/a');
    const b = mounts.findIndex((m) => m.mountpoint === '/mnt/a/b');
    const bind = mounts.find((m) => m.mountpoint === '/mnt/bind');
    check(
      a >= 0 && mounts[a]!.fstype === 'tmpfs' && mounts[a]!.source === 'tmpfs-a',
      '/mnt/a is not the tmpfs asked for',
    );
    check(
      ['nosuid', 'nodev', 'noexec'].every((o) => mounts[a]!.options.includes(o)),
      `/mnt/a options ${mounts[a]!.options}`,
    );
    check(b > a && mounts[b]!.source === 'tmpfs-b', '/mnt/a/b is missing or mounted before /mnt/a');
    check(bind?.options.includes('ro'), `/mnt/bind options ${bind?.options}`);
    check(rest === 'from the host\nnested-writable\n', `inside: ${JSON.stringify(rest)}`);
    for (const d of ['proc', 'dev', 'dev/pts', 'dev/shm', 'dev/mqueue', 'sys']) {
      const m = mounts.find((x) => x.mountpoint === `/${d}`);
      check(m, `/${d} is not mounted`);
    }
    check(mounts.find((m) => m.mountpoint === '/sys')?.options.includes('ro'), '/sys is not read-only');
  },
);

add('validation/linux_masked_paths/linux_masked_paths.go', 'masked paths read as empty', async (c) => {
  mkdirSync(c.path('masked-dir'));
  writeFileSync(c.path('masked-dir/tmp'), 'secret');
  writeFileSync(c.path('masked-file'), 'secret');
  const { stdout } = await c.inside(
    c.spec((s) => {
      sh(
        'echo dir=$(ls -A /masked-dir); echo file=$(cat /masked-file); echo kcore=$(head -c 1 /proc/kcore | wc -c); echo keys=$(cat /proc/keys | wc -c)',
      )(s);
      s.linux.maskedPaths.push('/masked-dir', '/masked-file', '/masked-nonexistent');
    }),
  );
  const f = fields(stdout);
  check(f.dir === '' && f.file === '', `masked dir/file: ${JSON.stringify(stdout)}`);
  check(f.kcore === '0' && f.keys === '0', `masked /proc files: ${JSON.stringify(stdout)}`);
});

add('validation/linux_readonly_paths/linux_readonly_paths.go', 'read-only paths refuse writes', async (c) => {
  mkdirSync(c.path('readonly-dir'));
  writeFileSync(c.path('readonly-file'), 'x');
  const { stdout } = await c.inside(
    c.spec((s) => {
      sh(
        'touch /readonly-dir/new 2>/dev/null && echo dir-writable; echo y >> /readonly-file 2>/dev/null && echo file-writable; echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo procsys-writable; echo done',
      )(s);
      s.linux.readonlyPaths.push('/readonly-dir', '/readonly-file', '/readonly-nonexistent');
    }),
  );
  check(stdout === 'done\n', `writable: ${JSON.stringify(stdout)}`);
});

add(
  'validation/root_readonly_true/root_readonly_true.go (runtimetest validateRootFS)',
  'root.readonly true refuses writes to /',
  async (c) => {
    const { stdout } = await c.inside(
      c.spec((s) => {
        sh('touch /rootfs-write 2>/dev/null && echo writable; echo done')(s);
        s.root.readonly = true;
      }),
    );
    check(stdout === 'done\n', `root: ${JSON.stringify(stdout)}`);
  },
);

add(
  'validation/root_readonly_false/root_readonly_false.go',
  'root.readonly false allows writes to /',
  async (c) => {
    const { stdout } = await c.inside(c.spec(sh('touch /rootfs-write && echo writable')));
    check(stdout === 'writable\n', `root: ${JSON.stringify(stdout)}`);
  },
);

for (const prop of ['shared', 'slave', 'private', 'unbindable']) {
  add(
    `validation/linux_rootfs_propagation/linux_rootfs_propagation.go (${prop})`,
    `linux.rootfsPropagation ${prop}`,
    async (c) => {
      const { stdout } = await c.inside(
        c.spec((s) => {
          sh(MOUNTINFO)(s);
          s.linux.rootfsPropagation = prop;
        }),
      );
      const root = parseMountinfo(stdout).find((m) => m.mountpoint === '/');
      check(root, 'no / in mountinfo');
      const o = root.optional;
      const ok =
        prop === 'shared'
          ? o.includes('shared:')
          : prop === 'unbindable'
            ? o.includes('unbindable')
            : prop === 'slave'
              ? !o.includes('shared:')
              : !o.includes('shared:') && !o.includes('master:');
      check(ok, `/ has propagation "${o}"`);
    },
  );
}

add(
  'validation/linux_devices.go (runtimetest validateLinuxDevices)',
  'linux.devices are created as asked',
  async (c) => {
    const { stdout } = await c.inside(
      c.spec((s) => {
        sh('stat -c "%n %F %t:%T %a %u:%g" /dev/berth-null /dev/berth-fifo')(s);
        s.linux.devices = [
          { path: '/dev/berth-null', type: 'c', major: 1, minor: 3, fileMode: 0o640, uid: 1, gid: 2 },
          { path: '/dev/berth-fifo', type: 'p', fileMode: 0o600, uid: 0, gid: 0 },
        ];
      }),
    );
    const [dev, fifo] = stdout.trim().split('\n');
    check(dev === '/dev/berth-null character special file 1:3 640 1:2', `device: ${JSON.stringify(dev)}`);
    check(fifo === '/dev/berth-fifo fifo 0:0 600 0:0', `fifo: ${JSON.stringify(fifo)}`);
  },
);

add(
  'validation/default.go (runtimetest validateDefaultDevices, validateDefaultSymlinks)',
  'default devices and /dev symlinks',
  async (c) => {
    const devs = [
      '/dev/null',
      '/dev/zero',
      '/dev/full',
      '/dev/random',
      '/dev/urandom',
      '/dev/tty',
      '/dev/ptmx',
    ];
    const links = ['/dev/fd', '/dev/stdin', '/dev/stdout', '/dev/stderr'];
    const { stdout } = await c.inside(
      c.spec(
        sh(
          `for d in ${devs.join(' ')}; do [ -c $d ] && echo $d; done; for l in ${links.join(' ')}; do echo $l=$(readlink $l); done`,
        ),
      ),
    );
    const lines = stdout.trim().split('\n');
    for (const d of devs) check(lines.includes(d), `${d} is not a character device`);
    for (const [l, t] of [
      ['/dev/fd', '/proc/self/fd'],
      ['/dev/stdin', '/proc/self/fd/0'],
      ['/dev/stdout', '/proc/self/fd/1'],
      ['/dev/stderr', '/proc/self/fd/2'],
    ])
      check(lines.includes(`${l}=${t}`), `${l} does not point at ${t}: ${JSON.stringify(stdout)}`);
  },
);

add('validation/linux_sysctl.go (runtimetest validateSysctls)', 'linux.sysctl', async (c) => {
  const { stdout } = await c.inside(
    c.spec((s) => {
      sh('cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni')(s);
      s.linux.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.shmmni': '8192' };
    }),
  );
  check(stdout === '1\n8192\n', `sysctls ${JSON.stringify(stdout)}`);
});

add('validation/linux_seccomp/linux_seccomp.go', 'linux.seccomp from the config', async (c) => {
  const { stdout } = await c.inside(
    c.spec((s) => {
      sh(
        'grep ^Seccomp: /proc/self/status | tr -d "\\t"; mkdir /tmp/x 2>&1 || true; echo ok > /tmp/y && cat /tmp/y',
      )(s);
      s.linux.seccomp = {
        defaultAction: 'SCMP_ACT_ALLOW',
        architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_AARCH64'],
        syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
      };
    }),
  );
  const lines = stdout.trim().split('\n');
  check(lines[0] === 'Seccomp:2', `seccomp mode: ${JSON.stringify(stdout)}`);
  check(
    /Operation not permitted/.test(lines[1] ?? ''),
    `mkdir was not refused with EPERM: ${JSON.stringify(stdout)}`,
  );
  check(lines[2] === 'ok', `other syscalls were refused: ${JSON.stringify(stdout)}`);
});

// ---------------------------------------------------------------- namespaces

const HOST_NS = ['pid', 'net', 'ipc', 'uts', 'mnt'];

add('validation/linux_ns_nopath/linux_ns_nopath.go', 'namespaces without a path are new', async (c) => {
  await c.outside(c.spec(sh('sleep 30')), (st) => {
    for (const ns of HOST_NS) {
      const mine = readlinkSync(`/proc/self/ns/${ns}`);
      const theirs = readlinkSync(`/proc/${st.pid}/ns/${ns}`);
      check(mine !== theirs, `the container shares the host's ${ns} namespace`);
    }
  });
});

add(
  'validation/linux_ns_itype/linux_ns_itype.go',
  'namespaces not listed are shared with the runtime',
  async (c) => {
    const s = c.spec(sh('sleep 30'));
    s.linux.namespaces = s.linux.namespaces.filter(
      (n: { type: string }) => !['network', 'ipc', 'uts'].includes(n.type),
    );
    delete s.hostname; // a hostname needs a UTS namespace of the container's own
    await c.outside(s, (st) => {
      for (const ns of ['net', 'ipc', 'uts']) {
        const mine = readlinkSync(`/proc/self/ns/${ns}`);
        const theirs = readlinkSync(`/proc/${st.pid}/ns/${ns}`);
        check(mine === theirs, `the container has its own ${ns} namespace though none was asked`);
      }
    });
  },
);

const NS_TYPE: Record<string, string> = { ipc: 'ipc', mnt: 'mount', net: 'network', pid: 'pid', uts: 'uts' };
const UNSHARE_FLAG: Record<string, string> = {
  ipc: '--ipc',
  mnt: '--mount',
  net: '--net',
  pid: '--pid',
  uts: '--uts',
};

for (const ns of ['ipc', 'mnt', 'net', 'pid', 'uts']) {
  add('validation/linux_ns_path/linux_ns_path.go', `join the ${ns} namespace by path`, async (c) => {
    const holder = spawn('unshare', [UNSHARE_FLAG[ns]!, '--fork', 'sleep', '10000'], {
      stdio: 'ignore',
      detached: true,
    });
    try {
      const link = `/proc/${holder.pid}/ns/${ns === 'pid' ? 'pid_for_children' : ns}`;
      let target = '';
      for (let i = 0; i < 60; i++) {
        try {
          target = readlinkSync(link);
          if (target !== readlinkSync(`/proc/self/ns/${ns}`)) break;
        } catch {
          // not there yet
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      check(target && target !== readlinkSync(`/proc/self/ns/${ns}`), 'unshare did not make its namespace');
      const s = c.spec(sh('sleep 30'));
      s.linux.namespaces = s.linux.namespaces.map((n: { type: string }) =>
        n.type === NS_TYPE[ns] ? { type: n.type, path: link } : n,
      );
      await c.outside(s, (st) => {
        const theirs = readlinkSync(`/proc/${st.pid}/ns/${ns}`);
        check(theirs === target, `container ${ns} namespace ${theirs}, expected ${target}`);
      });
      await c.cleanup();
    } finally {
      try {
        process.kill(-holder.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

add(
  'validation/linux_uid_mappings.go + linux_gid_mappings.go (runtimetest validateIDMappings)',
  'user namespace with uid and gid mappings',
  async (c) => {
    const { stdout } = await c.inside(
      c.spec((s) => {
        sh('cat /proc/self/uid_map /proc/self/gid_map | tr -s " "')(s);
        s.linux.namespaces.push({ type: 'user' });
        s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
        s.linux.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
      }),
    );
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => l.trim());
    check(lines[0] === '0 100000 65536', `uid_map ${JSON.stringify(lines[0])}`);
    check(lines[1] === '0 200000 65536', `gid_map ${JSON.stringify(lines[1])}`);
  },
);

// ---------------------------------------------------------------- cgroups

/** The cgroup of pid in a v1 controller, as runtime-tools' GetSubsystemPath reads it. */
function cgroupOf(pid: number, controller: string): string {
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m && m[1]!.split(',').includes(controller)) return m[2]!;
  }
  throw new Error(`no ${controller} cgroup for ${pid}`);
}

/**
 * Where runtime-tools looks for a container's cgroup files: an absolute cgroupsPath must be
 * exactly that path under the controller's mount (CgroupsAbsPathRelToMount); a relative one
 * must appear in the process's cgroup path (CgroupsPathAttach).
 */
function cgroupDir(pid: number, controller: string, cgroupsPath: string): string {
  const actual = cgroupOf(pid, controller);
  if (cgroupsPath.startsWith('/')) {
    check(actual === cgroupsPath, `${controller}: the container is in ${actual}, not ${cgroupsPath}`);
  } else {
    check(
      actual.includes(cgroupsPath),
      `${controller}: the container's cgroup ${actual} does not contain ${cgroupsPath}`,
    );
  }
  return `/sys/fs/cgroup/${controller}${actual}`;
}

function cgRead(dir: string, file: string): string {
  const p = join(dir, file);
  check(existsSync(p), `${p} does not exist`);
  return readFileSync(p, 'utf8').trim();
}

/**
 * A relative cgroupsPath (a/b/c) makes intermediate cgroups that a runtime's delete may leave
 * behind. Remove, in every v1 hierarchy, the empty tree the case's path started (its first
 * element, named berth-test-rel-*), wherever the runtime put it (seen in `dirs`).
 */
function removeRelativeTrees(c: CaseContext, dirs: string[], rel: string): void {
  const top = rel.split('/')[0]!;
  for (const dir of dirs) {
    const m = /^\/sys\/fs\/cgroup\/[^/]+(.*)$/.exec(dir);
    const at = m?.[1]?.indexOf(`/${top}/`) ?? -1;
    if (!m || at < 0) continue;
    const base = m[1]!.slice(0, at);
    for (const ctrl of c.sandbox.hierarchies()) removeEmptyTree(`/sys/fs/cgroup/${ctrl}${base}/${top}`);
  }
}

function removeEmptyTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true }))
    if (e.isDirectory()) removeEmptyTree(join(dir, e.name));
  try {
    rmdirSync(dir);
  } catch {
    // a cgroup still in use: the suite's final check reports what is left
  }
}

function cgroupCases(kind: 'absolute' | 'relative', source: (what: string) => string) {
  const pathFor = (c: CaseContext) =>
    kind === 'absolute'
      ? `/${c.sandbox.name}/cgrouptest-${c.newId()}`
      : `berth-test-rel-${c.newId()}/cgrouptest/container`;

  const withCgroup = async (
    c: CaseContext,
    controllers: string[],
    resources: Record<string, unknown>,
    verify: (dirs: Record<string, string>) => void,
  ) => {
    const cgPath = pathFor(c);
    const s = c.spec(sh('sleep 30'));
    s.linux.cgroupsPath = cgPath;
    Object.assign(s.linux.resources, resources);
    const touched: string[] = [];
    try {
      await c.outside(s, (st) => {
        const dirs: Record<string, string> = {};
        for (const ctrl of controllers) dirs[ctrl] = cgroupDir(st.pid!, ctrl, cgPath);
        touched.push(...Object.values(dirs));
        verify(dirs);
      });
    } finally {
      await c.cleanup();
      if (kind === 'relative') removeRelativeTrees(c, touched, cgPath);
    }
  };

  const limit = 50593792;
  add(
    source('memory'),
    `cgroups (${kind} path): memory limit, reservation, swap, swappiness, OOM killer`,
    async (c) => {
      await withCgroup(
        c,
        ['memory'],
        {
          memory: { limit, reservation: limit, swap: limit, swappiness: 50, disableOOMKiller: true },
        },
        ({ memory: d }) => {
          check(cgRead(d!, 'memory.limit_in_bytes') === String(limit), 'memory.limit_in_bytes');
          check(cgRead(d!, 'memory.soft_limit_in_bytes') === String(limit), 'memory.soft_limit_in_bytes');
          check(cgRead(d!, 'memory.memsw.limit_in_bytes') === String(limit), 'memory.memsw.limit_in_bytes');
          check(
            cgRead(d!, 'memory.swappiness') === '50',
            `memory.swappiness ${cgRead(d!, 'memory.swappiness')}`,
          );
          check(/oom_kill_disable 1/.test(cgRead(d!, 'memory.oom_control')), 'memory.oom_control');
        },
      );
    },
  );
  if (kind === 'absolute') {
    add(source('memory'), 'cgroups (absolute path): memory kernel and kernelTCP limits', async (c) => {
      await withCgroup(
        c,
        ['memory'],
        { memory: { limit, kernel: limit, kernelTCP: limit } },
        ({ memory: d }) => {
          check(cgRead(d!, 'memory.kmem.limit_in_bytes') === String(limit), 'memory.kmem.limit_in_bytes');
          check(
            cgRead(d!, 'memory.kmem.tcp.limit_in_bytes') === String(limit),
            'memory.kmem.tcp.limit_in_bytes',
          );
        },
      );
    });
  }
  add(source('cpus'), `cgroups (${kind} path): cpu shares, quota, period, cpuset`, async (c) => {
    await withCgroup(
      c,
      ['cpu', 'cpuset'],
      { cpu: { shares: 1024, quota: 50000, period: 100000, cpus: '0-1', mems: '0' } },
      ({ cpu, cpuset }) => {
        check(cgRead(cpu!, 'cpu.shares') === '1024', 'cpu.shares');
        check(cgRead(cpu!, 'cpu.cfs_quota_us') === '50000', 'cpu.cfs_quota_us');
        check(cgRead(cpu!, 'cpu.cfs_period_us') === '100000', 'cpu.cfs_period_us');
        check(cgRead(cpuset!, 'cpuset.cpus') === '0-1', `cpuset.cpus ${cgRead(cpuset!, 'cpuset.cpus')}`);
        check(cgRead(cpuset!, 'cpuset.mems') === '0', 'cpuset.mems');
      },
    );
  });
  add(source('pids'), `cgroups (${kind} path): pids limit`, async (c) => {
    await withCgroup(c, ['pids'], { pids: { limit: 1000 } }, ({ pids }) => {
      check(cgRead(pids!, 'pids.max') === '1000', `pids.max ${cgRead(pids!, 'pids.max')}`);
    });
  });
  add(source('blkio'), `cgroups (${kind} path): blkio throttling`, async (c) => {
    const [major, minor] = blockDevice();
    await withCgroup(
      c,
      ['blkio'],
      {
        blockIO: {
          throttleReadBpsDevice: [{ major, minor, rate: 102400 }],
          throttleWriteBpsDevice: [{ major, minor, rate: 204800 }],
          throttleReadIOPSDevice: [{ major, minor, rate: 300 }],
          throttleWriteIOPSDevice: [{ major, minor, rate: 400 }],
        },
      },
      ({ blkio: d }) => {
        check(cgRead(d!, 'blkio.throttle.read_bps_device') === `${major}:${minor} 102400`, 'read_bps_device');
        check(
          cgRead(d!, 'blkio.throttle.write_bps_device') === `${major}:${minor} 204800`,
          'write_bps_device',
        );
        check(cgRead(d!, 'blkio.throttle.read_iops_device') === `${major}:${minor} 300`, 'read_iops_device');
        check(
          cgRead(d!, 'blkio.throttle.write_iops_device') === `${major}:${minor} 400`,
          'write_iops_device',
        );
      },
    );
  });
  if (kind === 'absolute') {
    add(source('blkio'), 'cgroups (absolute path): blkio weight', async (c) => {
      await withCgroup(c, ['blkio'], { blockIO: { weight: 500 } }, ({ blkio: d }) => {
        check(cgRead(d!, 'blkio.weight') === '500', 'blkio.weight');
      });
    });
  }
  add(source('devices'), `cgroups (${kind} path): devices allow list`, async (c) => {
    await withCgroup(
      c,
      ['devices'],
      {
        devices: [
          { allow: false, access: 'rwm' },
          { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' },
          { allow: true, type: 'b', major: 8, minor: 0, access: 'r' },
        ],
      },
      ({ devices: d }) => {
        const list = cgRead(d!, 'devices.list').split('\n');
        check(list.includes('c 10:229 rw'), `devices.list lacks c 10:229 rw: ${list.join(', ')}`);
        check(list.includes('b 8:0 r'), `devices.list lacks b 8:0 r: ${list.join(', ')}`);
        check(!list.includes('a *:* rwm'), 'devices.list still allows everything');
      },
    );
  });
}

/** A real block device of this machine (major:minor), for the blkio throttle rules. */
function blockDevice(): [number, number] {
  const root = statSync('/');
  const major = Math.floor(root.dev / 256) & 0xfff;
  const minor = (root.dev & 0xff) | ((root.dev >> 12) & 0xfff00);
  // a partition's parent disk when the root is on a partition: throttle accepts whole disks
  const sys = readIf(`/sys/dev/block/${major}:${minor}/../dev`)?.trim();
  if (sys) {
    const [a, b] = sys.split(':').map(Number);
    return [a!, b!];
  }
  return [major, minor];
}

cgroupCases('absolute', (w) => `validation/linux_cgroups_${w}/linux_cgroups_${w}.go`);
cgroupCases('relative', (w) => `validation/linux_cgroups_relative_${w}/linux_cgroups_relative_${w}.go`);

export const CASES: readonly ConformanceCase[] = cases;
