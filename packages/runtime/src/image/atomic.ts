// Crash-safe file writes: write a temporary file, fsync it, rename it over the final name, fsync
// the directory. A crash at any point leaves either the old file or the new one, never a torn
// one. Temporaries live beside their target (same filesystem, so rename is atomic).
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export function tempName(path: string): string {
  return join(dirname(path), `.tmp-${basename(path)}-${randomBytes(6).toString('hex')}`);
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function writeFileAtomic(path: string, data: Buffer | string, mode = 0o644): void {
  const tmp = tempName(path);
  try {
    const fd = openSync(tmp, 'wx', mode);
    try {
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dirname(path));
}
