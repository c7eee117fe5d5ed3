// Unpacked layers, shared by every image that has them, keyed by diff-id (the sha256 of the
// uncompressed tar, which is what an image's config names): <dir>/layers/<hex>/root. A layer
// is unpacked into a temporary directory and renamed into place only once complete and flushed,
// so a crash mid-unpack leaves only a temporary that the next start removes. Short symlinks
// <dir>/l/<16 hex> keep overlayfs' lowerdir option short on kernels without `lowerdir+`.
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { syncfs } from '../sys/mount.ts';
import { fsyncDir, tempName, writeFileAtomic } from './atomic.ts';
import { type Digest, digestHex, isDigest } from './digest.ts';
import { type UnpackOptions, unpackLayer } from './unpack.ts';

export interface LayerMeta {
  diffId: Digest;
  /** Bytes of file content in the layer. */
  size: number;
  tarSize: number;
  entries: number;
  skippedDevices: string[];
  unpackedAt: string;
}

export class LayerStore {
  readonly dir: string;
  readonly linkDir: string;
  private inflight = new Map<Digest, Promise<LayerMeta>>();
  private readonly deleteListeners: Array<(diffId: Digest, path: string) => void> = [];

  constructor(root: string) {
    this.dir = join(root, 'layers');
    this.linkDir = join(root, 'l');
    mkdirSync(this.dir, { recursive: true });
    mkdirSync(this.linkDir, { recursive: true });
  }

  /** Calls `fn` for each layer deleted, before its directory goes (e.g. to close fds of it). */
  onDelete(fn: (diffId: Digest, path: string) => void): void {
    this.deleteListeners.push(fn);
  }

  /** The directory overlayfs (or a copy) reads the layer from. */
  path(diffId: Digest): string {
    return join(this.dir, digestHex(diffId), 'root');
  }

  /** The same directory through its short link. */
  shortPath(diffId: Digest): string {
    return join(this.linkDir, digestHex(diffId).slice(0, 16));
  }

  has(diffId: Digest): boolean {
    return existsSync(join(this.dir, digestHex(diffId), 'meta.json'));
  }

  meta(diffId: Digest): LayerMeta {
    return JSON.parse(readFileSync(join(this.dir, digestHex(diffId), 'meta.json'), 'utf8')) as LayerMeta;
  }

  list(): Digest[] {
    return readdirSync(this.dir)
      .map((h) => `sha256:${h}`)
      .filter((d): d is Digest => isDigest(d) && this.has(d));
  }

  /**
   * Makes sure the layer with `diffId` is unpacked, unpacking `open()` if it is not. Two
   * concurrent calls for one layer share one unpack.
   */
  ensure(
    diffId: Digest,
    open: () => Readable,
    opts: Omit<UnpackOptions, 'expectedDiffId'> = {},
  ): Promise<LayerMeta> {
    if (this.has(diffId)) return Promise.resolve(this.meta(diffId));
    let p = this.inflight.get(diffId);
    if (!p) {
      p = this.unpack(diffId, open, opts).finally(() => this.inflight.delete(diffId));
      this.inflight.set(diffId, p);
    }
    return p;
  }

  private async unpack(diffId: Digest, open: () => Readable, opts: UnpackOptions): Promise<LayerMeta> {
    const hex = digestHex(diffId);
    const tmp = tempName(join(this.dir, hex));
    mkdirSync(tmp, { mode: 0o700 });
    mkdirSync(join(tmp, 'root'), { mode: 0o755 });
    try {
      const r = await unpackLayer(open(), join(tmp, 'root'), { ...opts, expectedDiffId: diffId });
      const meta: LayerMeta = {
        diffId,
        size: r.contentBytes,
        tarSize: r.tarSize,
        entries: r.entries,
        skippedDevices: r.skippedDevices,
        unpackedAt: new Date().toISOString(),
      };
      writeFileAtomic(join(tmp, 'meta.json'), JSON.stringify(meta));
      const fd = openSync(tmp, 'r');
      try {
        syncfs(fd);
      } finally {
        closeSync(fd);
      }
      try {
        renameSync(tmp, join(this.dir, hex));
      } catch (e) {
        // Another process (a second agent, a CLI) finished the same layer first: use it.
        if (!this.has(diffId)) throw e;
        rmSync(tmp, { recursive: true, force: true });
        return this.meta(diffId);
      }
      fsyncDir(this.dir);
      this.link(diffId);
      return meta;
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  /** Adds a directory that already holds a layer's unpacked content (e.g. a debootstrap tree). */
  adopt(diffId: Digest, rootDir: string, meta: Omit<LayerMeta, 'diffId' | 'unpackedAt'>): LayerMeta {
    const hex = digestHex(diffId);
    if (this.has(diffId)) {
      rmSync(rootDir, { recursive: true, force: true });
      return this.meta(diffId);
    }
    const tmp = tempName(join(this.dir, hex));
    mkdirSync(tmp, { mode: 0o700 });
    renameSync(rootDir, join(tmp, 'root'));
    const full: LayerMeta = { ...meta, diffId, unpackedAt: new Date().toISOString() };
    writeFileAtomic(join(tmp, 'meta.json'), JSON.stringify(full));
    renameSync(tmp, join(this.dir, hex));
    fsyncDir(this.dir);
    this.link(diffId);
    return full;
  }

  private link(diffId: Digest): void {
    const link = this.shortPath(diffId);
    rmSync(link, { force: true });
    symlinkSync(join('..', 'layers', digestHex(diffId), 'root'), link);
  }

  delete(diffId: Digest): void {
    for (const fn of this.deleteListeners) fn(diffId, this.path(diffId));
    const hex = digestHex(diffId);
    rmSync(this.shortPath(diffId), { force: true });
    const from = join(this.dir, hex);
    if (!existsSync(from)) return;
    // Rename first so a crash midway never leaves a half-deleted layer under its real name.
    const doomed = tempName(from);
    renameSync(from, doomed);
    rmSync(doomed, { recursive: true, force: true });
  }

  /** Removes what interrupted unpacks and deletions left behind. Call before any unpack. */
  cleanTemp(): void {
    for (const f of readdirSync(this.dir))
      if (f.startsWith('.tmp-')) rmSync(join(this.dir, f), { recursive: true, force: true });
    for (const f of readdirSync(this.linkDir)) {
      const target = join(this.linkDir, f);
      if (!existsSync(target)) rmSync(target, { force: true });
    }
  }
}
