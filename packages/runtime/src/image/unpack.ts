// Unpacks one image layer (an untrusted tar, plain, gzip or zstd) into an empty directory, in
// the form overlayfs reads as a lower layer: whiteouts become 0:0 character devices and opaque
// directories get `trusted.overlay.opaque=y`. Every path is resolved component by component
// inside the layer's root (symlinks followed as if the root were `/`, `..` clamped at it, as
// openat2's RESOLVE_IN_ROOT does), so no entry can write outside it. The layer's diff-id (the
// sha256 of the uncompressed tar) is computed while unpacking, and a size limit on the
// uncompressed bytes stops decompression bombs.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readlinkSync,
  rmSync,
  type Stats,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { lsetxattr, makedev, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from '../sys/mount.ts';
import type { Digest } from './digest.ts';
import { ImageError } from './errors.ts';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';

/** Default cap on a layer's uncompressed size. */
export const DEFAULT_MAX_LAYER_BYTES = 32 * 1024 ** 3;

export interface UnpackOptions {
  /** Create device nodes from the layer (privileged containers only); otherwise they are skipped. */
  allowDevices?: boolean;
  /** Stop with `layer_too_large` past this many uncompressed bytes. */
  maxBytes?: number;
  /** The diff-id the image's config declares; a different one is an error. */
  expectedDiffId?: Digest;
  /** Called with the number of compressed bytes consumed so far. */
  onProgress?: (compressedBytes: number) => void;
  signal?: AbortSignal;
}

export interface UnpackResult {
  diffId: Digest;
  /** Uncompressed tar bytes. */
  tarSize: number;
  entries: number;
  /** Bytes of regular-file content written. */
  contentBytes: number;
  skippedDevices: string[];
}

export type Compression = 'gzip' | 'zstd' | 'none';

export function sniffCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd)
    return 'zstd';
  return 'none';
}

/**
 * Decompresses a layer stream, choosing by its magic bytes (media types lie; docker save
 * archives hold plain tars). zstd goes through Debian's `zstd` (Node 20's zlib has no zstd,
 * and the CLI is faster and better kept than a pure-JS decoder). `onBytes` sees the
 * compressed bytes consumed so far.
 */
export function decompress(source: Readable, onBytes?: (total: number) => void): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  out.on('close', () => source.destroy());
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let total = 0;
  const start = async () => {
    const first = await it.next();
    if (first.done) return void out.end();
    const kind = sniffCompression(first.value);
    const rest = Readable.from(
      (async function* () {
        let n: IteratorResult<Buffer> = first;
        while (!n.done) {
          total += n.value.length;
          onBytes?.(total);
          yield n.value;
          n = await it.next();
        }
      })(),
      { objectMode: false },
    );
    if (kind === 'gzip') {
      await pipeline(rest, createGunzip({ chunkSize: 1 << 18 }), out);
    } else if (kind === 'zstd') {
      const child = spawn('zstd', ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      const exited = new Promise<void>((resolve, reject) => {
        child.on('error', (e) => reject(new ImageError('invalid_archive', `zstd: ${e.message}`)));
        child.on('exit', (code, sig) =>
          code === 0
            ? resolve()
            : reject(
                new ImageError('invalid_archive', `zstd layer: ${stderr.trim() || `exit ${code ?? sig}`}`),
              ),
        );
      });
      out.on('close', () => child.kill('SIGKILL'));
      await Promise.all([
        pipeline(rest, child.stdin).catch(() => {}),
        exited,
        pipeline(child.stdout, out, { end: false }),
      ]);
      out.end();
    } else {
      await pipeline(rest, out);
    }
  };
  start().catch((e) => out.destroy(e));
  return out;
}

/** Hashes and counts the uncompressed tar, failing past the size limit. */
class TarMeter extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  constructor(private readonly limit: number) {
    super({ highWaterMark: 1 << 20 });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      cb(
        new ImageError(
          'layer_too_large',
          `layer: more than ${this.limit} bytes once decompressed (a decompression bomb?); unpacking stopped`,
        ),
      );
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }
}

function unsafe(name: string, why: string): ImageError {
  return new ImageError('unsafe_layer', `layer entry ${JSON.stringify(name)}: ${why}`);
}

