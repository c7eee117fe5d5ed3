// Root: a Debian system container end to end through the bundled CLI against the real bundled
// berthd: systemd boots as PID 1 in a user namespace to running (or degraded), journalctl
// works, services start, `berth stop` halts it with SIGRTMIN+3 well within the stop timeout,
// and `berth rm` leaves no mount, cgroup or state behind. The Debian image comes from the
// debootstrap build the runtime's system test caches under /var/cache/berth-test-debian (made
// once, about 90 s), exported and imported into this berthd's store.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerInfo } from '@berth/contracts';
import { buildDebianImage, ImageStore } from '@berth/runtime/image';
import { expect, it } from 'vitest';
import { hostMountsOf, useTaggedBerthd } from './harness.ts';

const TAG = `berth-test-clisys-${process.pid}`;
const DEBIAN_STORE = '/var/cache/berth-test-debian/images';
const IMAGE = 'berth.local/debian:bookworm';
/** Seconds berthd waits after SIGRTMIN+3 before killing: generous, a halt takes ~1 s here. */
const STOP_TIMEOUT = 120;

const agent = useTaggedBerthd(TAG, {}, async (dir) => {
  const store = new ImageStore(DEBIAN_STORE);
  const image = await buildDebianImage(store);
  await store.exportToDir(image.digest, join(dir, 'debian-oci'));
});
const { berth, ok } = agent;
const ourHostMounts = () => hostMountsOf(agent.dir, TAG);

async function inspect(name: string): Promise<ContainerInfo> {
  return JSON.parse(await ok('inspect', name)) as ContainerInfo;
}

/** Every cgroup directory of the container's, on every hierarchy (v1, named and unified). */
function cgroupDirs(id: string): string[] {
  return readdirSync('/sys/fs/cgroup')
    .map((h) => join('/sys/fs/cgroup', h, TAG, id))
    .filter((p) => existsSync(p));
}

/** `systemctl is-system-running` until it leaves the boot states (or `ms` pass). */
async function bootState(name: string, ms: number): Promise<string> {
  const deadline = Date.now() + ms;
  let state = '';
  while (Date.now() < deadline) {
    const r = await berth('exec', name, '--', 'systemctl', 'is-system-running');
    state = r.stdout.trim();
    // "offline" is also what it says before systemd's bus is up, "unknown" when systemd (busy
    // booting on a loaded machine) does not answer in time; "" while exec itself failed.
    if (!['', 'initializing', 'starting', 'offline', 'unknown'].includes(state)) return state;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return state;
}

it('a Debian system container boots systemd to running, runs services, stops on SIGRTMIN+3 and leaves nothing', async () => {
  await ok('image', 'import', join(agent.dir, 'debian-oci'), '--reference', IMAGE);
  const before = ourHostMounts();
  await ok('launch', '--system', '--stop-timeout', String(STOP_TIMEOUT), IMAGE, 'deb');
  const c = await inspect('deb');
  expect(c.state).toBe('running');

  const state = await bootState('deb', 300_000);
  if (!['running', 'degraded'].includes(state)) {
    const why = await berth(
      'exec',
      'deb',
      '--',
      'sh',
      '-c',
      'systemctl --failed --no-pager; systemctl list-jobs --no-pager',
    );
    throw new Error(
      `systemd says ${JSON.stringify(state)}:\n${why.stdout}${why.stderr}\nconsole:\n${(await berth('logs', 'deb')).stdout}`,
    );
  }
  // PID 1 is systemd, in its own cgroup subtree.
  expect((await ok('exec', 'deb', '--', 'cat', '/proc/1/comm')).trim()).toBe('systemd');
  expect(await ok('exec', 'deb', '--', 'cat', '/proc/1/cgroup')).toMatch(/:\/init\.scope$/m);

  // The journal answers through exec.
  const journal = await berth(
    'exec',
    'deb',
    '--',
    'journalctl',
    '--no-pager',
    '-b',
    '-u',
    'systemd-journald',
  );
  expect(journal.code).toBe(0);
  expect(journal.stdout).toMatch(/journal/i);

  // A service starts (a transient unit), runs in its own cgroup, logs to the journal and stops.
  await ok(
    'exec',
    'deb',
    '--',
    'systemd-run',
    '--unit',
    'berth-hello',
    '/bin/sh',
    '-c',
    'echo hello from a service; exec sleep 600',
  );
  expect((await ok('exec', 'deb', '--', 'systemctl', 'is-active', 'berth-hello')).trim()).toBe('active');
  const unitPid = (await ok('exec', 'deb', '--', 'systemctl', 'show', '-P', 'MainPID', 'berth-hello')).trim();
  expect(await ok('exec', 'deb', '--', 'cat', `/proc/${unitPid}/cgroup`)).toMatch(/berth-hello\.service$/m);
  let logged = '';
  for (let i = 0; i < 120 && !logged.includes('hello from a service'); i++) {
    logged = (await berth('exec', 'deb', '--', 'journalctl', '--no-pager', '-u', 'berth-hello')).stdout;
    if (!logged.includes('hello from a service')) await new Promise((r) => setTimeout(r, 500));
  }
  expect(logged).toContain('hello from a service');
  await ok('exec', 'deb', '--', 'systemctl', 'stop', 'berth-hello');
  expect((await berth('exec', 'deb', '--', 'systemctl', 'is-active', 'berth-hello')).stdout.trim()).toBe(
    'inactive',
  );

  // Even a make-rshared / and mounts in the container's mount namespace stay there.
  const mountsRunning = ourHostMounts();
  const m = spawnSync(
    'nsenter',
    [
      '-t',
      String(c.pid),
      '-U',
      '-m',
      '-p',
      'sh',
      '-c',
      `mount --make-rshared / && mount -t tmpfs ${TAG} /mnt`,
    ],
    { encoding: 'utf8' },
  );
  expect(m.status, m.stderr).toBe(0);
  expect(ourHostMounts()).toEqual(mountsRunning);

  // SIGRTMIN+3: systemd halts and exits by itself, long before berthd would kill it.
  const t0 = Date.now();
  await ok('stop', 'deb');
  const stopped = await inspect('deb');
  expect(stopped.state).toBe('stopped');
  expect(stopped.exitCode).toBe(0); // a halt, not a kill (137)
  expect(Date.now() - t0).toBeLessThan(STOP_TIMEOUT * 1000);

  await ok('rm', 'deb');
  expect(JSON.parse(await ok('ls', '--format', 'json'))).toEqual([]);
  expect(ourHostMounts()).toEqual(before);
  expect(cgroupDirs(c.id)).toEqual([]);
  for (const d of ['containers', 'runtime', 'images/roots'])
    expect(existsSync(join(agent.dir, 'state', d, c.id)), `${d}/${c.id}`).toBe(false);
  const execDir = join(agent.dir, 'state', 'exec');
  expect(existsSync(execDir) ? readdirSync(execDir) : [], 'exec sessions').toEqual([]);
}, 600_000);
