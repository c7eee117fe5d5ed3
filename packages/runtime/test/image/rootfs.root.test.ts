// Root: container roots are overlayfs mounts (and idmapped mounts) made with the real kernel.
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BUILTIN_REFERENCE, ensureBuiltinImage } from '../../src/image/builtin.ts';
import { isImageError } from '../../src/image/errors.ts';
import { mountsUnder } from '../../src/image/rootfs.ts';
import { ImageStore } from '../../src/image/store.ts';
import { cleanupDir, makeTar, makeTempDir } from './helpers.ts';

let tmp: string;
let store: ImageStore;
beforeEach(() => {
  tmp = makeTempDir('rootfs');
  store = new ImageStore(join(tmp, 'images'));
});
afterEach(() => cleanupDir(tmp));

async function twoLayerImage(s: ImageStore, reference = 'berth.local/test/two:1') {
  const base = await makeTar([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/keep', content: 'keep\n' },
    { name: 'etc/gone', content: 'gone\n' },
    { name: 'var/', type: 'directory' },
    { name: 'var/old', content: 'old\n' },
    { name: 'home/', type: 'directory' },
    { name: 'home/user', content: 'u\n', uid: 1000, gid: 1000 },
  ]);
  const top = await makeTar([
    { name: 'etc/.wh.gone', content: '' },
    { name: 'var/', type: 'directory' },
    { name: 'var/.wh..wh..opq', content: '' },
    { name: 'var/new', content: 'new\n' },
  ]);
  return s.addLocalImage({ layers: [base, top], config: { Cmd: ['/bin/sh'] }, reference, source: 'archive' });
}

/** This process's descendants (pid, ppid, command), ps itself left out. */
function descendants(): string[][] {
  const procs = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/));
  const mine = new Set([String(process.pid)]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of procs)
      if (mine.has(ppid!) && !mine.has(pid!)) {
        mine.add(pid!);
        grew = true;
      }
  }
  return procs.filter(([pid, , cmd]) => mine.has(pid!) && pid !== String(process.pid) && cmd !== 'ps');
}

function expectMergedView(root: string, varEntries = ['new']) {
  expect(readFileSync(join(root, 'etc/keep'), 'utf8')).toBe('keep\n');
  expect(existsSync(join(root, 'etc/gone'))).toBe(false);
  expect(readdirSync(join(root, 'var')).sort()).toEqual(varEntries);
}