/** Splits an entry name into components; absolute names are taken relative to the root. */
export function entryComponents(name: string): string[] {
  const parts = name.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw unsafe(name, 'contains ".." (path traversal)');
  if (name.includes('\0')) throw unsafe(name, 'contains a NUL byte');
  return parts;
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

const MAX_SYMLINKS = 40;

/**
 * The tree a layer is written into: resolves paths inside `root` and never lets a symlink,
 * absolute or relative, lead out of it.
 */
export class RootedTree {
  private dirCache = new Map<string, string>();
  constructor(readonly root: string) {}

  invalidate(): void {
    this.dirCache.clear();
  }

  /**
   * The real path (inside root, no symlinks) of the directory named by `components`, following
   * symlinks inside the root; missing directories are created (0755, root) when `create`.
   */
  resolveDir(components: string[], create: boolean, name: string): string {
    const key = components.join('/');
    const hit = this.dirCache.get(key);
    if (hit !== undefined) return hit;
    const cur: string[] = [];
    const queue = [...components];
    let links = MAX_SYMLINKS;
    while (queue.length > 0) {
      const c = queue.shift()!;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        cur.pop();
        continue;
      }
      const p = join(this.root, ...cur, c);
      const st = lstatOrUndefined(p);
      if (!st) {
        if (!create) throw unsafe(name, `${join(...cur, c)} does not exist in the layer`);
        mkdirSync(p, 0o755);
        cur.push(c);
        continue;
      }
      if (st.isSymbolicLink()) {
        if (--links < 0) throw unsafe(name, 'too many levels of symbolic links');
        const target = readlinkSync(p);
        if (target.startsWith('/')) cur.length = 0;
        queue.unshift(...target.split('/'));
        continue;
      }
      if (!st.isDirectory()) throw unsafe(name, `${join(...cur, c)} is not a directory`);
      cur.push(c);
    }
    const real = join(this.root, ...cur);
    this.dirCache.set(key, real);
    return real;
  }
}

/** Unpacks a layer stream into `dest` (an existing, empty directory). */
export async function unpackLayer(
  source: Readable,
  dest: string,
  opts: UnpackOptions = {},
): Promise<UnpackResult> {
  const limit = opts.maxBytes ?? DEFAULT_MAX_LAYER_BYTES;
  const meter = new TarMeter(limit);
  const extract = tar.extract();
  const tree = new RootedTree(dest);
  const result: UnpackResult = {
    diffId: 'sha256:',
    tarSize: 0,
    entries: 0,
    contentBytes: 0,
    skippedDevices: [],
  };
  const dirTimes: Array<[string, Date]> = [];

  const piping = pipeline(
    decompress(source, opts.onProgress),
    meter,
    extract as unknown as NodeJS.WritableStream,
    {
      signal: opts.signal,
    },
  );
  let failed: unknown;
  piping.catch((e) => {
    failed ??= e;
  });
  try {
    for await (const entry of extract) {
      if (opts.signal?.aborted) throw new ImageError('aborted', 'unpacking was cancelled');
      await writeEntry(tree, entry as unknown as Entry, result, dirTimes, opts);
      result.entries++;
    }
    await piping;
  } catch (e) {
    extract.destroy();
    source.destroy();
    await piping.catch(() => {});
    throw failed instanceof ImageError ? failed : e instanceof ImageError ? e : (failed ?? e);
  }
  // Directory times last, deepest first, since creating their children changed them.
  // lutimes: a later entry may have replaced the directory with a symlink, never follow it.
  for (let i = dirTimes.length - 1; i >= 0; i--) {
    const [p, t] = dirTimes[i]!;
    if (lstatOrUndefined(p)?.isDirectory()) lutimesSync(p, t, t);
  }
  result.tarSize = meter.bytes;
  result.diffId = `sha256:${meter.hash.digest('hex')}`;
  if (opts.expectedDiffId && result.diffId !== opts.expectedDiffId)
    throw new ImageError(
      'digest_mismatch',
      `layer: uncompressed content hashes to ${result.diffId}, but the image config says ${opts.expectedDiffId}`,
    );
  return result;
}

type Entry = AsyncIterable<Buffer> & { header: tar.Header; resume(): void };

async function drain(entry: Entry): Promise<void> {
  for await (const _ of entry) {
    // discard
  }
}

