// Container root filesystems. With overlayfs (detected, not assumed) a root is the image's
// shared layers as read-only lowers plus an upper and work directory of the container's own:
// creating one is a mount, whatever the image's size, and removing one deletes only the
// container's directories. Without overlayfs the layers are flattened into a plain copy.
//
// Layout: <dir>/roots/<id>/{lease.json, upper/, work/, rootfs/}. lease.json names the layers
// the root uses; garbage collection never removes a leased layer. An unprivileged container's
// root shows its layers through idmapped mounts: detached ones (an fd each, kept per layer and
// id range for the next root) that overlayfs takes directly, or, on kernels before 6.13,
// attached under <dir>/roots/<id>/lower/<n>/.
// While a root is mounted, <dir>/roots/<id> is a private bind mount of itself: the overlay and
// its idmapped layers sit in no peer group, so they propagate into no other mount namespace on
// a host whose / is shared (systemd's default), and nothing propagates back out of them.
import { spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  type Stats,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SysError } from '../sys/libc.ts';
import {
  lgetxattr,
  MNT_DETACH,
  MS_BIND,
  MS_PRIVATE,
  makedev,
  mknod,
  mount,
  mountIdmapped,
  mountOverlayFsconfig,
  openIdmappedTree,
  S_IFBLK,
  S_IFCHR,
  S_IFIFO,
  umount2,
} from '../sys/mount.ts';
import { tempName, writeFileAtomic } from './atomic.ts';
import type { Digest } from './digest.ts';
import { ImageError } from './errors.ts';
import type { LayerStore } from './layers.ts';
import { OVERLAY_OPAQUE_XATTR } from './unpack.ts';

export type RootfsMode = 'overlay' | 'copy';

export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/** Present the image's files shifted into a user namespace's id range. */
export interface IdMap {
  uidMap: IdMapping[];
  gidMap: IdMapping[];
}

export interface RootfsLease {
  id: string;
  image?: Digest;
  /** Diff-ids, base layer first. */
  layers: Digest[];
  mode: RootfsMode;
  idmap?: IdMap;
  createdAt: string;
}

export interface Rootfs extends RootfsLease {
  /** The root filesystem to pivot into. */
  path: string;
  /** The container's own changes (overlay), or the copy itself. */
  upper: string;
}

export interface CreateRootfsOptions {
  id: string;
  layers: Digest[];
  image?: Digest;
  /** 'auto' (default): overlay when the kernel has it, else a copy. */
  mode?: 'auto' | RootfsMode;
  idmap?: IdMap;
  /**
   * false: the lease is written but not flushed to disk (a kill of the process loses nothing;
   * a power loss may leave it empty). For a caller that keeps what the lease says in a
   * database of its own and rewrites a lost lease (`unreadable`, `restoreLease`) before
   * anything reads it: berthd. Default true: one fsync per root.
   */
  durable?: boolean;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** mount(2) copies at most one page of options. */
const MOUNT_DATA_MAX = 4095;

export class RootfsManager {
  readonly dir: string;
  private overlay: boolean | undefined;
  private fsconfigWorks: boolean | undefined;
  /** Whether overlayfs takes lower layers as fds (detached idmapped mounts): Linux >= 6.13. */
  private layerFdsWork: boolean | undefined;

  constructor(
    root: string,
    private readonly layers: LayerStore,
    private readonly opts: { forceLegacyMount?: boolean } = {},
  ) {
    mkdirSync(join(root, 'roots'), { recursive: true, mode: 0o711 });
    // Mount points are found by path in /proc/self/mounts, which shows them resolved: a root
    // under a symlink would otherwise never look mounted, and be mounted again on every start.
    this.dir = realpathSync(join(root, 'roots'));
    // A deleted layer's kept idmapped views would keep its directory alive (and its disk space).
    layers.onDelete((_, path) => dropTreesOf(path));
  }