describe('container roots', () => {
  it('mounts an overlay of shared layers; writes land in the container upper dir; removal keeps the layers', async () => {
    const img = await twoLayerImage(store);
    const { rootfs } = await store.createRootfs('c1', 'berth.local/test/two:1');
    expect(rootfs.mode).toBe('overlay');
    expect(store.roots.isMounted('c1')).toBe(true);
    expect(statSync(rootfs.path).mode & 0o7777).toBe(0o755);
    expect(statSync(store.layers.path(img.layers[0]!.diffId)).mode & 0o7777).toBe(0o755);
    expectMergedView(rootfs.path);
    writeFileSync(join(rootfs.path, 'etc/keep'), 'changed\n');
    expect(readFileSync(join(rootfs.upper, 'etc/keep'), 'utf8')).toBe('changed\n');
    const baseLayer = store.layers.path(img.layers[0]!.diffId);
    expect(readFileSync(join(baseLayer, 'etc/keep'), 'utf8')).toBe('keep\n');
    // A second container from the same image sees the image, not the first one's change.
    const { rootfs: r2 } = await store.createRootfs('c2', img.digest);
    expect(readFileSync(join(r2.path, 'etc/keep'), 'utf8')).toBe('keep\n');
    await store.removeRootfs('c1');
    expect(existsSync(join(store.roots.dir, 'c1'))).toBe(false);
    expect(readFileSync(join(baseLayer, 'etc/keep'), 'utf8')).toBe('keep\n');
    await store.removeRootfs('c2');
    const dup = await store.createRootfs('c3', img.digest);
    const again = await store.createRootfs('c3', img.digest).catch((e) => e);
    expect(isImageError(again, 'in_use')).toBe(true);
    await store.removeRootfs(dup.rootfs.id);
  });

  it("removes a big root without stopping the caller's event loop", async () => {
    const img = await twoLayerImage(store);
    const { rootfs } = await store.createRootfs('big', img.digest);
    for (let d = 0; d < 40; d++) {
      mkdirSync(join(rootfs.path, 'data', String(d)), { recursive: true });
      for (let f = 0; f < 500; f++) writeFileSync(join(rootfs.path, 'data', String(d), String(f)), 'x');
    }
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    let settled = false;
    const removal = store.removeRootfs('big').finally(() => {
      settled = true;
    });
    // 20,000 files take a while to delete: the loop turns meanwhile (a synchronous delete
    // would have finished before the first tick).
    while (ticks < 3 && !settled) await new Promise((r) => setTimeout(r, 1));
    clearInterval(timer);
    expect(settled).toBe(false);
    await removal;
    expect(existsSync(join(store.roots.dir, 'big'))).toBe(false);
    expect(readdirSync(store.roots.dir).filter((f) => f.startsWith('.tmp-'))).toEqual([]);
  });

  it('mounts a root again after it was unmounted (host reboot), with the container changes kept', async () => {
    const img = await twoLayerImage(store);
    const { rootfs } = await store.createRootfs('reboot', img.digest);
    writeFileSync(join(rootfs.path, 'var/mine'), 'kept\n');
    store.roots.unmount('reboot');
    expect(store.roots.isMounted('reboot')).toBe(false);
    // A store opened afresh (the agent restarted) finds the root and mounts it.
    const reopened = new ImageStore(join(tmp, 'images'));
    await reopened.mountRootfs('reboot');
    expect(readFileSync(join(rootfs.path, 'var/mine'), 'utf8')).toBe('kept\n');
    expectMergedView(rootfs.path, ['mine', 'new']);
    await reopened.removeRootfs('reboot');
  });

  it('falls back to a flattened copy with the same view', async () => {
    await twoLayerImage(store);
    const { rootfs } = await store.createRootfs('copy1', 'berth.local/test/two:1', { mode: 'copy' });
    expect(rootfs.mode).toBe('copy');
    expect(store.roots.isMounted('copy1')).toBe(false);
    expectMergedView(rootfs.path);
    expect(statSync(join(rootfs.path, 'home/user')).uid).toBe(1000);
    await store.removeRootfs('copy1');
  });

  it('presents ownership shifted into a user namespace range through idmapped layers (layers unchanged)', async () => {
    const img = await twoLayerImage(store);
    const idmap = {
      uidMap: [{ containerID: 0, hostID: 200000, size: 65536 }],
      gidMap: [{ containerID: 0, hostID: 200000, size: 65536 }],
    };
    const { rootfs } = await store.createRootfs('shifted', img.digest, { idmap });
    expect(statSync(join(rootfs.path, 'etc/keep')).uid).toBe(200000);
    expect(statSync(join(rootfs.path, 'home/user')).uid).toBe(201000);
    expect(statSync(join(rootfs.path)).uid).toBe(200000);
    expect(statSync(join(store.layers.path(img.layers[0]!.diffId), 'home/user')).uid).toBe(1000);
    expectMergedView(rootfs.path);
    // The layers are detached idmapped mounts handed to overlayfs as fds: nothing under lower/.
    const dir = join(store.roots.dir, 'shifted');
    expect(mountsUnder(dir)).toEqual([rootfs.path, dir]);
    await store.removeRootfs('shifted');
    const { rootfs: copy } = await store.createRootfs('shifted-copy', img.digest, { idmap, mode: 'copy' });
    expect(statSync(join(copy.path, 'home/user')).uid).toBe(201000);
    await store.removeRootfs('shifted-copy');
    // Kernels before 6.13 (overlayfs takes no fds): each layer attached under lower/<n>.
    const legacy = new ImageStore(join(tmp, 'images'), { forceLegacyMount: true });
    const { rootfs: old } = await legacy.createRootfs('shifted-old', img.digest, { idmap });
    expect(statSync(join(old.path, 'home/user')).uid).toBe(201000);
    expectMergedView(old.path);
    const oldDir = join(legacy.roots.dir, 'shifted-old');
    expect(mountsUnder(oldDir).sort()).toEqual(
      [oldDir, join(oldDir, 'lower/0'), join(oldDir, 'lower/1'), old.path].sort(),
    );
    await legacy.removeRootfs('shifted-old');
    expect(mountsUnder(oldDir)).toEqual([]);
  });

  it('a layer deleted and unpacked again is shown through a new idmapped view, not the kept one', async () => {
    const idmap = {
      uidMap: [{ containerID: 0, hostID: 500000, size: 65536 }],
      gidMap: [{ containerID: 0, hostID: 500000, size: 65536 }],
    };
    const img = await twoLayerImage(store);
    await store.createRootfs('first', img.digest, { idmap });
    await store.removeRootfs('first');
    await store.remove('berth.local/test/two:1');
    expect((await store.gc()).layers).toHaveLength(2);
    const again = await twoLayerImage(store);
    expect(again.layers).toEqual(img.layers);
    const { rootfs } = await store.createRootfs('second', again.digest, { idmap });
    expectMergedView(rootfs.path);
    expect(statSync(join(rootfs.path, 'home/user')).uid).toBe(501000);
    await store.removeRootfs('second');
  });

  it('a lease written without a flush (durable: false) that a power loss emptied is found, fails gc safe, and is restored', async () => {
    const img = await twoLayerImage(store);
    const layers = img.layers.map((l) => l.diffId);
    const idmap = {
      uidMap: [{ containerID: 0, hostID: 600000, size: 65536 }],
      gidMap: [{ containerID: 0, hostID: 600000, size: 65536 }],
    };
    const r = await store.roots.create({ id: 'lost', layers, image: img.digest, idmap, durable: false });
    writeFileSync(join(r.path, 'var/mine'), 'kept\n');
    expect(store.roots.get('lost')).toMatchObject({ layers, mode: 'overlay', idmap });
    // The power loss: the directory made it to disk, the lease's bytes did not.
    store.roots.unmount('lost');
    writeFileSync(join(store.roots.dir, 'lost', 'lease.json'), '');
    const reopened = new ImageStore(join(tmp, 'images'));
    const unreadable = (() => {
      try {
        return reopened.roots.get('lost');
      } catch (e) {
        return e;
      }
    })();
    expect(isImageError(unreadable, 'corrupt'), String(unreadable)).toBe(true);
    // (A file where a root would be is no root, as before.)
    writeFileSync(join(reopened.roots.dir, 'stray'), '');
    expect(reopened.roots.get('stray')).toBeUndefined();
    expect(reopened.roots.unreadable()).toEqual(['lost']);
    // Garbage collection cannot know the layers the root uses: it refuses rather than guess.
    await reopened.remove('berth.local/test/two:1');
    const gc = await reopened.gc().catch((e) => e);
    expect(isImageError(gc, 'corrupt'), String(gc)).toBe(true);
    for (const d of layers) expect(reopened.layers.has(d)).toBe(true);
    // Its owner's records say what the lease said.
    const restored = reopened.roots.restoreLease({ id: 'lost', image: img.digest, layers, idmap });
    expect(restored).toMatchObject({
      mode: 'overlay',
      layers,
      upper: join(reopened.roots.dir, 'lost', 'upper'),
    });
    expect(reopened.roots.unreadable()).toEqual([]);
    expect((await reopened.gc()).layers).toEqual([]);
    await reopened.mountRootfs('lost');
    expect(readFileSync(join(r.path, 'var/mine'), 'utf8')).toBe('kept\n');
    expect(statSync(join(r.path, 'home/user')).uid).toBe(601000);
    await reopened.removeRootfs('lost');
  });

  it("roots made at once share one kept idmapped view per layer; a deleted layer's views are closed", async () => {
    const img = await twoLayerImage(store);
    const idmap = {
      uidMap: [{ containerID: 0, hostID: 1200000, size: 65536 }],
      gidMap: [{ containerID: 0, hostID: 1200000, size: 65536 }],
    };
    // This process's fds open on the store's layer directories (device and inode: a detached
    // view's link names no path).
    const dirs = new Set(
      img.layers.map((l) => {
        const st = statSync(store.layers.path(l.diffId));
        return `${st.dev}:${st.ino}`;
      }),
    );
    const layerFds = () =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          const st = statSync(join('/proc/self/fd', fd));
          return dirs.has(`${st.dev}:${st.ino}`);
        } catch {
          return false; // the listing's own fd, closed by now
        }
      });
    expect(layerFds()).toEqual([]);
    const ids = ['share0', 'share1', 'share2', 'share3'];
    const roots = await Promise.all(ids.map((id) => store.createRootfs(id, img.digest, { idmap })));
    for (const { rootfs } of roots) expect(statSync(join(rootfs.path, 'home/user')).uid).toBe(1201000);
    expect(layerFds()).toHaveLength(img.layers.length);
    for (const id of ids) await store.removeRootfs(id);
    expect(layerFds()).toHaveLength(img.layers.length); // kept for the next root with this range
    await store.remove('berth.local/test/two:1');
    expect((await store.gc()).layers).toHaveLength(img.layers.length);
    expect(layerFds()).toEqual([]);
  });

  it('roots made at once needing more idmapped views than are kept each mount every layer (none closed under them)', async () => {
    const layers: Buffer[] = [];
    for (let i = 0; i < 100; i++) layers.push(await makeTar([{ name: `l${i}`, content: `${i}` }]));
    const img = await store.addLocalImage({
      layers,
      config: {},
      reference: 'berth.local/test/hundred:1',
      source: 'archive',
    });
    const range = (hostID: number) => ({
      uidMap: [{ containerID: 0, hostID, size: 65536 }],
      gidMap: [{ containerID: 0, hostID, size: 65536 }],
    });
    // 3 ranges x 100 layers: more views than the 256 kept, so views go while others are made.
    // The ranges' user namespaces made first, so the three roots' views are made interleaved.
    const bases = [1300000, 1400000, 1500000];
    const small = await twoLayerImage(store);
    for (const base of bases) {
      await store.createRootfs('warm', small.digest, { idmap: range(base) });
      await store.removeRootfs('warm');
    }
    const roots = await Promise.all(
      bases.map((base, i) => store.createRootfs(`evict${i}`, img.digest, { idmap: range(base) })),
    );
    for (const [i, { rootfs }] of roots.entries()) {
      expect(readdirSync(rootfs.path)).toHaveLength(100);
      expect(readFileSync(join(rootfs.path, 'l0'), 'utf8')).toBe('0');
      expect(statSync(join(rootfs.path, 'l99')).uid).toBe(bases[i]);
    }
    for (const { rootfs } of roots) await store.removeRootfs(rootfs.id);
  });

  it('a failed first fd-based mount that is not EINVAL leaves the idmapped views in use for the next root', async () => {
    const img = await twoLayerImage(store);
    const idmap = {
      uidMap: [{ containerID: 0, hostID: 1600000, size: 65536 }],
      gidMap: [{ containerID: 0, hostID: 1600000, size: 65536 }],
    };
    await store.createRootfs('broken', img.digest, { idmap });
    store.roots.unmount('broken');
    rmSync(join(store.roots.dir, 'broken', 'work'), { recursive: true });
    // A store whose first fd-based mount is this one, which fails for want of its work dir.
    const again = new ImageStore(join(tmp, 'images'));
    const failed = await again.mountRootfs('broken').catch((e) => e);
    expect(isImageError(failed, 'mount_failed'), String(failed)).toBe(true);
    const { rootfs } = await again.createRootfs('next', img.digest, { idmap });
    const dir = join(again.roots.dir, 'next');
    expect(mountsUnder(dir)).toEqual([rootfs.path, dir]); // views as fds: nothing under lower/
    expect(statSync(join(rootfs.path, 'home/user')).uid).toBe(1601000);
    await again.removeRootfs('next');
    await again.removeRootfs('broken');
  });

  it("keeps each range's user namespace for the next root: a range that comes back, and another beside it", async () => {
    const img = await twoLayerImage(store);
    const range = (hostID: number) => ({
      uidMap: [{ containerID: 0, hostID, size: 65536 }],
      gidMap: [{ containerID: 0, hostID: hostID + 1, size: 65536 }],
    });
    for (const [id, base] of [
      ['again1', 300000],
      ['other', 400000],
      ['again2', 300000],
    ] as const) {
      const { rootfs } = await store.createRootfs(id, img.digest, { idmap: range(base) });
      const st = statSync(join(rootfs.path, 'home/user'));
      expect([st.uid, st.gid]).toEqual([base + 1000, base + 1 + 1000]);
    }
    for (const id of ['again1', 'other', 'again2']) await store.removeRootfs(id);
  });

  it('makes the user namespaces of roots created at once together: each its own range, one for a shared range, no process left', async () => {
    const img = await twoLayerImage(store);
    const range = (hostID: number) => ({
      uidMap: [{ containerID: 0, hostID, size: 65536 }],
      gidMap: [{ containerID: 0, hostID: hostID + 7, size: 65536 }],
    });
    const bases = [700000, 800000, 900000, 1000000, 1100000, 700000];
    const roots = await Promise.all(
      bases.map((base, i) => store.createRootfs(`many${i}`, img.digest, { idmap: range(base) })),
    );
    for (const [i, { rootfs }] of roots.entries()) {
      const st = statSync(join(rootfs.path, 'home/user'));
      expect([st.uid, st.gid]).toEqual([bases[i]! + 1000, bases[i]! + 7 + 1000]);
    }
    // The holders of the namespaces are gone (only their fds keep the namespaces): soon no
    // process descends from this one (but ps).
    for (let tries = 0; descendants().length > 0 && tries < 100; tries++)
      await new Promise((r) => setTimeout(r, 20));
    expect(descendants()).toEqual([]);
    for (const { rootfs } of roots) await store.removeRootfs(rootfs.id);
  });

  it('mounts images with more layers than the one-page mount(2) options allow', async () => {
    const layers: Buffer[] = [];
    for (let i = 0; i < 120; i++) layers.push(await makeTar([{ name: `l${i}`, content: `${i}` }]));
    const img = await store.addLocalImage({
      layers,
      config: {},
      reference: 'berth.local/test/many:1',
      source: 'archive',
    });
    const { rootfs } = await store.createRootfs('many', img.digest);
    expect(readdirSync(rootfs.path)).toHaveLength(120);
    await store.removeRootfs('many');
    // Kernels without `lowerdir+`: mount(2) with short per-layer links instead of full paths.
    const legacy = new ImageStore(join(tmp, 'images'), { forceLegacyMount: true });
    const some = await legacy.addLocalImage({
      layers: layers.slice(0, 60),
      config: {},
      reference: 'berth.local/test/sixty:1',
      source: 'archive',
    });
    const longest = some.layers.map((l) => legacy.layers.path(l.diffId)).join(':').length;
    expect(longest).toBeGreaterThan(4096);
    const { rootfs: r60 } = await legacy.createRootfs('sixty', some.digest);
    expect(readdirSync(r60.path)).toHaveLength(60);
    await legacy.removeRootfs('sixty');
    const tooMany = await legacy.createRootfs('too-many', img.digest).catch((e) => e);
    expect(isImageError(tooMany, 'mount_failed'), String(tooMany)).toBe(true);
    expect(tooMany.message).toMatch(/mount options/);
    expect(existsSync(join(legacy.roots.dir, 'too-many'))).toBe(false);
  });

  it('garbage collection never removes a layer in use by a container root', async () => {
    const img = await twoLayerImage(store);
    const { rootfs } = await store.createRootfs('user', img.digest);
    await store.remove('berth.local/test/two:1');
    expect(await store.list()).toEqual([]);
    const first = await store.gc({ dangling: true });
    expect(first.layers).toEqual([]);
    for (const l of img.layers) expect(store.layers.has(l.diffId)).toBe(true);
    expectMergedView(rootfs.path);
    // Blobs of the removed image go; the unpacked layers stay while the root exists.
    expect(first.blobs).toContain(img.digest);
    await store.removeRootfs('user');
    const second = await store.gc();
    expect(second.layers.sort()).toEqual(img.layers.map((l) => l.diffId).sort());
    expect(store.layers.list()).toEqual([]);
    expect(store.blobs.list()).toEqual([]);
  });

  it('a root made while garbage collection runs keeps its image and layers (gc decides after its last await)', async () => {
    const img = await twoLayerImage(store);
    const layers = img.layers.map((l) => l.diffId);
    await store.remove('berth.local/test/two:1');
    await store.records.save({ ...img, references: [] }); // dangling: no reference, no root
    const gc = store.gc({ dangling: true });
    // The create's synchronous part (layers checked, root renamed into place) runs while gc
    // waits for the records.
    const made = store.roots.create({ id: 'racing', layers, image: img.digest });
    const result = await gc;
    const rootfs = await made;
    expect(result).toEqual({ layers: [], blobs: [], images: [] });
    expect(await store.records.get(img.digest)).toBeDefined();
    for (const d of layers) expect(store.layers.has(d)).toBe(true);
    expectMergedView(rootfs.path);
    // What an owner's records name is kept too (berthd's containers), read at the same moment.
    await store.removeRootfs('racing');
    expect((await store.gc({ dangling: true, keep: () => [img.digest] })).images).toEqual([]);
    expect((await store.gc({ dangling: true })).images).toEqual([img.digest]);
    expect(store.layers.list()).toEqual([]);
  });

  it('prunes images left dangling when their tag moved, keeping tagged ones and what they use', async () => {
    const a = await twoLayerImage(store, 'berth.local/test/a:1');
    const one = async (content: string) =>
      store.addLocalImage({
        layers: [await makeTar([{ name: 'b', content }])],
        config: {},
        reference: 'berth.local/test/b:1',
        source: 'archive',
      });
    const old = await one('old');
    const current = await one('new');
    expect((await store.inspect(old.digest)).references).toEqual([]);
    const r = await store.gc({ dangling: true });
    expect(r.images).toEqual([old.digest]);
    expect(r.layers).toEqual([old.layers[0]!.diffId]);
    expect((await store.list()).map((x) => x.digest).sort()).toEqual([a.digest, current.digest].sort());
    for (const l of [...a.layers, ...current.layers]) expect(store.layers.has(l.diffId)).toBe(true);
  });

  it('builds the built-in busybox image offline, deterministically, and a container root from it runs sh', async () => {
    const img = await ensureBuiltinImage(store);
    expect(img.references).toEqual([BUILTIN_REFERENCE]);
    const again = await ensureBuiltinImage(new ImageStore(join(tmp, 'other')));
    expect(again.digest).toBe(img.digest);
    const { rootfs } = await store.createRootfs('bb', BUILTIN_REFERENCE);
    expect(lstatSync(join(rootfs.path, 'bin/sh')).isSymbolicLink()).toBe(true);
    const out = execFileSync(
      'chroot',
      [rootfs.path, '/bin/sh', '-c', 'echo hello from $(cat /etc/hostname); ls /usr/bin | wc -l'],
      {
        encoding: 'utf8',
      },
    );
    expect(out).toMatch(/^hello from berth\n\d+\n$/);
    await store.removeRootfs('bb');
  });
});
