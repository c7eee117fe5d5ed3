// Root: a container that berthd runs can do nothing with its mounts that reaches the host, even
// on a host whose / is shared (systemd's default): here berthd's state dir sits on a shared
// mount of the test's own. A privileged process in the container's mount namespace makes its
// / rshared (what systemd does as PID 1 on a host) and mounts a tmpfs and a bind; the host's
// mount table gains nothing, and berthd's own mounts for the container (its root's directory,
// the idmapped layer, the overlay) belong to no peer group.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerInfo } from '@berth/contracts';
import { expect, it } from 'vitest';
import { hostMountsOf, useTaggedBerthd } from './harness.ts';

const TAG = `berth-test-cliprop-${process.pid}`;

const agent = useTaggedBerthd(TAG, { stopTimeoutSec: 2 }, (dir) => {
  // The state dir on a shared mount, as everything is on a systemd host.
  mkdirSync(join(dir, 'state'));
  execFileSync('mount', ['--bind', join(dir, 'state'), join(dir, 'state')]);
  execFileSync('mount', ['--make-shared', join(dir, 'state')]);
});
const { berth } = agent;
const ourHostMounts = () => hostMountsOf(agent.dir, TAG);

it('nothing the container mounts, even on a / it made rshared, reaches the host', async () => {
  const before = ourHostMounts();
  expect(before).toEqual([expect.stringMatching(/ shared:\d+ /)]); // the state dir's own mount
  const launched = await berth('launch', 'busybox', 'prop', '--', 'sleep', '600');
  expect(launched.stderr).toBe('');
  const info = (JSON.parse((await berth('ls', '--format', 'json')).stdout) as ContainerInfo[])[0]!;
  expect(info.pid).toBeGreaterThan(0);

  const mounted = ourHostMounts().filter((m) => !before.includes(m));
  // The root's private bind and its overlay; an idmapped layer is a mount of its own under
  // lower/<n> only on kernels before 6.13 (later, overlayfs takes it as an fd, unattached).
  const points = mounted.map((m) => m.split(' ')[0]!.replace(/.*\/roots\/[^/]+/, 'ROOT')).sort();
  expect(points.filter((p) => !/^ROOT\/lower\/\d+$/.test(p))).toEqual(['ROOT', 'ROOT/rootfs']);
  for (const m of mounted) expect(m).not.toMatch(/ (shared|master):\d+/);

  // The container's root in its own mount namespace: all capabilities there (host root).
  const r = spawnSync(
    'nsenter',
    [
      '-t',
      String(info.pid),
      '-m',
      '-p', // its /proc shows its own pid namespace
      'sh',
      '-c',
      `mount --make-rshared / && mkdir -p /mnt/t /mnt/b && mount -t tmpfs ${TAG} /mnt/t && mount --bind /bin /mnt/b && grep -E " / |/mnt/" /proc/self/mountinfo`,
    ],
    { encoding: 'utf8' },
  );
  expect(r.stderr).toBe('');
  expect(r.stdout).toMatch(/ \/ .* shared:\d+/);
  expect(r.stdout).toContain(`/mnt/t`);
  expect(ourHostMounts()).toEqual([...before, ...mounted]);

  const removed = await berth('rm', '-f', 'prop');
  expect(removed.stderr).toBe('');
  expect(ourHostMounts()).toEqual(before);
}, 120_000);
