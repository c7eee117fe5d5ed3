// Shared test helpers: temp dirs under unique "berth-test" names (removed even on failure by
// the caller's afterEach), crafted tarballs, and unmounting whatever a test mounted.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';

export function makeTempDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `berth-test-${label}-`));
}

/** Unmounts everything mounted at or below `dir` (deepest first), then removes it. */
export function cleanupDir(dir: string): void {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) execFileSync('umount', ['-l', m]);
  rmSync(dir, { recursive: true, force: true });
}

export interface TarEntry {
  name: string;
  type?: tar.Header['type'];
  content?: string | Buffer;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  devmajor?: number;
  devminor?: number;
  mtime?: Date;
}

export async function makeTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const content = typeof e.content === 'string' ? Buffer.from(e.content) : e.content;
    const type = e.type ?? 'file';
    pack.entry(
      {
        name: e.name,
        type,
        mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
        uid: e.uid ?? 0,
        gid: e.gid ?? 0,
        linkname: e.linkname,
        devmajor: e.devmajor,
        devminor: e.devminor,
        mtime: e.mtime ?? new Date(1_700_000_000_000),
        size: type === 'file' ? (content?.length ?? 0) : 0,
      },
      type === 'file' ? (content ?? Buffer.alloc(0)) : '',
    );
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export async function makeTarGz(entries: TarEntry[]): Promise<Buffer> {
  return gzipSync(await makeTar(entries));
}