function removeExisting(tree: RootedTree, p: string, keepDir: boolean): Stats | undefined {
  const st = lstatOrUndefined(p);
  if (!st) return undefined;
  if (keepDir && st.isDirectory()) return st;
  rmSync(p, { recursive: true, force: true });
  if (st.isDirectory()) tree.invalidate();
  return undefined;
}

async function writeEntry(
  tree: RootedTree,
  entry: Entry,
  result: UnpackResult,
  dirTimes: Array<[string, Date]>,
  opts: UnpackOptions,
): Promise<void> {
  const h = entry.header;
  const name = h.name;
  const comps = entryComponents(name);
  const base = comps[comps.length - 1];
  const mode = (h.mode ?? 0o644) & 0o7777;
  const uid = h.uid ?? 0;
  const gid = h.gid ?? 0;
  const mtime = h.mtime ?? new Date(0);

  if (comps.length === 0) {
    // "./": the root directory itself.
    if (h.type === 'directory') {
      chownSync(tree.root, uid, gid);
      chmodSync(tree.root, mode);
      dirTimes.push([tree.root, mtime]);
    }
    return drain(entry);
  }

  const parent = tree.resolveDir(comps.slice(0, -1), true, name);

  if (base!.startsWith(WHITEOUT_PREFIX)) {
    if (base === OPAQUE_WHITEOUT) {
      lsetxattr(parent, OVERLAY_OPAQUE_XATTR, 'y');
    } else {
      const hidden = base!.slice(WHITEOUT_PREFIX.length);
      if (hidden === '' || hidden === '.' || hidden === '..')
        throw unsafe(name, 'whiteout of an invalid name');
      const p = join(parent, hidden);
      removeExisting(tree, p, false);
      mknod(p, S_IFCHR, 0n);
    }
    return drain(entry);
  }

  const p = join(parent, base!);
  switch (h.type) {
    case 'directory': {
      const existing = removeExisting(tree, p, true);
      if (!existing) mkdirSync(p, mode);
      chownSync(p, uid, gid);
      chmodSync(p, mode);
      dirTimes.push([p, mtime]);
      return drain(entry);
    }
    case 'file':
    case 'contiguous-file': {
      removeExisting(tree, p, false);
      const fd = openSync(p, 'wx', 0o600);
      try {
        for await (const chunk of entry) {
          let off = 0;
          while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
          result.contentBytes += chunk.length;
        }
        fchownSync(fd, uid, gid);
        // After chown, which clears setuid/setgid: the bits are exactly what the image says.
        fchmodSync(fd, mode);
        futimesSync(fd, mtime, mtime);
      } finally {
        closeSync(fd);
      }
      return;
    }
    case 'symlink': {
      removeExisting(tree, p, false);
      symlinkSync(h.linkname ?? '', p);
      lchownSync(p, uid, gid);
      lutimesSync(p, mtime, mtime);
      return drain(entry);
    }
    case 'link': {
      const target = entryComponents(h.linkname ?? '');
      if (target.length === 0) throw unsafe(name, 'hardlink to the layer root');
      const tparent = tree.resolveDir(target.slice(0, -1), false, name);
      const tpath = join(tparent, target[target.length - 1]!);
      const tst = lstatOrUndefined(tpath);
      if (!tst) throw unsafe(name, `hardlink target ${JSON.stringify(h.linkname)} is not in the layer`);
      if (tst.isDirectory()) throw unsafe(name, 'hardlink to a directory');
      if (tpath === p) return drain(entry);
      removeExisting(tree, p, false);
      linkSync(tpath, p);
      return drain(entry);
    }
    case 'character-device':
    case 'block-device': {
      if (!opts.allowDevices) {
        result.skippedDevices.push(comps.join('/'));
        return drain(entry);
      }
      removeExisting(tree, p, false);
      mknod(
        p,
        (h.type === 'block-device' ? S_IFBLK : S_IFCHR) | mode,
        makedev(h.devmajor ?? 0, h.devminor ?? 0),
      );
      lchownSync(p, uid, gid);
      chmodSync(p, mode);
      return drain(entry);
    }
    case 'fifo': {
      removeExisting(tree, p, false);
      mknod(p, S_IFIFO | mode);
      lchownSync(p, uid, gid);
      chmodSync(p, mode);
      return drain(entry);
    }
    default:
      // pax/GNU meta entries are consumed by tar-stream; anything else carries no file.
      return drain(entry);
  }
}