  /** Whether overlayfs can be mounted here: the kernel lists it and a probe mount succeeds. */
  overlayAvailable(): boolean {
    if (this.overlay !== undefined) return this.overlay;
    this.overlay = false;
    if (
      !readFileSync('/proc/filesystems', 'utf8')
        .split('\n')
        .some((l) => l.trim().endsWith('overlay'))
    )
      return false;
    const probe = tempName(join(this.dir, 'probe'));
    try {
      for (const d of ['lower', 'upper', 'work', 'merged']) mkdirSync(join(probe, d), { recursive: true });
      mount(
        'overlay',
        join(probe, 'merged'),
        'overlay',
        0,
        `lowerdir=${join(probe, 'lower')},upperdir=${join(probe, 'upper')},workdir=${join(probe, 'work')}`,
      );
      umount2(join(probe, 'merged'), MNT_DETACH);
      this.overlay = true;
    } catch {
      this.overlay = false;
    } finally {
      rmSync(probe, { recursive: true, force: true });
    }
    return this.overlay;
  }

  private rootDir(id: string): string {
    if (!ID_RE.test(id))
      throw new ImageError(
        'invalid_reference',
        `id: ${JSON.stringify(id)} must match ${ID_RE} (letters, digits, _ . -)`,
      );
    return join(this.dir, id);
  }

