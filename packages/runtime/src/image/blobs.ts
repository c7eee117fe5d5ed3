// Content-addressed blobs (manifests, configs, compressed layers), laid out like an OCI image
// layout: <dir>/blobs/sha256/<hex>. A blob only ever appears under its final name after its
// bytes were hashed while being written, matched the expected digest and size, and were
// fsynced; a mismatch deletes what was written. Downloads in flight live under
// <dir>/ingest/<hex> so an interrupted one can resume (HTTP Range) from what it has.
import { createHash, type Hash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fsyncDir, tempName } from './atomic.ts';
import { type Digest, digestHex, isDigest, sha256 } from './digest.ts';
import { ImageError } from './errors.ts';

export interface BlobInfo {
  digest: Digest;
  size: number;
}

export type ByteSource = Readable | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export class BlobStore {
  readonly blobDir: string;
  readonly ingestDir: string;

  constructor(readonly root: string) {
    this.blobDir = join(root, 'blobs', 'sha256');
    this.ingestDir = join(root, 'ingest');
    mkdirSync(this.blobDir, { recursive: true });
    mkdirSync(this.ingestDir, { recursive: true });
  }

  path(digest: Digest): string {
    return join(this.blobDir, digestHex(digest));
  }

  has(digest: Digest): boolean {
    return existsSync(this.path(digest));
  }

  size(digest: Digest): number {
    return statSync(this.path(digest)).size;
  }

  list(): Digest[] {
    return readdirSync(this.blobDir)
      .map((h) => `sha256:${h}`)
      .filter(isDigest);
  }

  /** Reads a (small) blob whole, re-verifying its digest. */
  read(digest: Digest): Buffer {
    let buf: Buffer;
    try {
      buf = readFileSync(this.path(digest));
    } catch {
      throw new ImageError('not_found', `blob ${digest} is not in the store`);
    }
    if (sha256(buf) !== digest) throw new ImageError('digest_mismatch', `blob ${digest} is corrupt on disk`);
    return buf;
  }

  open(digest: Digest): Readable {
    if (!this.has(digest)) throw new ImageError('not_found', `blob ${digest} is not in the store`);
    return createReadStream(this.path(digest));
  }

  delete(digest: Digest): void {
    rmSync(this.path(digest), { force: true });
  }

  /** Stores bytes already in memory; returns their digest. */
  async putBuffer(data: Buffer | string, expected?: Digest): Promise<BlobInfo> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    return this.write(expected ?? sha256(buf), [buf], { size: buf.length });
  }

  /**
   * Writes a stream as a blob. With `expected`, the bytes must hash to it (and have `size`
   * bytes, when given) or nothing is kept; without it, the digest is computed and returned.
   */
  async write(
    expected: Digest | undefined,
    source: ByteSource,
    opts: { size?: number; onBytes?: (n: number) => void } = {},
  ): Promise<BlobInfo> {
    if (expected && this.has(expected)) {
      // Already stored (and verified then); the source is still read to its end, since it
      // may be one entry of an archive being walked.
      for await (const _ of source) {
        // discard
      }
      return { digest: expected, size: this.size(expected) };
    }
    const tmp = tempName(join(this.ingestDir, 'write'));
    const fh = await open(tmp, 'wx', 0o644);
    const hash = createHash('sha256');
    let size = 0;
    try {
      for await (const chunk of source) {
        const b = chunk as Uint8Array;
        size += b.length;
        if (opts.size !== undefined && size > opts.size)
          throw new ImageError(
            'size_mismatch',
            `blob ${expected ?? ''}: more than the declared ${opts.size} bytes`,
          );
        hash.update(b);
        await fh.write(b);
        opts.onBytes?.(b.length);
      }
      await fh.sync();
    } catch (e) {
      await fh.close();
      rmSync(tmp, { force: true });
      throw e;
    }
    await fh.close();
    return this.commit(tmp, hash, size, expected, opts.size);
  }

  /** The ingest file of a download of `digest`, and how many bytes it already holds. */
  ingest(digest: Digest): { path: string; offset: number } {
    const path = join(this.ingestDir, digestHex(digest));
    return { path, offset: existsSync(path) ? statSync(path).size : 0 };
  }

  /** Hashes the bytes an interrupted download already has, to continue from there. */
  async hashIngest(path: string): Promise<{ hash: Hash; size: number }> {
    const hash = createHash('sha256');
    let size = 0;
    if (existsSync(path))
      for await (const chunk of createReadStream(path)) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
    return { hash, size };
  }

  /** Verifies a finished ingest file and moves it into place (or deletes it and throws). */
  async commit(
    path: string,
    hash: Hash,
    size: number,
    expected?: Digest,
    expectedSize?: number,
  ): Promise<BlobInfo> {
    const digest: Digest = `sha256:${hash.digest('hex')}`;
    if (expected && digest !== expected) {
      rmSync(path, { force: true });
      throw new ImageError(
        'digest_mismatch',
        `blob ${expected}: content hashes to ${digest}; nothing was kept`,
      );
    }
    if (expectedSize !== undefined && size !== expectedSize) {
      rmSync(path, { force: true });
      throw new ImageError(
        'size_mismatch',
        `blob ${digest}: ${size} bytes, expected ${expectedSize}; nothing was kept`,
      );
    }
    await rename(path, this.path(digest));
    fsyncDir(this.blobDir);
    return { digest, size };
  }

  /** Removes abandoned temporaries and ingests, except the ones named in `keep`. */
  cleanIngest(keep: ReadonlySet<string> = new Set()): void {
    for (const f of readdirSync(this.ingestDir))
      if (!keep.has(f)) rmSync(join(this.ingestDir, f), { force: true });
  }
}
