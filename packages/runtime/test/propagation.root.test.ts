// Root (mounts on the host, privileged and user-namespaced containers): nothing a container
// does with its mounts reaches the host, whatever rootfsPropagation its config asks for. The
// rootfs sits on a shared mount of the test's own (as everything does on a host booted by
// systemd, whose / is shared), and the container does what systemd does as PID 1 on a host
// (`mount --make-rshared /`) and then mounts a tmpfs and a bind: the host's mount table must
// not gain a single entry. The image store's container roots (overlay on idmapped layers, what
// berthd runs containers on) are private mounts on the host even under a shared parent.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Runtime } from '../src/container/runtime.ts';
import { ensureBuiltinImage } from '../src/image/builtin.ts';
import { ImageStore } from '../src/image/store.ts';
import type { OciConfig } from '../src/spec/config.ts';
import { busyboxRootfs, deleteAll, makeBundle, removeScratch, runCaptured, scratch } from './fixtures.ts';

const TAG = `berth-test-leak-${process.pid}`;
const HOST_ID = 3_100_000;
const SIZE = 65_536;

let base: string;
let shared: string;
let rootfs: string;
let rt: Runtime;

/** The host's mount entries that are ours: under the scratch dir, or the container's tmpfs. */
function ourHostMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => {
      const f = l.split(' ');
      return (f[4] ?? '').startsWith(base) || l.includes(TAG);
    })
    .map((l) => l.split(' ').slice(4).join(' ')); // mount point onward: ids differ per read
}

/** Lazily unmounts everything under dir (also what a leak stacked there), deepest first. */
function unmountAllUnder(dir: string): void {
  for (let round = 0; round < 10; round++) {
    const points = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((m) => m.startsWith(dir))
      .sort()
      .reverse();
    if (points.length === 0) return;
    for (const m of points) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  }
}

beforeAll(() => {
  base = scratch();
  chmodSync(base, 0o755); // the user-namespaced container's root reaches its rootfs
  shared = join(base, 'shared');
  mkdirSync(shared);
  execFileSync('mount', ['--bind', shared, shared]);
  execFileSync('mount', ['--make-shared', shared]);
  rootfs = busyboxRootfs(shared);
  for (const d of ['mnt/tmpfs', 'mnt/bind']) mkdirSync(join(rootfs, d), { recursive: true });
  rt = new Runtime({ root: join(base, 'state'), cgroups: false });
});

afterAll(async () => {
  if (rt) await deleteAll(rt);
  if (base) {
    unmountAllUnder(base);
    removeScratch(base);
  }
});

const SCRIPT = [
  'mount --make-rshared /',
  `mount -t tmpfs ${TAG} /mnt/tmpfs`,
  'mount --bind /bin /mnt/bind',
  'grep -E " / |/mnt/" /proc/self/mountinfo',
  'echo mounted',
].join(' && ');

const PROPAGATIONS = [undefined, 'private', 'rprivate', 'slave', 'rslave', 'shared', 'rshared'] as const;

describe('mount propagation', () => {
  for (const userns of [false, true])
    for (const propagation of PROPAGATIONS)
      test(`${userns ? 'user-namespaced' : 'privileged'} container, rootfsPropagation ${propagation ?? '(default)'}: its mounts never reach the host`, async () => {
        const before = ourHostMounts();
        expect(before).toEqual([expect.stringMatching(/ shared:\d+ /)]); // the test's shared mount
        const id = `prop-${userns ? 'u' : 'p'}-${propagation ?? 'default'}`;
        const bundle = makeBundle(base, id, rootfs, (c: OciConfig) => {
          c.process!.args = ['sh', '-c', SCRIPT];
          const caps = c.process!.capabilities!;
          for (const set of ['bounding', 'effective', 'permitted'] as const) caps[set]!.push('CAP_SYS_ADMIN');
          delete c.linux!.seccomp; // mount(2) is what this test is about
          if (propagation) c.linux!.rootfsPropagation = propagation;
          if (userns) {
            c.linux!.namespaces!.push({ type: 'user' });
            c.linux!.uidMappings = [{ containerID: 0, hostID: HOST_ID, size: SIZE }];
            c.linux!.gidMappings = [{ containerID: 0, hostID: HOST_ID, size: SIZE }];
          }
        });
        try {
          const run = await runCaptured(rt, id, bundle);
          // The container did mount both, on a / it made shared.
          expect(run.out).toContain('mounted');
          expect(run.out).toMatch(/ \/ .* shared:\d+/);
          expect(run.out).toContain('/mnt/tmpfs');
          expect(ourHostMounts()).toEqual(before); // run() has deleted the container
        } finally {
          unmountAllUnder(rootfs); // what a leak stacked there, so the next case starts clean
        }
      });
});

describe('container roots of the image store', () => {
  test('an overlay root on idmapped layers under a shared mount joins no peer group, and a container on it leaks nothing', async () => {
    const store = new ImageStore(join(shared, 'images'));
    const image = await ensureBuiltinImage(store);
    const id = 'prop-root';
    const idmap = {
      uidMap: [{ containerID: 0, hostID: HOST_ID, size: SIZE }],
      gidMap: [{ containerID: 0, hostID: HOST_ID, size: SIZE }],
    };
    const before = ourHostMounts();
    try {
      const { rootfs: root } = await store.createRootfs(id, image.digest, { idmap });
      chmodSync(store.dir, 0o711);
      chmodSync(join(store.dir, 'roots'), 0o711);
      chmodSync(join(store.dir, 'roots', id), 0o711);
      mkdirSync(join(root.path, 'mnt/tmpfs'), { recursive: true });
      mkdirSync(join(root.path, 'mnt/bind'), { recursive: true });
      // Its directory (a private bind of itself) and the overlay: on the host, and none of them
      // shared. (The idmapped layer is a detached mount the overlay was given as an fd: in no
      // mount table.)
      const mounted = ourHostMounts().filter((m) => !before.includes(m));
      const dir = join(store.roots.dir, id);
      expect(mounted.map((m) => m.split(' ')[0]).sort()).toEqual([dir, root.path].sort());
      for (const m of mounted) expect(m).not.toMatch(/ (shared|master):\d+/);
      const bundle = makeBundle(base, id, root.path, (c: OciConfig) => {
        c.root.readonly = false;
        c.process!.args = ['sh', '-c', SCRIPT];
        const caps = c.process!.capabilities!;
        for (const set of ['bounding', 'effective', 'permitted'] as const) caps[set]!.push('CAP_SYS_ADMIN');
        delete c.linux!.seccomp;
        c.linux!.rootfsPropagation = 'rshared';
        c.linux!.namespaces!.push({ type: 'user' });
        c.linux!.uidMappings = [{ containerID: 0, hostID: HOST_ID, size: SIZE }];
        c.linux!.gidMappings = [{ containerID: 0, hostID: HOST_ID, size: SIZE }];
      });
      const afterMount = ourHostMounts();
      const run = await runCaptured(rt, id, bundle);
      expect(run.out).toContain('mounted');
      expect(ourHostMounts()).toEqual(afterMount);
      await store.removeRootfs(id);
      expect(ourHostMounts()).toEqual(before);
    } finally {
      await store.removeRootfs(id).catch(() => {});
    }
  });
});
