// Needs root: a real container and the native helper's resumable exec session (its reaper
// runs in the container's PID namespace, after the helper has joined the container).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { Runtime } from '../src/container/runtime.ts';
import { busyboxRootfs, deleteAll, makeBundle, removeScratch, scratch } from './fixtures.ts';

let base: string;
let rootfs: string;
let rt: Runtime;

beforeAll(() => {
  base = scratch();
  rootfs = busyboxRootfs(base);
  rt = new Runtime({ root: join(base, 'state'), cgroups: false });
});
afterEach(async () => deleteAll(rt));
afterAll(() => removeScratch(base));

/** /proc/<pid>/stat with arg_start and arg_end (fields 48, 49) where nothing is mapped. */
function fakeStat(): string {
  const fields = ['1', '(sh)', 'S'];
  for (let f = 4; f <= 52; f++) fields.push(f === 48 ? '4096' : f === 49 ? '1048576' : '0');
  return fields.join(' ');
}

describe('resumable exec session', () => {
  test("its reaper takes nothing from the container's /proc (a container may mount its own)", async () => {
    const cid = `berth-test-${process.pid}-session-proc`;
    const startedAt = Math.floor(Date.now() / 1000) * 1000; // the exit record counts milliseconds
    const bundle = makeBundle(base, 'fakeproc', rootfs, (c) => {
      const caps = c.process!.capabilities!;
      for (const set of [caps.bounding, caps.effective, caps.permitted]) set!.push('CAP_SYS_ADMIN');
      delete c.linux!.seccomp; // as a privileged container has it
      c.process!.args = [
        'sh',
        '-c',
        `mount -t tmpfs none /proc && mkdir /proc/self && echo '${fakeStat()}' > /proc/self/stat && exec sleep 60`,
      ];
    });
    await rt.create(cid, { bundle, stdio: 'ignore' });
    await rt.start(cid);
    const pid = rt.state(cid).pid;
    for (let i = 0; i < 100 && !readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep'); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toBe('sleep\u000060\u0000');
    const r = await rt.exec(cid, {
      process: {
        terminal: true,
        args: ['sleep', '60'],
        cwd: '/',
        user: { uid: 0, gid: 0 },
        env: ['PATH=/bin'],
      },
      stdio: 'ignore',
      attachSocket: join(base, 'state', 'fakeproc.sock'),
      scrollbackBytes: 65536,
      exitFile: join(base, 'fakeproc.exit'),
    });
    // The session lives: its reaper did not write where the container's /proc said.
    const outcome = await Promise.race([
      r.exit.then(
        (code) => `ended ${code}`,
        (e: Error) => `ended: ${e.message}`,
      ),
      new Promise((res) => setTimeout(() => res('running'), 2000)),
    ]);
    expect(outcome).toBe('running');
    // And it shows as what it is, without the helper's host path.
    expect(readFileSync(`/proc/${r.pid}/cmdline`, 'utf8').replace(/\0+$/, '')).toBe('berth-reaper');
    // Its process killed with the container: the exit file says how, and when (as a
    // container's exit record does).
    await rt.kill(cid, 'SIGKILL');
    await r.exit.catch(() => {});
    const exit = JSON.parse(readFileSync(join(base, 'fakeproc.exit'), 'utf8'));
    expect(exit).toMatchObject({ exitCode: -1, signal: 9 });
    expect(Date.parse(exit.exitedAt)).toBeGreaterThanOrEqual(startedAt);
  });
});