  /**
   * The root of container `id`, or undefined when there is none. Throws (`corrupt`) when its
   * directory is there but its lease cannot be read: what a power loss leaves of a lease that
   * was not flushed (`durable: false`) until its owner restores it.
   */
  get(id: string): Rootfs | undefined {
    const dir = this.rootDir(id);
    let text: string;
    try {
      text = readFileSync(join(dir, 'lease.json'), 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw e;
    }
    let lease: RootfsLease;
    try {
      lease = JSON.parse(text) as RootfsLease;
    } catch {
      throw new ImageError(
        'corrupt',
        `id: the lease of container root ${id} (${join(dir, 'lease.json')}) is unreadable; its layers are unknown until it is restored`,
      );
    }
    return rootOf(dir, lease);
  }

  /**
   * Ids of roots whose lease cannot be read (see `get`), for their owner to restore or remove.
   * A root whose lease fails otherwise (EACCES, EISDIR...) is no such case: it is thrown, or,
   * with `onError`, told to it and passed over (the other roots are still looked at).
   */
  unreadable(onError?: (id: string, e: unknown) => void): string[] {
    const out: string[] = [];
    for (const id of readdirSync(this.dir)) {
      if (!ID_RE.test(id)) continue;
      try {
        this.get(id);
      } catch (e) {
        if (e instanceof ImageError && e.code === 'corrupt') out.push(id);
        else if (onError) onError(id, e);
        else throw e;
      }
    }
    return out;
  }

  /**
   * Writes the lease of an existing root again, durably, from what its owner recorded (its
   * image's layers and id map); the mode is read from the directory (an overlay root has an
   * upper directory, a copy has none).
   */
  restoreLease(lease: Omit<RootfsLease, 'mode' | 'createdAt'>): Rootfs {
    const dir = this.rootDir(lease.id);
    if (!existsSync(dir)) throw new ImageError('not_found', `id: no root for container ${lease.id}`);
    const full: RootfsLease = {
      ...lease,
      mode: existsSync(join(dir, 'upper')) ? 'overlay' : 'copy',
      createdAt: statSync(dir).mtime.toISOString(),
    };
    writeFileAtomic(join(dir, 'lease.json'), JSON.stringify(full));
    return rootOf(dir, full);
  }

  list(): RootfsLease[] {
    const out: RootfsLease[] = [];
    for (const id of readdirSync(this.dir)) {
      if (!ID_RE.test(id)) continue;
      const r = this.get(id);
      if (r) out.push(r);
    }
    return out;
  }

  /** Creates (and mounts) a container's root from image layers already in the layer store. */
  async create(opts: CreateRootfsOptions): Promise<Rootfs> {
    const dir = this.rootDir(opts.id);
    if (existsSync(dir)) throw new ImageError('in_use', `id: a root for container ${opts.id} already exists`);
    for (const [i, d] of opts.layers.entries())
      if (!this.layers.has(d))
        throw new ImageError('not_found', `layers[${i}]: layer ${d} is not unpacked in the store`);
    const wanted = opts.mode ?? 'auto';
    const mode: RootfsMode = wanted === 'auto' ? (this.overlayAvailable() ? 'overlay' : 'copy') : wanted;
    if (mode === 'overlay' && !this.overlayAvailable())
      throw new ImageError(
        'mount_failed',
        'mode: overlay was asked for, but this kernel cannot mount overlayfs',
      );
    const lease: RootfsLease = {
      id: opts.id,
      image: opts.image,
      layers: opts.layers,
      mode,
      idmap: opts.idmap,
      createdAt: new Date().toISOString(),
    };
    // Build under a temporary name, so a crash leaves nothing that looks like a root.
    const tmp = tempName(dir);
    mkdirSync(tmp, { mode: 0o755 });
    try {
      mkdirSync(join(tmp, 'rootfs'), { mode: 0o755 });
      if (mode === 'overlay') {
        mkdirSync(join(tmp, 'upper'), { mode: 0o755 });
        // The upper directory's mode is that of the container's /: never the caller's umask
        // (berthd's 077 made / 0700, and every non-root user of the container lost its files).
        chmodSync(join(tmp, 'upper'), 0o755);
        mkdirSync(join(tmp, 'work'), { mode: 0o700 });
        if (opts.idmap) {
          const root = shiftId(0, opts.idmap.uidMap);
          const rootGid = shiftId(0, opts.idmap.gidMap);
          chownSync(join(tmp, 'upper'), root, rootGid);
          chownSync(join(tmp, 'rootfs'), root, rootGid);
        }
      } else {
        this.flatten(opts.layers, join(tmp, 'rootfs'), opts.idmap);
      }
      // The whole directory is renamed into place, so the lease needs no atomic write of its
      // own, only its bytes on disk before the rename (unless the caller restores leases
      // itself: `durable`); and no fsync of the roots directory after it: if a power loss
      // takes the rename back, the temporary directory is removed at the next start
      // (cleanTemp), as if the crash had come a moment earlier. (One fsync instead of four:
      // each costs 2.5 ms or more on this VM.)
      const leaseFd = openSync(join(tmp, 'lease.json'), 'wx', 0o644);
      try {
        writeFileSync(leaseFd, JSON.stringify(lease));
        if (opts.durable !== false) fsyncSync(leaseFd);
      } finally {
        closeSync(leaseFd);
      }
      renameSync(tmp, dir);
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    if (mode === 'overlay') {
      try {
        await this.mountRoot(dir, lease, true);
      } catch (e) {
        await this.remove(opts.id);
        throw e;
      }
    }
    return rootOf(dir, lease);
  }

  isMounted(id: string): boolean {
    const target = join(this.rootDir(id), 'rootfs');
    return readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .some((l) => l.split(' ')[1] === target);
  }

  /** Mounts an existing overlay root again (after a reboot); a no-op when mounted or a copy. */
  async mount(id: string): Promise<void> {
    const r = this.get(id);
    if (!r) throw new ImageError('not_found', `id: no root for container ${id}`);
    if (r.mode !== 'overlay' || this.isMounted(id)) return;
    await this.mountRoot(this.rootDir(id), r, false);
  }

  /**
   * Mounts the overlay of the root at `dir`. `fresh`: the directory was made just now, so
   * nothing is mounted in it (the mount table is not read to find out).
   */
  private async mountRoot(dir: string, r: RootfsLease, fresh: boolean): Promise<void> {
    makePrivateMount(dir, fresh);
    let lowers = r.layers.map((d) => this.layers.path(d)).reverse(); // overlay lists the top layer first
    if (lowers.length === 0) {
      mkdirSync(join(dir, 'empty'), { recursive: true });
      lowers = [join(dir, 'empty')];
    }
    const [target, upper, work] = [join(dir, 'rootfs'), join(dir, 'upper'), join(dir, 'work')];
    if (r.idmap && !this.opts.forceLegacyMount && this.layerFdsWork !== false) {
      const trees = await idmappedTrees(lowers, r.idmap);
      try {
        mountOverlayFsconfig(target, { lowers: trees.fds, upper, work });
        this.layerFdsWork = true;
        return;
      } catch (e) {
        // Before Linux 6.13 overlayfs takes no fds (EINVAL): idmapped layers attached under
        // lower/. Any other error is this mount's, not the kernel's lack.
        if (!(e instanceof SysError) || e.code !== 'EINVAL' || this.layerFdsWork === true)
          throw mountError(target, e);
        this.layerFdsWork = false;
      } finally {
        trees.release();
      }
    }
    if (r.idmap) lowers = await this.idmapLowers(dir, lowers, r.idmap, fresh);
    this.mountOverlay(target, lowers, upper, work, r.idmap ? undefined : r.layers);
  }

  private mountOverlay(
    target: string,
    lowers: string[],
    upper: string,
    work: string,
    diffIds?: Digest[],
  ): void {
    if (!this.opts.forceLegacyMount && this.fsconfigWorks !== false) {
      try {
        mountOverlayFsconfig(target, { lowers, upper, work });
        this.fsconfigWorks = true;
        return;
      } catch (e) {
        // Kernels before 6.8 do not know `lowerdir+`: fall back to mount(2).
        if (!(e instanceof SysError) || this.fsconfigWorks === true) throw mountError(target, e);
        this.fsconfigWorks = false;
      }
    }
    const short = diffIds ? diffIds.map((d) => this.layers.shortPath(d)).reverse() : lowers;
    for (const p of [...short, upper, work])
      if (/[,:\\]/.test(p))
        throw new ImageError('mount_failed', `overlay path ${p} contains "," ":" or "\\"`);
    const data = `lowerdir=${short.join(':')},upperdir=${upper},workdir=${work}`;
    if (data.length > MOUNT_DATA_MAX)
      throw new ImageError(
        'mount_failed',
        `overlay: ${short.length} layers need ${data.length} bytes of mount options, more than the kernel's ${MOUNT_DATA_MAX} (Linux >= 6.8 lifts this limit)`,
      );
    try {
      mount('overlay', target, 'overlay', 0, data);
    } catch (e) {
      throw mountError(target, e);
    }
  }

  /** Idmapped, read-only views of each layer under <root>/lower/<n> (the layers stay unchowned). */
  private async idmapLowers(dir: string, lowers: string[], idmap: IdMap, fresh: boolean): Promise<string[]> {
    const out: string[] = [];
    await withUserNamespace(idmap, (fd) => {
      for (const [i, src] of lowers.entries()) {
        const target = join(dir, 'lower', String(i));
        mkdirSync(target, { recursive: true });
        if (fresh || !isMountPoint(target)) mountIdmapped(src, target, fd);
        out.push(target);
      }
    });
    return out;
  }

  /** Unmounts a root (its overlay and idmapped layers); the directories stay. */
  unmount(id: string): void {
    const dir = this.rootDir(id);
    for (const m of mountsUnder(dir)) {
      try {
        umount2(m);
      } catch {
        umount2(m, MNT_DETACH);
      }
    }
  }

  /** Unmounts and deletes a container's root: its own directories, nothing shared. */
  async remove(id: string): Promise<void> {
    const dir = this.rootDir(id);
    if (!existsSync(dir)) return;
    this.unmount(id);
    if (mountsUnder(dir).length > 0) throw new ImageError('in_use', `id: the root of ${id} is still mounted`);
    const doomed = tempName(dir);
    renameSync(dir, doomed);
    // In the thread pool: a big root (a system container's) takes seconds to delete, which must
    // not stop the caller's event loop (berthd's, serving everyone). Renamed first, so a crash
    // half-way leaves a temp that cleanTemp() finishes.
    await rm(doomed, { recursive: true, force: true });
  }

  /** Removes roots whose creation or removal was interrupted. */
  cleanTemp(): void {
    for (const f of readdirSync(this.dir)) {
      if (!f.startsWith('.tmp-')) continue;
      const p = join(this.dir, f);
      for (const m of mountsUnder(p)) umount2(m, MNT_DETACH);
      rmSync(p, { recursive: true, force: true });
    }
  }

  /** Applies layers in order onto `dest` with overlayfs' whiteout semantics, as a plain copy. */
  flatten(layers: Digest[], dest: string, idmap?: IdMap): void {
    const shift = (uid: number, gid: number): [number, number] =>
      idmap ? [shiftId(uid, idmap.uidMap), shiftId(gid, idmap.gidMap)] : [uid, gid];
    for (const d of layers) {
      const links = new Map<string, string>(); // "dev:ino" → first copy, to keep hardlinks
      const walk = (src: string, dst: string) => {
        for (const name of readdirSync(src)) {
          const s = join(src, name);
          const t = join(dst, name);
          const st = lstatSync(s);
          const old = lstatOrUndefined(t);
          if (st.isCharacterDevice() && st.rdev === 0) {
            if (old) rmSync(t, { recursive: true, force: true });
            continue;
          }
          if (st.isDirectory()) {
            const opaque = lgetxattr(s, OVERLAY_OPAQUE_XATTR)?.toString() === 'y';
            if (old && (!old.isDirectory() || opaque)) rmSync(t, { recursive: true, force: true });
            if (!old?.isDirectory() || opaque) mkdirSync(t);
            walk(s, t);
            chownSync(t, ...shift(st.uid, st.gid));
            chmodSync(t, st.mode & 0o7777);
            utimesSync(t, st.atime, st.mtime);
            continue;
          }
          if (old) rmSync(t, { recursive: true, force: true });
          const key = `${st.dev}:${st.ino}`;
          const first = st.nlink > 1 ? links.get(key) : undefined;
          if (first) {
            linkSync(first, t);
            continue;
          }
          if (st.isSymbolicLink()) symlinkSync(readlinkSync(s), t);
          else if (st.isFile()) copyFileSync(s, t);
          else if (st.isFIFO()) mknod(t, S_IFIFO | (st.mode & 0o7777));
          else if (st.isCharacterDevice() || st.isBlockDevice())
            mknod(
              t,
              (st.isBlockDevice() ? S_IFBLK : S_IFCHR) | (st.mode & 0o7777),
              makedev(
                Number((BigInt(st.rdev) >> 8n) & 0xfffn),
                (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00),
              ),
            );
          else continue; // sockets are not image content
          lchownSync(t, ...shift(st.uid, st.gid));
          if (!st.isSymbolicLink()) chmodSync(t, st.mode & 0o7777);
          lutimesSync(t, st.atime, st.mtime);
          if (st.nlink > 1) links.set(key, t);
        }
      };
      walk(this.layers.path(d), dest);
    }
    if (idmap) chownSync(dest, shiftId(0, idmap.uidMap), shiftId(0, idmap.gidMap));
  }
}

function rootOf(dir: string, lease: RootfsLease): Rootfs {
  return {
    ...lease,
    path: join(dir, 'rootfs'),
    upper: join(dir, lease.mode === 'overlay' ? 'upper' : 'rootfs'),
  };
}

function mountError(target: string, e: unknown): ImageError {
  return new ImageError('mount_failed', `overlay mount at ${target} failed: ${(e as Error).message}`, {
    cause: e,
  });
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

/** Maps an id through a user namespace map; ids outside it become the overflow id 65534. */
export function shiftId(id: number, map: IdMapping[]): number {
  for (const m of map)
    if (id >= m.containerID && id < m.containerID + m.size) return m.hostID + (id - m.containerID);
  return 65534;
}

/** Mount points at or below `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
}

function isMountPoint(p: string): boolean {
  return mountsUnder(p).includes(p);
}

/**
 * Makes `dir` a mount point of its own (a bind of itself) with private propagation. `fresh`:
 * `dir` was just made, so it is no mount point yet.
 */
function makePrivateMount(dir: string, fresh = false): void {
  if (fresh || !isMountPoint(dir)) mount(dir, dir, null, MS_BIND, null);
  mount(null, dir, null, MS_PRIVATE, null);
}

/**
 * User namespaces by id map, held by an open fd (no process is left in them). Node cannot
 * unshare one itself (it is multithreaded), so a namespace costs a short-lived `unshare` process,
 * which is most of a container root's creation on a slow VM (a spawn from Node blocks its event
 * loop for 2-10 ms here). Ranges come back (an agent hands out the lowest free one; a root is
 * mounted again after a reboot), so the namespace of a map is kept for the next root with it.
 * Bounded. Namespaces asked for at once (containers created concurrently) are made together,
 * by one shell (newUserNamespaces), and concurrent roots with one range share one.
 */
const usernsByMap = new Map<string, number>();
const USERNS_KEPT = 128;
/** Namespaces being made, by map. */
const usernsMaking = new Map<string, Promise<number>>();
/** Maps asked for since the last batch was started (it starts on the next turn of the loop). */
let usernsWanted: UsernsRequest[] | undefined;

interface UsernsRequest {
  uidMap: string;
  gidMap: string;
  resolve: (fd: number) => void;
  reject: (e: unknown) => void;
}

/** Runs `fn` with an fd of a user namespace carrying `idmap` (`fn` must not close it). */
export async function withUserNamespace<T>(idmap: IdMap, fn: (usernsFd: number) => T): Promise<T> {
  const key = mapKey(idmap);
  let fd = usernsByMap.get(key);
  if (fd === undefined) {
    let making = usernsMaking.get(key);
    if (!making) {
      making = new Promise<number>((resolve, reject) => {
        if (!usernsWanted) {
          const batch: UsernsRequest[] = [];
          usernsWanted = batch;
          setImmediate(() => {
            usernsWanted = undefined;
            void newUserNamespaces(batch);
          });
        }
        usernsWanted.push({ uidMap: mapLine(idmap.uidMap), gidMap: mapLine(idmap.gidMap), resolve, reject });
      }).finally(() => usernsMaking.delete(key));
      usernsMaking.set(key, making);
    }
    fd = await making;
    // (Another root with this map may have kept it first.)
    if (usernsByMap.get(key) !== fd && usernsByMap.size >= USERNS_KEPT) {
      const [oldest, oldFd] = usernsByMap.entries().next().value!;
      usernsByMap.delete(oldest);
      closeSync(oldFd);
    }
  }
  usernsByMap.delete(key); // re-inserted: the most recently used goes last
  usernsByMap.set(key, fd);
  return fn(fd);
}

const mapLine = (m: IdMapping[]) => m.map((x) => `${x.containerID} ${x.hostID} ${x.size}`).join('\n');
const mapKey = (idmap: IdMap) => `${mapLine(idmap.uidMap)}/${mapLine(idmap.gidMap)}`;

/**
 * Detached idmapped views of layers (openIdmappedTree), by id map and layer directory, kept for
 * the next root with the same range (ranges come back: an agent hands out the lowest free
 * one). Each remembers which directory it shows (device, inode, birth time): a layer deleted
 * and unpacked again is a new directory, and gets a new view. Bounded; a view is closed once
 * it is neither kept nor taken by a root not yet mounted (`users`), and dropped when its layer
 * is deleted (dropTreesOf). One view is opened at a time per key (`treesOpening`).
 */
interface KeptTree {
  fd: number;
  dev: bigint;
  ino: bigint;
  born: bigint;
  /** Roots that took it and have not mounted yet. */
  users: number;
  kept: boolean;
}
const treesByLayer = new Map<string, KeptTree>();
const treesOpening = new Map<string, Promise<void>>();
const TREES_KEPT = 256;

function unkeepTree(key: string, t: KeptTree): void {
  treesByLayer.delete(key);
  t.kept = false;
  if (t.users === 0) closeSync(t.fd);
}

function releaseTree(t: KeptTree): void {
  t.users--;
  if (t.users === 0 && !t.kept) closeSync(t.fd);
}

/** Drops the kept views of the layer directory `src` (it is being deleted). */
function dropTreesOf(src: string): void {
  for (const [key, t] of [...treesByLayer]) if (key.endsWith(`\0${src}`)) unkeepTree(key, t);
}

/** Fds of idmapped, read-only, detached views of `layers`, valid until `release` is called. */
async function idmappedTrees(
  layers: string[],
  idmap: IdMap,
): Promise<{ fds: number[]; release: () => void }> {
  const map = mapKey(idmap);
  const taken: KeptTree[] = [];
  const release = () => {
    for (const t of taken.splice(0)) releaseTree(t);
  };
  try {
    for (const src of layers) {
      const key = `${map}\0${src}`;
      const st = statSync(src, { bigint: true });
      for (;;) {
        const kept = treesByLayer.get(key);
        if (kept) {
          treesByLayer.delete(key); // re-inserted: the most recently used goes last
          if (kept.dev === st.dev && kept.ino === st.ino && kept.born === st.birthtimeNs) {
            treesByLayer.set(key, kept);
            kept.users++;
            taken.push(kept);
            break;
          }
          unkeepTree(key, kept); // a layer deleted and unpacked again: a new view
        }
        let opening = treesOpening.get(key);
        if (!opening) {
          opening = withUserNamespace(idmap, (userns) => openIdmappedTree(src, userns))
            .then((fd) => {
              const old = treesByLayer.get(key);
              if (old) unkeepTree(key, old);
              treesByLayer.set(key, {
                fd,
                dev: st.dev,
                ino: st.ino,
                born: st.birthtimeNs,
                users: 0,
                kept: true,
              });
            })
            .finally(() => treesOpening.delete(key));
          treesOpening.set(key, opening);
        }
        // Taken from the map on the next turn (synchronously, so nothing evicts it first).
        await opening;
      }
    }
  } catch (e) {
    release();
    throw e;
  }
  // The oldest go; never one of this root's (the most recent entries).
  while (treesByLayer.size > Math.max(TREES_KEPT, taken.length)) {
    const [oldest, old] = treesByLayer.entries().next().value!;
    unkeepTree(oldest, old);
  }
  return { fds: taken.map((t) => t.fd), release };
}

/**
 * Fresh user namespaces with the requested maps, each held by an `unshare --user sleep` process
 * (util-linux) that one shell starts, killed once the namespace's fd is open. Each request is
 * settled with its fd or an error.
 */
async function newUserNamespaces(wanted: UsernsRequest[]): Promise<void> {
  // The maps are written here, as root, rather than by unshare --map-users (which goes through
  // newuidmap and /etc/subuid).
  const child = spawn(
    'sh',
    [
      '-c',
      'i=0; while [ "$i" -lt "$1" ]; do unshare --user sleep 60 & echo $!; i=$((i+1)); done; wait',
      'sh',
      String(wanted.length),
    ],
    // A process group of its own, with the unshare processes in it: killed as one at the end.
    { stdio: ['ignore', 'pipe', 'ignore'], detached: true },
  );
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const pids: number[] = [];
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
      pids.push(Number(out.slice(0, nl)));
      out = out.slice(nl + 1);
    }
  });
  child.on('error', () => {}); // seen as no pid coming (below)
  const deadline = Date.now() + 10_000;
  const fail = () => new ImageError('mount_failed', 'idmap: the helper user namespace did not come up');
  try {
    const self = readlinkSync('/proc/self/ns/user');
    for (const [i, want] of wanted.entries()) {
      try {
        for (;;) {
          const pid = pids[i];
          if (pid !== undefined) {
            // The shell's fork (in the shell's namespace, ours) until unshare has run.
            let ns: string | undefined;
            try {
              ns = readlinkSync(`/proc/${pid}/ns/user`);
            } catch {
              throw fail(); // exited: no unshare here
            }
            if (ns !== self) break;
          } else if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
            throw fail();
          }
          if (Date.now() > deadline) throw fail();
          await new Promise((r) => setTimeout(r, 1));
        }
        const pid = pids[i]!;
        writeFileSync(`/proc/${pid}/uid_map`, want.uidMap);
        writeFileSync(`/proc/${pid}/gid_map`, want.gidMap);
        want.resolve(openSync(`/proc/${pid}/ns/user`, 'r'));
      } catch (e) {
        want.reject(e);
      }
    }
  } finally {
    // The group, while the shell (its leader) is not yet reaped, so its id is still ours; the
    // shell waits for every unshare process, so none outlives it.
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await exited;
  }
}
