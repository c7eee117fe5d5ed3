// Writing tar layers: from a list of entries in memory (the built-in image) or from a
// directory tree (a debootstrap root), deterministically (sorted names, given times), keeping
// ownership, modes, symlinks and hardlinks.
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar-stream';

export interface MemoryEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink';
  content?: Buffer | string;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

/** A tar of `entries`, in order, every mtime `mtime`. */
export async function tarFromEntries(entries: MemoryEntry[], mtime: Date): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const content = typeof e.content === 'string' ? Buffer.from(e.content) : e.content;
    pack.entry(
      {
        name: e.name,
        type: e.type,
        mode: e.mode ?? (e.type === 'directory' ? 0o755 : 0o644),
        uid: e.uid ?? 0,
        gid: e.gid ?? 0,
        uname: '',
        gname: '',
        linkname: e.linkname,
        mtime,
        size: e.type === 'file' ? (content?.length ?? 0) : 0,
      },
      e.type === 'file' ? (content ?? Buffer.alloc(0)) : '',
    );
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/**
 * Streams a tar of the tree at `dir` into `pack` (and finalizes it). Sockets are skipped, and
 * so are the paths `skip` returns true for (relative, e.g. "dev/null").
 */
export async function packTree(
  dir: string,
  pack: tar.Pack,
  opts: { skip?: (rel: string) => boolean } = {},
): Promise<{ entries: number; contentBytes: number }> {
  const links = new Map<string, string>();
  let entries = 0;
  let contentBytes = 0;
  const entry = (header: Partial<tar.Header> & { name: string }) =>
    new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      pack.entry(header, '', cb);
    });
  const walk = async (rel: string) => {
    const names = readdirSync(join(dir, rel)).sort();
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      if (opts.skip?.(r)) continue;
      const p = join(dir, r);
      const st = lstatSync(p);
      entries++;
      const base = { name: r, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
      if (st.isDirectory()) {
        await entry({ ...base, name: `${r}/`, type: 'directory' });
        await walk(r);
      } else if (st.isSymbolicLink()) {
        await entry({ ...base, type: 'symlink', linkname: readlinkSync(p) });
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? links.get(key) : undefined;
        if (first) {
          await entry({ ...base, type: 'link', linkname: first });
          continue;
        }
        if (st.nlink > 1) links.set(key, r);
        contentBytes += st.size;
        await new Promise<void>((resolve, reject) => {
          const sink = pack.entry({ ...base, type: 'file', size: st.size }, (err) =>
            err ? reject(err) : resolve(),
          );
          const fd = openSync(p, 'r');
          const buf = Buffer.allocUnsafe(1 << 20);
          let left = st.size;
          const pump = () => {
            try {
              while (left > 0) {
                const n = readSync(fd, buf, 0, Math.min(buf.length, left), null);
                if (n === 0) throw new Error(`${p}: file shrank while being packed`);
                left -= n;
                if (!sink.write(Buffer.from(buf.subarray(0, n)))) {
                  sink.once('drain', pump);
                  return;
                }
              }
              closeSync(fd);
              (sink as unknown as { end(): void }).end();
            } catch (e) {
              closeSync(fd);
              reject(e);
            }
          };
          pump();
        });
      } else if (st.isFIFO()) {
        await entry({ ...base, type: 'fifo' });
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        await entry({
          ...base,
          type: st.isCharacterDevice() ? 'character-device' : 'block-device',
          devmajor: Number((BigInt(st.rdev) >> 8n) & 0xfffn),
          devminor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00),
        });
      }
    }
  };
  await walk('');
  pack.finalize();
  return { entries, contentBytes };
}
